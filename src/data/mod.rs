//! Data sets of the MNIST family (SPEC §4).
//!
//! [`load`] finds the four standard IDX files (see [`source`] for where it looks and how it
//! downloads), [`idx`] reads them into [`ImageSet`]s with pixels in [0, 1], and
//! [`ImageSet::resized`] shrinks them to the 15×15 inputs of the paper (see [`resize`]).
//! [`shuffled_batches`] draws the seeded mini-batch order the training loop uses, and [`crate::task`]
//! prepares a task's data (with the training noise) as the organism sees it.

pub mod cifar;
pub mod idx;
pub mod resize;
pub mod source;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::Rng;

pub use source::{fetch, info, load, Remote};

use crate::{Error, Result};

/// Which member of the MNIST family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    /// Handwritten digits (LeCun, Cortes, Burges).
    Mnist,
    /// Zalando's clothing images, a drop-in replacement for MNIST.
    FashionMnist,
    /// Krizhevsky's 32×32 RGB images of ten classes (see [`cifar`]).
    Cifar10,
}

impl DatasetKind {
    /// Every kind, in the order `info` lists them.
    pub const ALL: [DatasetKind; 3] = [DatasetKind::Mnist, DatasetKind::FashionMnist, DatasetKind::Cifar10];

    /// The name used on the command line and as the cache folder name.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Cifar10 => "cifar10",
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        DatasetKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            Error::Invalid(format!("unknown data set `{s}` (expected `mnist`, `fashion-mnist` or `cifar10`)"))
        })
    }
}

/// Labelled images, all of the same size: grey-scale (one channel) or RGB (three).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    /// `len() × channels × rows × cols` pixels in [0, 1]: image after image, each channel after
    /// channel (planes, as CIFAR-10 stores them), each plane row-major.
    pub images: Vec<f32>,
    /// One class 0–9 per image.
    pub labels: Vec<u8>,
    /// Colour channels (1 grey, 3 RGB).
    pub channels: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set has no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image, all channels (the network's input width once flattened).
    pub fn pixels(&self) -> usize {
        self.channels * self.rows * self.cols
    }

    /// The `i`-th image, flattened row-major.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.images[i * self.pixels()..(i + 1) * self.pixels()]
    }

    /// How many images each class 0–9 has.
    pub fn class_counts(&self) -> [usize; 10] {
        let mut counts = [0; 10];
        self.labels.iter().for_each(|&l| counts[usize::from(l)] += 1);
        counts
    }

    /// Every image resized by bilinear interpolation as PyTorch does it (SPEC §4: 28×28 →
    /// 15×15, half-pixel centres, `antialias` false in the paper's setting).
    ///
    /// # Panics
    /// If any size is zero.
    /// Each channel plane is resized on its own.
    pub fn resized(&self, rows: usize, cols: usize, antialias: bool) -> ImageSet {
        let resizer = resize::Resizer::new(self.rows, self.cols, rows, cols, antialias);
        let planes = self.images.chunks_exact(self.rows * self.cols);
        // Exactly sized: `flat_map` gives `collect` no size hint, and its doubling overshoots.
        let mut images = Vec::with_capacity(planes.len() * rows * cols);
        planes.for_each(|plane| images.extend(resizer.apply(plane)));
        ImageSet { images, labels: self.labels.clone(), channels: self.channels, rows, cols }
    }

    /// RGB images as grey-scale by luminance, `Y = 0.299 R + 0.587 G + 0.114 B` (ITU-R BT.601,
    /// the weights of PIL's `convert("L")` and torchvision's `Grayscale`); grey-scale images
    /// are returned as they are.
    pub fn luminance(&self) -> ImageSet {
        if self.channels != 3 {
            return self.clone();
        }
        let plane = self.rows * self.cols;
        let mut images = Vec::with_capacity(self.images.len() / 3);
        for img in self.images.chunks_exact(3 * plane) {
            let (r, gb) = img.split_at(plane);
            let (g, b) = gb.split_at(plane);
            images.extend((0..plane).map(|i| 0.299 * r[i] + 0.587 * g[i] + 0.114 * b[i]));
        }
        ImageSet { images, labels: self.labels.clone(), channels: 1, rows: self.rows, cols: self.cols }
    }
}

/// Owned task targets.
#[derive(Clone, Debug)]
pub enum Labels {
    /// Regression targets, one per sample (addition).
    Values(Vec<f32>),
    /// Class indices 0–9, one per sample (images).
    Classes(Vec<u8>),
}

/// Inputs (`B × p`) with their targets.
#[derive(Clone, Debug)]
pub struct Samples {
    /// `B × p` inputs, row-major.
    pub x: Vec<f32>,
    /// The `B` targets.
    pub y: Labels,
}

/// A training and a test set, with where they came from.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Which data set (MNIST, Fashion-MNIST, CIFAR-10 …).
    pub kind: DatasetKind,
    /// The training split.
    pub train: ImageSet,
    /// The test split.
    pub test: ImageSet,
    /// For reports, e.g. "mnist (cache /root/.cache/organism/mnist)" or
    /// "mnist-10k (bundled subset)".
    pub description: String,
    /// True when the full data set was unavailable and the bundled 10k subset is used instead.
    pub bundled_subset: bool,
}

/// Where [`load`] and [`fetch`] look for data and whether they may download it.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// A folder with the four standard IDX files (`--data DIR`); if given, nothing else is tried.
    pub data_dir: Option<PathBuf>,
    /// Root of the download cache (the data of a kind lives in `<root>/<kind>`); default
    /// `$ORGANISM_DATA`, else `<user cache dir>/organism`.
    pub cache_dir: Option<PathBuf>,
    /// May [`load`] download into the cache when the data is not found locally?
    pub download: bool,
    /// Mirrors and checksums to use instead of the official ones (for tests).
    pub remote: Option<Remote>,
    /// Show a progress bar while downloading (only ever drawn when stderr is a terminal).
    pub progress: bool,
    /// Do not look in system folders (Debian's `/usr/share/datasets/…`): for hermetic tests.
    pub no_system_dirs: bool,
    /// CIFAR-10: the archive's mirrors and checksum to use instead of the official ones.
    pub cifar_archive: Option<cifar::Archive>,
}

/// A seeded random order of the indices `0..n`, cut into batches of `batch` (the last one
/// shorter if `batch` does not divide `n`, as PyTorch's `DataLoader(shuffle=True)`).
///
/// # Panics
/// If `batch` is zero.
pub fn shuffled_batches(n: usize, batch: usize, rng: &mut impl Rng) -> Vec<Vec<usize>> {
    assert!(batch > 0, "batch size must be positive");
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    order.chunks(batch).map(<[usize]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn kind_names_round_trip() {
        for kind in DatasetKind::ALL {
            assert_eq!(kind.to_string().parse::<DatasetKind>().unwrap(), kind);
        }
        assert!("cifar".parse::<DatasetKind>().is_err());
    }

    #[test]
    fn batches_are_a_seeded_partition() {
        let draw = |seed| shuffled_batches(10, 4, &mut ChaCha8Rng::seed_from_u64(seed));
        let batches = draw(1);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);
        let mut all: Vec<usize> = batches.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(draw(1), batches);
        assert_ne!(draw(2), batches);
    }
}
