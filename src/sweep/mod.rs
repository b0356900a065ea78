//! Sweeps: a grid of configurations × seeds expanded into numbered tasks, each one run directory
//! of `organism train`, run by any executor — locally ([`run`]) or as a Slurm job array
//! ([`slurm`]) — and gathered into one table and figures ([`collect`]).
//!
//! ```text
//! DIR/sweep.toml              the sweep file as given (plan)
//! DIR/manifest.json           swept keys, seeds, and every task's values (plan)
//! DIR/configs/0003.toml       task 3's fully resolved configuration (plan)
//! DIR/runs/0003/              task 3's run directory, renamed into place when complete
//! DIR/claims/0003.2           attempt 2 at task 3: "host pid"; its mtime is a heartbeat
//! DIR/claims/0003.2.error     why attempt 2 failed
//! DIR/slurm/array-1.sh        a submitted array script; jobs.txt lists job ids and indices
//! DIR/logs/0003-JOB.out       a Slurm array element's output
//! DIR/collect/                results.csv, wall_times.csv, summary-KEY.png/svg, index.html
//! ```
//! A task is done when its run directory exists; its state otherwise comes from its latest
//! claim (see [`claim`]). Every task is determined by its configuration file alone, so a
//! task's run directory has the same bytes whichever executor wrote it, except for the wall
//! time in `summary.json`.

pub mod claim;
pub mod collect;
pub mod plan;
pub mod run;
pub mod slurm;

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use claim::TaskState;

/// The manifest's file name in a sweep directory.
pub const MANIFEST: &str = "manifest.json";
const FORMAT: &str = "organism-sweep";

/// What `sweep plan` decided: the swept keys and every task (`manifest.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `organism-sweep`.
    pub format: String,
    /// The axes, outermost first: each a list of keys that vary together (one key, or a zip).
    pub axes: Vec<Vec<String>>,
    /// The seeds every grid point is trained with.
    pub seeds: Vec<u64>,
    /// Every task, grid point × seed, in index order.
    pub tasks: Vec<TaskSpec>,
}

/// One task: a point of the grid and a seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// Position in [`Manifest::tasks`] (the Slurm array index).
    pub index: usize,
    /// The seed trained.
    pub seed: u64,
    /// The swept keys' values, in the order of [`Manifest::keys`].
    pub values: Vec<serde_json::Value>,
}

impl Manifest {
    /// Every swept key, axis by axis.
    pub fn keys(&self) -> Vec<String> {
        self.axes.iter().flatten().cloned().collect()
    }
}

/// An open sweep directory.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The sweep directory.
    pub dir: PathBuf,
    /// Its manifest (`sweep.json`).
    pub manifest: Manifest,
}

impl Sweep {
    /// Opens a sweep directory written by `sweep plan`.
    pub fn open(dir: &Path) -> Result<Sweep> {
        let path = dir.join(MANIFEST);
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::Invalid(format!(
                "{}: not a sweep directory (make one with `organism sweep plan`): {e}",
                dir.display()
            ))
        })?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::format(&path, e.to_string()))?;
        if manifest.format != FORMAT {
            return Err(Error::format(&path, format!("format is `{}`, not `{FORMAT}`", manifest.format)));
        }
        if manifest.tasks.iter().enumerate().any(|(i, t)| t.index != i) {
            return Err(Error::format(&path, "tasks are not numbered 0, 1, 2, …"));
        }
        let keys = manifest.keys().len();
        if let Some(t) = manifest.tasks.iter().find(|t| t.values.len() != keys) {
            return Err(Error::format(
                &path,
                format!("task {} has {} values for {keys} keys", t.index, t.values.len()),
            ));
        }
        let dir = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
        Ok(Sweep { dir, manifest })
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.manifest.tasks.len()
    }

    /// True when the sweep has no task.
    pub fn is_empty(&self) -> bool {
        self.manifest.tasks.is_empty()
    }

    /// A task's index, or an error naming the valid range.
    pub fn task(&self, index: usize) -> Result<&TaskSpec> {
        self.manifest.tasks.get(index).ok_or_else(|| {
            Error::Invalid(format!("task {index}: the sweep has tasks 0 to {}", self.len().saturating_sub(1)))
        })
    }

    /// Task `index`'s resolved configuration.
    pub fn config_path(&self, index: usize) -> PathBuf {
        self.dir.join("configs").join(format!("{}.toml", task_name(index)))
    }

    /// Task `index`'s run directory.
    pub fn run_dir(&self, index: usize) -> PathBuf {
        self.dir.join("runs").join(task_name(index))
    }

    /// The state of every task.
    pub fn states(&self) -> Vec<TaskState> {
        (0..self.len()).map(|i| claim::state(self, i)).collect()
    }

    /// `key=value, …, seed=N` of a task, for messages.
    pub fn describe(&self, index: usize) -> String {
        let t = &self.manifest.tasks[index];
        let mut parts: Vec<String> =
            self.manifest.keys().iter().zip(&t.values).map(|(k, v)| format!("{k}={}", show_value(v))).collect();
        parts.push(format!("seed={}", t.seed));
        parts.join(", ")
    }
}

/// The zero-padded name of task `index` (`0003`), used for its files.
pub fn task_name(index: usize) -> String {
    format!("{index:04}")
}

/// A swept value as written in tables: strings bare, numbers as they are.
pub fn show_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One line per state: how many tasks are done, running, failed and pending, and why each
/// failed task failed.
pub fn status(sweep: &Sweep) -> String {
    let states = sweep.states();
    let count = |f: fn(&TaskState) -> bool| states.iter().filter(|s| f(s)).count();
    let mut s = format!(
        "{}: {} tasks: {} done, {} running, {} failed, {} pending\n",
        sweep.dir.display(),
        states.len(),
        count(|s| matches!(s, TaskState::Done)),
        count(|s| matches!(s, TaskState::Running { .. })),
        count(|s| matches!(s, TaskState::Failed(_))),
        count(|s| matches!(s, TaskState::Pending)),
    );
    for (i, state) in states.iter().enumerate() {
        match state {
            TaskState::Failed(why) => s += &format!("failed  {} ({}): {why}\n", task_name(i), sweep.describe(i)),
            TaskState::Running { host, pid } => {
                s += &format!("running {} ({}) on {host}, pid {pid}\n", task_name(i), sweep.describe(i))
            }
            _ => {}
        }
    }
    s
}
