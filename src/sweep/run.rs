//! `sweep run`: the local executor. Runs one task (what a Slurm array element calls) or every
//! task not done, `jobs` at a time, each with `organism train`'s code
//! ([`crate::experiment::train_to_dir`]) into the task's run directory.

use super::claim::{Claim, HEARTBEAT};
use super::{task_name, Sweep, TaskState};
use crate::config::Config;
use crate::experiment::train_to_dir;
use crate::progress::Progress;
use crate::run::Summary;
use crate::task::TaskData;
use crate::{Error, Result};
use rayon::prelude::*;
use std::sync::mpsc;

/// What became of one task.
#[derive(Debug)]
pub enum Outcome {
    /// Trained here.
    Ran(Summary),
    /// Done already, or claimed by a live executor elsewhere.
    Skipped(String),
}

/// Runs task `index` unless it is done or running elsewhere. A failure is recorded in the
/// task's claim (for `sweep status`) and returned.
pub fn run_task(sweep: &Sweep, index: usize, progress: &Progress) -> Result<Outcome> {
    sweep.task(index)?;
    let Some(claim) = Claim::take(sweep, index)? else {
        let why = match super::claim::state(sweep, index) {
            TaskState::Running { host, pid } => format!("running on {host} (pid {pid})"),
            _ => "done".into(),
        };
        return Ok(Outcome::Skipped(format!("task {}: {why}, skipped", task_name(index))));
    };
    let (stop, beats) = mpsc::channel::<()>();
    let claim = &claim;
    let result = std::thread::scope(|s| {
        s.spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = beats.recv_timeout(HEARTBEAT) {
                claim.touch();
            }
        });
        let result = train(sweep, index, progress);
        drop(stop);
        result
    });
    match result {
        Ok(summary) => Ok(Outcome::Ran(summary)),
        Err(e) => {
            claim.fail(&e.to_string())?;
            Err(e)
        }
    }
}

fn train(sweep: &Sweep, index: usize, progress: &Progress) -> Result<Summary> {
    let cfg = Config::resolve(None, Some(&sweep.config_path(index)), &[])?;
    let data = TaskData::load(&cfg)?;
    train_to_dir(&cfg, &data, &sweep.run_dir(index), false, progress)
}

/// Runs every task that is pending or failed, `jobs` at a time; returns how many ran and the
/// failures (task, message). `report` hears of each task as it ends.
pub fn run_all(
    sweep: &Sweep,
    jobs: usize,
    progress: &Progress,
    report: &(dyn Fn(usize, &Result<Outcome>) + Sync),
) -> Result<(usize, Vec<(usize, String)>)> {
    let todo: Vec<usize> = sweep.states().iter().enumerate().filter(|(_, s)| s.is_missing()).map(|(i, _)| i).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(|e| Error::Invalid(format!("--jobs {jobs}: {e}")))?;
    let outcomes: Vec<(usize, Result<Outcome>)> = pool.install(|| {
        todo.par_iter()
            .map(|&i| {
                let r = run_task(sweep, i, progress);
                report(i, &r);
                (i, r)
            })
            .collect()
    });
    let ran = outcomes.iter().filter(|(_, r)| matches!(r, Ok(Outcome::Ran(_)))).count();
    let failed = outcomes.into_iter().filter_map(|(i, r)| r.err().map(|e| (i, e.to_string()))).collect();
    Ok((ran, failed))
}
