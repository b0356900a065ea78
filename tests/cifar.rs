//! CIFAR-10 through the MNIST code path (issue 14): small batch files in the real binary format,
//! served as a real `cifar-10-binary.tar.gz` by a local HTTP server, checksum-checked into the
//! cache; broken files give errors that name them; grey-scale (luminance) and RGB task data.

use std::collections::HashMap;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;
use organism::config::Config;
use organism::data::cifar::{Archive, ARCHIVE, ARCHIVE_DIR, FILES, RECORD};
use organism::data::source::sha256_hex;
use organism::data::{info, load, DatasetKind, ImageSet, LoadOptions};
use organism::task::TaskData;

/// `n` records with labels `(i + seed) % 10` and pixels from a simple formula.
fn batch(n: usize, seed: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(n * RECORD);
    for i in 0..n {
        v.push(((i as u8).wrapping_add(seed)) % 10);
        v.extend((0..RECORD - 1).map(|p| (p as u8).wrapping_mul(7).wrapping_add(i as u8).wrapping_add(seed)));
    }
    v
}

/// Six small batch files: 3 records per training file, 2 in the test file.
fn files() -> Vec<(&'static str, Vec<u8>)> {
    FILES.iter().enumerate().map(|(k, &f)| (f, batch(if k < 5 { 3 } else { 2 }, k as u8))).collect()
}

/// The files as the official archive lays them out (plus the meta file, which is skipped).
fn archive(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    let mut add = |name: String, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes).unwrap();
    };
    add(format!("{ARCHIVE_DIR}/batches.meta.txt"), b"airplane\nautomobile\n");
    for (name, bytes) in files {
        add(format!("{ARCHIVE_DIR}/{name}"), bytes);
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// A tiny_http server on 127.0.0.1 serving `files` under `/`; returns its base URL.
fn serve(files: HashMap<String, Vec<u8>>) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let base = format!("http://{}", server.server_addr().to_ip().unwrap());
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let body = files.get(request.url().trim_start_matches('/')).cloned();
            let response = match body {
                Some(bytes) => tiny_http::Response::from_data(bytes),
                None => tiny_http::Response::from_string("nope").with_status_code(404),
            };
            let _ = request.respond(response);
        }
    });
    base
}

fn download_opts(cache: &Path, base: String, sha256: String) -> LoadOptions {
    LoadOptions {
        cache_dir: Some(cache.to_path_buf()),
        download: true,
        no_system_dirs: true,
        cifar_archive: Some(Archive { mirrors: vec![base], sha256 }),
        ..LoadOptions::default()
    }
}

#[test]
fn downloads_checks_extracts_and_reads_the_binary_batches() {
    let files = files();
    let tgz = archive(&files);
    let base = serve(HashMap::from([(ARCHIVE.to_string(), tgz.clone())]));
    let cache = tempfile::tempdir().unwrap();
    let data = load(DatasetKind::Cifar10, &download_opts(cache.path(), base.clone(), sha256_hex(&tgz))).unwrap();
    assert_eq!((data.train.len(), data.test.len()), (15, 2));
    assert_eq!((data.train.channels, data.train.rows, data.train.cols), (3, 32, 32));
    // Record 1 of data_batch_2: label and every R, G, B byte, scaled by 1/255.
    let (raw, img) = (&files[1].1[RECORD..2 * RECORD], data.train.image(4));
    assert_eq!(data.train.labels[4], raw[0]);
    assert!(img.iter().zip(&raw[1..]).all(|(&x, &b)| x == f32::from(b) / 255.0));
    assert_eq!(data.test.labels, vec![5, 6]);
    for f in FILES {
        assert!(cache.path().join("cifar10").join(f).is_file(), "{f} not in the cache");
    }
    // Offline, from the cache.
    let offline =
        LoadOptions { download: false, cifar_archive: None, ..download_opts(cache.path(), base, String::new()) };
    assert_eq!(load(DatasetKind::Cifar10, &offline).unwrap().train, data.train);
    let text = info(&offline);
    assert!(text.contains("cifar10:") && text.contains("complete"), "{text}");
}

#[test]
fn a_wrong_checksum_or_a_corrupt_archive_leaves_the_cache_empty() {
    let tgz = archive(&files());
    let mut broken = tgz[..tgz.len() / 2].to_vec();
    broken.extend(vec![0u8; 100]);
    let base = serve(HashMap::from([(ARCHIVE.to_string(), tgz.clone())]));
    let cache = tempfile::tempdir().unwrap();
    let err = load(DatasetKind::Cifar10, &download_opts(cache.path(), base, "0".repeat(64))).unwrap_err().to_string();
    assert!(err.contains("SHA-256 mismatch") && err.contains(ARCHIVE), "{err}");
    let listing = |p: &Path| std::fs::read_dir(p).map(|d| d.count()).unwrap_or(0);
    assert_eq!(listing(&cache.path().join("cifar10")), 0);

    // The right checksum of a corrupt archive: the error names the archive.
    let base = serve(HashMap::from([(ARCHIVE.to_string(), broken.clone())]));
    let err =
        load(DatasetKind::Cifar10, &download_opts(cache.path(), base, sha256_hex(&broken))).unwrap_err().to_string();
    assert!(err.contains(ARCHIVE) && (err.contains("corrupt") || err.contains("truncated")), "{err}");
    assert_eq!(listing(&cache.path().join("cifar10")), 0);

    // An archive without the batch files.
    let empty = archive(&[]);
    let base = serve(HashMap::from([(ARCHIVE.to_string(), empty.clone())]));
    let err =
        load(DatasetKind::Cifar10, &download_opts(cache.path(), base, sha256_hex(&empty))).unwrap_err().to_string();
    assert!(err.contains("data_batch_1.bin"), "{err}");
}

#[test]
fn truncated_and_corrupt_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files() {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let opts = LoadOptions { data_dir: Some(dir.path().to_path_buf()), ..LoadOptions::default() };
    assert!(load(DatasetKind::Cifar10, &opts).is_ok());

    let path = dir.path().join("data_batch_3.bin");
    std::fs::write(&path, &batch(3, 0)[..2 * RECORD + 10]).unwrap();
    let err = load(DatasetKind::Cifar10, &opts).unwrap_err().to_string();
    assert!(err.contains("data_batch_3.bin") && err.contains("truncated"), "{err}");

    let mut bad = batch(3, 0);
    bad[RECORD] = 12;
    std::fs::write(&path, &bad).unwrap();
    let err = load(DatasetKind::Cifar10, &opts).unwrap_err().to_string();
    assert!(err.contains("data_batch_3.bin") && err.contains("record 1 has label 12"), "{err}");

    std::fs::remove_file(&path).unwrap();
    let err = load(DatasetKind::Cifar10, &opts).unwrap_err().to_string();
    assert!(err.contains("missing data_batch_3.bin"), "{err}");
}

#[test]
fn luminance_and_rgb_resize_keep_the_planes_apart() {
    // One 2×2 image: R = 1, G = 0.5, B = 0 everywhere.
    let planes: Vec<f32> = [1.0, 0.5, 0.0].iter().flat_map(|&v| [v; 4]).collect();
    let set = ImageSet { images: planes, labels: vec![3], channels: 3, rows: 2, cols: 2 };
    let gray = set.luminance();
    assert_eq!((gray.channels, gray.images.len()), (1, 4));
    assert!(gray.images.iter().all(|&y| (y - (0.299 + 0.587 * 0.5)).abs() < 1e-6), "{:?}", gray.images);
    let small = set.resized(1, 1, false);
    assert_eq!(small.images, vec![1.0, 0.5, 0.0]);
}

#[test]
fn cifar_tasks_take_grey_or_rgb_inputs_of_the_configured_size() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files() {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let data =
        load(DatasetKind::Cifar10, &LoadOptions { data_dir: Some(dir.path().to_path_buf()), ..LoadOptions::default() })
            .unwrap();
    for (preset, inputs) in [("cifar10-gray", 225), ("cifar10-rgb", 675)] {
        let cfg = Config::resolve(Some(preset), None, &["data.noise=0".into()]).unwrap();
        assert_eq!(cfg.organism.inputs, inputs);
        let task = TaskData::images(&cfg, &data);
        assert_eq!(task.test().x.len(), 2 * inputs, "{preset}");
        assert_eq!(task.train_len(), 15);
    }
    let sets = ["data.image_size=8".to_string(), "organism.inputs=192".to_string()];
    assert!(Config::resolve(Some("cifar10-rgb"), None, &sets).is_ok());
    let err = Config::resolve(Some("cifar10-rgb"), None, &["data.image_size=8".into()]).unwrap_err().to_string();
    assert!(err.contains("organism.inputs") && err.contains("192"), "{err}");
}
