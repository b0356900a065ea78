//! Analyses of run directories (SPEC §6): each reads runs, writes a CSV of its numbers, and
//! returns its headline [`Stat`]s for the report's claims table and the specification of its
//! figures ([`plot::Figure`]), which the caller draws. Analyses never train and never draw; they
//! may evaluate a trained organism on its test set.
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
//! | (run output, not a kind) | beyond the paper (§VI): learned activation functions | [`activations`] |
//! | (beyond-the-paper studies, not a kind) | beyond the paper (§VI): learned cell aggregators | [`aggregators`] |
//!
//! The pruning study is the one analysis that trains: it fine-tunes pruned networks with the
//! schedule's own step ([`crate::train::fine_tune()`]).

pub mod activations;
pub mod aggregators;
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
use crate::fixpoint::{classify, Class};
use crate::plot::{self, Colour};
use crate::run::{shown, Run};
use crate::task::{Samples, TaskData};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Mean, standard deviation (sample, n−1; 0 for one value) and count of some values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stat {
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n−1), 0 for one value.
    pub sd: f64,
    /// Number of values.
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

impl Stat {
    /// Half the width of the 95 % confidence interval of the mean, `t(0.975, n − 1) · sd / √n`
    /// (Student's t; NaN for fewer than two values).
    pub fn ci95(&self) -> f64 {
        if self.n < 2 {
            return f64::NAN;
        }
        t975(self.n - 1) * self.sd / (self.n as f64).sqrt()
    }
}

/// The 0.975 quantile of Student's t with `df` ≥ 1 degrees of freedom: tabulated to 30, above
/// that the Cornish–Fisher expansion around the normal quantile (error < 1e-4 there).
pub fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    if (1..=30).contains(&df) {
        return TABLE[df - 1];
    }
    let (z, n): (f64, f64) = (1.959_964, df as f64);
    z + (z.powi(3) + z) / (4.0 * n) + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * n * n)
}

/// What an analysis produced.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// The analysis kind, e.g. `types`.
    pub kind: String,
    /// CSV files written.
    pub csv: Vec<PathBuf>,
    /// Figures to draw (each as PNG and SVG).
    pub figures: Vec<plot::Figure>,
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
            shown(&r.dir).display(),
            r.config.task.name()
        ))),
        None => Ok(()),
    }
}

/// An error if a run folds its cells with aggregator particles: the `kind` analysis evaluates
/// the network as a dense net of (masked) weights whose cells sum their edges (SPEC §2), which
/// such an organism is not.
pub fn require_summing_cells(runs: &[Run], kind: &str) -> Result<()> {
    match runs.iter().find(|r| r.organism.aggregators.is_some()) {
        Some(r) => Err(Error::Invalid(format!(
            "{}: the `{kind}` analysis evaluates dense networks whose cells sum their edges; this run \
             folds them with aggregator particles (organism.aggregation = \"particle\")",
            shown(&r.dir).display()
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
        let data = std::sync::Arc::new(TaskData::load(&key)?);
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

/// The paper's figure that `kind` reproduces for runs of an image task (`image`) or of addition,
/// if the paper has one.
pub fn paper_figure(kind: kind::Kind, image: bool) -> Option<u32> {
    use kind::Kind::*;
    match (kind, image) {
        (Types, false) => Some(2),
        (Types, true) => Some(9),
        (Curves, false) => Some(3),
        (Curves, true) => Some(6),
        (Robustness, false) => Some(4),
        (Robustness, true) => Some(7),
        (Resubstitution, false) => Some(5),
        (Dropout, true) => Some(8),
        (Heatmap, true) => Some(10),
        (Connectivity, true) => Some(11),
        (Trajectories, true) => Some(12),
        _ => None,
    }
}

/// A figure's title: `Fig. N — text` with the paper's figure number for these runs' task, or
/// just `text` where the paper has no such figure.
pub fn figure_title(kind: kind::Kind, runs: &[Run], text: &str) -> String {
    let image = runs.first().is_some_and(|r| r.config.task.dataset().is_some());
    match paper_figure(kind, image) {
        Some(n) => format!("Fig. {n} — {text}"),
        None => text.to_string(),
    }
}

/// The figure `name` of an analysis writing into `dir`.
pub fn figure(dir: &Path, name: &str, title: String, caption: String, chart: plot::Chart) -> plot::Figure {
    plot::Figure { stem: dir.join(name), title, caption, chart }
}

/// How a class is named in figures: the paper's PN_SR / PN_F, with the class.
pub fn class_label(class: Class) -> &'static str {
    match class {
        Class::SelfReplicator => "PN_SR (self-replicator)",
        Class::Other => "PN_F: other",
        Class::Zero => "PN_F: zero",
        Class::SecondOrder => "PN_F: second order",
        Class::Divergent => "PN_F: divergent",
    }
}

/// The colour of a class in every figure: PN_SR orange and PN_F blue as in the paper.
pub fn class_colour(class: Class) -> Colour {
    match class {
        Class::SelfReplicator => Colour::Orange,
        Class::Other => Colour::Blue,
        Class::Zero => Colour::Grey,
        Class::SecondOrder => Colour::Green,
        Class::Divergent => Colour::Vermillion,
    }
}

/// `task, n seeds` of the runs, e.g. `addition, 10 seeds`.
pub fn describe(runs: &[Run]) -> String {
    let mut tasks: Vec<&str> = runs.iter().map(|r| r.summary.task.as_str()).collect();
    tasks.sort();
    tasks.dedup();
    let n = runs.len();
    format!("{}, {n} seed{}", tasks.join(" + "), if n == 1 { "" } else { "s" })
}

/// The run's directory as its last two path components, e.g. `add/seed-0`.
pub fn run_label(run: &Run) -> String {
    let parts: Vec<String> = run.dir.components().map(|c| c.as_os_str().to_string_lossy().to_string()).collect();
    parts[parts.len().saturating_sub(2)..].join("/")
}
