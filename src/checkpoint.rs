//! Streamed run files and checkpoints: what lets a killed `organism train` continue where it
//! stopped (`--resume`), and a long run write its trajectory without holding it in memory.
//!
//! While a run trains, its partial directory (see [`crate::run::RunWriter`]) holds
//! `config.toml`, the rows of `metrics.csv` and `trajectory.safetensors` written so far (the
//! trajectory's header is written first: its number of rows is known from the configuration),
//! and every `--checkpoint-every` epochs a [`Checkpoint`]: the particles, the task optimizer's
//! momentum (the self-train optimizer is fresh every batch, so between epochs it has no state),
//! the position of the training random stream, and how many bytes of `metrics.csv` and rows of
//! the trajectory belong to it. Resuming cuts `metrics.csv` back to its length, writes the
//! trajectory's rows again from the checkpoint's on, and goes on;
//! the finished files are byte for byte those of an uninterrupted run.

use crate::organism::{CellParticles, Organism};
use crate::run::{f32_bytes, safetensors_header, MetricsRow, TensorSpec};
use crate::{Error, Result};
use safetensors::tensor::Dtype;
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The checkpoint file inside a partial run directory.
pub const CHECKPOINT: &str = "checkpoint.safetensors";

/// A run between two epochs, as stored in [`CHECKPOINT`].
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The epoch to run next.
    pub next_epoch: usize,
    /// Still in the warm-up phase (SPEC §3: task training only until `warmup_accuracy`).
    pub warming_up: bool,
    /// Position of the training random stream, in 32-bit words.
    pub rng_word_pos: u128,
    /// Every particle's weights and the task optimizer's momentum, `n × P` each.
    pub weights: Vec<f32>,
    /// The task optimizer's momentum buffer (`n × P`).
    pub task_momentum: Vec<f32>,
    /// Length of `metrics.csv` and rows of the trajectory written up to `next_epoch`.
    pub metrics_bytes: u64,
    /// Rows of `trajectory.csv` written up to `next_epoch`.
    pub trajectory_rows: usize,
    /// First epoch at which every particle was a self-replicator, if any yet.
    pub first_all_replicators: Option<usize>,
    /// Training time so far, over every process that worked on the run.
    pub wall_seconds: f64,
}

/// The scalar part of a checkpoint, kept as JSON in the file's metadata.
#[derive(Serialize, Deserialize)]
struct State {
    next_epoch: usize,
    warming_up: bool,
    /// A decimal string: JSON numbers are not exact beyond 2^53.
    rng_word_pos: String,
    metrics_bytes: u64,
    trajectory_rows: usize,
    first_all_replicators: Option<usize>,
    wall_seconds: f64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

/// Writes `bytes` to `path` atomically: into a temporary file beside it, then renamed over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

impl Checkpoint {
    /// Writes the checkpoint to `path` atomically (a kill leaves the previous one intact).
    pub fn write(&self, path: &Path) -> Result<()> {
        let state = State {
            next_epoch: self.next_epoch,
            warming_up: self.warming_up,
            rng_word_pos: self.rng_word_pos.to_string(),
            metrics_bytes: self.metrics_bytes,
            trajectory_rows: self.trajectory_rows,
            first_all_replicators: self.first_all_replicators,
            wall_seconds: self.wall_seconds,
        };
        let meta = BTreeMap::from([
            ("format".to_string(), "checkpoint".to_string()),
            ("state".to_string(), serde_json::to_string(&state).expect("plain numbers")),
        ]);
        let spec = |name| TensorSpec { name, dtype: Dtype::F32, shape: vec![self.weights.len()] };
        let mut bytes = safetensors_header(&[spec("weights"), spec("task_momentum")], &meta);
        bytes.extend(f32_bytes(&self.weights));
        bytes.extend(f32_bytes(&self.task_momentum));
        write_atomic(path, &bytes)
    }

    /// Reads a checkpoint written by [`Checkpoint::write`].
    pub fn read(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path).map_err(io(path))?;
        let bad = |what: String| Error::format(path, format!("not a checkpoint ({what})"));
        let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let state: State = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("state"))
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| bad("no `state` metadata".into()))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let tensor = |name: &str| -> Result<Vec<f32>> {
            let t = st.tensor(name).map_err(|_| bad(format!("no tensor `{name}`")))?;
            if t.dtype() != Dtype::F32 {
                return Err(bad(format!("`{name}` is not f32")));
            }
            Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        };
        Ok(Checkpoint {
            next_epoch: state.next_epoch,
            warming_up: state.warming_up,
            rng_word_pos: state.rng_word_pos.parse().map_err(|_| bad("`rng_word_pos`".into()))?,
            weights: tensor("weights")?,
            task_momentum: tensor("task_momentum")?,
            metrics_bytes: state.metrics_bytes,
            trajectory_rows: state.trajectory_rows,
            first_all_replicators: state.first_all_replicators,
            wall_seconds: state.wall_seconds,
        })
    }
}

/// Removes the checkpoint of the finished run directory `dir` (and the temporary file of a
/// checkpoint write that was killed).
pub fn remove_checkpoint(dir: &Path) -> Result<()> {
    for name in [CHECKPOINT.to_string(), format!("{CHECKPOINT}.tmp")] {
        let path = dir.join(name);
        if path.is_file() {
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// `metrics.csv`, one row per epoch as it ends.
pub struct MetricsWriter {
    csv: csv::Writer<File>,
    path: PathBuf,
}

impl MetricsWriter {
    /// A new file (the header goes before the first row).
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(io(path))?;
        Ok(MetricsWriter { csv: csv::Writer::from_writer(file), path: path.to_path_buf() })
    }

    /// The file of a checkpoint: cut back to its first `bytes` bytes, continued after them.
    pub fn reopen(path: &Path, bytes: u64) -> Result<Self> {
        let mut file = OpenOptions::new().write(true).open(path).map_err(io(path))?;
        file.set_len(bytes).and_then(|_| file.seek(SeekFrom::End(0))).map_err(io(path))?;
        let csv = csv::WriterBuilder::new().has_headers(false).from_writer(file);
        Ok(MetricsWriter { csv, path: path.to_path_buf() })
    }

    /// Appends one row to `metrics.csv`.
    pub fn push(&mut self, row: &MetricsRow) -> Result<()> {
        self.csv.serialize(row).map_err(|e| Error::format(&self.path, e.to_string()))
    }

    /// Writes everything out; returns the file's length.
    pub fn flush(&mut self) -> Result<u64> {
        self.csv.flush().map_err(io(&self.path))?;
        let file = self.csv.get_ref();
        file.sync_data().and_then(|_| file.metadata()).map(|m| m.len()).map_err(io(&self.path))
    }
}

/// The size of one row of a trajectory: `n` weight particles of `p` weights, `n_act` activation
/// particles of `p_act` weights and `n_agg` aggregator particles of `p_agg` weights (0 and 0
/// without them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowShape {
    /// Weight particles.
    pub n: usize,
    /// Weights of a weight particle.
    pub p: usize,
    /// Activation particles.
    pub n_act: usize,
    /// Weights of an activation particle.
    pub p_act: usize,
    /// Aggregator particles.
    pub n_agg: usize,
    /// Weights of an aggregator particle.
    pub p_agg: usize,
}

impl RowShape {
    /// The rows of `organism`'s trajectory.
    pub fn of(organism: &Organism) -> RowShape {
        let (n, p) = (organism.particles.len(), organism.particles.shape().n_weights());
        let cell =
            |c: Option<&CellParticles>| c.map_or((0, 0), |c| (c.particles.len(), c.particles.shape().n_weights()));
        let (n_act, p_act) = cell(organism.activations.as_ref());
        let (n_agg, p_agg) = cell(organism.aggregators.as_ref());
        RowShape { n, p, n_act, p_act, n_agg, p_agg }
    }

    /// The tensors of a row, in file order: `(name, particles, weights per particle)` of the
    /// weight, activation and aggregator particles (the last two `(…, 0, 0)` without them).
    pub fn tensors(&self) -> [(&'static str, [usize; 2]); 3] {
        [
            ("weights", [self.n, self.p]),
            ("activation_weights", [self.n_act, self.p_act]),
            ("aggregator_weights", [self.n_agg, self.p_agg]),
        ]
    }
}

/// `trajectory.safetensors` written row by row: `epochs [T]` (i64), `weights [T, n, P]` (f32),
/// with activation particles `activation_weights [T, n_act, P_act]` and with aggregator
/// particles `aggregator_weights [T, n_agg, P_agg]` (f32), with the header first since `T` is
/// known before training. Row `t` of each tensor is written at its place, so the tensors grow
/// together.
pub struct TrajectoryWriter {
    file: BufWriter<File>,
    path: PathBuf,
    rows: usize,
    total: usize,
    shape: RowShape,
    /// Where the weights begin: after the header and the epochs.
    data: u64,
}

impl TrajectoryWriter {
    fn header(total: usize, shape: RowShape) -> Vec<u8> {
        let meta = BTreeMap::from([("format".to_string(), "trajectory".to_string())]);
        let mut tensors = vec![TensorSpec { name: "epochs", dtype: Dtype::I64, shape: vec![total] }];
        for (k, (name, [n, p])) in shape.tensors().into_iter().enumerate() {
            // The weight particles always; cell particles when the organism has them.
            if k == 0 || n > 0 {
                tensors.push(TensorSpec { name, dtype: Dtype::F32, shape: vec![total, n, p] });
            }
        }
        safetensors_header(&tensors, &meta)
    }

    /// A new file for the kept `epochs` (exactly `total` of them) of rows of `shape`.
    pub fn create(path: &Path, total: usize, epochs: impl Iterator<Item = usize>, shape: RowShape) -> Result<Self> {
        let mut file = BufWriter::new(File::create(path).map_err(io(path))?);
        let header = Self::header(total, shape);
        file.write_all(&header).map_err(io(path))?;
        let mut written = 0;
        for e in epochs.take(total) {
            file.write_all(&(e as i64).to_le_bytes()).map_err(io(path))?;
            written += 1;
        }
        if written != total {
            return Err(Error::Invalid(format!("{}: {written} kept epochs, expected {total}", path.display())));
        }
        let data = (header.len() + 8 * total) as u64;
        Ok(TrajectoryWriter { file, path: path.to_path_buf(), rows: 0, total, shape, data })
    }

    /// The file of a checkpoint: continued after its first `rows` rows (the rows written after
    /// the checkpoint are written again).
    ///
    /// The file must begin with the header this version writes for `total` rows of `shape`:
    /// one written by an older version (e.g. without `aggregator_weights`) or for another shape
    /// lays its tensors out elsewhere, and writing rows into it would misplace them.
    pub fn reopen(path: &Path, total: usize, rows: usize, shape: RowShape) -> Result<Self> {
        let header = Self::header(total, shape);
        let data = (header.len() + 8 * total) as u64;
        let mut file = OpenOptions::new().read(true).write(true).open(path).map_err(io(path))?;
        let mut found = vec![0; header.len()];
        if file.read_exact(&mut found).is_err() || found != header {
            return Err(Error::Invalid(format!(
                "{}: not the trajectory this version writes for this run (written by another version of \
                 organism?); cannot resume it — train the run again from the start",
                path.display()
            )));
        }
        let mut w = TrajectoryWriter { file: BufWriter::new(file), path: path.to_path_buf(), rows, total, shape, data };
        w.seek(w.row_at(0, rows))?;
        Ok(w)
    }

    /// Where row `t` of tensor `k` of [`RowShape::tensors`] begins: the tensors lie one after
    /// the other, `total` rows each.
    fn row_at(&self, k: usize, t: usize) -> u64 {
        let row = |(_, [n, p]): (&str, [usize; 2])| (n * p * 4) as u64;
        let tensors = self.shape.tensors();
        self.data + tensors[..k].iter().map(|&d| self.total as u64 * row(d)).sum::<u64>() + t as u64 * row(tensors[k])
    }

    fn seek(&mut self, at: u64) -> Result<()> {
        self.file.seek(SeekFrom::Start(at)).map(|_| ()).map_err(io(&self.path))
    }

    fn write(&mut self, values: &[f32]) -> Result<()> {
        for w in values {
            self.file.write_all(&w.to_le_bytes()).map_err(io(&self.path))?;
        }
        Ok(())
    }

    /// Appends one row: every weight particle's weights (`n × P`), every activation particle's
    /// (`n_act × P_act`) and every aggregator particle's (`n_agg × P_agg`; empty without).
    pub fn push(&mut self, row: [&[f32]; 3]) -> Result<()> {
        let tensors = self.shape.tensors();
        if row.iter().zip(tensors).any(|(r, (_, [n, p]))| r.len() != n * p) || self.rows == self.total {
            return Err(Error::Invalid(format!("{}: a row that does not fit", self.path.display())));
        }
        self.write(row[0])?;
        // The cell particles' rows lie in their own tensors, further on.
        let mut moved = false;
        for (k, values) in row.into_iter().enumerate().skip(1).filter(|(_, v)| !v.is_empty()) {
            self.seek(self.row_at(k, self.rows))?;
            self.write(values)?;
            moved = true;
        }
        self.rows += 1;
        if moved {
            self.seek(self.row_at(0, self.rows))?;
        }
        Ok(())
    }

    /// Writes everything out; returns the number of rows.
    pub fn flush(&mut self) -> Result<usize> {
        self.file.flush().and_then(|_| self.file.get_ref().sync_data()).map_err(io(&self.path))?;
        Ok(self.rows)
    }

    /// Checks that every row was written.
    pub fn finish(mut self) -> Result<()> {
        self.flush()?;
        if self.rows != self.total {
            return Err(Error::Invalid(format!("{}: {} of {} rows", self.path.display(), self.rows, self.total)));
        }
        Ok(())
    }
}
