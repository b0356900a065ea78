//! The alternating training schedule (paper §IV/V, SPEC §3).
//!
//! Per batch: `k` combined self-train steps of all particles with a fresh optimizer, then one
//! task step with the run's persistent optimizer. Optionally, task steps only until an epoch's
//! training accuracy reaches a threshold (warm-up). Classes are counted every
//! `validate_every` epochs and at the end; weights are kept every `trajectory_every` epochs.
//!
//! A [`Trainer`] runs one epoch at a time; between epochs its whole state is a [`TrainState`]
//! (the self-train optimizer is fresh every batch, so it has none there), which is what a
//! checkpoint stores to resume a run bit for bit.

use crate::config::Config;
use crate::fixpoint::{classify, Class, ClassCounts};
use crate::interaction::{draw_events, interact, scope_ranges};
use crate::optim::Sgd;
use crate::organism::{metric, Organism, TaskWorkspace};
use crate::particle::{ParticleBatch, Workspace};
use crate::task::{stream_rng, Samples, Stream, TaskData};
use crate::{Error, Result};
use rand_chacha::ChaCha8Rng;
use std::ops::ControlFlow;

/// What one epoch did. Epoch 0 is the untrained organism (losses NaN).
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// The epoch, counted from 1; 0 is the untrained organism.
    pub epoch: usize,
    /// Combined self-train loss (sum over particles), mean over the epoch's self-train steps.
    pub self_train_loss: f32,
    /// Task loss, mean over the epoch's batches (before each step).
    pub task_loss: f32,
    /// Task metric on the training batches (before each step), and on the test set after the
    /// epoch.
    pub train_metric: f32,
    /// Task metric on the test set after the epoch.
    pub test_metric: f32,
    /// Class counts in [`Class::ALL`] order, on counted epochs.
    pub counts: Option<ClassCounts>,
}

/// Test metric of `organism` on `samples`.
pub fn evaluate(organism: &Organism, samples: &Samples) -> f32 {
    evaluate_in(organism, samples, &mut TaskWorkspace::new())
}

/// [`evaluate`] in the chunk scratches of `ws` (a training run's, kept from pass to pass).
pub fn evaluate_in(organism: &Organism, samples: &Samples, ws: &mut TaskWorkspace) -> f32 {
    let y = organism.forward_in(&samples.x, organism.default_path(), ws);
    metric(&y, organism.shape.outputs, (&samples.y).into())
}

/// Does the run keep every particle's weights after `epoch` (Fig. 12)? Every
/// `trajectory_every` epochs and at the end.
pub fn keeps_weights(cfg: &Config, epoch: usize) -> bool {
    epoch.is_multiple_of(cfg.trajectory_every) || epoch == cfg.epochs
}

/// How many epochs [`keeps_weights`] keeps.
pub fn kept_epochs(cfg: &Config) -> usize {
    cfg.epochs / cfg.trajectory_every + 1 + usize::from(!cfg.epochs.is_multiple_of(cfg.trajectory_every))
}

/// What one batch's step measured.
pub(super) struct StepRecord {
    /// Sum over the self-train steps of the combined self-train loss.
    self_train_loss_sum: f64,
    /// Task loss and metric on the batch, before the task step.
    task_loss: f32,
    metric: f32,
}

/// Zeroes the weights of every particle (or dense weight, `p = 1`) that `keep` drops.
pub(super) fn hold_at_zero(weights: &mut [f32], p: usize, keep: &[bool]) {
    for (w, &k) in weights.chunks_mut(p).zip(keep) {
        if !k {
            w.fill(0.0);
        }
    }
}

/// The persistent task optimizer and the self-train scratch of one particle batch.
struct Stepper {
    task_opt: Sgd,
    workspace: Workspace,
}

/// The training state of an organism's particle batches: the weight particles and its cell
/// particles ([`Organism::cell_particles`]: activation, aggregator), each with its own optimizers;
/// and the task pass's scratch.
pub(super) struct Steppers {
    weights: Stepper,
    cells: Vec<Stepper>,
    pass: TaskWorkspace,
}

impl Stepper {
    fn new(cfg: &Config, particles: &ParticleBatch) -> Self {
        Stepper {
            task_opt: Sgd::new(cfg.lr, cfg.momentum, particles.weights().len()),
            workspace: particles.workspace(),
        }
    }

    /// `steps` self-train steps of `particles` with a fresh optimizer (SPEC §3); the sum of their
    /// combined losses. `hold` runs after every step.
    fn self_train(
        &mut self,
        cfg: &Config,
        particles: &mut ParticleBatch,
        steps: usize,
        hold: impl Fn(&mut ParticleBatch),
    ) -> f64 {
        let mut sum = 0.0;
        let mut st_opt = Sgd::new(cfg.lr, cfg.momentum, particles.weights().len());
        for _ in 0..steps {
            let losses = particles.self_train_step(&mut st_opt, &mut self.workspace);
            sum += losses.iter().map(|&l| l as f64).sum::<f64>();
            hold(particles);
        }
        sum
    }
}

impl Steppers {
    pub(super) fn new(cfg: &Config, organism: &Organism) -> Self {
        Steppers {
            weights: Stepper::new(cfg, &organism.particles),
            cells: organism.cell_particles().map(|cp| Stepper::new(cfg, &cp.particles)).collect(),
            pass: TaskWorkspace::new(),
        }
    }
}

/// One batch of the schedule (SPEC §3): `self_train` combined self-train steps with a fresh
/// optimizer, then one task step with the persistent task optimizers; cell particles take both
/// steps alongside the weight particles. Weight particles that `keep` drops (if given) are
/// held at zero after every step: pruned particles frozen at zero ("self-pruning").
pub(super) fn organism_step(
    organism: &mut Organism,
    batch: &Samples,
    cfg: &Config,
    self_train: usize,
    steppers: &mut Steppers,
    keep: Option<&[bool]>,
) -> StepRecord {
    let p = organism.particles.shape().n_weights();
    let hold = |particles: &mut ParticleBatch| {
        if let Some(keep) = keep {
            hold_at_zero(particles.weights_mut(), p, keep);
        }
    };
    let mut self_train_loss_sum = steppers.weights.self_train(cfg, &mut organism.particles, self_train, hold);
    for (cp, s) in organism.cell_particles_mut().zip(&mut steppers.cells) {
        self_train_loss_sum += s.self_train(cfg, &mut cp.particles, self_train, |_| ());
    }
    let Stepper { task_opt, workspace } = &mut steppers.weights;
    let pass = organism.task_step(&batch.x, (&batch.y).into(), task_opt, workspace, &mut steppers.pass);
    let metric = metric(&pass.output, cfg.organism.outputs, (&batch.y).into());
    hold(&mut organism.particles);
    for ((cp, s), grads) in organism.cell_particles_mut().zip(&mut steppers.cells).zip(pass.cell_grads()) {
        s.task_opt.step(cp.particles.weights_mut(), grads);
    }
    StepRecord { self_train_loss_sum, task_loss: pass.loss, metric }
}

/// A run between two epochs: everything the next epoch depends on besides config and data.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState {
    /// The epoch to run next (0 = the untrained organism is still to be evaluated).
    pub next_epoch: usize,
    /// Still in the warm-up (task steps only)?
    pub warming_up: bool,
    /// Position of the training stream ([`Stream::Train`] of the seed), in 32-bit words.
    pub rng_word_pos: u128,
    /// Every particle's weights, `n × P`, then every cell particle's (if any; activation, then
    /// aggregator particles).
    pub weights: Vec<f32>,
    /// The task optimizers' momenta, in the same layout.
    pub task_momentum: Vec<f32>,
}

/// The schedule of `cfg` on `data`, one epoch at a time.
pub struct Trainer<'a> {
    cfg: &'a Config,
    data: &'a TaskData,
    organism: Organism,
    steppers: Steppers,
    rng: ChaCha8Rng,
    warming_up: bool,
    next_epoch: usize,
    classes: Vec<Class>,
    /// `[start, end)` of every particle's interaction scope.
    scopes: Vec<(usize, usize)>,
}

impl<'a> Trainer<'a> {
    /// A fresh run: the organism initialised from the seed's [`Stream::Init`].
    pub fn new(cfg: &'a Config, data: &'a TaskData) -> Result<Self> {
        cfg.validate()?;
        let organism = Organism::random(
            cfg.organism.clone(),
            cfg.particle_shape(),
            cfg.particle.init,
            [&cfg.activation_particle, &cfg.aggregator_particle],
            &mut stream_rng(cfg.seed, Stream::Init),
        )?;
        Ok(Trainer {
            cfg,
            data,
            steppers: Steppers::new(cfg, &organism),
            organism,
            rng: stream_rng(cfg.seed, Stream::Train),
            warming_up: cfg.warmup_accuracy > 0.0,
            next_epoch: 0,
            classes: Vec::new(),
            scopes: scope_ranges(&cfg.organism, cfg.interaction.scope),
        })
    }

    /// A run continued from `state` (see [`Trainer::state`]); it goes on exactly as the
    /// uninterrupted run would have.
    pub fn resume(cfg: &'a Config, data: &'a TaskData, state: TrainState) -> Result<Self> {
        let mut t = Trainer::new(cfg, data)?;
        let n = t.organism.particles.weights().len();
        let total = n + t.organism.cell_particles().map(|cp| cp.particles.weights().len()).sum::<usize>();
        if state.weights.len() != total || state.task_momentum.len() != total || state.next_epoch > cfg.epochs + 1 {
            return Err(Error::Invalid(format!(
                "checkpoint does not fit the configuration ({} weights and epoch {} for {total} weights and {} epochs)",
                state.weights.len(),
                state.next_epoch,
                cfg.epochs
            )));
        }
        let (weights, momentum) = (state.weights.split_at(n), state.task_momentum.split_at(n));
        t.organism.particles.weights_mut().copy_from_slice(weights.0);
        t.steppers.weights.task_opt = Sgd::with_momentum_buffer(cfg.lr, cfg.momentum, momentum.0.to_vec());
        let (mut rest_w, mut rest_m) = (weights.1, momentum.1);
        for (cp, s) in t.organism.cell_particles_mut().zip(&mut t.steppers.cells) {
            let len = cp.particles.weights().len();
            let (w, m);
            ((w, rest_w), (m, rest_m)) = (rest_w.split_at(len), rest_m.split_at(len));
            cp.particles.weights_mut().copy_from_slice(w);
            s.task_opt = Sgd::with_momentum_buffer(cfg.lr, cfg.momentum, m.to_vec());
        }
        t.rng.set_word_pos(state.rng_word_pos);
        t.warming_up = state.warming_up;
        t.next_epoch = state.next_epoch;
        Ok(t)
    }

    /// The run's state now, between two epochs.
    pub fn state(&self) -> TrainState {
        TrainState {
            next_epoch: self.next_epoch,
            warming_up: self.warming_up,
            rng_word_pos: self.rng.get_word_pos(),
            weights: std::iter::once(&self.organism.particles)
                .chain(self.organism.cell_particles().map(|cp| &cp.particles))
                .flat_map(|p| p.weights())
                .copied()
                .collect(),
            task_momentum: std::iter::once(&self.steppers.weights)
                .chain(&self.steppers.cells)
                .flat_map(|s| s.task_opt.momentum_buffer())
                .copied()
                .collect(),
        }
    }

    /// The epoch to run next.
    pub fn next_epoch(&self) -> usize {
        self.next_epoch
    }

    /// Has the last epoch run?
    pub fn finished(&self) -> bool {
        self.next_epoch > self.cfg.epochs
    }

    /// The organism as trained so far.
    pub fn organism(&self) -> &Organism {
        &self.organism
    }

    /// The trained organism.
    pub fn into_organism(self) -> Organism {
        self.organism
    }

    /// The classes of the last counted epoch (all particles; empty before the first count of
    /// this process). The last epoch is always counted.
    pub fn classes(&self) -> &[Class] {
        &self.classes
    }

    /// Runs the next epoch (epoch 0 only evaluates the untrained organism).
    pub fn run_epoch(&mut self) -> EpochRecord {
        let (cfg, epoch) = (self.cfg, self.next_epoch);
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
            // Each epoch draws its interactions from its own window of the stream, so a resumed
            // run needs no state for them.
            let mut interaction_rng = stream_rng(cfg.seed, Stream::Interaction);
            interaction_rng.set_word_pos((epoch as u128) << 40);
            let p = self.organism.particles.shape().n_weights();
            let mut nb = 0usize;
            for batch in self.data.epoch(cfg.batch_size, &mut self.rng) {
                nb += 1;
                if !self.warming_up {
                    let events = draw_events(&cfg.interaction, &self.scopes, p, &mut interaction_rng);
                    interact(&mut self.organism.particles, cfg.interaction.kind, &events);
                }
                let self_train = if self.warming_up { 0 } else { cfg.self_train_steps };
                let step = organism_step(&mut self.organism, &batch, cfg, self_train, &mut self.steppers, None);
                st_sum += step.self_train_loss_sum;
                st_n += self_train;
                loss_sum += step.task_loss as f64;
                metric_sum += step.metric as f64;
            }
            let nb = nb.max(1) as f64;
            record.self_train_loss = if st_n > 0 { (st_sum / st_n as f64) as f32 } else { f32::NAN };
            record.task_loss = (loss_sum / nb) as f32;
            record.train_metric = (metric_sum / nb) as f32;
            if self.warming_up && record.train_metric >= cfg.warmup_accuracy {
                self.warming_up = false;
            }
        }
        record.test_metric = evaluate_in(&self.organism, self.data.test(), &mut self.steppers.pass);
        if epoch % cfg.validate_every == 0 || epoch == cfg.epochs {
            self.classes = classify(&self.organism.particles, cfg.epsilon);
            record.counts = Some(ClassCounts::of(&self.classes));
        }
        self.next_epoch += 1;
        record
    }
}

/// `epoch` if it was counted and every particle was a self-replicator there.
pub fn first_all_replicators(epoch: usize, counts: Option<ClassCounts>) -> Option<usize> {
    let all_sr = counts.is_some_and(|c| c[Class::SelfReplicator] > 0 && c[Class::SelfReplicator] == c.total());
    all_sr.then_some(epoch)
}

/// Every particle's weights at some epochs (Fig. 12): `epochs.len() × n × P`, and the
/// activation and aggregator particles' (issue 13) apart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trajectory {
    /// The epochs of the snapshots.
    pub epochs: Vec<usize>,
    /// The snapshots, `epochs.len() × n × P`.
    pub weights: Vec<f32>,
    /// The activation particles' snapshots, `epochs.len() × n_act × P_act` (empty without).
    pub activation_weights: Vec<f32>,
    /// The aggregator particles' snapshots, `epochs.len() × n_agg × P_agg` (empty without).
    pub aggregator_weights: Vec<f32>,
}

/// A trained organism and its history, in memory (the command line streams the history to
/// disk instead, see [`crate::checkpoint`]).
pub struct Trained {
    /// The organism after the last epoch.
    pub organism: Organism,
    /// One record per epoch, from epoch 0.
    pub records: Vec<EpochRecord>,
    /// Every particle's final class.
    pub classes: Vec<Class>,
    /// Every particle's weights at the epochs [`keeps_weights`] keeps.
    pub trajectory: Trajectory,
    /// First epoch at which every particle was a self-replicator, if any.
    pub first_all_replicators: Option<usize>,
}

/// Trains an organism as `cfg` says on `data`; `on_epoch` sees every epoch's record and the
/// organism after it.
pub fn train(cfg: &Config, data: &TaskData, on_epoch: &mut dyn FnMut(&EpochRecord, &Organism)) -> Result<Trained> {
    train_until(cfg, data, &mut |r, o| {
        on_epoch(r, o);
        ControlFlow::Continue(())
    })
}

/// [`train`], stopped with [`Error::Interrupted`] when `on_epoch` breaks (Ctrl-C in Python).
pub fn train_until(
    cfg: &Config,
    data: &TaskData,
    on_epoch: &mut dyn FnMut(&EpochRecord, &Organism) -> ControlFlow<()>,
) -> Result<Trained> {
    let mut trainer = Trainer::new(cfg, data)?;
    let mut records = Vec::new();
    let mut trajectory = Trajectory::default();
    let mut first = None;
    while !trainer.finished() {
        let record = trainer.run_epoch();
        if keeps_weights(cfg, record.epoch) {
            trajectory.epochs.push(record.epoch);
            let organism = trainer.organism();
            trajectory.weights.extend_from_slice(organism.particles.weights());
            trajectory.activation_weights.extend_from_slice(organism.activation_weights());
            trajectory.aggregator_weights.extend_from_slice(organism.aggregator_weights());
        }
        if on_epoch(&record, trainer.organism()).is_break() {
            return Err(Error::Interrupted { epoch: record.epoch });
        }
        first = first.or(first_all_replicators(record.epoch, record.counts));
        records.push(record);
    }
    let classes = trainer.classes().to_vec();
    Ok(Trained { organism: trainer.into_organism(), records, classes, trajectory, first_all_replicators: first })
}
