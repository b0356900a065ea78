//! Tests of the MNIST-family data module (SPEC §4): the IDX reader on the bundled subset and on
//! broken files, the PyTorch-exact resize, and the downloader against local HTTP servers.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use flate2::write::GzEncoder;
use flate2::Compression;
use organism::data::source::{self, DigestOf, BUNDLED, FILE_NAMES};
use organism::data::{fetch, info, load, DatasetKind, ImageSet, LoadOptions, Remote};

// ---------------------------------------------------------------------------------------------
// Helpers: small IDX files.

fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    dims.iter().for_each(|d| v.extend(d.to_be_bytes()));
    v.extend(payload);
    v
}

fn images_idx(n: u32, rows: u32, cols: u32, seed: u8) -> Vec<u8> {
    let payload: Vec<u8> = (0..n * rows * cols).map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed)).collect();
    idx(0x803, &[n, rows, cols], &payload)
}

fn labels_idx(labels: &[u8]) -> Vec<u8> {
    idx(0x801, &[labels.len() as u32], labels)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A tiny valid data set (5 train / 3 test images of 4×4), as the four decompressed files.
fn tiny_dataset() -> [Vec<u8>; 4] {
    [images_idx(5, 4, 4, 1), labels_idx(&[0, 1, 2, 9, 4]), images_idx(3, 4, 4, 7), labels_idx(&[5, 6, 7])]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn offline(cache: &Path) -> LoadOptions {
    LoadOptions { cache_dir: Some(cache.to_path_buf()), no_system_dirs: true, ..LoadOptions::default() }
}

// ---------------------------------------------------------------------------------------------
// The bundled subset.

#[test]
fn bundled_files_have_the_published_checksums() {
    let published = [
        ("train-images-idx3-ubyte.gz", "1f9521fd7ed9dd282c7d0e926720798f8fa3f6ec62b10c6e0f8e9d7aa58b2fb3"),
        ("train-labels-idx1-ubyte.gz", "79fe2cb33d3fcbe109f2c5c59d10f780c3a3498b5c65ce03921aa497beffdd03"),
        ("t10k-images-idx3-ubyte.gz", "2fe2d7716ac81181e4b266e20c8bf54fb41d3694f4e3548eb1d85688c1962e0f"),
        ("t10k-labels-idx1-ubyte.gz", "7c0afe6beec4b7edd63d6f4dcc220a799a941eca52f5ff60fe32392cd6eafbe9"),
    ];
    for (file, (name, sha)) in BUNDLED.iter().zip(published) {
        assert_eq!(file.name, name);
        assert_eq!(source::sha256_hex(file.bytes), sha, "{name}");
        assert_eq!(file.sha256, sha, "{name}");
    }
}

#[test]
fn bundled_subset_has_the_published_shape_and_classes() {
    let data = source::bundled().unwrap();
    assert!(data.bundled_subset);
    assert_eq!(data.description, "mnist-10k (bundled subset)");
    for (set, n) in [(&data.train, 8000), (&data.test, 2000)] {
        assert_eq!((set.len(), set.rows, set.cols, set.images.len()), (n, 28, 28, n * 784));
        assert!(set.images.iter().all(|&x| (0.0..=1.0).contains(&x)));
    }
    assert_eq!(data.train.class_counts(), [772, 888, 786, 834, 786, 685, 826, 861, 766, 796]);
    assert_eq!(data.test.class_counts(), [229, 239, 205, 198, 194, 178, 188, 209, 178, 182]);
}

#[test]
fn offline_mnist_falls_back_to_the_bundled_subset() {
    let cache = tempfile::tempdir().unwrap();
    let data = load(DatasetKind::Mnist, &offline(cache.path())).unwrap();
    assert!(data.bundled_subset);
    assert_eq!(data.train.len(), 8000);
}

#[test]
fn offline_fashion_mnist_is_an_error() {
    let cache = tempfile::tempdir().unwrap();
    let err = load(DatasetKind::FashionMnist, &offline(cache.path())).unwrap_err().to_string();
    assert!(err.contains("fashion-mnist not found") && err.contains("downloading is disabled"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The IDX reader on files on disk.

#[test]
fn data_dir_with_mixed_plain_and_gzip_files_loads() {
    let dir = tempfile::tempdir().unwrap();
    let files = tiny_dataset();
    write(dir.path(), FILE_NAMES[0], &files[0]);
    write(dir.path(), &format!("{}.gz", FILE_NAMES[1]), &gzip(&files[1]));
    write(dir.path(), &format!("{}.gz", FILE_NAMES[2]), &gzip(&files[2]));
    write(dir.path(), FILE_NAMES[3], &files[3]);
    let opts = LoadOptions { data_dir: Some(dir.path().to_path_buf()), ..LoadOptions::default() };
    let data = load(DatasetKind::FashionMnist, &opts).unwrap();
    assert!(!data.bundled_subset);
    assert!(data.description.starts_with("fashion-mnist (data dir "), "{}", data.description);
    assert_eq!((data.train.len(), data.test.len(), data.train.rows, data.train.cols), (5, 3, 4, 4));
    assert_eq!(data.train.labels, vec![0, 1, 2, 9, 4]);
    assert_eq!(data.train.images[1], 38.0 / 255.0);
}

#[test]
fn incomplete_data_dir_names_the_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), FILE_NAMES[0], &tiny_dataset()[0]);
    let opts = LoadOptions { data_dir: Some(dir.path().to_path_buf()), ..LoadOptions::default() };
    let err = load(DatasetKind::Mnist, &opts).unwrap_err().to_string();
    assert!(err.contains(FILE_NAMES[1]) && err.contains(FILE_NAMES[3]), "{err}");
    assert!(!err.contains(FILE_NAMES[0]), "{err}");
}

/// Writes `images` and `labels` to a tempdir and returns the error of reading them, with the
/// two paths.
fn read_error(images: &[u8], labels: &[u8]) -> (String, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let i = write(dir.path(), "imgs.idx", images);
    let l = write(dir.path(), "lbls.idx", labels);
    let err = organism::data::idx::read_image_set(&i, &l).unwrap_err().to_string();
    (err, i, l)
}

#[test]
fn truncated_gzip_is_reported_with_the_file() {
    let gz = gzip(&images_idx(5, 4, 4, 0));
    let (err, i, _) = read_error(&gz[..gz.len() / 2], &labels_idx(&[0; 5]));
    assert!(err.contains(&i.display().to_string()) && err.contains("gzip"), "{err}");
}

#[test]
fn wrong_magic_is_reported_with_the_file() {
    // A label file where an image file is expected.
    let (err, i, _) = read_error(&labels_idx(&[0; 5]), &labels_idx(&[0; 5]));
    assert!(err.contains(&i.display().to_string()) && err.contains("magic"), "{err}");
}

#[test]
fn mismatched_counts_are_reported_with_both_files() {
    let (err, i, l) = read_error(&images_idx(5, 4, 4, 0), &labels_idx(&[0; 4]));
    assert!(err.contains(&l.display().to_string()) && err.contains(&i.display().to_string()), "{err}");
    assert!(err.contains("4 labels but 5 images"), "{err}");
}

#[test]
fn truncated_payload_is_reported_with_the_file() {
    let bytes = images_idx(5, 4, 4, 0);
    let (err, i, _) = read_error(&bytes[..bytes.len() - 1], &labels_idx(&[0; 5]));
    assert!(err.contains(&i.display().to_string()) && err.contains("79"), "{err}");
}

#[test]
fn label_out_of_range_is_reported_with_the_file() {
    let (err, _, l) = read_error(&images_idx(3, 4, 4, 0), &gzip(&labels_idx(&[0, 10, 1])));
    assert!(err.contains(&l.display().to_string()) && err.contains("label 10 at index 1"), "{err}");
}

#[test]
fn missing_file_is_reported_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let l = write(dir.path(), "lbls.idx", &labels_idx(&[0]));
    let missing = dir.path().join("nope.idx");
    let err = organism::data::idx::read_image_set(&missing, &l).unwrap_err().to_string();
    assert!(err.contains(&missing.display().to_string()), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Resize against PyTorch (fixture made with F.interpolate on mnist-10k t10k images 0..2).

#[test]
fn resize_matches_pytorch_bilinear_with_and_without_antialias() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/resize_15.json"))
            .unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
    };
    let cases = json["images"].as_array().unwrap();
    assert!(!cases.is_empty());
    let bundled_test = source::bundled().unwrap().test;
    for case in cases {
        let index = case["index"].as_u64().unwrap() as usize;
        let set = ImageSet { images: floats(&case["pixels_28"]), labels: vec![0], channels: 1, rows: 28, cols: 28 };
        assert_eq!(set.images, bundled_test.image(index), "fixture input is t10k image {index}");
        for (antialias, key) in [(false, "bilinear_15"), (true, "bilinear_antialias_15")] {
            let want = floats(&case[key]);
            let got = set.resized(15, 15, antialias);
            assert_eq!((got.rows, got.cols, got.images.len()), (15, 15, want.len()));
            for (p, (g, w)) in got.images.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-6 + 1e-5 * w.abs(), "image {index} {key} pixel {p}: got {g}, PyTorch {w}");
            }
        }
        // The two variants must differ, or the comparison above could not tell them apart.
        let differ = floats(&case["bilinear_15"])
            .iter()
            .zip(floats(&case["bilinear_antialias_15"]))
            .any(|(a, b)| (a - b).abs() > 1e-3);
        assert!(differ);
    }
}

// ---------------------------------------------------------------------------------------------
// Downloads from local servers.

/// A tiny_http server on 127.0.0.1: `/good/<file>` serves `files`, `/fail/<file>` answers 500.
/// Returns its base URL and the list of requested paths.
fn serve(files: HashMap<String, Vec<u8>>) -> (String, Arc<Mutex<Vec<String>>>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", server.server_addr().to_ip().unwrap());
    let hits = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&hits);
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let url = request.url().to_string();
            log.lock().unwrap().push(url.clone());
            let body = url.strip_prefix("/good/").and_then(|name| files.get(name));
            let response = match body {
                Some(bytes) => tiny_http::Response::from_data(bytes.clone()),
                None => tiny_http::Response::from_string("nope").with_status_code(500),
            };
            let _ = request.respond(response);
        }
    });
    (base, hits)
}

/// A raw server whose every response announces 1000 bytes but sends 10, then hangs up.
fn serve_truncated() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
        }
    });
    base
}

/// The tiny data set as served (`<name>.gz`) and its remote description.
fn remote_dataset(digest_of: DigestOf) -> (HashMap<String, Vec<u8>>, [String; 4]) {
    let files = tiny_dataset();
    let gz: Vec<Vec<u8>> = files.iter().map(|f| gzip(f)).collect();
    let sha = std::array::from_fn(|i| source::sha256_hex(if digest_of == DigestOf::Gzip { &gz[i] } else { &files[i] }));
    let served = FILE_NAMES.iter().zip(gz).map(|(n, g)| (format!("{n}.gz"), g)).collect();
    (served, sha)
}

fn download_opts(cache: &Path, mirrors: Vec<String>, digest_of: DigestOf, sha256: [String; 4]) -> LoadOptions {
    LoadOptions {
        cache_dir: Some(cache.to_path_buf()),
        download: true,
        remote: Some(Remote { mirrors, digest_of, sha256 }),
        no_system_dirs: true,
        ..LoadOptions::default()
    }
}

fn cache_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn download_verifies_and_fills_the_cache_for_both_digest_kinds() {
    for (kind, digest_of) in [(DatasetKind::Mnist, DigestOf::Gzip), (DatasetKind::FashionMnist, DigestOf::Content)] {
        let (served, sha) = remote_dataset(digest_of);
        let (base, _) = serve(served);
        let cache = tempfile::tempdir().unwrap();
        let opts = download_opts(cache.path(), vec![format!("{base}/good/")], digest_of, sha);
        let data = load(kind, &opts).unwrap();
        let dir = cache.path().join(kind.name());
        assert_eq!(data.description, format!("{kind} (cache {})", dir.display()));
        assert!(!data.bundled_subset);
        assert_eq!((data.train.len(), data.test.len()), (5, 3));
        let mut expected: Vec<String> = FILE_NAMES.iter().map(|n| format!("{n}.gz")).collect();
        expected.sort();
        assert_eq!(cache_listing(&dir), expected);
        // A second load finds the cache without the network.
        let again = load(kind, &LoadOptions { remote: None, download: false, ..opts }).unwrap();
        assert_eq!(again.train, data.train);
    }
}

#[test]
fn wrong_checksum_leaves_no_file_in_the_cache() {
    let (served, mut sha) = remote_dataset(DigestOf::Gzip);
    sha[2] = "0".repeat(64);
    let (base, _) = serve(served);
    let cache = tempfile::tempdir().unwrap();
    let opts = download_opts(cache.path(), vec![format!("{base}/good")], DigestOf::Gzip, sha);
    let err = fetch(DatasetKind::Mnist, &opts).unwrap_err().to_string();
    assert!(err.contains("t10k-images-idx3-ubyte.gz") && err.contains("SHA-256 mismatch"), "{err}");
    let listing = cache_listing(&cache.path().join("mnist"));
    assert!(!listing.iter().any(|n| n.starts_with("t10k-images") || n.starts_with('.')), "{listing:?}");
    // `load` falls back to the bundled subset, but does not use the incomplete cache.
    let data = load(DatasetKind::Mnist, &opts).unwrap();
    assert!(data.bundled_subset);
}

#[test]
fn server_error_falls_through_to_the_next_mirror() {
    let (served, sha) = remote_dataset(DigestOf::Gzip);
    let (base, hits) = serve(served);
    let cache = tempfile::tempdir().unwrap();
    let mirrors = vec![format!("{base}/fail/"), format!("{base}/good/")];
    let dir = fetch(DatasetKind::Mnist, &download_opts(cache.path(), mirrors, DigestOf::Gzip, sha.clone())).unwrap();
    assert_eq!(cache_listing(&dir).len(), 4);
    let hits = hits.lock().unwrap().clone();
    assert_eq!(hits.iter().filter(|h| h.starts_with("/fail/")).count(), 4, "{hits:?}");

    let only_failing = download_opts(cache.path(), vec![format!("{base}/fail/")], DigestOf::Gzip, sha);
    let err = fetch(DatasetKind::FashionMnist, &only_failing).unwrap_err().to_string();
    assert!(err.contains("HTTP 500") && err.contains("/fail/train-images-idx3-ubyte.gz"), "{err}");
    assert!(cache_listing(&cache.path().join("fashion-mnist")).is_empty());
}

#[test]
fn truncated_body_is_rejected_then_the_next_mirror_is_used() {
    let (served, sha) = remote_dataset(DigestOf::Gzip);
    let (good, _) = serve(served);
    let truncated = serve_truncated();
    let cache = tempfile::tempdir().unwrap();
    let alone = download_opts(cache.path(), vec![truncated.clone()], DigestOf::Gzip, sha.clone());
    let err = fetch(DatasetKind::Mnist, &alone).unwrap_err().to_string();
    assert!(err.contains(&truncated) && err.contains("after 10 bytes"), "{err}");
    assert!(cache_listing(&cache.path().join("mnist")).is_empty());

    let both = download_opts(cache.path(), vec![truncated, format!("{good}/good/")], DigestOf::Gzip, sha);
    assert_eq!(cache_listing(&fetch(DatasetKind::Mnist, &both).unwrap()).len(), 4);
}

#[test]
fn info_reports_each_place() {
    let cache = tempfile::tempdir().unwrap();
    let text = info(&LoadOptions { cache_dir: Some(cache.path().to_path_buf()), ..LoadOptions::default() });
    assert!(text.contains("mnist:") && text.contains("fashion-mnist:"), "{text}");
    assert!(text.contains(&format!("{}: absent", cache.path().join("mnist").display())), "{text}");
    assert!(text.contains(source::DEBIAN_FASHION_DIR), "{text}");
    assert!(text.contains("mnist-10k (bundled subset)"), "{text}");
    assert!(text.contains("https://ossci-datasets.s3.amazonaws.com/mnist/"), "{text}");
}
