//! `sweep slurm`: the sweep as a Slurm job array, one task per array element. Each element
//! calls `organism sweep run DIR --task $SLURM_ARRAY_TASK_ID`, so the cluster needs the sweep
//! directory and the binary on a file system shared by the submit host and the nodes.
//!
//! Submissions are kept in `DIR/slurm/`: the script of each (`array-N.sh`) and `jobs.txt`
//! (`JOBID INDICES` per line), which `--missing` reads to leave out tasks still queued.

use super::Sweep;
use crate::run::write_text;
use crate::{Error, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Resources and behaviour of a submission.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--partition`; default: the cluster's default partition.
    pub partition: Option<String>,
    /// `--time`, e.g. `1:00:00`.
    pub time: Option<String>,
    /// CPUs per task (also the task's thread count).
    pub cpus: Option<u32>,
    /// `--mem`, e.g. `2G`.
    pub mem: Option<String>,
    /// At most this many array elements at once (`%K`); default all.
    pub parallel: Option<usize>,
    /// Only tasks that are pending or failed and not queued.
    pub missing: bool,
}

/// A prepared submission.
#[derive(Clone, Debug)]
pub struct Submission {
    /// The array indices, e.g. `0-3,7`.
    pub indices: Vec<usize>,
    /// The batch script given to `sbatch`.
    pub script: String,
}

/// The array script for `indices` of `sweep`, calling the binary `exe`.
pub fn array_script(sweep: &Sweep, indices: &[usize], opts: &Options, exe: &Path) -> Result<String> {
    let dir = plain(&sweep.dir, "the sweep directory")?;
    let exe = plain(exe, "the organism binary")?;
    let mut s = String::from("#!/bin/bash\n");
    let _ = writeln!(
        s,
        "# organism sweep {dir}: {} of {} tasks, written by `organism sweep slurm`",
        indices.len(),
        sweep.len()
    );
    let _ = writeln!(s, "#SBATCH --job-name=organism-sweep");
    let k = opts.parallel.unwrap_or(indices.len()).clamp(1, indices.len().max(1));
    let _ = writeln!(s, "#SBATCH --array={}%{k}", ranges(indices));
    let _ = writeln!(s, "#SBATCH --chdir={dir}");
    let _ = writeln!(s, "#SBATCH --output={dir}/logs/%a-%A.out");
    for (flag, value) in [("partition", &opts.partition), ("time", &opts.time), ("mem", &opts.mem)] {
        if let Some(v) = value {
            if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c == '#' || c == '\'' || c == '"') {
                return Err(Error::Invalid(format!("--{flag} `{v}`: expected a single word")));
            }
            let _ = writeln!(s, "#SBATCH --{flag}={v}");
        }
    }
    if let Some(c) = opts.cpus {
        let _ = writeln!(s, "#SBATCH --cpus-per-task={c}");
    }
    s.push_str("# Results are bitwise identical for any thread count; use the CPUs Slurm gave.\n");
    s.push_str("export RAYON_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}\n");
    let _ = writeln!(s, "exec {exe} sweep run {dir} --task \"$SLURM_ARRAY_TASK_ID\"");
    Ok(s)
}

/// The tasks to submit and their script: every task, or with `missing` the pending and failed
/// ones that no submitted job still holds in the queue.
pub fn prepare(sweep: &Sweep, opts: &Options, exe: &Path) -> Result<Submission> {
    let indices: Vec<usize> = if opts.missing {
        let queued = queued(sweep)?;
        let states = sweep.states();
        (0..sweep.len()).filter(|i| states[*i].is_missing() && !queued.contains(i)).collect()
    } else {
        (0..sweep.len()).collect()
    };
    let script = array_script(sweep, &indices, opts, exe)?;
    Ok(Submission { indices, script })
}

/// Writes the script into `DIR/slurm/array-N.sh`, submits it with `sbatch`, records the job id
/// in `DIR/slurm/jobs.txt` and returns it.
pub fn submit(sweep: &Sweep, sub: &Submission) -> Result<String> {
    let slurm = sweep.dir.join("slurm");
    let logs = sweep.dir.join("logs");
    for d in [&slurm, &logs] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let n = (1..).find(|n| !slurm.join(format!("array-{n}.sh")).exists()).expect("a free name");
    let path = slurm.join(format!("array-{n}.sh"));
    write_text(&path, &sub.script)?;
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(&path)
        .output()
        .map_err(|e| Error::Invalid(format!("sbatch: {e} (is Slurm installed and on PATH?)")))?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "sbatch {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let job = stdout.trim().split(';').next().unwrap_or_default().to_string();
    if job.is_empty() || !job.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::Invalid(format!("sbatch printed `{}`, not a job id", stdout.trim())));
    }
    let jobs = slurm.join("jobs.txt");
    let mut text = std::fs::read_to_string(&jobs).unwrap_or_default();
    let _ = writeln!(text, "{job} {}", ranges(&sub.indices));
    write_text(&jobs, &text)?;
    Ok(job)
}

/// Task indices of this sweep's submitted jobs that Slurm still holds (pending, running,
/// completing, …), from `squeue` (`sacct` needs accounting storage, which a cluster may lack).
pub fn queued(sweep: &Sweep) -> Result<Vec<usize>> {
    let jobs = submitted(sweep);
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let out = Command::new("squeue")
        .args(["-h", "-r", "-t", "PD,R,CF,CG,S,RQ,RS", "-o", "%F %K"])
        .output()
        .map_err(|e| Error::Invalid(format!("squeue: {e} (is Slurm installed and on PATH?)")))?;
    if !out.status.success() {
        return Err(Error::Invalid(format!("squeue: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (job, task) = l.split_once(' ')?;
            jobs.contains(&job.trim().to_string()).then(|| task.trim().parse().ok()).flatten()
        })
        .collect())
}

/// Job ids of this sweep's submissions.
pub fn submitted(sweep: &Sweep) -> Vec<String> {
    let text = std::fs::read_to_string(sweep.dir.join("slurm").join("jobs.txt")).unwrap_or_default();
    text.lines().filter_map(|l| l.split_whitespace().next().map(str::to_string)).collect()
}

/// `0-3,7,9-10`: sorted indices as Slurm array ranges.
pub fn ranges(indices: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        out.push(if j == i { indices[i].to_string() } else { format!("{}-{}", indices[i], indices[j]) });
        i = j + 1;
    }
    out.join(",")
}

/// A path as it goes into the script: absolute, and without characters a shell or `#SBATCH`
/// line would split on.
fn plain(path: &Path, what: &str) -> Result<String> {
    let abs: PathBuf = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    let s = abs.to_str().ok_or_else(|| Error::Invalid(format!("{what} {}: not UTF-8", abs.display())))?;
    if s.chars().any(|c| c.is_whitespace() || "'\"$`\\;&|<>()#*?".contains(c)) {
        return Err(Error::Invalid(format!(
            "{what} {s}: a path for a Slurm script must not contain spaces or shell characters"
        )));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_compress_runs() {
        assert_eq!(ranges(&[0, 1, 2, 3, 7, 9, 10]), "0-3,7,9-10");
        assert_eq!(ranges(&[5]), "5");
        assert_eq!(ranges(&[]), "");
    }
}
