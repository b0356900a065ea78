//! The alternating training schedule (paper §IV/V, SPEC §3) and the task data it feeds on.
//!
//! Per batch: `k` combined self-train steps of all particles with a fresh optimizer, then one
//! task step with the run's persistent optimizer. Optionally, task steps only until an epoch's
//! training accuracy reaches a threshold (warm-up). Classes are counted every
//! `validate_every` epochs and at the end; weights are kept every `trajectory_every` epochs.

use crate::config::Config;
use crate::data::{shuffled_batches, Dataset, ImageSet};
use crate::fixpoint::{classify, Class, ClassCounts};
use crate::optim::Sgd;
use crate::organism::{metric, Dense, Organism, OrganismShape, Path, Targets};
use crate::particle::ParticleBatch;
use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use std::ops::ControlFlow;

/// Independent random streams of one seed, so that e.g. the test set does not depend on the
/// number of epochs.
#[derive(Clone, Copy)]
enum Stream {
    Init = 0,
    Train = 1,
    Test = 2,
}

fn rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream as u64);
    r
}

/// Owned task targets.
#[derive(Clone, Debug)]
pub enum Labels {
    Values(Vec<f32>),
    Classes(Vec<u8>),
}

impl Labels {
    pub fn as_targets(&self) -> Targets<'_> {
        match self {
            Labels::Values(v) => Targets::Values(v),
            Labels::Classes(c) => Targets::Classes(c),
        }
    }
}

/// Inputs (`B × p`) with their targets.
#[derive(Clone, Debug)]
pub struct Samples {
    pub x: Vec<f32>,
    pub y: Labels,
}

/// The data of a task, prepared as the organism sees it (SPEC §4).
pub enum TaskData {
    /// Float addition: fresh training samples every epoch.
    Addition { train_samples: usize, test: Samples },
    /// Images resized and flattened; `noise` is added afresh to every training batch, and once
    /// to the test set.
    Images { train: ImageSet, test: Samples, noise: f32, description: String, bundled_subset: bool },
}

/// `n` addition samples: x ~ N(0,1)², target x₁ + x₂.
fn addition_samples(n: usize, rng: &mut ChaCha8Rng) -> Samples {
    let x: Vec<f32> = (0..2 * n).map(|_| StandardNormal.sample(rng)).collect();
    let y = x.chunks(2).map(|p| p[0] + p[1]).collect();
    Samples { x, y: Labels::Values(y) }
}

/// Values per noise stream: fixed, so the noise does not depend on the thread count.
const NOISE_CHUNK: usize = 1 << 14;

/// Adds `σ·N(0,1)` to every value. One seed is drawn from `rng`; each fixed chunk of values
/// then has its own stream of that seed, so chunks are filled in parallel.
fn add_noise(x: &mut [f32], sigma: f32, rng: &mut ChaCha8Rng) {
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
    /// The addition task of `cfg`; its test set is fixed by the seed.
    pub fn addition(cfg: &Config) -> TaskData {
        let test = addition_samples(cfg.data.test_samples, &mut rng(cfg.seed, Stream::Test));
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
        add_noise(&mut x, cfg.data.noise, &mut rng(0, Stream::Test));
        TaskData::Images {
            train,
            test: Samples { x, y: Labels::Classes(test.labels) },
            noise: cfg.data.noise,
            description: dataset.description.clone(),
            bundled_subset: dataset.bundled_subset,
        }
    }

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

    /// One epoch's mini-batches, drawn from `rng`.
    fn epoch(&self, batch_size: usize, rng: &mut ChaCha8Rng) -> Vec<Samples> {
        match self {
            TaskData::Addition { train_samples, .. } => {
                let all = addition_samples(*train_samples, rng);
                let Labels::Values(y) = &all.y else { unreachable!() };
                all.x
                    .chunks(2 * batch_size)
                    .zip(y.chunks(batch_size))
                    .map(|(x, y)| Samples { x: x.to_vec(), y: Labels::Values(y.to_vec()) })
                    .collect()
            }
            TaskData::Images { train, noise, .. } => shuffled_batches(train.len(), batch_size, rng)
                .into_iter()
                .map(|idx| {
                    let mut x: Vec<f32> = idx.iter().flat_map(|&i| train.image(i).iter().copied()).collect();
                    add_noise(&mut x, *noise, rng);
                    Samples { x, y: Labels::Classes(idx.iter().map(|&i| train.labels[i]).collect()) }
                })
                .collect(),
        }
    }
}

/// What one epoch did. Epoch 0 is the untrained organism (losses NaN).
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    /// Combined self-train loss (sum over particles), mean over the epoch's self-train steps.
    pub self_train_loss: f32,
    /// Task loss, mean over the epoch's batches (before each step).
    pub task_loss: f32,
    /// Task metric on the training batches (before each step), and on the test set after the
    /// epoch.
    pub train_metric: f32,
    pub test_metric: f32,
    /// Class counts, on counted epochs.
    pub counts: Option<ClassCounts>,
}

/// Every particle's weights at some epochs (Fig. 12): `epochs.len() × n × P`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trajectory {
    pub epochs: Vec<usize>,
    pub weights: Vec<f32>,
}

/// A trained organism and its history.
pub struct Trained {
    pub organism: Organism,
    pub records: Vec<EpochRecord>,
    pub classes: Vec<Class>,
    pub trajectory: Trajectory,
    /// First epoch at which every particle was a self-replicator, if any.
    pub first_all_replicators: Option<usize>,
}

/// Test metric of `organism` on `samples`.
pub fn evaluate(organism: &Organism, samples: &Samples) -> f32 {
    let y = organism.forward(&samples.x, organism.default_path());
    metric(&y, organism.shape.outputs, samples.y.as_targets())
}

/// What one batch's step measured.
struct StepRecord {
    /// Sum over the self-train steps of the combined self-train loss.
    self_train_loss_sum: f64,
    /// Task loss and metric on the batch, before the task step.
    task_loss: f32,
    metric: f32,
}

/// Zeroes the weights of every particle (or dense weight, `p = 1`) that `keep` drops.
fn hold_at_zero(weights: &mut [f32], p: usize, keep: &[bool]) {
    for (w, &k) in weights.chunks_mut(p).zip(keep) {
        if !k {
            w.fill(0.0);
        }
    }
}

/// One batch of the schedule (SPEC §3): `self_train` combined self-train steps with a fresh
/// optimizer, then one task step with the persistent `task_opt`. Particles that `keep` drops
/// (if given) are held at zero after every step: pruned particles frozen at zero ("self-pruning").
fn organism_step(
    organism: &mut Organism,
    batch: &Samples,
    cfg: &Config,
    self_train: usize,
    task_opt: &mut Sgd,
    grads: &mut [f32],
    keep: Option<&[bool]>,
) -> StepRecord {
    let p = organism.particles.shape().n_weights();
    let hold = |o: &mut Organism| {
        if let Some(keep) = keep {
            hold_at_zero(o.particles.weights_mut(), p, keep);
        }
    };
    let mut self_train_loss_sum = 0.0;
    let mut st_opt = Sgd::new(cfg.lr, cfg.momentum, grads.len());
    for _ in 0..self_train {
        let losses = organism.particles.self_train_step(&mut st_opt, grads);
        self_train_loss_sum += losses.iter().map(|&l| l as f64).sum::<f64>();
        hold(organism);
    }
    let pass = organism.task_pass(&batch.x, batch.y.as_targets(), organism.default_path());
    let metric = metric(&pass.output, cfg.organism.outputs, batch.y.as_targets());
    task_opt.step(organism.particles.weights_mut(), &pass.grads);
    hold(organism);
    StepRecord { self_train_loss_sum, task_loss: pass.loss, metric }
}

/// One task step of the dense network `weights` on `batch` with `opt`, pruned weights
/// (`keep[i] == false`) held at zero: their gradient is masked and their value re-zeroed.
fn dense_step(shape: &OrganismShape, weights: &mut [f32], batch: &Samples, opt: &mut Sgd, keep: &[bool]) {
    let mut pass = Dense::new(shape, weights).task_pass(&batch.x, batch.y.as_targets());
    hold_at_zero(&mut pass.grads, 1, keep);
    opt.step(weights, &pass.grads);
    hold_at_zero(weights, 1, keep);
}

/// A pruned network to fine-tune: an organism (trained on with the full schedule, its pruned
/// particles frozen at zero) or the dense network of extracted weights (task steps only).
pub enum Pruned<'a> {
    Organism(&'a mut Organism),
    Dense { shape: &'a OrganismShape, weights: &'a mut [f32] },
}

/// Trains a pruned network on for `epochs` epochs of `data` with `cfg`'s batch size and SGD,
/// a fresh task optimizer, and pruned weights (`keep[i] == false`, one per particle = dense
/// weight) held at zero. Batch order and noise are drawn from `rng`.
pub fn fine_tune(net: Pruned, keep: &[bool], cfg: &Config, data: &TaskData, epochs: usize, rng: &mut ChaCha8Rng) {
    match net {
        Pruned::Organism(organism) => {
            let n = organism.particles.weights().len();
            let (mut opt, mut grads) = (Sgd::new(cfg.lr, cfg.momentum, n), vec![0.0; n]);
            let p = organism.particles.shape().n_weights();
            hold_at_zero(organism.particles.weights_mut(), p, keep);
            for _ in 0..epochs {
                for batch in &data.epoch(cfg.batch_size, rng) {
                    organism_step(organism, batch, cfg, cfg.self_train_steps, &mut opt, &mut grads, Some(keep));
                }
            }
        }
        Pruned::Dense { shape, weights } => {
            let mut opt = Sgd::new(cfg.lr, cfg.momentum, weights.len());
            hold_at_zero(weights, 1, keep);
            for _ in 0..epochs {
                for batch in &data.epoch(cfg.batch_size, rng) {
                    dense_step(shape, weights, batch, &mut opt, keep);
                }
            }
        }
    }
}

/// Trains an organism as `cfg` says on `data`; `progress` sees every epoch as it ends.
pub fn train(cfg: &Config, data: &TaskData, progress: &mut dyn FnMut(&EpochRecord)) -> Result<Trained> {
    train_until(cfg, data, &mut |r| {
        progress(r);
        ControlFlow::Continue(())
    })
}

/// [`train`], stopped with [`Error::Interrupted`] when `on_epoch` breaks (Ctrl-C in Python).
pub fn train_until(
    cfg: &Config,
    data: &TaskData,
    on_epoch: &mut dyn FnMut(&EpochRecord) -> ControlFlow<()>,
) -> Result<Trained> {
    cfg.validate()?;
    let mut organism =
        Organism::new(cfg.organism.clone(), cfg.particle_shape(), cfg.particle.init, &mut rng(cfg.seed, Stream::Init))?;
    let n_weights = organism.particles.weights().len();
    let mut task_opt = Sgd::new(cfg.lr, cfg.momentum, n_weights);
    let mut grads = vec![0.0; n_weights];
    let mut train_rng = rng(cfg.seed, Stream::Train);
    let mut warming_up = cfg.warmup_accuracy > 0.0;
    let mut trajectory = Trajectory::default();
    let mut records = Vec::with_capacity(cfg.epochs + 1);
    let mut first_all_replicators = None;
    let mut classes = Vec::new();

    for epoch in 0..=cfg.epochs {
        let mut record = EpochRecord {
            epoch,
            self_train_loss: f32::NAN,
            task_loss: f32::NAN,
            train_metric: f32::NAN,
            test_metric: f32::NAN,
            counts: None,
        };
        if epoch > 0 {
            let (mut st_sum, mut st_n, mut loss_sum, mut metric_sum) = (0.0f64, 0usize, 0.0f64, 0.0f64);
            let batches = data.epoch(cfg.batch_size, &mut train_rng);
            for batch in &batches {
                let self_train = if warming_up { 0 } else { cfg.self_train_steps };
                let step = organism_step(&mut organism, batch, cfg, self_train, &mut task_opt, &mut grads, None);
                st_sum += step.self_train_loss_sum;
                st_n += self_train;
                loss_sum += step.task_loss as f64;
                metric_sum += step.metric as f64;
            }
            let nb = batches.len().max(1) as f64;
            record.self_train_loss = if st_n > 0 { (st_sum / st_n as f64) as f32 } else { f32::NAN };
            record.task_loss = (loss_sum / nb) as f32;
            record.train_metric = (metric_sum / nb) as f32;
            if warming_up && record.train_metric >= cfg.warmup_accuracy {
                warming_up = false;
            }
        }
        record.test_metric = evaluate(&organism, data.test());
        let last = epoch == cfg.epochs;
        if epoch % cfg.validate_every == 0 || last {
            classes = classify(&organism.particles, cfg.epsilon);
            let counts = ClassCounts::of(&classes);
            if first_all_replicators.is_none() && counts[Class::SelfReplicator] == classes.len() {
                first_all_replicators = Some(epoch);
            }
            record.counts = Some(counts);
        }
        if epoch % cfg.trajectory_every == 0 || last {
            trajectory.epochs.push(epoch);
            trajectory.weights.extend_from_slice(organism.particles.weights());
        }
        if on_epoch(&record).is_break() {
            return Err(Error::Interrupted { epoch });
        }
        records.push(record);
    }
    Ok(Trained { organism, records, classes, trajectory, first_all_replicators })
}

/// Weight re-substitution (paper §IV-B, Fig. 5): the absolute difference, per output, between
/// the organism evaluated PN by PN and the dense network of its extracted weights.
pub fn resubstitution_errors(organism: &Organism, x: &[f32]) -> Vec<f32> {
    let shape = organism.particles.shape().clone().with_general_path();
    let general = ParticleBatch::from_weights(shape, organism.particles.weights().to_vec()).expect("same size");
    let pn_by_pn = Organism::from_particles(organism.shape.clone(), general).expect("same shape");
    let a = pn_by_pn.forward(x, Path::General);
    let b = organism.forward(x, Path::Extracted);
    a.iter().zip(&b).map(|(a, b)| (a - b).abs()).collect()
}

/// Trains standalone particles, each with its own (element-wise) optimizer state: the paper's
/// baseline of individually trained SRNNs. Returns the class counts every `every` steps (and at
/// the end) as `(step, counts)`.
pub fn self_train_particles(
    particles: &mut ParticleBatch,
    cfg: &StandaloneConfig,
    progress: &mut dyn FnMut(usize),
) -> Vec<(usize, ClassCounts)> {
    let n = particles.weights().len();
    let mut opt = Sgd::new(cfg.lr, cfg.momentum, n);
    let mut grads = vec![0.0; n];
    let mut history = vec![(0, ClassCounts::of(&classify(particles, cfg.epsilon)))];
    for step in 1..=cfg.steps {
        particles.self_train_step(&mut opt, &mut grads);
        if step % cfg.every == 0 || step == cfg.steps {
            history.push((step, ClassCounts::of(&classify(particles, cfg.epsilon))));
        }
        progress(step);
    }
    history
}

/// Settings of a standalone self-training run.
#[derive(Clone, Debug)]
pub struct StandaloneConfig {
    pub steps: usize,
    pub every: usize,
    pub lr: f32,
    pub momentum: f32,
    pub epsilon: f32,
}
