//! The real Fashion-MNIST through the `fashion-mnist` preset, where Debian's package
//! `dataset-fashion-mnist` is installed (`.ci/run` tries to install it); skipped elsewhere.

use organism::config::Config;
use organism::data::source::DEBIAN_FASHION_DIR;
use organism::task::TaskData;

#[test]
fn debian_fashion_mnist_loads_through_the_preset() {
    if !std::path::Path::new(DEBIAN_FASHION_DIR).join("train-images-idx3-ubyte.gz").is_file() {
        eprintln!("skipped: {DEBIAN_FASHION_DIR} is not installed (apt-get install dataset-fashion-mnist)");
        return;
    }
    let cfg = Config::resolve(Some("fashion-mnist"), None, &["data.download=false".into()]).unwrap();
    let data = TaskData::load(&cfg).unwrap();
    assert!(
        data.description().contains(DEBIAN_FASHION_DIR) || data.description().contains("cache"),
        "{}",
        data.description()
    );
    assert_eq!(data.train_len(), 60_000);
    assert_eq!(data.test().x.len(), 10_000 * 784);
    assert!(data.test().x.iter().all(|v| (-0.01..=1.01).contains(v)));
}
