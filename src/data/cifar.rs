//! CIFAR-10 (A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009): the
//! paper's suggestion for "RGB data without any dead-spots (i.e., CIFAR10)" (§VII).
//!
//! The official binary version: six files of records `1 label byte + 3072 pixel bytes` (the R,
//! G and B planes of a 32×32 image, each row-major), 10,000 records per file;
//! `data_batch_1.bin` … `data_batch_5.bin` are the training set, `test_batch.bin` the test set.
//! They are found, in this order:
//! 1. in `--data DIR` ([`LoadOptions::data_dir`]), alone if given;
//! 2. in the cache `<root>/cifar10` (the root as for MNIST, see [`super::source`]);
//! 3. by downloading the official archive `cifar-10-binary.tar.gz` (170,052,171 bytes), checking
//!    its SHA-256, and extracting the six files into the cache, each written under a temporary
//!    name and renamed into place.
//!
//! Images load as RGB ([`ImageSet::channels`] = 3, pixels byte / 255); the `cifar10-gray` task
//! converts them by luminance ([`ImageSet::luminance`]), and both are resized by the same code as
//! MNIST. Every error names the file it is about.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::source::{agent, cache_dir, download_one, install, DigestOf, CACHE_ENV};
use super::{Dataset, DatasetKind, ImageSet, LoadOptions};
use crate::{Error, Result};

/// Side of a CIFAR-10 image.
pub const SIDE: usize = 32;
/// Bytes per record: the label, then three 32×32 planes.
pub const RECORD: usize = 1 + 3 * SIDE * SIDE;
/// Records per official file; a larger file is not CIFAR-10 (bounds the allocation).
pub const MAX_RECORDS: usize = 10_000;
/// The training files, then the test file.
pub const FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];
/// The official archive and the folder its files are in.
pub const ARCHIVE: &str = "cifar-10-binary.tar.gz";
/// The folder inside the archive that holds the binary batches.
pub const ARCHIVE_DIR: &str = "cifar-10-batches-bin";

/// Where the archive is downloaded from, and its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Archive {
    /// Base URLs, tried in order; the archive is `<mirror>/cifar-10-binary.tar.gz`.
    pub mirrors: Vec<String>,
    /// Lower-case hex SHA-256 of the archive as served.
    pub sha256: String,
}

impl Archive {
    /// The authors' page and the archive's published SHA-256.
    pub fn official() -> Archive {
        Archive {
            mirrors: vec!["https://www.cs.toronto.edu/~kriz/".into()],
            sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd".into(),
        }
    }
}

/// Parses one binary batch: RGB images (planes, values byte / 255) and their labels.
pub fn parse_batch(path: &Path, raw: &[u8]) -> Result<ImageSet> {
    if raw.is_empty() || !raw.len().is_multiple_of(RECORD) {
        return Err(Error::format(
            path,
            format!(
                "{} bytes is not a whole number of CIFAR-10 records of {RECORD} bytes (truncated or not a batch file)",
                raw.len()
            ),
        ));
    }
    let n = raw.len() / RECORD;
    if n > MAX_RECORDS {
        return Err(Error::format(path, format!("{n} records, more than the {MAX_RECORDS} of a CIFAR-10 batch")));
    }
    let mut images = Vec::with_capacity(n * (RECORD - 1));
    let mut labels = Vec::with_capacity(n);
    for (i, record) in raw.chunks_exact(RECORD).enumerate() {
        if record[0] > 9 {
            return Err(Error::format(path, format!("record {i} has label {}, not a class 0–9", record[0])));
        }
        labels.push(record[0]);
        images.extend(record[1..].iter().map(|&b| f32::from(b) / 255.0));
    }
    Ok(ImageSet { images, labels, channels: 3, rows: SIDE, cols: SIDE })
}

/// The six files in `dir`, or the names of the missing ones.
fn find(dir: &Path) -> std::result::Result<Vec<PathBuf>, Vec<&'static str>> {
    let missing: Vec<&str> = FILES.iter().copied().filter(|f| !dir.join(f).is_file()).collect();
    if missing.is_empty() {
        Ok(FILES.iter().map(|f| dir.join(f)).collect())
    } else {
        Err(missing)
    }
}

/// Reads the six files of `dir` into a data set.
fn read(dir: &Path, description: String) -> Result<Dataset> {
    let files = find(dir).map_err(|m| Error::format(dir, format!("no CIFAR-10 here: missing {}", m.join(", "))))?;
    let mut train: Option<ImageSet> = None;
    for path in &files[..5] {
        let batch = parse_batch(path, &std::fs::read(path).map_err(|e| Error::io(path, e))?)?;
        match &mut train {
            None => train = Some(batch),
            Some(t) => {
                t.images.extend(batch.images);
                t.labels.extend(batch.labels);
            }
        }
    }
    let test = parse_batch(&files[5], &std::fs::read(&files[5]).map_err(|e| Error::io(&files[5], e))?)?;
    let train = train.expect("five training files");
    Ok(Dataset { kind: DatasetKind::Cifar10, train, test, description, bundled_subset: false })
}

/// Loads CIFAR-10 from the first place of the module's list that has it.
pub fn load(opts: &LoadOptions) -> Result<Dataset> {
    if let Some(dir) = &opts.data_dir {
        return read(dir, format!("cifar10 (data dir {})", dir.display()));
    }
    let cache = cache_dir(DatasetKind::Cifar10, opts);
    if let Some(dir) = cache.as_ref().filter(|d| find(d).is_ok()) {
        return read(dir, format!("cifar10 (cache {})", dir.display()));
    }
    if !opts.download {
        return Err(Error::Invalid(format!(
            "cifar10 not found (cache {}) and downloading is disabled; run `organism data fetch cifar10`",
            cache.map_or("none".into(), |d| d.display().to_string())
        )));
    }
    let dir = fetch(opts)?;
    read(&dir, format!("cifar10 (cache {})", dir.display()))
}

/// Downloads the archive (unless the cache already has all six files), checks its SHA-256 and
/// extracts the six batch files into the cache; returns the cache folder.
pub fn fetch(opts: &LoadOptions) -> Result<PathBuf> {
    let dir = cache_dir(DatasetKind::Cifar10, opts)
        .ok_or_else(|| Error::Invalid(format!("no cache folder for downloads: set {CACHE_ENV}")))?;
    if find(&dir).is_ok() {
        return Ok(dir);
    }
    let archive = opts.cifar_archive.clone().unwrap_or_else(Archive::official);
    let agent = agent();
    let mut failures = Vec::new();
    let mut bytes = None;
    for mirror in &archive.mirrors {
        let url = format!("{}/{ARCHIVE}", mirror.trim_end_matches('/'));
        match download_one(&agent, &url, DigestOf::Gzip, &archive.sha256, opts.progress) {
            Ok(b) => {
                bytes = Some((url, b));
                break;
            }
            Err(msg) => failures.push(format!("{url}: {msg}")),
        }
    }
    let Some((url, bytes)) = bytes else {
        if failures.is_empty() {
            failures.push("no mirrors configured".into());
        }
        return Err(Error::Download { url: ARCHIVE.into(), msg: failures.join("; ") });
    };
    let members = extract(Path::new(&url), &bytes)?;
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    for (name, content) in &members {
        // Each file is checked before anything is written, so the cache never holds a bad one.
        parse_batch(&Path::new(&url).join(name), content)?;
    }
    for (name, content) in &members {
        install(&dir, name, content)?;
    }
    Ok(dir)
}

/// The six batch files of a `cifar-10-binary.tar.gz` archive, `(name, bytes)` in [`FILES`]
/// order. `path` names the archive in errors.
pub fn extract(path: &Path, gz: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let bad = |msg: String| Error::format(path, msg);
    let mut archive = tar::Archive::new(GzDecoder::new(gz));
    let mut found: Vec<Option<Vec<u8>>> = vec![None; FILES.len()];
    let entries = archive.entries().map_err(|e| bad(format!("not a tar.gz archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("truncated or corrupt archive: {e}")))?;
        let name = entry.path().map_err(|e| bad(format!("bad member name: {e}")))?.to_string_lossy().into_owned();
        let Some(k) = FILES.iter().position(|f| name == format!("{ARCHIVE_DIR}/{f}")) else { continue };
        let size = entry.header().size().map_err(|e| bad(format!("{name}: bad size: {e}")))?;
        if size > (MAX_RECORDS * RECORD) as u64 {
            return Err(bad(format!("{name}: {size} bytes, more than a CIFAR-10 batch")));
        }
        let mut content = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut content).map_err(|e| bad(format!("{name}: truncated or corrupt archive: {e}")))?;
        found[k] = Some(content);
    }
    let missing: Vec<&str> = FILES.iter().zip(&found).filter(|(_, c)| c.is_none()).map(|(f, _)| *f).collect();
    if !missing.is_empty() {
        return Err(bad(format!("the archive has no {ARCHIVE_DIR}/{}", missing.join(", "))));
    }
    Ok(FILES.iter().zip(found).map(|(f, c)| (f.to_string(), c.expect("checked"))).collect())
}

/// The lines of `organism data info` for CIFAR-10.
pub fn info(opts: &LoadOptions) -> String {
    let mut out = String::new();
    let status = |dir: &Path| super::source::folder_status(find(dir), FILES.len());
    if let Some(dir) = &opts.data_dir {
        let _ = writeln!(out, "  data dir  {}: {}", dir.display(), status(dir));
    }
    match cache_dir(DatasetKind::Cifar10, opts) {
        Some(dir) => {
            let _ = writeln!(out, "  cache     {}: {}", dir.display(), status(&dir));
        }
        None => {
            let _ = writeln!(out, "  cache     none (set {CACHE_ENV})");
        }
    }
    let archive = opts.cifar_archive.clone().unwrap_or_else(Archive::official);
    let _ = writeln!(out, "  download  {} ({ARCHIVE}, SHA-256 checked)", archive.mirrors.join(", "));
    out
}
