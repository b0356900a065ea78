//! One experiment end to end: data for a configuration, training (one seed or several in
//! parallel), and the run directories it writes. The CLI's `train` and `reproduce` use it.

use crate::analysis::activations;
use crate::checkpoint::{
    remove_checkpoint, write_atomic, Checkpoint, MetricsWriter, RowShape, TrajectoryWriter, CHECKPOINT,
};
use crate::config::Config;
use crate::fixpoint::{classify, Class};
use crate::organism::{resubstitution_errors, Organism};
use crate::plot::draw_all;
use crate::progress::Progress;
use crate::run::{
    finite, type_counts, write_csv, write_json, write_organism, ActivationSummary, MetricsRow, RunWriter, Summary,
    CONFIG, METRICS, ORGANISM, SUMMARY, TIMING, TRAJECTORY,
};
use crate::task::TaskData;
use crate::train::schedule::{first_all_replicators, keeps_weights, kept_epochs};
use crate::train::{train_until, EpochRecord, TrainState, Trained, Trainer};
use crate::{Error, Result};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

mod particles;
mod seeds;
use seeds::seeds_into;

pub use particles::{particles_to_dir, robustness_to_dir, summarise_robustness, NoiseLevelSummary, ParticlesRun};
pub use seeds::{continue_seeds, parse_seeds, read_summary, seed_dir, train_seeds, train_seeds_with};

/// How often `organism train` writes a checkpoint by default, in epochs (`--checkpoint-every`).
pub const CHECKPOINT_EVERY: usize = 10;

/// The seeds of a multi-seed output (a JSON list), beside the `config.toml` they share.
pub const SEEDS: &str = "seeds.json";

/// Trains `cfg` on `data` and writes the run directory `out` (see [`RunWriter`] for the rule
/// on existing outputs); returns its summary.
pub fn train_to_dir(cfg: &Config, data: &TaskData, out: &Path, force: bool, progress: &Progress) -> Result<Summary> {
    train_to_dir_with(cfg, data, out, force, CHECKPOINT_EVERY, progress)
}

/// [`train_to_dir`] with a checkpoint every `checkpoint_every` epochs (0 = never).
pub fn train_to_dir_with(
    cfg: &Config,
    data: &TaskData,
    out: &Path,
    force: bool,
    checkpoint_every: usize,
    progress: &Progress,
) -> Result<Summary> {
    let writer = RunWriter::create(out, force)?;
    let result = write_atomic(&writer.path(CONFIG), cfg.to_toml().as_bytes());
    let result = result.and_then(|_| train_in(cfg, data, writer.dir(), None, checkpoint_every, progress));
    writer.complete(result)
}

/// Continues the run (one seed or several) a killed `organism train --out OUT` left behind,
/// each seed from its last checkpoint (or from the start if it had none yet; seeds already
/// complete are kept), with the configuration it was started with; `None` if there is nothing
/// to continue. The finished output is byte for byte the one an uninterrupted run writes
/// (except `timing.json`). A resume that fails leaves the partial output for the next one.
pub fn resume_dir(
    out: &Path,
    force: bool,
    checkpoint_every: usize,
    progress: &Progress,
) -> Result<Option<Vec<Summary>>> {
    let Some(writer) = RunWriter::resume(out, force, CONFIG)? else { return Ok(None) };
    let result = (|| {
        let cfg = Config::resolve(None, Some(&writer.path(CONFIG)), &[])?;
        let seeds = writer.path(SEEDS);
        if seeds.is_file() {
            let seeds: Vec<u64> = serde_json::from_slice(&std::fs::read(&seeds).map_err(|e| Error::io(&seeds, e))?)
                .map_err(|e| Error::format(&seeds, e.to_string()))?;
            return seeds_into(&cfg, &seeds, writer.dir(), None, checkpoint_every, progress);
        }
        let data = TaskData::load(&cfg)?;
        let checkpoint = writer.path(CHECKPOINT);
        let checkpoint = if checkpoint.is_file() { Some(Checkpoint::read(&checkpoint)?) } else { None };
        Ok(vec![train_in(&cfg, &data, writer.dir(), checkpoint, checkpoint_every, progress)?])
    })();
    writer.complete(result).map(Some)
}

/// Trains into the partial run directory `dir` (which holds `config.toml`), from
/// `checkpoint` if given, writing a checkpoint every `checkpoint_every` epochs (0 = never).
/// The caller moves the finished directory into place.
fn train_in(
    cfg: &Config,
    data: &TaskData,
    dir: &Path,
    checkpoint: Option<Checkpoint>,
    checkpoint_every: usize,
    progress: &Progress,
) -> Result<Summary> {
    let start = Instant::now();
    let (metrics_path, trajectory_path) = (dir.join(METRICS), dir.join(TRAJECTORY));
    let kept = kept_epochs(cfg);
    let (mut trainer, mut metrics, mut trajectory, mut first_all, wall_before) = match checkpoint {
        None => {
            let trainer = Trainer::new(cfg, data)?;
            let epochs = (0..=cfg.epochs).filter(|&e| keeps_weights(cfg, e));
            let trajectory =
                TrajectoryWriter::create(&trajectory_path, kept, epochs, RowShape::of(trainer.organism()))?;
            (trainer, MetricsWriter::create(&metrics_path)?, trajectory, None, 0.0)
        }
        Some(c) => {
            let state = TrainState {
                next_epoch: c.next_epoch,
                warming_up: c.warming_up,
                rng_word_pos: c.rng_word_pos,
                weights: c.weights,
                task_momentum: c.task_momentum,
            };
            let trainer = Trainer::resume(cfg, data, state)?;
            let shape = RowShape::of(trainer.organism());
            (
                trainer,
                MetricsWriter::reopen(&metrics_path, c.metrics_bytes)?,
                TrajectoryWriter::reopen(&trajectory_path, kept, c.trajectory_rows, shape)?,
                c.first_all_replicators,
                c.wall_seconds,
            )
        }
    };
    let bar = progress.bar(cfg.epochs as u64, &format!("seed {}", cfg.seed));
    bar.set_position(trainer.next_epoch() as u64);
    let metric = cfg.task.metric_name();
    let mut last = None;
    while !trainer.finished() {
        let r = trainer.run_epoch();
        metrics.push(&MetricsRow::from(&r))?;
        if keeps_weights(cfg, r.epoch) {
            let organism = trainer.organism();
            trajectory.push(organism.trajectory_row())?;
        }
        first_all = first_all.or(first_all_replicators(r.epoch, r.counts));
        bar.set_position(r.epoch as u64);
        bar.set_message(format!(
            "self-train {:.3e}  task {:.3e}  test {metric} {:.4e}",
            r.self_train_loss, r.task_loss, r.test_metric
        ));
        if checkpoint_every > 0 && !trainer.finished() && trainer.next_epoch().is_multiple_of(checkpoint_every) {
            let state = trainer.state();
            let c = Checkpoint {
                next_epoch: state.next_epoch,
                warming_up: state.warming_up,
                rng_word_pos: state.rng_word_pos,
                weights: state.weights,
                task_momentum: state.task_momentum,
                metrics_bytes: metrics.flush()?,
                trajectory_rows: trajectory.flush()?,
                first_all_replicators: first_all,
                wall_seconds: wall_before + start.elapsed().as_secs_f64(),
            };
            c.write(&dir.join(CHECKPOINT))?;
        }
        last = Some(r);
    }
    bar.finish();
    let last = last.ok_or_else(|| Error::Invalid("the checkpoint is of a finished run".into()))?;
    metrics.flush()?;
    trajectory.finish()?;
    let classes = trainer.classes().to_vec();
    let organism = trainer.into_organism();
    let summary =
        summarise(cfg, data, &organism, &classes, &last, first_all, wall_before + start.elapsed().as_secs_f64());
    write_trained(dir, &organism, &summary)?;
    remove_checkpoint(dir)?;
    Ok(summary)
}

/// The files of a finished run that follow from the trained organism and its summary (the
/// metrics and trajectory are written as training goes): the same for a run trained into its
/// directory and one trained in memory and saved ([`save_run`]).
fn write_trained(dir: &Path, organism: &Organism, summary: &Summary) -> Result<()> {
    write_organism(&dir.join(ORGANISM), organism)?;
    draw_all(&activations::figures(dir, organism, summary)?)?;
    write_json(&dir.join(SUMMARY), summary)?;
    write_json(&dir.join(TIMING), &serde_json::json!({ "wall_seconds": summary.wall_seconds }))
}

/// The summary of a run that ended with `last`.
fn summarise(
    cfg: &Config,
    data: &TaskData,
    organism: &Organism,
    classes: &[Class],
    last: &EpochRecord,
    first_all: Option<usize>,
    wall_seconds: f64,
) -> Summary {
    let resub = resubstitution_errors(organism, &data.test().x);
    let activation_particles = organism.activations.as_ref().map(|a| {
        let ranges = a.z_ranges(&organism.hidden_sums(&data.test().x));
        Box::new(ActivationSummary {
            types: type_counts(&classify(&a.particles, cfg.epsilon)),
            z_ranges: ranges.into_iter().map(|r| r.map(|(lo, hi)| [lo, hi])).collect(),
        })
    });
    Summary {
        preset: cfg.preset.clone(),
        task: cfg.task.name().to_string(),
        seed: cfg.seed,
        epochs: cfg.epochs,
        metric_name: cfg.task.metric_name().to_string(),
        test_metric: finite(last.test_metric),
        train_metric: finite(last.train_metric),
        types: type_counts(classes),
        activation_particles,
        aggregator_particles: organism
            .aggregators
            .as_ref()
            .map(|a| Box::new(type_counts(&classify(&a.particles, cfg.epsilon)))),
        n_particles: classes.len(),
        self_train_loss: finite(last.self_train_loss),
        task_loss: finite(last.task_loss),
        resubstitution_max_abs_diff: finite(resub.iter().cloned().fold(0.0, f32::max)),
        first_all_self_replicators_epoch: first_all,
        dataset: data.description(),
        wall_seconds,
    }
}

/// Trains `cfg` on `data` in memory, with a progress bar; `on_epoch` sees every epoch and may
/// stop the run ([`Error::Interrupted`]). Returns the trained organism and its summary.
pub fn train_run(
    cfg: &Config,
    data: &TaskData,
    progress: &Progress,
    on_epoch: &mut dyn FnMut(&EpochRecord) -> ControlFlow<()>,
) -> Result<(Trained, Summary)> {
    let start = Instant::now();
    let bar = progress.bar(cfg.epochs as u64, &format!("seed {}", cfg.seed));
    let trained = train_until(cfg, data, &mut |r, _| {
        bar.set_position(r.epoch as u64);
        on_epoch(r)
    })?;
    bar.finish();
    let last = trained.records.last().expect("epoch 0 is always recorded");
    let (organism, classes) = (&trained.organism, &trained.classes);
    let summary =
        summarise(cfg, data, organism, classes, last, trained.first_all_replicators, start.elapsed().as_secs_f64());
    Ok((trained, summary))
}

/// Writes a run trained in memory into the run directory `out` (complete, or not at all): the
/// same files, byte for byte, as [`train_to_dir`] writes.
pub fn save_run(cfg: &Config, trained: &Trained, summary: &Summary, out: &Path, force: bool) -> Result<()> {
    let writer = RunWriter::create(out, force)?;
    let result = write_run(writer.dir(), cfg, trained, summary);
    writer.complete(result)
}

/// The files of a run trained in memory, into the directory `dir`.
fn write_run(dir: &Path, cfg: &Config, trained: &Trained, summary: &Summary) -> Result<()> {
    write_atomic(&dir.join(CONFIG), cfg.to_toml().as_bytes())?;
    let rows: Vec<MetricsRow> = trained.records.iter().map(MetricsRow::from).collect();
    write_csv(&dir.join(METRICS), &rows)?;
    let (shape, t) = (RowShape::of(&trained.organism), &trained.trajectory);
    let mut trajectory =
        TrajectoryWriter::create(&dir.join(TRAJECTORY), t.epochs.len(), t.epochs.iter().copied(), shape)?;
    // Row k of a cell particles' tensor of rows of `len` (empty without them).
    fn row(v: &[f32], k: usize, len: usize) -> &[f32] {
        v.get(k * len..(k + 1) * len).unwrap_or(&[])
    }
    let (a, g) = (shape.n_act * shape.p_act, shape.n_agg * shape.p_agg);
    for (k, w) in t.weights.chunks(shape.n * shape.p).enumerate() {
        trajectory.push([w, row(&t.activation_weights, k, a), row(&t.aggregator_weights, k, g)])?;
    }
    trajectory.finish()?;
    write_trained(dir, &trained.organism, summary)
}
