//! The dropout, heatmap, connectivity and trajectories analyses on tiny runs trained here.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use organism::analysis::{connectivity, dropout, heatmap, open_runs, trajectories, Analysis, TestSets};
use organism::config::Config;
use organism::experiment::train_to_dir;
use organism::progress::Progress;
use organism::run::Run;
use organism::task::TaskData;

/// Two addition runs and one image run, trained once for all tests.
struct Runs {
    _dir: tempfile::TempDir,
    addition: Vec<PathBuf>,
    image: PathBuf,
    tests: TestSets,
}

fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut addition = Vec::new();
        for seed in 0..2 {
            let cfg = Config::resolve(Some("addition"), None, &["epochs=3".into(), format!("seed={seed}")]).unwrap();
            let out = dir.path().join(format!("add-{seed}"));
            train_to_dir(&cfg, &TaskData::addition(&cfg), &out, false, &Progress::hidden()).unwrap();
            addition.push(out);
        }
        // The bundled subset from the repository: no download is ever attempted in tests.
        let data_dir = format!("data.dir={:?}", concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k"));
        let sets = ["epochs=4".into(), "batch_size=100".into(), data_dir, "data.download=false".into()];
        let cfg = Config::resolve(Some("mnist"), None, &sets).unwrap();
        let data = Arc::new(TaskData::load(&cfg).unwrap());
        let image = dir.path().join("mnist");
        train_to_dir(&cfg, &data, &image, false, &Progress::hidden()).unwrap();
        let tests = TestSets::default();
        tests.insert(&cfg, data);
        Runs { _dir: dir, addition, image, tests }
    })
}

fn open(dirs: &[PathBuf]) -> Vec<Run> {
    open_runs(dirs).unwrap()
}

/// Every CSV exists and has a header and rows; every PNG has its SVG twin.
fn assert_files(a: &Analysis) {
    assert!(!a.csv.is_empty());
    for csv in &a.csv {
        let text = std::fs::read_to_string(csv).unwrap();
        assert!(text.lines().count() > 1, "{} has no rows", csv.display());
    }
    assert!(!a.figures.is_empty());
    // The analysis specifies its figures; drawing them is the caller's part.
    organism::plot::draw_all(&a.figures).unwrap();
    for png in a.figures.iter().map(|f| f.png()) {
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(png.with_extension("svg").is_file(), "no SVG beside {}", png.display());
    }
}

fn assert_findings(a: &Analysis, names: &[&str]) {
    for name in names {
        assert!(a.findings.contains_key(*name), "finding `{name}` missing: {:?}", a.findings.keys());
    }
}

#[test]
fn dropout_writes_its_files_and_findings() {
    let r = runs();
    let out = tempfile::tempdir().unwrap();
    let a = dropout::analyze(&open(&r.addition), &r.tests, out.path()).unwrap();
    assert_eq!(a.kind, "dropout");
    assert_files(&a);
    let names = [
        "metric_whole",
        "metric_drop_sr",
        "metric_drop_f",
        "metric_l1",
        "metric_random",
        "delta_drop_sr",
        "delta_l1",
        "share_pruned",
    ];
    assert_findings(&a, &names);
    assert_eq!(a.findings["metric_whole"].n, 2);
    let csv = std::fs::read_to_string(out.path().join("dropout.csv")).unwrap();
    assert!(csv.starts_with("seed,variant,n_zeroed,metric"));
    assert_eq!(csv.lines().count(), 1 + 2 * 5);
}

#[test]
fn dropping_a_class_changes_a_classifier() {
    let r = runs();
    let out = tempfile::tempdir().unwrap();
    let runs = open(std::slice::from_ref(&r.image));
    let a = dropout::analyze(&runs, &r.tests, out.path()).unwrap();
    let (whole, drop_f) = (a.findings["metric_whole"].mean, a.findings["metric_drop_f"].mean);
    assert!(whole > 0.2, "the trained classifier should beat chance: {whole}");
    assert!((whole - drop_f).abs() > 0.05, "zeroing PN_F should change the accuracy: {whole} vs {drop_f}");
    // Every particle zeroed: all logits 0, argmax class 0.
    let k = a.findings["share_pruned"].mean;
    if k == 0.0 {
        assert_eq!(a.findings["metric_drop_sr"].mean, whole);
        assert!(a.notes.iter().any(|n| n.contains("no PN_SR")));
    }
}

#[test]
fn heatmap_on_images() {
    let r = runs();
    let out = tempfile::tempdir().unwrap();
    let a = heatmap::analyze(&open(std::slice::from_ref(&r.image)), &r.tests, out.path()).unwrap();
    assert_files(&a);
    assert_findings(&a, &["border_correlation", "border_share", "empty_pixel_share"]);
    let csv = std::fs::read_to_string(out.path().join("heatmap.csv")).unwrap();
    assert!(csv.starts_with("pixel,row,col,sr_count,sr_abs_weight,mean_image"));
    assert_eq!(csv.lines().count(), 1 + 225);
    let empty = a.findings["empty_pixel_share"].mean;
    assert!(empty > 0.05 && empty < 0.9, "MNIST has an empty border: {empty}");
    for s in a.findings.values() {
        assert!(s.n == 0 || s.mean.is_finite());
    }
}

#[test]
fn heatmap_refuses_addition_naming_the_run() {
    let r = runs();
    let out = tempfile::tempdir().unwrap();
    let err = heatmap::analyze(&open(&r.addition), &r.tests, out.path()).unwrap_err().to_string();
    assert!(err.contains(&r.addition[0].display().to_string()), "{err}");
    assert!(err.contains("image"), "{err}");
}

#[test]
fn dropout_refuses_an_organism_with_aggregator_particles_naming_the_run() {
    // Dropout evaluates the dense network of extracted weights, whose cells sum their edges:
    // an organism that folds them with aggregator particles is another network.
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::resolve(Some("addition-aggparticle"), None, &["epochs=1".into()]).unwrap();
    let run = dir.path().join("agg");
    train_to_dir(&cfg, &TaskData::addition(&cfg), &run, false, &Progress::hidden()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let err =
        dropout::analyze(&open(std::slice::from_ref(&run)), &TestSets::default(), out.path()).unwrap_err().to_string();
    assert!(err.contains(&run.display().to_string()) && err.contains("aggregator particles"), "{err}");
}

#[test]
fn connectivity_per_layer() {
    let r = runs();
    let out = tempfile::tempdir().unwrap();
    let a = connectivity::analyze(&open(&r.addition), out.path()).unwrap();
    assert_files(&a);
    assert_findings(&a, &["sr_share_layer_0", "sr_share_layer_1", "sr_share_layer_2"]);
    assert!(a.notes.iter().any(|n| n.contains("add-0")));
    let csv = std::fs::read_to_string(out.path().join("connectivity.csv")).unwrap();
    assert!(csv.starts_with("layer,cell,edge,class"));
    assert_eq!(csv.lines().count(), 1 + 18);
}

#[test]
fn trajectories_per_layer() {
    let r = runs();
    let out = tempfile::tempdir().unwrap();
    let a = trajectories::analyze(&open(&r.addition), out.path()).unwrap();
    assert_files(&a);
    assert_eq!(a.figures.len(), 3);
    assert!(a.figures[2].png().ends_with("trajectories_layer2.png"));
    assert_findings(&a, &["explained_variance_layer0", "explained_variance_layer1", "explained_variance_layer2"]);
    for s in a.findings.values() {
        assert!(s.mean > 0.0 && s.mean <= 1.0 + 1e-9);
    }
    let csv = std::fs::read_to_string(out.path().join("trajectories.csv")).unwrap();
    assert!(csv.starts_with("layer,particle,class,epoch,pc1,pc2"));
}

#[test]
fn trajectories_without_a_trajectory_is_a_note() {
    let r = runs();
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&r.addition[0]).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
    }
    std::fs::remove_file(copy.path().join("trajectory.safetensors")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let a = trajectories::analyze(&open(&[copy.path().to_owned()]), out.path()).unwrap();
    assert!(a.figures.is_empty() && a.csv.is_empty());
    assert!(a.notes.iter().any(|n| n.contains("no trajectory")), "{:?}", a.notes);
}

#[test]
fn pca_recovers_a_known_axis() {
    // Points spread along (1, 2, 2)/3 with a little noise in the other directions.
    let axis = [1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0];
    let other = [2.0 / 3.0, 1.0 / 3.0, -2.0 / 3.0];
    let mut data = Vec::new();
    for i in 0..200 {
        let t = (i as f64 - 100.0) / 10.0;
        let s = ((i * 7919) % 13) as f64 / 13.0 - 0.5;
        for d in 0..3 {
            data.push(5.0 + t * axis[d] + 0.1 * s * other[d]);
        }
    }
    let pca = trajectories::Pca::fit(&data, 3, 2).unwrap();
    let dot: f64 = pca.components[0].iter().zip(axis).map(|(a, b)| a * b).sum();
    assert!((dot - 1.0).abs() < 1e-6, "first axis {:?}", pca.components[0]);
    let dot2: f64 = pca.components[1].iter().zip(other).map(|(a, b)| a * b).sum();
    assert!((dot2.abs() - 1.0).abs() < 1e-6, "second axis {:?}", pca.components[1]);
    assert!((pca.explained() - 1.0).abs() < 1e-9);
    let x: Vec<f64> = pca.mean.iter().zip(axis).map(|(m, a)| m + 2.0 * a).collect();
    let p = pca.project(&x);
    assert!((p[0] - 2.0).abs() < 1e-6 && p[1].abs() < 1e-3, "{p:?}");
    assert!(trajectories::Pca::fit(&data[..3], 3, 2).is_none());
}

/// The four analyses on the example runs, for a look at the figures:
/// `ORGANISM_EXAMPLE_OUT=dir cargo test --release --test analysis_b -- --ignored`.
#[test]
#[ignore]
fn example_runs() {
    let out: PathBuf = std::env::var_os("ORGANISM_EXAMPLE_OUT").map(Into::into).unwrap_or("/tmp/ana2-out".into());
    let tests = TestSets::default();
    let sets: [(&str, Vec<PathBuf>); 3] = [
        ("mnist0", vec!["/tmp/runs/mnist0".into()]),
        ("mnist-small", (0..2).map(|s| format!("/tmp/runs/mnist-small/seed-{s}").into()).collect()),
        ("add", (0..10).map(|s| format!("/tmp/runs/add/seed-{s}").into()).collect()),
    ];
    for (name, dirs) in sets {
        let runs = open(&dirs);
        let dir = out.join(name);
        let mut all = vec![
            dropout::analyze(&runs, &tests, &dir).unwrap(),
            connectivity::analyze(&runs, &dir).unwrap(),
            trajectories::analyze(&runs, &dir).unwrap(),
        ];
        match heatmap::analyze(&runs, &tests, &dir) {
            Ok(a) => all.push(a),
            Err(e) => println!("{name}: heatmap: {e}"),
        }
        for a in all {
            println!("== {name} {}", a.kind);
            for (k, s) in &a.findings {
                println!("  {k}: {:.4} ± {:.4} (n={})", s.mean, s.sd, s.n);
            }
            for n in &a.notes {
                println!("  note: {n}");
            }
        }
    }
}
