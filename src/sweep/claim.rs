//! Claims: how executors that share a sweep directory (threads, processes, Slurm array
//! elements on other nodes) agree on who runs a task.
//!
//! Attempt `n` at task `i` is the file `claims/{i}.{n}` holding `host pid`, put in place by a
//! hard link (atomic, also on NFS: the link fails if the file exists). Claim files are never deleted, so the
//! next attempt after a failed or killed one is `n + 1`, and of two executors racing for it,
//! exactly one creates the file. While the task runs, its executor touches the file every
//! [`HEARTBEAT`]; an attempt is alive while its heartbeat is younger than [`STALE`] and, on the
//! same host, its process still runs.

use super::{task_name, Sweep};
use crate::run::{process_alive, write_text};
use crate::{Error, Result};
use std::fs::File;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// How often a running task's claim is touched.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// A claim not touched for this long belongs to an executor that is gone.
pub const STALE: Duration = Duration::from_secs(60);

/// Where a task stands.
/// Where a sweep task stands, from its run directory and its claim file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Its run directory exists.
    Done,
    /// An executor holds a live claim.
    Running {
        /// Host name of the executor.
        host: String,
        /// Its process id.
        pid: u32,
    },
    /// The latest attempt failed (its error's last line) or its executor died.
    Failed(String),
    /// Never attempted.
    Pending,
}

impl TaskState {
    /// Whether an executor should (re-)run the task.
    pub fn is_missing(&self) -> bool {
        matches!(self, TaskState::Failed(_) | TaskState::Pending)
    }
}

/// A held claim: attempt `attempt` at task `index`.
pub struct Claim {
    path: PathBuf,
}

impl Claim {
    /// Claims task `index` unless it is done or another executor's claim is alive (`None`).
    pub fn take(sweep: &Sweep, index: usize) -> Result<Option<Claim>> {
        let next = match latest(sweep, index)? {
            Some(n) => {
                if !state(sweep, index).is_missing() {
                    return Ok(None);
                }
                n + 1
            }
            None if sweep.run_dir(index).exists() => return Ok(None),
            None => 1,
        };
        let dir = sweep.dir.join("claims");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        // Written whole under a private name, then hard-linked into place: the link fails if
        // the attempt exists, and no reader ever sees a claim without its owner.
        let path = attempt_path(sweep, index, next);
        let tmp = dir.join(format!(".{}.{next}.{}.{}", task_name(index), hostname(), std::process::id()));
        write_text(&tmp, &format!("{} {}\n", hostname(), std::process::id()))?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        }
        // Another executor may have finished the task between the check and the claim.
        if sweep.run_dir(index).exists() {
            return Ok(None);
        }
        Ok(Some(Claim { path }))
    }

    /// Marks the claim as alive.
    pub fn touch(&self) {
        // A missed heartbeat only makes the claim look stale sooner; nothing to report.
        let _ = File::options().write(true).open(&self.path).and_then(|f| f.set_modified(SystemTime::now()));
    }

    /// Records why this attempt failed.
    pub fn fail(&self, error: &str) -> Result<()> {
        let mut path = self.path.clone().into_os_string();
        path.push(".error");
        write_text(&PathBuf::from(path), &format!("{error}\n"))
    }
}

/// The state of task `index`.
pub fn state(sweep: &Sweep, index: usize) -> TaskState {
    if sweep.run_dir(index).exists() {
        return TaskState::Done;
    }
    let Ok(Some(n)) = latest(sweep, index) else { return TaskState::Pending };
    let path = attempt_path(sweep, index, n);
    let mut error = path.clone().into_os_string();
    error.push(".error");
    if let Ok(text) = std::fs::read_to_string(PathBuf::from(error)) {
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("(no message)");
        return TaskState::Failed(last.to_string());
    }
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut words = text.split_whitespace();
    let (host, pid) = (words.next().unwrap_or("?").to_string(), words.next().and_then(|p| p.parse().ok()));
    let fresh = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < STALE);
    let running = pid.is_some_and(|pid| host != hostname() || process_alive(pid));
    match pid {
        Some(pid) if fresh && running => TaskState::Running { host, pid },
        _ => TaskState::Failed(format!(
            "attempt {n} ({host}, pid {}) stopped without finishing (killed?)",
            pid.map_or("?".into(), |p: u32| p.to_string())
        )),
    }
}

/// The highest attempt number of task `index`.
fn latest(sweep: &Sweep, index: usize) -> Result<Option<u32>> {
    let dir = sweep.dir.join("claims");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let prefix = format!("{}.", task_name(index));
    Ok(entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_prefix(&prefix)?.parse::<u32>().ok())
        .max())
}

fn attempt_path(sweep: &Sweep, index: usize, attempt: u32) -> PathBuf {
    sweep.dir.join("claims").join(format!("{}.{attempt}", task_name(index)))
}

/// This machine's name, as the claims record it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}
