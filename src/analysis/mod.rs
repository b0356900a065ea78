//! Analyses of run directories (SPEC §6): each reads runs, writes a CSV of its numbers and a
//! figure (PNG + SVG), and returns its headline [`Stat`]s for the report's claims table.
//! Analyses never train; they may evaluate a trained organism on its test set.
//!
//! | kind | paper | module |
//! |---|---|---|
//! | `types` | Fig. 2, 9 | [`types`] |
//! | `curves` | Fig. 3, 6 | [`curves`] |
//! | `robustness` | Fig. 4, 7 | [`robustness`] |
//! | `resubstitution` | Fig. 5 | [`resubstitution`] |
//! | `dropout` | Fig. 8 | [`dropout`] |
//! | `heatmap` | Fig. 10 | [`heatmap`] |
//! | `connectivity` | Fig. 11 | [`connectivity`] |
//! | `trajectories` | Fig. 12 | [`trajectories`] |
//! | `stability` | (none: why PN_SR are fragile) | [`stability`] |
//! | `pruning` | beyond the paper (§VII) | [`pruning`] |
//!
//! The pruning study is the one analysis that trains: it fine-tunes pruned networks with the
//! schedule's own step ([`crate::schedule::fine_tune`]).

pub mod connectivity;
pub mod curves;
pub mod dropout;
pub mod heatmap;
pub mod kind;
pub mod pruning;
pub mod resubstitution;
pub mod robustness;
pub mod stability;
pub mod trajectories;
pub mod types;

use crate::config::Config;
use crate::experiment::task_data;
use crate::fixpoint::{classify, Class};
use crate::run::Run;
use crate::schedule::{Samples, TaskData};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Mean, standard deviation (sample, n−1; 0 for one value) and count of some values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub sd: f64,
    pub n: usize,
}

impl Stat {
    /// Over the finite values of `v` (NaN mean when there are none).
    pub fn of(v: &[f64]) -> Stat {
        let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        let n = v.len();
        if n == 0 {
            return Stat { mean: f64::NAN, sd: f64::NAN, n };
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = if n > 1 { v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
        Stat { mean, sd: var.sqrt(), n }
    }
}

/// What an analysis produced.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// The analysis kind, e.g. `types`.
    pub kind: String,
    /// Files written (CSV first, then figures as PNG; each PNG has an SVG twin).
    pub csv: Vec<PathBuf>,
    pub figures: Vec<PathBuf>,
    /// Headline numbers by name, e.g. `share_self_replicators`.
    pub findings: BTreeMap<String, Stat>,
    /// The values behind a finding recorded with [`Analysis::record`], one per unit of
    /// replication (a seed, in run order, or a particle), for the claims' verdicts.
    pub samples: BTreeMap<String, Vec<f64>>,
    /// Anything skipped or worth saying next to the figure.
    pub notes: Vec<String>,
}

impl Analysis {
    /// Records finding `name` from its values, one per unit of replication.
    pub fn record(&mut self, name: &str, values: Vec<f64>) {
        self.findings.insert(name.to_string(), Stat::of(&values));
        self.samples.insert(name.to_string(), values);
    }
}

/// Opens every run directory, or fails naming the first that is not a run.
pub fn open_runs(dirs: &[PathBuf]) -> Result<Vec<Run>> {
    if dirs.is_empty() {
        return Err(Error::Invalid("no run directories given".into()));
    }
    dirs.iter().map(|d| Run::open(d)).collect()
}

/// An error unless every run is of an image task (heatmaps need pixels).
pub fn require_image_task(runs: &[Run], kind: &str) -> Result<()> {
    match runs.iter().find(|r| r.config.task.dataset().is_none()) {
        Some(r) => Err(Error::Invalid(format!(
            "{}: the `{kind}` analysis needs an image task, this run is `{}`",
            r.dir.display(),
            r.config.task.name()
        ))),
        None => Ok(()),
    }
}

/// Final class of every particle of a run.
pub fn final_classes(run: &Run) -> Vec<Class> {
    classify(&run.organism.particles, run.config.epsilon)
}

/// Test sets of runs, loaded once per image data configuration and shared by the analyses.
#[derive(Default)]
pub struct TestSets {
    images: Mutex<Vec<(Config, std::sync::Arc<TaskData>)>>,
}

impl TestSets {
    /// The test set `run` was evaluated on (rebuilt from its configuration).
    pub fn get(&self, run: &Run) -> Result<Samples> {
        Ok(self.data(run)?.test().clone())
    }

    /// The task data `run` was trained on (rebuilt from its configuration; image data is
    /// loaded once and shared by the seeds).
    pub fn data(&self, run: &Run) -> Result<std::sync::Arc<TaskData>> {
        if run.config.task.dataset().is_none() {
            return Ok(std::sync::Arc::new(TaskData::addition(&run.config)));
        }
        let mut cache = self.images.lock().unwrap();
        // Seeds share an image test set; the seed itself does not change it.
        let key = Config { seed: 0, ..run.config.clone() };
        if let Some((_, d)) = cache.iter().find(|(c, _)| same_data(c, &key)) {
            return Ok(d.clone());
        }
        let data = std::sync::Arc::new(task_data(&key)?);
        cache.push((key, data.clone()));
        Ok(data)
    }

    /// Pre-loads image data that the caller already has.
    pub fn insert(&self, cfg: &Config, data: std::sync::Arc<TaskData>) {
        self.images.lock().unwrap().push((Config { seed: 0, ..cfg.clone() }, data));
    }
}

fn same_data(a: &Config, b: &Config) -> bool {
    a.task == b.task && a.data == b.data
}

/// `n` indices spread evenly over `0..len`, the first included (all of them when `len ≤ n`):
/// the deterministic subsample of crowded figures and long tests.
pub fn evenly(len: usize, n: usize) -> Vec<usize> {
    if len <= n {
        (0..len).collect()
    } else {
        (0..n).map(|i| i * len / n).collect()
    }
}

/// `dir/name` as a path stem for [`crate::report::plot`].
pub fn stem(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// Records `stem.png` as a figure of `a`.
pub fn add_figure(a: &mut Analysis, stem: &Path) {
    a.figures.push(stem.with_extension("png"));
}
