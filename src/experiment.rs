//! One experiment end to end: data for a configuration, training (one seed or several in
//! parallel), and the run directories it writes. The CLI's `train` and `reproduce` use it.

use crate::activation::Activation;
use crate::analysis::activations;
use crate::checkpoint::{remove_checkpoint, write_atomic, Checkpoint, MetricsWriter, TrajectoryWriter, CHECKPOINT};
use crate::config::Config;
use crate::data::task::TaskData;
use crate::fixpoint::{classify, self_replicators, Class, Robustness, RobustnessRecord};
use crate::organism::{resubstitution_errors, Organism};
use crate::particle::{Init, ParticleBatch, ParticleShape};
use crate::plot::draw_all;
use crate::progress::Progress;
use crate::run::{
    check_free, finite, robustness_source, type_counts, write_csv, write_json, write_organism, write_particles,
    ActivationSummary, MetricsRow, RunWriter, Summary, CONFIG, METRICS, ORGANISM, PARTICLES, SUMMARY, TIMING,
    TRAJECTORY,
};
use crate::train::schedule::{first_all_replicators, keeps_weights, kept_epochs};
use crate::train::{self_train_particles, train_until, EpochRecord, StandaloneConfig, TrainState, Trained, Trainer};
use crate::{limits, Error, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

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
    let (n, p) = (cfg.organism.n_particles(), cfg.particle_shape().n_weights());
    let (metrics_path, trajectory_path) = (dir.join(METRICS), dir.join(TRAJECTORY));
    let kept = kept_epochs(cfg);
    let (mut trainer, mut metrics, mut trajectory, mut first_all, wall_before) = match checkpoint {
        None => (
            Trainer::new(cfg, data)?,
            MetricsWriter::create(&metrics_path)?,
            TrajectoryWriter::create(
                &trajectory_path,
                kept,
                (0..=cfg.epochs).filter(|&e| keeps_weights(cfg, e)),
                n,
                p,
            )?,
            None,
            0.0,
        ),
        Some(c) => {
            let state = TrainState {
                next_epoch: c.next_epoch,
                warming_up: c.warming_up,
                rng_word_pos: c.rng_word_pos,
                weights: c.weights,
                task_momentum: c.task_momentum,
            };
            (
                Trainer::resume(cfg, data, state)?,
                MetricsWriter::reopen(&metrics_path, c.metrics_bytes)?,
                TrajectoryWriter::reopen(&trajectory_path, kept, c.trajectory_rows, n, p)?,
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
            trajectory.push(trainer.organism().particles.weights())?;
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
    write_organism(&dir.join(ORGANISM), &organism)?;
    draw_all(&activations::figures(dir, &organism, &summary)?)?;
    write_json(&dir.join(SUMMARY), &summary)?;
    write_json(&dir.join(TIMING), &serde_json::json!({ "wall_seconds": summary.wall_seconds }))?;
    remove_checkpoint(dir)?;
    Ok(summary)
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
    let p = &trained.organism.particles;
    let (n, w, t) = (p.len(), p.shape().n_weights(), &trained.trajectory);
    let mut trajectory =
        TrajectoryWriter::create(&dir.join(TRAJECTORY), t.epochs.len(), t.epochs.iter().copied(), n, w)?;
    for row in t.weights.chunks(n * w) {
        trajectory.push(row)?;
    }
    trajectory.finish()?;
    write_organism(&dir.join(ORGANISM), &trained.organism)?;
    draw_all(&activations::figures(dir, &trained.organism, summary)?)?;
    write_json(&dir.join(SUMMARY), summary)?;
    write_json(&dir.join(TIMING), &serde_json::json!({ "wall_seconds": summary.wall_seconds }))
}

/// The run directory of one seed of a multi-seed experiment.
pub fn seed_dir(out: &Path, seed: u64) -> PathBuf {
    out.join(format!("seed-{seed}"))
}

/// Trains every seed of `seeds` in parallel into `out/seed-N/`, with `config.toml` (the
/// configuration they share, each seed's own in its folder) and [`SEEDS`] beside them. `out` is
/// one output (see [`RunWriter`]): it appears only when every seed is done. Each seed writes
/// checkpoints like a single run, so a killed run continues with [`resume_dir`]. Image data is
/// shared by the seeds (`data`, or loaded once); addition samples depend on the seed and are
/// made per seed.
pub fn train_seeds(
    cfg: &Config,
    seeds: &[u64],
    out: &Path,
    force: bool,
    data: Option<&TaskData>,
    progress: &Progress,
) -> Result<Vec<Summary>> {
    train_seeds_with(cfg, seeds, out, force, data, CHECKPOINT_EVERY, progress)
}

/// [`train_seeds`] with a checkpoint every `checkpoint_every` epochs (0 = never).
pub fn train_seeds_with(
    cfg: &Config,
    seeds: &[u64],
    out: &Path,
    force: bool,
    data: Option<&TaskData>,
    checkpoint_every: usize,
    progress: &Progress,
) -> Result<Vec<Summary>> {
    for &seed in seeds {
        Config { seed, ..cfg.clone() }.validate()?;
    }
    let writer = RunWriter::create(out, force)?;
    // The seeds first: a partial directory with `config.toml` is resumable.
    let result = write_json(&writer.path(SEEDS), &seeds)
        .and_then(|_| write_atomic(&writer.path(CONFIG), cfg.to_toml().as_bytes()))
        .and_then(|_| seeds_into(cfg, seeds, writer.dir(), data, checkpoint_every, progress));
    writer.complete(result)
}

/// The multi-seed output `out` of `cfg` and `seeds` (see [`train_seeds`]): read back if it is
/// complete, continued if a killed run left it unfinished, trained otherwise. A complete or
/// unfinished output of another configuration or other seeds is an error.
pub fn continue_seeds(
    cfg: &Config,
    seeds: &[u64],
    out: &Path,
    data: Option<&TaskData>,
    progress: &Progress,
) -> Result<Vec<Summary>> {
    let same = |dir: &Path| -> Result<()> {
        let (config, listed) = (dir.join(CONFIG), dir.join(SEEDS));
        let config = std::fs::read_to_string(&config).map_err(|e| Error::io(&config, e))?;
        let listed: Option<Vec<u64>> = std::fs::read(&listed).ok().and_then(|b| serde_json::from_slice(&b).ok());
        if config != cfg.to_toml() || listed.as_deref() != Some(seeds) {
            return Err(Error::Invalid(format!(
                "{} holds runs of another configuration or other seeds; refusing to continue it",
                out.display()
            )));
        }
        Ok(())
    };
    if out.is_dir() {
        same(out)?;
        return seeds.iter().map(|&s| read_summary(&seed_dir(out, s))).collect();
    }
    match RunWriter::resume(out, false, CONFIG)? {
        Some(writer) => {
            let result =
                same(writer.dir()).and_then(|_| seeds_into(cfg, seeds, writer.dir(), data, CHECKPOINT_EVERY, progress));
            writer.complete(result)
        }
        None => train_seeds(cfg, seeds, out, false, data, progress),
    }
}

/// The seeds of a multi-seed output in its (partial) directory `dir`, in parallel: each one
/// complete already, continued from its checkpoint or trained (see [`train_seed`]).
fn seeds_into(
    cfg: &Config,
    seeds: &[u64],
    dir: &Path,
    data: Option<&TaskData>,
    checkpoint_every: usize,
    progress: &Progress,
) -> Result<Vec<Summary>> {
    let loaded = match (cfg.task.dataset(), data) {
        (Some(_), None) => Some(TaskData::load(cfg)?),
        _ => None,
    };
    let shared = data.or(loaded.as_ref());
    seeds
        .par_iter()
        .map(|&seed| {
            let cfg = Config { seed, ..cfg.clone() };
            match shared {
                Some(d) if cfg.task.dataset().is_some() => train_seed(&cfg, d, dir, checkpoint_every, progress),
                _ => train_seed(&cfg, &TaskData::addition(&cfg), dir, checkpoint_every, progress),
            }
        })
        .collect()
}

/// One seed of a multi-seed output in `dir`: `seed-N/` if it is complete (its summary read
/// back); else trained in `.seed-N.partial/` (from the checkpoint there, if any) and renamed
/// to `seed-N/` when done.
fn train_seed(
    cfg: &Config,
    data: &TaskData,
    dir: &Path,
    checkpoint_every: usize,
    progress: &Progress,
) -> Result<Summary> {
    let done = seed_dir(dir, cfg.seed);
    if done.is_dir() {
        return read_summary(&done);
    }
    let partial = dir.join(format!(".seed-{}.partial", cfg.seed));
    let checkpoint = partial.join(CHECKPOINT);
    let checkpoint = if checkpoint.is_file() {
        Some(Checkpoint::read(&checkpoint)?)
    } else {
        // Killed before its first checkpoint (or never started): from the start. The
        // directory is part of this program's own unfinished output.
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
        }
        std::fs::create_dir(&partial).map_err(|e| Error::io(&partial, e))?;
        write_atomic(&partial.join(CONFIG), cfg.to_toml().as_bytes())?;
        None
    };
    let summary = train_in(cfg, data, &partial, checkpoint, checkpoint_every, progress)?;
    std::fs::rename(&partial, &done).map_err(|e| Error::io(&done, e))?;
    Ok(summary)
}

/// The summary of the finished run directory `dir`, with its wall time from `timing.json`.
pub fn read_summary(dir: &Path) -> Result<Summary> {
    let path = dir.join(SUMMARY);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let mut summary: Summary = serde_json::from_slice(&bytes).map_err(|e| Error::format(&path, e.to_string()))?;
    summary.wall_seconds = std::fs::read(dir.join(TIMING))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["wall_seconds"].as_f64())
        .unwrap_or(f64::NAN);
    Ok(summary)
}

/// `a..b` (end exclusive) or a comma list `0,3,7` of seeds; at most [`limits::MAX_SEEDS`]
/// seeds, each at most [`limits::MAX_SEED`].
pub fn parse_seeds(s: &str) -> Result<Vec<u64>> {
    let bad = || Error::Invalid(format!("--seeds `{s}`: expected a range like 0..10 or a list like 0,1,2"));
    let seed = |x: &str| -> Result<u64> {
        let v: u64 = x.trim().parse().map_err(|_| bad())?;
        limits::seed("--seeds", v)?;
        Ok(v)
    };
    let seeds: Vec<u64> = if let Some((a, b)) = s.split_once("..") {
        let (a, b) = (seed(a)?, b.trim().parse::<u64>().map_err(|_| bad())?);
        if a >= b {
            return Err(bad());
        }
        limits::at_most("--seeds", b - a, limits::MAX_SEEDS)?;
        limits::seed("--seeds", b - 1)?;
        (a..b).collect()
    } else {
        let list = s.split(',').map(seed).collect::<Result<Vec<u64>>>()?;
        limits::at_most("--seeds", list.len() as u64, limits::MAX_SEEDS)?;
        list
    };
    let mut sorted = seeds.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::Invalid(format!("--seeds `{s}`: a seed is listed twice")));
    }
    Ok(seeds)
}

/// Settings of `organism particles`: a population of standalone self-trained particles.
#[derive(Clone, Debug)]
pub struct ParticlesRun {
    /// Number of particles.
    pub count: usize,
    /// Their architecture.
    pub shape: ParticleShape,
    /// Their initialisation (SPEC §1).
    pub init: Init,
    /// Seed of the initialisation.
    pub seed: u64,
    /// Steps, learning rate, momentum and ε of the self-training.
    pub standalone: StandaloneConfig,
}

impl ParticlesRun {
    /// `count` particles `[5, hidden, hidden, 1]`, checked by [`ParticlesRun::validate`].
    pub fn new(
        count: usize,
        hidden: usize,
        activation: Activation,
        init: Init,
        seed: u64,
        standalone: StandaloneConfig,
    ) -> Result<Self> {
        limits::count("--hidden", hidden as u64, limits::MAX_HIDDEN)?;
        let run = ParticlesRun {
            count,
            shape: ParticleShape::new(vec![5, hidden, hidden, 1], activation)?,
            init,
            seed,
            standalone,
        };
        run.validate()?;
        Ok(run)
    }

    /// Bounds and ranges, named by the flags of `organism particles` (see [`limits`]).
    pub fn validate(&self) -> Result<()> {
        limits::count("--count", self.count as u64, u64::MAX)?;
        limits::seed("--seed", self.seed)?;
        let s = &self.standalone;
        limits::at_most("--steps", s.steps as u64, limits::MAX_STEPS)?;
        limits::count("--every", s.every as u64, u64::MAX)?;
        limits::optimizer(["--lr", "--momentum", "--epsilon"], s.lr, s.momentum, s.epsilon)?;
        let per_particle = 4 * self.shape.n_weights() as u128;
        let mut e = limits::Estimate::default();
        // Weights, gradients, optimizer state and the self-application buffers.
        e.add("--count", "particles", (self.count as u128).saturating_mul(per_particle) * 5).add(
            "--steps",
            "class history",
            (s.steps / s.every + 2) as u128 * 48,
        );
        e.check()
    }
}

/// Self-trains `run.count` independent particles and writes `types.csv`,
/// `particles.safetensors` and `summary.json` into `out`.
pub fn particles_to_dir(run: &ParticlesRun, out: &Path, force: bool, progress: &Progress) -> Result<serde_json::Value> {
    run.validate()?;
    let writer = RunWriter::create(out, force)?;
    let result = particles_into(run, writer.dir(), progress);
    writer.complete(result)
}

/// [`particles_to_dir`] into the existing directory `dir`.
fn particles_into(run: &ParticlesRun, dir: &Path, progress: &Progress) -> Result<serde_json::Value> {
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(run.seed);
    let mut particles = ParticleBatch::random(run.shape.clone(), run.count, run.init, &mut rng);
    let bar = progress.bar(run.standalone.steps as u64, "self-train");
    let history = self_train_particles(&mut particles, &run.standalone, &mut |s| bar.set_position(s as u64));
    bar.finish();
    let rows: Vec<TypeRow> = history
        .iter()
        .flat_map(|(step, counts)| counts.iter().map(|(c, n)| TypeRow { step: *step, class: c.name(), count: n }))
        .collect();
    write_csv(&dir.join("types.csv"), &rows)?;
    write_particles(&dir.join(PARTICLES), &particles)?;
    let types = type_counts(&classify(&particles, run.standalone.epsilon));
    let summary = serde_json::json!({
        "types": types,
        "steps": run.standalone.steps,
        "count": run.count,
        "particle_widths": run.shape.widths(),
        "particle_activation": run.shape.activation().to_string(),
        "particle_init": run.init,
        "seed": run.seed,
        "lr": run.standalone.lr,
        "momentum": run.standalone.momentum,
        "epsilon": run.standalone.epsilon,
    });
    write_json(&dir.join(SUMMARY), &summary)?;
    write_json(&dir.join(TIMING), &serde_json::json!({ "wall_seconds": start.elapsed().as_secs_f64() }))?;
    Ok(summary)
}

#[derive(Serialize, Default)]
struct TypeRow {
    step: usize,
    class: &'static str,
    count: usize,
}

/// Per-noise-level means of a robustness test.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct NoiseLevelSummary {
    /// The noise level σ.
    pub noise: f32,
    /// Clones tested at this level.
    pub clones: usize,
    /// Mean self-applications until a clone was `zero` or `divergent` (or the cap).
    pub mean_time_to_vergence: f64,
    /// Mean self-applications a clone stayed an ε-fixpoint.
    pub mean_time_as_fixpoint: f64,
    /// Clones that reached the step cap.
    pub capped: usize,
}

/// Summarises robustness records by noise level, strongest noise first.
pub fn summarise_robustness(records: &[RobustnessRecord]) -> Vec<NoiseLevelSummary> {
    let mut levels: Vec<f32> = records.iter().map(|r| r.noise).collect();
    levels.sort_by(|a, b| b.total_cmp(a));
    levels.dedup();
    levels
        .into_iter()
        .map(|noise| {
            let at: Vec<&RobustnessRecord> = records.iter().filter(|r| r.noise == noise).collect();
            let n = at.len() as f64;
            NoiseLevelSummary {
                noise,
                clones: at.len(),
                mean_time_to_vergence: at.iter().map(|r| r.time_to_vergence as f64).sum::<f64>() / n,
                mean_time_as_fixpoint: at.iter().map(|r| r.time_as_fixpoint as f64).sum::<f64>() / n,
                capped: at.iter().filter(|r| r.capped).count(),
            }
        })
        .collect()
}

/// Runs the robustness test on the self-replicators of `from` and writes `robustness.csv` and
/// `summary.json` into `out`.
pub fn robustness_to_dir(from: &Path, test: &Robustness, out: &Path, force: bool) -> Result<serde_json::Value> {
    test.validate()?;
    check_free(out, force)?;
    let (particles, eps) = robustness_source(from)?;
    let classes = classify(&particles, eps);
    let which = self_replicators(&classes);
    test.memory(particles.shape().n_weights(), which.len()).check()?;
    let writer = RunWriter::create(out, force)?;
    let result = (|| {
        let records = Robustness { eps, ..test.clone() }.run(&particles, &which);
        write_csv(&writer.path("robustness.csv"), &records)?;
        let summary = serde_json::json!({
            "source": from.display().to_string(),
            "particles": particles.len(),
            "self_replicators_tested": which.len(),
            "seeds": test.seeds,
            "max_steps": test.max_steps,
            "counting": format!("{:?}", test.counting).to_lowercase(),
            "epsilon": eps,
            "capped_runs": records.iter().filter(|r| r.capped).count(),
            "levels": summarise_robustness(&records),
        });
        write_json(&writer.path("summary.json"), &summary)?;
        Ok(summary)
    })();
    writer.complete(result)
}
