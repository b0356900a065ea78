//! The run directory: what a training run leaves behind, and how analyses read it back.
//!
//! ```text
//! config.toml              the fully resolved configuration
//! metrics.csv              one row per epoch (0 = untrained): losses, metrics, class counts
//! organism.safetensors     final particle weights `weights [n, P]` + shape metadata, and
//!                          `activation_weights [n_act, P_act]` with activation particles
//! trajectory.safetensors   `weights [T, n, P]` and `epochs [T]` (Fig. 12)
//! summary.json             the headline numbers
//! activations.csv, activations_L{l}.png/.svg   with activation particles: each learned
//!                          `z ↦ a` over the z seen on the test set
//! ```
//! Particle files (`organism particles`) hold `weights [n, P]` with `format = "particles"`.
//! Tensors are f32 (epochs i64); a PyTorch user opens them with `safetensors.torch.load_file`.
//! Every output directory of the program is written by a [`RunWriter`] (the output rule: a
//! temporary sibling swapped into place only when complete) and carries the [`MARKER`] file.

use crate::config::Config;
use crate::fixpoint::{Class, ClassCounts, EPSILON};
use crate::organism::Organism;
use crate::particle::ParticleBatch;
use crate::train::{EpochRecord, Trained, Trajectory};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod output;
mod tensors;

pub(crate) use output::process_alive;
pub use output::{check_free, resolve_output, shown, write_marker, RunWriter, MARKER, OPTIONS};
use tensors::read_bytes;
pub(crate) use tensors::{f32_bytes, safetensors_header, write_safetensors, TensorSpec};
pub use tensors::{
    parse_cell_particles, parse_particles, parse_trajectory, read_organism, read_particles, read_trajectory,
    write_organism, write_particles,
};

/// The resolved configuration of a run (TOML), enough to re-run it.
pub const CONFIG: &str = "config.toml";
/// Per-epoch metrics and class counts (CSV, one [`MetricsRow`] per line).
pub const METRICS: &str = "metrics.csv";
/// The trained particles (safetensors, `n × P`, with their positions).
pub const ORGANISM: &str = "organism.safetensors";
/// Weight snapshots over training (safetensors, for the PCA of Fig. 12).
pub const TRAJECTORY: &str = "trajectory.safetensors";
/// The headline numbers ([`Summary`], JSON).
pub const SUMMARY: &str = "summary.json";
/// Wall time of a run: the one file that differs between identical runs.
pub const TIMING: &str = "timing.json";
/// The particle file of an `organism particles` directory.
pub const PARTICLES: &str = "particles.safetensors";

/// The headline numbers of a run (`summary.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    /// Name of the preset the configuration started from.
    pub preset: String,
    /// `addition` or an image task.
    pub task: String,
    /// The seed of the run.
    pub seed: u64,
    /// Epochs trained.
    pub epochs: usize,
    /// What the task metric is: `mae` (addition) or `accuracy` (images).
    pub metric_name: String,
    /// Task metric on the test set after the last epoch.
    pub test_metric: Option<f32>,
    /// Task metric on the last epoch's training batches.
    pub train_metric: Option<f32>,
    /// Final class counts by name, of the weight particles.
    pub types: BTreeMap<String, usize>,
    /// The activation particles, if the organism has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_particles: Option<Box<ActivationSummary>>,
    /// Final class counts by name of the aggregator particles, if the organism has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregator_particles: Option<Box<BTreeMap<String, usize>>>,
    /// Number of (weight) particles in the organism.
    pub n_particles: usize,
    /// Mean self-training loss of the last epoch.
    pub self_train_loss: Option<f32>,
    /// Mean task loss of the last epoch.
    pub task_loss: Option<f32>,
    /// Largest `|ON(x) − ON'(x)|` over the test set after weight re-substitution (Fig. 5/8).
    pub resubstitution_max_abs_diff: Option<f32>,
    /// First epoch at which every particle was a self-replicator, if ever.
    pub first_all_self_replicators_epoch: Option<usize>,
    /// Where the data came from.
    pub dataset: String,
    /// Training time; written to `timing.json`, not here, so that `summary.json` is the same
    /// bytes for the same configuration and seed.
    #[serde(skip)]
    pub wall_seconds: f64,
}

/// The activation particles of a run, in its summary.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActivationSummary {
    /// Final class counts by name.
    pub types: BTreeMap<String, usize>,
    /// `[min, max]` of the sums `z` each activation particle saw on the test set (`null`: none
    /// finite): the range its learned `z ↦ a` is drawn over.
    pub z_ranges: Vec<Option<[f32; 2]>>,
}

/// `Some(x)` for finite `x`: JSON has no NaN.
pub fn finite(x: f32) -> Option<f32> {
    x.is_finite().then_some(x)
}

/// Final class counts by name, every class present.
pub fn type_counts(classes: &[Class]) -> BTreeMap<String, usize> {
    ClassCounts::of(classes).iter().map(|(c, n)| (c.name().to_string(), n)).collect()
}

// ---------------------------------------------------------------------------------------------
// The output rule: one for every command that writes.

/// Writes `text` to `path` (a file the caller created the directory for).
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Writes `value` as pretty JSON with a final newline.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    write_text(path, &(serde_json::to_string_pretty(value).expect("serialisable") + "\n"))
}

/// Writes rows of serialisable records as CSV with a header (also when there are no rows: the
/// header then comes from a default row).
pub fn write_csv<T: Serialize + Default>(path: &Path, rows: &[T]) -> Result<()> {
    let err = |e: csv::Error| Error::format(path, e.to_string());
    if rows.is_empty() {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(T::default()).map_err(err)?;
        let bytes = w.into_inner().map_err(|e| Error::format(path, e.to_string()))?;
        let header = String::from_utf8_lossy(&bytes).lines().next().unwrap_or_default().to_string();
        return write_text(path, &(header + "\n"));
    }
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    for row in rows {
        w.serialize(row).map_err(err)?;
    }
    w.flush().map_err(|e| Error::io(path, e))
}

/// One row of `metrics.csv`; empty cells where a value was not measured that epoch.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MetricsRow {
    /// The epoch, counted from 1; 0 is the untrained organism.
    pub epoch: usize,
    /// Mean self-training loss over the epoch's self-train steps.
    pub self_train_loss: Option<f32>,
    /// Mean task loss over the epoch's batches.
    pub task_loss: Option<f32>,
    /// Task metric on the epoch's training batches.
    pub train_metric: Option<f32>,
    /// Task metric on the test set (every `validate_every` epochs).
    pub test_metric: Option<f32>,
    /// Particles classified `divergent`.
    pub divergent: Option<usize>,
    /// Particles classified `zero`.
    pub zero: Option<usize>,
    /// Particles classified `self_replicator` (PN_SR).
    pub self_replicator: Option<usize>,
    /// Particles classified `second_order`.
    pub second_order: Option<usize>,
    /// Particles classified `other`.
    pub other: Option<usize>,
}

impl From<&EpochRecord> for MetricsRow {
    fn from(r: &EpochRecord) -> Self {
        let c = |k: Class| r.counts.map(|c| c[k]);
        MetricsRow {
            epoch: r.epoch,
            self_train_loss: finite(r.self_train_loss),
            task_loss: finite(r.task_loss),
            train_metric: finite(r.train_metric),
            test_metric: finite(r.test_metric),
            divergent: c(Class::Divergent),
            zero: c(Class::Zero),
            self_replicator: c(Class::SelfReplicator),
            second_order: c(Class::SecondOrder),
            other: c(Class::Other),
        }
    }
}

impl From<&MetricsRow> for EpochRecord {
    /// Back from the file: an empty cell is NaN (never measured, or not finite).
    fn from(r: &MetricsRow) -> Self {
        let v = |x: Option<f32>| x.unwrap_or(f32::NAN);
        EpochRecord {
            epoch: r.epoch,
            self_train_loss: v(r.self_train_loss),
            task_loss: v(r.task_loss),
            train_metric: v(r.train_metric),
            test_metric: v(r.test_metric),
            counts: r.counts(),
        }
    }
}

impl MetricsRow {
    /// Class counts, if counted.
    pub fn counts(&self) -> Option<ClassCounts> {
        let mut c = ClassCounts::default();
        c[Class::Divergent] = self.divergent?;
        c[Class::Zero] = self.zero?;
        c[Class::SelfReplicator] = self.self_replicator?;
        c[Class::SecondOrder] = self.second_order?;
        c[Class::Other] = self.other?;
        Some(c)
    }
}

/// A finished run, read back.
pub struct Run {
    /// The run directory.
    pub dir: PathBuf,
    /// Its `config.toml`.
    pub config: Config,
    /// Its `summary.json`.
    pub summary: Summary,
    /// Its `metrics.csv`.
    pub metrics: Vec<MetricsRow>,
    /// The trained organism from `organism.safetensors`.
    pub organism: Organism,
}

impl Run {
    /// Reads the run directory `dir` (config, summary, metrics, organism).
    pub fn open(dir: &Path) -> Result<Run> {
        if !dir.join(CONFIG).is_file() || !dir.join(SUMMARY).is_file() {
            return Err(Error::Invalid(format!(
                "{} is not a run directory (no {CONFIG} or {SUMMARY}; make one with `organism train`)",
                dir.display()
            )));
        }
        let config = Config::resolve(None, Some(&dir.join(CONFIG)), &[])?;
        let path = dir.join(SUMMARY);
        let summary: Summary =
            serde_json::from_slice(&read_bytes(&path)?).map_err(|e| Error::format(&path, e.to_string()))?;
        let path = dir.join(METRICS);
        let mut reader = csv::Reader::from_path(&path).map_err(|e| Error::format(&path, e.to_string()))?;
        let metrics = reader
            .deserialize()
            .collect::<std::result::Result<Vec<MetricsRow>, _>>()
            .map_err(|e| Error::format(&path, e.to_string()))?;
        let organism = read_organism(&dir.join(ORGANISM))?;
        Ok(Run { dir: dir.to_path_buf(), config, summary, metrics, organism })
    }

    /// The trajectory, if the run kept one.
    pub fn trajectory(&self) -> Option<Result<Trajectory>> {
        let path = self.dir.join(TRAJECTORY);
        path.is_file().then(|| read_trajectory(&path))
    }

    /// The run as training left it: its records, final classes (counted again with the run's
    /// ε, as training counted them) and trajectory. Written again with [`crate::experiment::save_run`], it gives
    /// the same files.
    pub fn into_trained(self) -> Result<Trained> {
        let trajectory = self.trajectory().transpose()?.unwrap_or_default();
        Ok(Trained {
            classes: crate::fixpoint::classify(&self.organism.particles, self.config.epsilon),
            records: self.metrics.iter().map(EpochRecord::from).collect(),
            trajectory,
            first_all_replicators: self.summary.first_all_self_replicators_epoch,
            organism: self.organism,
        })
    }
}

/// The particles a robustness test reads, with the ε to classify them by: a particle or organism
/// `.safetensors` file (default ε), a directory written by `organism particles` (ε from its
/// `summary.json`), or a run directory (its `organism.safetensors`, the run's ε).
pub fn robustness_source(from: &Path) -> Result<(ParticleBatch, f32)> {
    let population = from.join(PARTICLES);
    if from.is_dir() && population.is_file() {
        let eps = std::fs::read(from.join(SUMMARY))
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
