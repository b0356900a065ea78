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

use crate::activation::Activation;
use crate::config::Config;
use crate::fixpoint::{Class, ClassCounts, EPSILON};
use crate::organism::{ActivationParticles, LayerActivation, Organism, OrganismShape, Per};
use crate::particle::{ParticleBatch, ParticleShape};
use crate::train::{EpochRecord, Trained, Trajectory};
use crate::{Error, Result};
use safetensors::tensor::Dtype;
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// The marker file every output directory of `organism` carries; `--force` replaces only a
/// directory that has it (or an empty one).
pub const MARKER: &str = ".organism-output";

/// The options `organism reproduce` was started with: with [`CONFIG`] (of `organism train`),
/// the file that makes an unfinished output resumable (`--resume`).
pub const OPTIONS: &str = "options.json";

/// Text of [`MARKER`]: the same for every output, so outputs stay byte-reproducible.
const MARKER_TEXT: &str = "This directory was written by `organism`; `--force` may replace it.\n";

/// Infix of the temporary sibling `.NAME.partial-PID` a writer fills before the swap.
const PARTIAL: &str = ".partial-";
/// Infix of `.NAME.replaced-PID`, the old output between the swap and its deletion.
const REPLACED: &str = ".replaced-";

/// An output directory being written (SPEC-independent, issue 8):
/// - the target is resolved to a canonical parent plus a final name; `.`, `..`, `/`, the home
///   directory and any directory that contains the current directory are refused;
/// - an existing target is replaced only with `force`, and only if it is empty or carries the
///   [`MARKER`] of an earlier output of this program;
/// - everything is written into the sibling `.NAME.partial-PID`, which [`RunWriter::finish`]
///   swaps into place by rename; the old output is deleted only after the swap. A run that fails
///   (or is killed) never touches the old output, and leaves nothing but, when killed, its
///   temporary sibling, which the next writer into the same parent removes.
pub struct RunWriter {
    /// The target as the user named it, for messages.
    shown: PathBuf,
    /// The resolved target: canonical parent + final name.
    target: PathBuf,
    tmp: PathBuf,
    force: bool,
    /// Parent directories this writer created (deepest last), removed again if it fails.
    created: Vec<PathBuf>,
    /// Taken over by [`RunWriter::resume`]: kept, not removed, if it fails, so that it can be
    /// resumed again.
    resumed: bool,
    done: bool,
}

impl RunWriter {
    /// Checks `target` against the output rule, cleans up stale temporary siblings of dead
    /// processes and creates the temporary directory (with the marker).
    pub fn create(target: &Path, force: bool) -> Result<Self> {
        let resolved = resolve_output(target)?;
        let parent = resolved.parent().expect("a resolved output has a parent").to_path_buf();
        let name = resolved.file_name().expect("a resolved output has a name").to_string_lossy().to_string();
        clean_stale(&parent, &name)?;
        check_replaceable(target, &resolved, force)?;
        let created = create_parents(&parent)?;
        let tmp = parent.join(format!(".{name}{PARTIAL}{}", std::process::id()));
        let writer = RunWriter {
            shown: target.to_path_buf(),
            target: resolved,
            tmp,
            force,
            created,
            resumed: false,
            done: false,
        };
        std::fs::create_dir(&writer.tmp).map_err(|e| writer.explain(Error::io(&writer.tmp, e)))?;
        write_marker(&writer.tmp).map_err(|e| writer.explain(e))?;
        Ok(writer)
    }

    /// Takes over the partial directory a killed run left for `target` (`.NAME.partial-PID`
    /// beside it, holding the file `key`: [`CONFIG`] or [`OPTIONS`]), renaming it to this
    /// process's; `None` if there is none. A partial directory whose process still runs is
    /// refused; of several, the most recently modified is taken. If the resumed run fails, the
    /// partial directory stays for the next `--resume`.
    pub fn resume(target: &Path, force: bool, key: &str) -> Result<Option<Self>> {
        let resolved = resolve_output(target)?;
        let parent = resolved.parent().expect("a resolved output has a parent").to_path_buf();
        let name = resolved.file_name().expect("a resolved output has a name").to_string_lossy().to_string();
        let prefix = format!(".{name}{PARTIAL}");
        let Ok(entries) = std::fs::read_dir(&parent) else { return Ok(None) };
        let mut found: Option<(std::time::SystemTime, PathBuf)> = None;
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().to_string();
            let Some(pid) = file_name.strip_prefix(&prefix).and_then(|p| p.parse::<u32>().ok()) else { continue };
            let dir = entry.path();
            if !dir.join(key).is_file() {
                continue;
            }
            if pid != std::process::id() && process_alive(pid) {
                return Err(Error::Invalid(format!("{} is still being written by process {pid}", target.display())));
            }
            let modified = std::fs::metadata(&dir).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
            if found.as_ref().is_none_or(|(t, _)| modified > *t) {
                found = Some((modified, dir));
            }
        }
        let Some((_, old)) = found else { return Ok(None) };
        let tmp = parent.join(format!("{prefix}{}", std::process::id()));
        if old != tmp {
            std::fs::rename(&old, &tmp).map_err(|e| Error::io(&old, e))?;
        }
        Ok(Some(RunWriter {
            shown: target.to_path_buf(),
            target: resolved,
            tmp,
            force,
            created: Vec::new(),
            resumed: true,
            done: false,
        }))
    }

    /// Where file `file` of the output is written (inside the temporary directory).
    pub fn path(&self, file: &str) -> PathBuf {
        self.tmp.join(file)
    }

    /// The directory being filled (temporary until [`RunWriter::finish`]).
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// `result` of filling the output: on success the output is swapped into place, on failure
    /// the temporary directory is removed and the error's paths name the target, not the
    /// temporary directory.
    pub fn complete<T>(self, result: Result<T>) -> Result<T> {
        match result {
            Ok(value) => self.finish().map(|_| value),
            Err(e) => Err(self.explain(e)),
        }
    }

    /// Moves the finished directory into place: the old output (if any) is renamed aside, the
    /// new one renamed in, then the old one deleted.
    pub fn finish(mut self) -> Result<PathBuf> {
        check_replaceable(&self.shown, &self.target, self.force)?;
        let name = self.target.file_name().expect("resolved").to_string_lossy().to_string();
        let parent = self.target.parent().expect("resolved");
        let aside = parent.join(format!(".{name}{REPLACED}{}", std::process::id()));
        let old = match std::fs::symlink_metadata(&self.target) {
            Ok(_) => {
                std::fs::rename(&self.target, &aside).map_err(|e| Error::io(&self.shown, e))?;
                Some(aside)
            }
            Err(_) => None,
        };
        if let Err(e) = std::fs::rename(&self.tmp, &self.target) {
            if let Some(old) = &old {
                let _ = std::fs::rename(old, &self.target);
            }
            return Err(Error::io(&self.shown, e));
        }
        self.done = true;
        if let Some(old) = old {
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        Ok(self.target.clone())
    }

    /// `e` with the temporary directory in its path replaced by the target as the user named it.
    fn explain(&self, e: Error) -> Error {
        let fix = |p: PathBuf| match p.strip_prefix(&self.tmp) {
            Ok(rest) if rest.as_os_str().is_empty() => self.shown.clone(),
            Ok(rest) => self.shown.join(rest),
            Err(_) => p,
        };
        match e {
            Error::Io { path, source } => Error::Io { path: fix(path), source },
            Error::Format { path, msg } => Error::Format { path: fix(path), msg },
            e => e,
        }
    }
}

impl Drop for RunWriter {
    fn drop(&mut self) {
        if self.done || self.resumed {
            return;
        }
        // An unfinished output leaves nothing behind: its temporary directory goes, and so do
        // the parents this writer created, if they are still empty.
        let _ = std::fs::remove_dir_all(&self.tmp);
        for dir in self.created.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The output path `target` resolved: its parent canonical (the nearest existing ancestor
/// canonicalised, the rest appended), its final name kept. Refuses paths without a final name
/// (`.`, `..`, `/`), the home directory and any directory that contains the current one.
pub fn resolve_output(target: &Path) -> Result<PathBuf> {
    let refuse = |why: &str| Err(Error::Invalid(format!("refusing to write into {}: {why}", target.display())));
    if target.as_os_str().is_empty() {
        return refuse("the path is empty");
    }
    let name = match target.components().next_back() {
        Some(std::path::Component::Normal(name)) => name.to_os_string(),
        _ => return refuse("it names no directory of its own (`.`, `..` or `/`)"),
    };
    let absolute = std::path::absolute(target).map_err(|e| Error::io(target, e))?;
    let parent = absolute.parent().expect("a path with a final name has a parent");
    let resolved = canonical_prefix(parent).join(&name);
    // The target itself, with symbolic links followed, for the containment checks.
    let real = std::fs::canonicalize(&resolved).unwrap_or_else(|_| resolved.clone());
    if std::fs::symlink_metadata(&resolved).is_ok_and(|m| m.file_type().is_symlink()) {
        return refuse("it is a symbolic link; name the directory it points to");
    }
    if let Ok(cwd) = std::env::current_dir().and_then(std::fs::canonicalize) {
        if cwd.starts_with(&real) {
            return refuse("it contains the current directory");
        }
    }
    if let Some(home) = dirs::home_dir().and_then(|h| std::fs::canonicalize(h).ok()) {
        if home == real || home.starts_with(&real) {
            return refuse("it is or contains the home directory");
        }
    }
    Ok(resolved)
}

/// Absolute `path` with symbolic links and `..` resolved as far as it exists (the missing rest
/// is appended as written, `..` popping a component).
fn canonical_prefix(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut real = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => real.push(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                real.pop();
            }
            Component::Normal(name) => {
                real.push(name);
                if let Ok(canonical) = std::fs::canonicalize(&real) {
                    real = canonical;
                }
            }
        }
    }
    real
}

/// Creates `dir` and its missing ancestors; returns the ones it created, outermost first.
fn create_parents(dir: &Path) -> Result<Vec<PathBuf>> {
    let missing: Vec<PathBuf> = dir.ancestors().take_while(|d| !d.exists()).map(Path::to_path_buf).collect();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    Ok(missing.into_iter().rev().collect())
}

/// An error unless `resolved` (shown as `shown`) may receive a new output: it does not exist,
/// is an empty directory, or — with `force` — is a directory with the [`MARKER`].
fn check_replaceable(shown: &Path, resolved: &Path, force: bool) -> Result<()> {
    let meta = match std::fs::symlink_metadata(resolved) {
        Ok(m) => m,
        Err(_) => return Ok(()),
    };
    if !meta.is_dir() {
        return Err(Error::Invalid(format!(
            "{} exists and is not a directory; refusing to replace it",
            shown.display()
        )));
    }
    let empty = std::fs::read_dir(resolved).map_err(|e| Error::io(shown, e))?.next().is_none();
    if empty {
        return Ok(());
    }
    if !force {
        return Err(Error::Invalid(format!("{} already exists; pass --force to replace it", shown.display())));
    }
    if !resolved.join(MARKER).is_file() {
        return Err(Error::Invalid(format!(
            "{} is not an output of organism (it has no {MARKER} file); refusing to replace it even with --force",
            shown.display()
        )));
    }
    Ok(())
}

/// `path` as it will be once its output is complete: every temporary `.NAME.partial-PID`
/// component read as `NAME`. Analyses name runs with it, so that a report written into a
/// temporary directory never shows that directory.
pub fn shown(path: &Path) -> PathBuf {
    path.components()
        .map(|c| {
            let s = c.as_os_str();
            s.to_str()
                .and_then(|t| t.strip_prefix('.'))
                .and_then(|t| t.rsplit_once(PARTIAL))
                .filter(|(_, pid)| pid.parse::<u32>().is_ok())
                .map_or_else(|| s.to_os_string(), |(name, _)| name.into())
        })
        .collect()
}

/// Writes the [`MARKER`] into `dir`.
pub fn write_marker(dir: &Path) -> Result<()> {
    write_text(&dir.join(MARKER), MARKER_TEXT)
}

/// An error if `dir` exists and may not be replaced (see [`RunWriter`]); nothing is written.
pub fn check_free(dir: &Path, force: bool) -> Result<()> {
    let resolved = resolve_output(dir)?;
    check_replaceable(dir, &resolved, force)
}

/// Removes the temporary siblings `.NAME.partial-PID` of dead processes in `parent` (those
/// carrying the [`MARKER`]; others, and killed training runs that can be resumed, are reported), and restores or removes `.NAME.replaced-PID`
/// left by a swap that was killed half-way.
fn clean_stale(parent: &Path, name: &str) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(parent) else { return Ok(()) };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        let Some(rest) = file.strip_prefix('.') else { continue };
        let (base, kind, pid) = match [PARTIAL, REPLACED].iter().find_map(|k| {
            let (base, pid) = rest.rsplit_once(k)?;
            Some((base, *k, pid.parse::<u32>().ok()?))
        }) {
            Some(found) => found,
            None => continue,
        };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        let path = entry.path();
        if !path.join(MARKER).is_file() {
            eprintln!("note: {} looks like a leftover of organism but has no {MARKER}; left alone", path.display());
            continue;
        }
        if kind == PARTIAL && (path.join(CONFIG).is_file() || path.join(OPTIONS).is_file()) {
            let how = if path.join(CONFIG).is_file() {
                "organism train --resume"
            } else {
                "organism reproduce --resume --out"
            };
            eprintln!(
                "note: {} is a killed run; continue it with `{how} {}` (left alone)",
                path.display(),
                parent.join(base).display()
            );
            continue;
        }
        let target = parent.join(base);
        if kind == REPLACED && base == name && std::fs::symlink_metadata(&target).is_err() {
            // Killed between the two renames of a swap: the old output is the only one.
            std::fs::rename(&path, &target).map_err(|e| Error::io(&target, e))?;
            eprintln!("note: restored {} from an interrupted replace", target.display());
        } else if kind == REPLACED && std::fs::symlink_metadata(&target).is_err() {
            eprintln!("note: {} is the only copy of {}; left alone", path.display(), target.display());
        } else {
            std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            eprintln!("note: removed {}, left by a run that was killed (process {pid})", path.display());
        }
    }
    Ok(())
}

/// Whether process `pid` exists (conservatively true where this cannot be told).
fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return true };
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

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

pub(crate) fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// One tensor of a safetensors file (dtype `F32` or `I64`, little-endian).
#[derive(Clone)]
pub(crate) struct TensorSpec<'a> {
    pub name: &'a str,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
}

#[derive(Serialize)]
struct TensorEntry {
    dtype: Dtype,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// The safetensors header (8-byte length, then JSON padded with spaces to a multiple of 8) of
/// `tensors`, laid out one after the other in the order given. Keys are sorted
/// (`BTreeMap`), so identical inputs give identical bytes (the `safetensors` crate writes its
/// metadata from a `HashMap`, in random order).
pub(crate) fn safetensors_header(tensors: &[TensorSpec], meta: &BTreeMap<String, String>) -> Vec<u8> {
    let mut header = BTreeMap::new();
    header.insert("__metadata__".to_string(), serde_json::to_value(meta).expect("strings"));
    let mut offset = 0;
    for t in tensors {
        let size = t.shape.iter().product::<usize>() * t.dtype.size();
        let entry = TensorEntry { dtype: t.dtype, shape: t.shape.clone(), data_offsets: [offset, offset + size] };
        header.insert(t.name.to_string(), serde_json::to_value(entry).expect("numbers"));
        offset += size;
    }
    let mut json = serde_json::to_vec(&header).expect("a JSON map");
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json);
    out
}

/// Writes a safetensors file of `tensors` with their bytes, byte for byte the same for the same
/// input. Tensors of 8-byte types come first so every tensor is aligned.
pub(crate) fn write_safetensors(
    path: &Path,
    tensors: &[(TensorSpec, &[u8])],
    meta: BTreeMap<String, String>,
) -> Result<()> {
    let specs: Vec<TensorSpec> =
        tensors.iter().map(|(t, _)| TensorSpec { name: t.name, dtype: t.dtype, shape: t.shape.clone() }).collect();
    let mut bytes = safetensors_header(&specs, &meta);
    for (_, data) in tensors {
        bytes.extend_from_slice(data);
    }
    write_bytes(path, &bytes)
}

pub(crate) fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

fn particle_metadata(shape: &ParticleShape) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("particle_widths".to_string(), serde_json::to_string(shape.widths()).unwrap()),
        ("particle_activation".to_string(), shape.activation().to_string()),
    ])
}

/// `weights [n, P]` of a particle batch.
fn weights_tensor(p: &ParticleBatch) -> TensorSpec<'static> {
    TensorSpec { name: "weights", dtype: Dtype::F32, shape: vec![p.len(), p.shape().n_weights()] }
}

/// A standalone population of particles (`format = "particles"`).
pub fn write_particles(path: &Path, particles: &ParticleBatch) -> Result<()> {
    let mut meta = particle_metadata(particles.shape());
    meta.insert("format".into(), "particles".into());
    write_safetensors(path, &[(weights_tensor(particles), &f32_bytes(particles.weights()))], meta)
}

/// An organism's particles with its shape (`format = "organism"`), and its activation particles
/// as `activation_weights [n_act, P_act]` with their widths, activation, `activation_per` and
/// `activation_names` in the metadata.
pub fn write_organism(path: &Path, organism: &Organism) -> Result<()> {
    let mut meta = particle_metadata(organism.particles.shape());
    meta.insert("format".into(), "organism".into());
    meta.insert("organism".into(), serde_json::to_string(&organism.shape).unwrap());
    meta.insert("particle_names".into(), serde_json::to_string(&organism.shape.particle_names()).unwrap());
    let p = &organism.particles;
    let mut tensors = vec![(weights_tensor(p), f32_bytes(p.weights()))];
    if let Some(a) = &organism.activations {
        for (key, value) in particle_metadata(a.particles.shape()) {
            meta.insert(format!("activation_{key}"), value);
        }
        meta.insert("activation_per".into(), serde_json::to_value(a.per).unwrap().as_str().unwrap().into());
        meta.insert("activation_names".into(), serde_json::to_string(&a.names()).unwrap());
        let spec = TensorSpec { name: "activation_weights", ..weights_tensor(&a.particles) };
        tensors.push((spec, f32_bytes(a.particles.weights())));
    }
    let tensors: Vec<(TensorSpec, &[u8])> = tensors.iter().map(|(t, b)| (t.clone(), b.as_slice())).collect();
    write_safetensors(path, &tensors, meta)
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
    parse_particles(path, &read_bytes(path)?)
}

/// [`read_particles`] of the file content `bytes` (`path` names it in errors).
pub fn parse_particles(path: &Path, bytes: &[u8]) -> Result<(ParticleBatch, Option<OrganismShape>)> {
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| Error::format(path, format!("not a safetensors file ({e})")))?;
    let st =
        SafeTensors::deserialize(bytes).map_err(|e| Error::format(path, format!("not a safetensors file ({e})")))?;
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

/// The activation particles of an organism file of `shape` (`None` when it has none).
pub fn parse_activations(path: &Path, bytes: &[u8], shape: &OrganismShape) -> Result<Option<ActivationParticles>> {
    if shape.activation != LayerActivation::Particle {
        return Ok(None);
    }
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| Error::format(path, format!("not a safetensors file ({e})")))?;
    let st =
        SafeTensors::deserialize(bytes).map_err(|e| Error::format(path, format!("not a safetensors file ({e})")))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let field = |key: &str| {
        meta.get(key).ok_or_else(|| Error::format(path, format!("metadata `{key}` missing (activation particles)")))
    };
    let malformed = |key: &str| Error::format(path, format!("metadata `{key}` malformed"));
    let widths: Vec<usize> = serde_json::from_str(field("activation_particle_widths")?)
        .map_err(|_| malformed("activation_particle_widths"))?;
    let activation: Activation =
        field("activation_particle_activation")?.parse().map_err(|_| malformed("activation_particle_activation"))?;
    let per: Per =
        serde_json::from_value(field("activation_per")?.as_str().into()).map_err(|_| malformed("activation_per"))?;
    let pn = ParticleShape::new(widths, activation).map_err(|e| Error::format(path, e.to_string()))?;
    let (dims, weights) = f32_tensor(path, &st, "activation_weights", 2)?;
    if dims[1] != pn.n_weights() {
        return Err(Error::format(
            path,
            format!("activation weights have {} columns, not {}", dims[1], pn.n_weights()),
        ));
    }
    let batch = ParticleBatch::from_weights(pn, weights).map_err(|e| Error::format(path, e.to_string()))?;
    ActivationParticles::new(per, shape, batch).map(Some).map_err(|e| Error::format(path, e.to_string()))
}

/// The organism of an organism file, with its activation particles.
pub fn read_organism(path: &Path) -> Result<Organism> {
    let bytes = read_bytes(path)?;
    let (particles, shape) = parse_particles(path, &bytes)?;
    let shape = shape.ok_or_else(|| Error::format(path, "a particle file, not an organism"))?;
    let activations = parse_activations(path, &bytes, &shape)?;
    Organism::with_activations(shape, particles, activations).map_err(|e| Error::format(path, e.to_string()))
}

/// Reads a trajectory file.
pub fn read_trajectory(path: &Path) -> Result<Trajectory> {
    parse_trajectory(path, &read_bytes(path)?)
}

/// [`read_trajectory`] of the file content `bytes` (`path` names it in errors).
pub fn parse_trajectory(path: &Path, bytes: &[u8]) -> Result<Trajectory> {
    let st =
        SafeTensors::deserialize(bytes).map_err(|e| Error::format(path, format!("not a safetensors file ({e})")))?;
    let (_, weights) = f32_tensor(path, &st, "weights", 3)?;
    let e = st.tensor("epochs").map_err(|_| Error::format(path, "no tensor `epochs`"))?;
    let epochs = e.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as usize).collect();
    Ok(Trajectory { epochs, weights })
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
