//! The run directory: what a training run leaves behind, and how analyses read it back.
//!
//! ```text
//! config.toml              the fully resolved configuration
//! metrics.csv              one row per epoch (0 = untrained): losses, metrics, class counts
//! organism.safetensors     final particle weights `weights [n, P]` + shape metadata
//! trajectory.safetensors   `weights [T, n, P]` and `epochs [T]` (Fig. 12)
//! summary.json             the headline numbers
//! ```
//! Particle files (`organism particles`) hold `weights [n, P]` with `format = "particles"`.
//! Tensors are f32 (epochs i64); a PyTorch user opens them with `safetensors.torch.load_file`.
//! Files are written into a temporary folder that is renamed into place only when complete.

use crate::activation::Activation;
use crate::config::Config;
use crate::fixpoint::{Class, ClassCounts};
use crate::organism::{Organism, OrganismShape};
use crate::particle::{ParticleBatch, ParticleShape};
use crate::schedule::{EpochRecord, Trained, Trajectory};
use crate::{Error, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub const CONFIG: &str = "config.toml";
pub const METRICS: &str = "metrics.csv";
pub const ORGANISM: &str = "organism.safetensors";
pub const TRAJECTORY: &str = "trajectory.safetensors";
pub const SUMMARY: &str = "summary.json";

/// The headline numbers of a run (`summary.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub preset: String,
    pub task: String,
    pub seed: u64,
    pub epochs: usize,
    pub metric_name: String,
    pub test_metric: Option<f32>,
    pub train_metric: Option<f32>,
    /// Final class counts by name.
    pub types: BTreeMap<String, usize>,
    pub n_particles: usize,
    pub self_train_loss: Option<f32>,
    pub task_loss: Option<f32>,
    pub resubstitution_max_abs_diff: Option<f32>,
    pub first_all_self_replicators_epoch: Option<usize>,
    pub dataset: String,
    pub wall_seconds: f64,
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
// Writing.

/// A run directory being written: a temporary folder beside the target, renamed on `finish`.
pub struct RunWriter {
    target: PathBuf,
    tmp: PathBuf,
    force: bool,
}

impl RunWriter {
    /// Refuses an existing, non-empty `target` unless `force`.
    pub fn create(target: &Path, force: bool) -> Result<Self> {
        check_free(target, force)?;
        let name = target.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "run".into());
        let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(RunWriter { target: target.to_path_buf(), tmp, force })
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.tmp.join(file)
    }

    /// Moves the finished folder into place.
    pub fn finish(self) -> Result<PathBuf> {
        if self.target.exists() {
            check_free(&self.target, self.force)?;
            std::fs::remove_dir_all(&self.target).map_err(|e| Error::io(&self.target, e))?;
        }
        std::fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        Ok(self.target.clone())
    }
}

impl Drop for RunWriter {
    fn drop(&mut self) {
        // An unfinished run leaves nothing behind.
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// An error if `dir` exists and is not empty, unless `force`.
pub fn check_free(dir: &Path, force: bool) -> Result<()> {
    let occupied = std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(false);
    if occupied && !force {
        return Err(Error::Invalid(format!("{} already exists; pass --force to overwrite it", dir.display())));
    }
    Ok(())
}

pub fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

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
    pub epoch: usize,
    pub self_train_loss: Option<f32>,
    pub task_loss: Option<f32>,
    pub train_metric: Option<f32>,
    pub test_metric: Option<f32>,
    pub divergent: Option<usize>,
    pub zero: Option<usize>,
    pub self_replicator: Option<usize>,
    pub second_order: Option<usize>,
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

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn particle_metadata(shape: &ParticleShape) -> HashMap<String, String> {
    HashMap::from([
        ("particle_widths".to_string(), serde_json::to_string(shape.widths()).unwrap()),
        ("particle_activation".to_string(), shape.activation().to_string()),
    ])
}

fn write_safetensors(
    path: &Path,
    tensors: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)>,
    meta: HashMap<String, String>,
) -> Result<()> {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            (name.to_string(), TensorView::new(*dtype, shape.clone(), bytes).expect("consistent tensor"))
        })
        .collect();
    safetensors::serialize_to_file(views, &Some(meta), path).map_err(|e| Error::format(path, e.to_string()))
}

/// A standalone population of particles (`format = "particles"`).
pub fn write_particles(path: &Path, particles: &ParticleBatch) -> Result<()> {
    let mut meta = particle_metadata(particles.shape());
    meta.insert("format".into(), "particles".into());
    let shape = vec![particles.len(), particles.shape().n_weights()];
    write_safetensors(path, vec![("weights", Dtype::F32, shape, f32_bytes(particles.weights()))], meta)
}

/// An organism's particles with its shape (`format = "organism"`).
pub fn write_organism(path: &Path, organism: &Organism) -> Result<()> {
    let mut meta = particle_metadata(organism.particles.shape());
    meta.insert("format".into(), "organism".into());
    meta.insert("organism".into(), serde_json::to_string(&organism.shape).unwrap());
    meta.insert("particle_names".into(), serde_json::to_string(&organism.shape.particle_names()).unwrap());
    let p = &organism.particles;
    write_safetensors(
        path,
        vec![("weights", Dtype::F32, vec![p.len(), p.shape().n_weights()], f32_bytes(p.weights()))],
        meta,
    )
}

/// Every particle's weights at every kept epoch.
pub fn write_trajectory(path: &Path, t: &Trajectory, n: usize, p: usize) -> Result<()> {
    let epochs: Vec<u8> = t.epochs.iter().flat_map(|&e| (e as i64).to_le_bytes()).collect();
    write_safetensors(
        path,
        vec![
            ("weights", Dtype::F32, vec![t.epochs.len(), n, p], f32_bytes(&t.weights)),
            ("epochs", Dtype::I64, vec![t.epochs.len()], epochs),
        ],
        HashMap::from([("format".to_string(), "trajectory".to_string())]),
    )
}

/// Writes a whole run directory.
pub fn write_run(writer: &RunWriter, cfg: &Config, trained: &Trained, summary: &Summary) -> Result<()> {
    write_text(&writer.path(CONFIG), &cfg.to_toml())?;
    let rows: Vec<MetricsRow> = trained.records.iter().map(MetricsRow::from).collect();
    write_csv(&writer.path(METRICS), &rows)?;
    write_organism(&writer.path(ORGANISM), &trained.organism)?;
    let p = &trained.organism.particles;
    write_trajectory(&writer.path(TRAJECTORY), &trained.trajectory, p.len(), p.shape().n_weights())?;
    write_json(&writer.path(SUMMARY), summary)
}

// ---------------------------------------------------------------------------------------------
// Reading.

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn f32_tensor(path: &Path, st: &SafeTensors, name: &str, rank: usize) -> Result<(Vec<usize>, Vec<f32>)> {
    let t = st.tensor(name).map_err(|_| Error::format(path, format!("no tensor `{name}`")))?;
    if t.dtype() != Dtype::F32 || t.shape().len() != rank {
        return Err(Error::format(path, format!("tensor `{name}` is not a rank-{rank} f32 tensor")));
    }
    let data = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok((t.shape().to_vec(), data))
}

/// Particles from a particle or organism file, with the organism's shape if it is one.
pub fn read_particles(path: &Path) -> Result<(ParticleBatch, Option<OrganismShape>)> {
    let bytes = read_bytes(path)?;
    let (_, meta) =
        SafeTensors::read_metadata(&bytes).map_err(|e| Error::format(path, format!("not a safetensors file ({e})")))?;
    let st =
        SafeTensors::deserialize(&bytes).map_err(|e| Error::format(path, format!("not a safetensors file ({e})")))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let format = meta.get("format").map(String::as_str).unwrap_or("");
    if format != "particles" && format != "organism" {
        return Err(Error::format(path, "not a particle file (metadata `format` is not particles or organism)"));
    }
    let widths: Vec<usize> = meta
        .get("particle_widths")
        .and_then(|w| serde_json::from_str(w).ok())
        .ok_or_else(|| Error::format(path, "metadata `particle_widths` missing or malformed"))?;
    let activation: Activation = meta
        .get("particle_activation")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| Error::format(path, "metadata `particle_activation` missing or malformed"))?;
    let shape = ParticleShape::new(widths, activation).map_err(|e| Error::format(path, e.to_string()))?;
    let (dims, weights) = f32_tensor(path, &st, "weights", 2)?;
    if dims[1] != shape.n_weights() {
        return Err(Error::format(
            path,
            format!(
                "weights have {} columns, particles of widths {:?} have {}",
                dims[1],
                shape.widths(),
                shape.n_weights()
            ),
        ));
    }
    let batch = ParticleBatch::from_weights(shape, weights).map_err(|e| Error::format(path, e.to_string()))?;
    let organism = match meta.get("organism") {
        Some(o) if format == "organism" => {
            let shape: OrganismShape =
                serde_json::from_str(o).map_err(|e| Error::format(path, format!("metadata `organism`: {e}")))?;
            if shape.n_particles() != batch.len() {
                return Err(Error::format(
                    path,
                    format!("{} particles for an organism of {}", batch.len(), shape.n_particles()),
                ));
            }
            Some(shape)
        }
        _ => None,
    };
    Ok((batch, organism))
}

/// Reads a trajectory file.
pub fn read_trajectory(path: &Path) -> Result<Trajectory> {
    let bytes = read_bytes(path)?;
    let st =
        SafeTensors::deserialize(&bytes).map_err(|e| Error::format(path, format!("not a safetensors file ({e})")))?;
    let (_, weights) = f32_tensor(path, &st, "weights", 3)?;
    let e = st.tensor("epochs").map_err(|_| Error::format(path, "no tensor `epochs`"))?;
    let epochs = e.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as usize).collect();
    Ok(Trajectory { epochs, weights })
}

/// A finished run, read back.
pub struct Run {
    pub dir: PathBuf,
    pub config: Config,
    pub summary: Summary,
    pub metrics: Vec<MetricsRow>,
    pub organism: Organism,
}

impl Run {
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
        let path = dir.join(ORGANISM);
        let (particles, shape) = read_particles(&path)?;
        let shape = shape.ok_or_else(|| Error::format(&path, "a particle file, not an organism"))?;
        let organism = Organism::from_particles(shape, particles).map_err(|e| Error::format(&path, e.to_string()))?;
        Ok(Run { dir: dir.to_path_buf(), config, summary, metrics, organism })
    }

    /// The trajectory, if the run kept one.
    pub fn trajectory(&self) -> Option<Result<Trajectory>> {
        let path = self.dir.join(TRAJECTORY);
        path.is_file().then(|| read_trajectory(&path))
    }

    /// The run as training left it: its records, final classes (counted again with the run's
    /// ε, as training counted them) and trajectory. Written again with [`write_run`], it gives
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
