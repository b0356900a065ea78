//! One experiment end to end: data for a configuration, training (one seed or several in
//! parallel), and the run directories it writes. The CLI's `train` and `reproduce` use it.

use crate::activation::Activation;
use crate::config::Config;
use crate::data::{self, LoadOptions};
use crate::fixpoint::{classify, self_replicators, Class, Robustness, RobustnessRecord, EPSILON};
use crate::limits;
use crate::particle::{ParticleBatch, ParticleShape};
use crate::progress::Progress;
use crate::run::{
    check_free, finite, read_particles, type_counts, write_csv, write_json, write_particles, write_run, Run, RunWriter,
    Summary,
};
use crate::schedule::{
    resubstitution_errors, self_train_particles, train_until, EpochRecord, StandaloneConfig, TaskData, Trained,
};
use crate::{Error, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The task data of `cfg`: addition samples, or the image data set (found, downloaded or the
/// bundled subset, see [`data::load`]).
pub fn task_data(cfg: &Config) -> Result<TaskData> {
    match cfg.task.dataset() {
        None => Ok(TaskData::addition(cfg)),
        Some(kind) => {
            let opts = LoadOptions {
                data_dir: (!cfg.data.dir.as_os_str().is_empty()).then(|| cfg.data.dir.clone()),
                download: cfg.data.download,
                progress: true,
                ..LoadOptions::default()
            };
            let dataset = data::load(kind, &opts)?;
            for (split, set) in [("training", &dataset.train), ("test", &dataset.test)] {
                if set.is_empty() {
                    return Err(Error::Invalid(format!("{}: the {split} set has no images", dataset.description)));
                }
            }
            Ok(TaskData::images(cfg, &dataset))
        }
    }
}

/// Trains `cfg` on `data` and writes the run directory `out` (see [`RunWriter`] for the rule
/// on existing outputs); returns its summary.
pub fn train_to_dir(cfg: &Config, data: &TaskData, out: &Path, force: bool, progress: &Progress) -> Result<Summary> {
    let writer = RunWriter::create(out, force)?;
    let result = train_into(cfg, data, writer.dir(), progress);
    writer.complete(result)
}

/// Trains `cfg` on `data` and writes the run's files into the existing directory `dir`.
fn train_into(cfg: &Config, data: &TaskData, dir: &Path, progress: &Progress) -> Result<Summary> {
    let (trained, summary) = train_run(cfg, data, progress, &mut |_| ControlFlow::Continue(()))?;
    write_run(dir, cfg, &trained, &summary)?;
    Ok(summary)
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
    let metric = cfg.task.metric_name();
    let trained = train_until(cfg, data, &mut |r| {
        bar.set_position(r.epoch as u64);
        bar.set_message(format!(
            "self-train {:.3e}  task {:.3e}  test {metric} {:.4e}",
            r.self_train_loss, r.task_loss, r.test_metric
        ));
        on_epoch(r)
    })?;
    bar.finish();
    let resub = resubstitution_errors(&trained.organism, &data.test().x);
    let last = trained.records.last().expect("epoch 0 is always recorded");
    let summary = Summary {
        preset: cfg.preset.clone(),
        task: cfg.task.name().to_string(),
        seed: cfg.seed,
        epochs: cfg.epochs,
        metric_name: cfg.task.metric_name().to_string(),
        test_metric: finite(last.test_metric),
        train_metric: finite(last.train_metric),
        types: type_counts(&trained.classes),
        n_particles: trained.classes.len(),
        self_train_loss: finite(last.self_train_loss),
        task_loss: finite(last.task_loss),
        resubstitution_max_abs_diff: finite(resub.iter().cloned().fold(0.0, f32::max)),
        first_all_self_replicators_epoch: trained.first_all_replicators,
        dataset: data.description(),
        wall_seconds: start.elapsed().as_secs_f64(),
    };
    Ok((trained, summary))
}

/// Writes a trained run into the run directory `out` (complete, or not at all; see
/// [`RunWriter`]).
pub fn save_run(cfg: &Config, trained: &Trained, summary: &Summary, out: &Path, force: bool) -> Result<()> {
    let writer = RunWriter::create(out, force)?;
    let result = write_run(writer.dir(), cfg, trained, summary);
    writer.complete(result)
}

/// The run directory of one seed of a multi-seed experiment.
pub fn seed_dir(out: &Path, seed: u64) -> PathBuf {
    out.join(format!("seed-{seed}"))
}

/// Trains every seed of `seeds` in parallel into `out/seed-N/`. `out` is one output (see
/// [`RunWriter`]): it appears only when every seed is done, and a failed seed leaves none.
/// Image data is shared by the seeds (`data`, or loaded once); addition samples depend on the
/// seed and are made per seed.
pub fn train_seeds(
    cfg: &Config,
    seeds: &[u64],
    out: &Path,
    force: bool,
    data: Option<&TaskData>,
    progress: &Progress,
) -> Result<Vec<Summary>> {
    let writer = RunWriter::create(out, force)?;
    let result = train_seeds_into(cfg, seeds, writer.dir(), data, progress);
    writer.complete(result)
}

/// [`train_seeds`] into the existing directory `dir`.
pub fn train_seeds_into(
    cfg: &Config,
    seeds: &[u64],
    dir: &Path,
    data: Option<&TaskData>,
    progress: &Progress,
) -> Result<Vec<Summary>> {
    for &seed in seeds {
        Config { seed, ..cfg.clone() }.validate()?;
    }
    let loaded = match (cfg.task.dataset(), data) {
        (Some(_), None) => Some(task_data(cfg)?),
        _ => None,
    };
    let shared = data.or(loaded.as_ref());
    seeds
        .par_iter()
        .map(|&seed| {
            let cfg = Config { seed, ..cfg.clone() };
            let run_dir = seed_dir(dir, seed);
            std::fs::create_dir(&run_dir).map_err(|e| Error::io(&run_dir, e))?;
            match shared {
                Some(d) if cfg.task.dataset().is_some() => train_into(&cfg, d, &run_dir, progress),
                _ => train_into(&cfg, &TaskData::addition(&cfg), &run_dir, progress),
            }
        })
        .collect()
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

/// The particle file of an `organism particles` directory.
const PARTICLES: &str = "particles.safetensors";

/// Settings of `organism particles`: a population of standalone self-trained particles.
#[derive(Clone, Debug)]
pub struct ParticlesRun {
    pub count: usize,
    pub shape: ParticleShape,
    pub seed: u64,
    pub standalone: StandaloneConfig,
}

impl ParticlesRun {
    /// `count` particles `[5, hidden, hidden, 1]`, checked by [`ParticlesRun::validate`].
    pub fn new(
        count: usize,
        hidden: usize,
        activation: Activation,
        seed: u64,
        standalone: StandaloneConfig,
    ) -> Result<Self> {
        limits::count("--hidden", hidden as u64, limits::MAX_HIDDEN)?;
        let run = ParticlesRun {
            count,
            shape: ParticleShape::new(vec![5, hidden, hidden, 1], activation)?,
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
    let mut particles = ParticleBatch::random(run.shape.clone(), run.count, &mut rng);
    let bar = progress.bar(run.standalone.steps as u64, "self-train");
    let history = self_train_particles(&mut particles, &run.standalone, &mut |s| bar.set_position(s as u64));
    bar.finish();
    let rows: Vec<TypeRow> = history
        .iter()
        .flat_map(|(step, counts)| {
            Class::ALL.iter().zip(counts).map(|(c, &n)| TypeRow { step: *step, class: c.name(), count: n })
        })
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
        "seed": run.seed,
        "lr": run.standalone.lr,
        "momentum": run.standalone.momentum,
        "epsilon": run.standalone.epsilon,
        "wall_seconds": start.elapsed().as_secs_f64(),
    });
    write_json(&dir.join("summary.json"), &summary)?;
    Ok(summary)
}

#[derive(Serialize, Default)]
struct TypeRow {
    step: usize,
    class: &'static str,
    count: usize,
}

/// The particles a robustness test reads, with the ε to classify them by: a particle or organism
/// `.safetensors` file (default ε), a directory written by `organism particles` (ε from its
/// `summary.json`), or a run directory (its `organism.safetensors`, the run's ε).
pub fn robustness_source(from: &Path) -> Result<(ParticleBatch, f32)> {
    let population = from.join(PARTICLES);
    if from.is_dir() && population.is_file() {
        let eps = std::fs::read(from.join("summary.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["epsilon"].as_f64())
            .map_or(EPSILON, |e| e as f32);
        Ok((read_particles(&population)?.0, eps))
    } else if from.is_dir() {
        let run = Run::open(from)?;
        Ok((run.organism.particles, run.config.epsilon))
    } else {
        Ok((read_particles(from)?.0, EPSILON))
    }
}

/// Per-noise-level means of a robustness test.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct NoiseLevelSummary {
    pub noise: f32,
    pub clones: usize,
    pub mean_time_to_vergence: f64,
    pub mean_time_as_fixpoint: f64,
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
            "epsilon": eps,
            "capped_runs": records.iter().filter(|r| r.capped).count(),
            "levels": summarise_robustness(&records),
        });
        write_json(&writer.path("summary.json"), &summary)?;
        Ok(summary)
    })();
    writer.complete(result)
}
