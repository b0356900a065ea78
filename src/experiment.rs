//! One experiment end to end: data for a configuration, training (one seed or several in
//! parallel), and the run directories it writes. The CLI's `train` and `reproduce` use it.

use crate::config::Config;
use crate::data::{self, LoadOptions};
use crate::fixpoint::{classify, self_replicators, Robustness, RobustnessRecord, EPSILON};
use crate::particle::{Init, ParticleBatch, ParticleShape};
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
                data_dir: (!cfg.data.dir.is_empty()).then(|| PathBuf::from(&cfg.data.dir)),
                download: cfg.data.download,
                progress: true,
                ..LoadOptions::default()
            };
            Ok(TaskData::images(cfg, &data::load(kind, &opts)?))
        }
    }
}

/// Trains `cfg` on `data` and writes the run directory `out`; returns its summary.
pub fn train_to_dir(cfg: &Config, data: &TaskData, out: &Path, force: bool, progress: &Progress) -> Result<Summary> {
    check_free(out, force)?;
    let (trained, summary) = train_run(cfg, data, progress, &mut |_| ControlFlow::Continue(()))?;
    save_run(cfg, &trained, &summary, out, force)?;
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

/// Writes a trained run into the run directory `out` (complete, or not at all).
pub fn save_run(cfg: &Config, trained: &Trained, summary: &Summary, out: &Path, force: bool) -> Result<()> {
    let writer = RunWriter::create(out, force)?;
    write_run(&writer, cfg, trained, summary)?;
    writer.finish()?;
    Ok(())
}

/// The run directory of one seed of a multi-seed experiment.
pub fn seed_dir(out: &Path, seed: u64) -> PathBuf {
    out.join(format!("seed-{seed}"))
}

/// Trains every seed of `seeds` in parallel into `out/seed-N/`. Image data is shared by the
/// seeds (`data`, or loaded once); addition samples depend on the seed and are made per seed.
pub fn train_seeds(
    cfg: &Config,
    seeds: &[u64],
    out: &Path,
    force: bool,
    data: Option<&TaskData>,
    progress: &Progress,
) -> Result<Vec<Summary>> {
    for &seed in seeds {
        check_free(&seed_dir(out, seed), force)?;
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
            match shared {
                Some(d) if cfg.task.dataset().is_some() => train_to_dir(&cfg, d, &seed_dir(out, seed), force, progress),
                _ => train_to_dir(&cfg, &TaskData::addition(&cfg), &seed_dir(out, seed), force, progress),
            }
        })
        .collect()
}

/// `a..b` (end exclusive) or a comma list `0,3,7` of seeds.
pub fn parse_seeds(s: &str) -> Result<Vec<u64>> {
    let bad = || Error::Invalid(format!("--seeds `{s}`: expected a range like 0..10 or a list like 0,1,2"));
    if let Some((a, b)) = s.split_once("..") {
        let (a, b): (u64, u64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
        if a >= b {
            return Err(bad());
        }
        return Ok((a..b).collect());
    }
    s.split(',').map(|x| x.trim().parse().map_err(|_| bad())).collect()
}

/// The particle file of an `organism particles` directory.
const PARTICLES: &str = "particles.safetensors";

/// Settings of `organism particles`: a population of standalone self-trained particles.
#[derive(Clone, Debug)]
pub struct ParticlesRun {
    pub count: usize,
    pub shape: ParticleShape,
    pub init: Init,
    pub seed: u64,
    pub standalone: StandaloneConfig,
}

/// Self-trains `run.count` independent particles and writes `types.csv`,
/// `particles.safetensors` and `summary.json` into `out`.
pub fn particles_to_dir(run: &ParticlesRun, out: &Path, force: bool, progress: &Progress) -> Result<serde_json::Value> {
    let writer = RunWriter::create(out, force)?;
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
    write_csv(&writer.path("types.csv"), &rows)?;
    write_particles(&writer.path(PARTICLES), &particles)?;
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
        "wall_seconds": start.elapsed().as_secs_f64(),
    });
    write_json(&writer.path("summary.json"), &summary)?;
    writer.finish()?;
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
    let (particles, eps) = robustness_source(from)?;
    let writer = RunWriter::create(out, force)?;
    let classes = classify(&particles, eps);
    let which = self_replicators(&classes);
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
    writer.finish()?;
    Ok(summary)
}
