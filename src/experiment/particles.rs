//! Standalone particles (the paper's baseline, `organism particles`) and their robustness test
//! (`organism robustness`).

use crate::activation::Activation;
use crate::fixpoint::{classify, self_replicators, Robustness, RobustnessRecord};
use crate::particle::{Init, ParticleBatch, ParticleShape};
use crate::progress::Progress;
use crate::run::{
    check_free, robustness_source, type_counts, write_csv, write_json, write_particles, RunWriter, PARTICLES, SUMMARY,
    TIMING,
};
use crate::train::{self_train_particles, StandaloneConfig};
use crate::{limits, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

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
pub(super) fn particles_into(run: &ParticlesRun, dir: &Path, progress: &Progress) -> Result<serde_json::Value> {
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
pub(super) struct TypeRow {
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
