//! The data of a task as the organism sees it (SPEC §4), and the seeded random streams it is
//! drawn from.
//!
//! Addition draws fresh samples every epoch; image tasks resize and flatten a [`Dataset`] once
//! and add Gaussian noise (σ = `data.noise`, 1e-4 in the paper) afresh to every training batch
//! and once to the test set.

use crate::config::Config;
use crate::data::{load, shuffled_batches, Dataset, ImageSet, LoadOptions};
pub use crate::data::{Labels, Samples};
use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Independent random streams of one seed, so that e.g. the test set does not depend on the
/// number of epochs.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    /// The organism's initial particles.
    Init = 0,
    /// Training batches: addition samples, image order and noise.
    Train = 1,
    /// The test set.
    Test = 2,
    /// Interactions between particles (see [`crate::interaction`]).
    Interaction = 3,
}

/// The generator of `stream` of `seed`.
pub fn stream_rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream as u64);
    r
}

/// The data of a task, prepared as the organism sees it (SPEC §4).
pub enum TaskData {
    /// Float addition: fresh training samples every epoch.
    Addition {
        /// Training samples drawn per epoch.
        train_samples: usize,
        /// The fixed test set.
        test: Samples,
    },
    /// Images resized and flattened; `noise` is added afresh to every training batch, and once
    /// to the test set.
    Images {
        /// The training images (resized), batched afresh every epoch.
        train: ImageSet,
        /// The test set, flattened, noise added once.
        test: Samples,
        /// Standard deviation of the Gaussian pixel noise (`data.noise`).
        noise: f32,
        /// Where the images came from, for reports.
        description: String,
        /// True when the bundled 10k subset stands in for the real data set.
        bundled_subset: bool,
    },
}

/// `n` addition samples: x ~ N(0,1)², target x₁ + x₂.
fn addition_samples(n: usize, rng: &mut ChaCha8Rng) -> Samples {
    let x: Vec<f32> = (0..2 * n).map(|_| StandardNormal.sample(rng)).collect();
    let y = x.chunks(2).map(|p| p[0] + p[1]).collect();
    Samples { x, y: Labels::Values(y) }
}

/// Values per noise stream: fixed, so the noise does not depend on the thread count.
const NOISE_CHUNK: usize = 1 << 14;

/// Adds `σ·N(0,1)` to every value (SPEC §4; pixels are not clipped, as in the paper's code).
/// One seed is drawn from `rng`; each fixed chunk of values then has its own stream of that
/// seed, so chunks are filled in parallel and the result does not depend on the thread count.
pub fn add_noise(x: &mut [f32], sigma: f32, rng: &mut ChaCha8Rng) {
    if sigma > 0.0 {
        let seed: u64 = rng.gen();
        x.par_chunks_mut(NOISE_CHUNK).enumerate().for_each(|(k, chunk)| {
            let mut r = ChaCha8Rng::seed_from_u64(seed);
            r.set_stream(k as u64);
            for v in chunk {
                let z: f32 = StandardNormal.sample(&mut r);
                *v += sigma * z;
            }
        });
    }
}

impl TaskData {
    /// The task data of `cfg`: addition samples, or the image data set (found, downloaded or
    /// the bundled subset, see [`load`]).
    pub fn load(cfg: &Config) -> Result<TaskData> {
        match cfg.task.dataset() {
            None => Ok(TaskData::addition(cfg)),
            Some(kind) => {
                let opts = LoadOptions {
                    data_dir: (!cfg.data.dir.as_os_str().is_empty()).then(|| cfg.data.dir.clone()),
                    download: cfg.data.download,
                    progress: true,
                    ..LoadOptions::default()
                };
                let dataset = load(kind, &opts)?;
                for (split, set) in [("training", &dataset.train), ("test", &dataset.test)] {
                    if set.is_empty() {
                        return Err(Error::Invalid(format!("{}: the {split} set has no images", dataset.description)));
                    }
                }
                Ok(TaskData::images(cfg, &dataset))
            }
        }
    }

    /// The addition task of `cfg`; its test set is fixed by the seed.
    pub fn addition(cfg: &Config) -> TaskData {
        let test = addition_samples(cfg.data.test_samples, &mut stream_rng(cfg.seed, Stream::Test));
        TaskData::Addition { train_samples: cfg.data.train_samples, test }
    }

    /// An image task of `cfg` on `dataset`: resized to `image_size`², flattened, the test set cut
    /// to `data.test_samples` images when that is not 0. The test set's
    /// noise is drawn from a fixed seed, so every seed of an experiment sees the same test set.
    pub fn images(cfg: &Config, dataset: &Dataset) -> TaskData {
        let size = cfg.data.image_size;
        // RGB data for a grey-scale task is converted by luminance first.
        let prepare = |set: &ImageSet| match cfg.task.channels() {
            1 if set.channels == 3 => set.luminance().resized(size, size, cfg.data.antialias),
            _ => set.resized(size, size, cfg.data.antialias),
        };
        let (train, test) = (prepare(&dataset.train), prepare(&dataset.test));
        let mut test = test;
        // `data.test_samples`: the first that many test images, 0 = the whole test split.
        if cfg.data.test_samples > 0 && cfg.data.test_samples < test.len() {
            let per_image = test.images.len() / test.len();
            test.labels.truncate(cfg.data.test_samples);
            test.images.truncate(cfg.data.test_samples * per_image);
        }
        let mut x = test.images;
        add_noise(&mut x, cfg.data.noise, &mut stream_rng(0, Stream::Test));
        TaskData::Images {
            train,
            test: Samples { x, y: Labels::Classes(test.labels) },
            noise: cfg.data.noise,
            description: dataset.description.clone(),
            bundled_subset: dataset.bundled_subset,
        }
    }

    /// The test set.
    pub fn test(&self) -> &Samples {
        match self {
            TaskData::Addition { test, .. } | TaskData::Images { test, .. } => test,
        }
    }

    /// Number of training samples per epoch.
    pub fn train_len(&self) -> usize {
        match self {
            TaskData::Addition { train_samples, .. } => *train_samples,
            TaskData::Images { train, .. } => train.len(),
        }
    }

    /// What the data is, for summaries.
    pub fn description(&self) -> String {
        match self {
            TaskData::Addition { .. } => "addition (x ~ N(0,1)², target x₁ + x₂)".to_string(),
            TaskData::Images { description, .. } => description.clone(),
        }
    }

    /// One epoch's mini-batches, drawn from `rng` (the [`Stream::Train`] stream). Image batches
    /// are gathered (and their noise drawn) one at a time as the epoch is iterated, so an epoch
    /// holds one batch of images, not a shuffled copy of the training set; the draws from `rng`
    /// are the same, in the same order.
    pub fn epoch<'a>(&'a self, batch_size: usize, rng: &'a mut ChaCha8Rng) -> Epoch<'a> {
        let batches = match self {
            TaskData::Addition { train_samples, .. } => {
                let all = addition_samples(*train_samples, rng);
                let Labels::Values(y) = &all.y else { unreachable!() };
                all.x
                    .chunks(2 * batch_size)
                    .zip(y.chunks(batch_size))
                    .map(|(x, y)| Batch::Drawn(Samples { x: x.to_vec(), y: Labels::Values(y.to_vec()) }))
                    .collect()
            }
            TaskData::Images { train, noise, .. } => shuffled_batches(train.len(), batch_size, rng)
                .into_iter()
                .map(|idx| Batch::Images { train, noise: *noise, idx })
                .collect(),
        };
        Epoch { rng, batches: Vec::into_iter(batches) }
    }
}

/// One epoch's mini-batches ([`TaskData::epoch`]), in order.
pub struct Epoch<'a> {
    rng: &'a mut ChaCha8Rng,
    batches: std::vec::IntoIter<Batch<'a>>,
}

/// A batch drawn already, or the indices of training images still to gather.
enum Batch<'a> {
    Drawn(Samples),
    Images { train: &'a ImageSet, noise: f32, idx: Vec<usize> },
}

impl Iterator for Epoch<'_> {
    type Item = Samples;

    fn next(&mut self) -> Option<Samples> {
        Some(match self.batches.next()? {
            Batch::Drawn(samples) => samples,
            Batch::Images { train, noise, idx } => {
                let mut x = Vec::with_capacity(idx.len() * train.pixels());
                idx.iter().for_each(|&i| x.extend_from_slice(train.image(i)));
                add_noise(&mut x, noise, self.rng);
                Samples { x, y: Labels::Classes(idx.iter().map(|&i| train.labels[i]).collect()) }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(n: usize, sigma: f32, seed: u64, threads: usize) -> Vec<f32> {
        let mut x = vec![0.5f32; n];
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| add_noise(&mut x, sigma, &mut ChaCha8Rng::seed_from_u64(seed)));
        x
    }

    /// The noise training adds (SPEC §4) has the requested spread, is fixed by the seed, and is
    /// the same bits for any thread count (several noise chunks are in play).
    #[test]
    fn training_noise_has_the_requested_spread_is_seeded_and_thread_independent() {
        let n = 3 * NOISE_CHUNK + 123;
        let x = noisy(n, 1e-4, 0, 1);
        let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let sd = (x.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        // Standard errors of the mean and sd of 49,275 draws: 4.5e-7 and 3.2e-7; f32 rounding of
        // 0.5 + z·1e-4 adds at most 3e-8 per value. 5e-6 is > 10 standard errors.
        assert!((mean - 0.5).abs() < 5e-6, "{mean}");
        assert!((sd - 1e-4).abs() < 5e-6, "{sd}");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for threads in [2, 3] {
            assert_eq!(bits(&noisy(n, 1e-4, 0, threads)), bits(&x), "{threads} threads");
        }
        assert_ne!(bits(&noisy(n, 1e-4, 1, 1)), bits(&x), "another seed, other noise");
        assert_eq!(noisy(10, 0.0, 0, 1), vec![0.5; 10], "σ = 0 adds nothing");
    }
}
