//! The analyses by name, for `organism analyze <kind>` and `organism reproduce`.

use super::{
    connectivity, curves, dropout, heatmap, pruning, resubstitution, robustness, stability, trajectories, types,
    Analysis, TestSets,
};
use crate::fixpoint::Robustness;
use crate::run::{resolve_output, shown, Run, RunWriter};
use crate::{limits, plot, Error, Result};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Every analysis of SPEC §6, in the paper's figure order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Particle types over training (Fig. 2/3).
    Types,
    /// Training curves: task metric and loss (Fig. 2/3).
    Curves,
    /// Robustness of self-replicators to noise, organism vs standalone (Fig. 4/7).
    Robustness,
    /// Weight re-substitution (Fig. 5/8).
    Resubstitution,
    /// Dropping self-replicators vs accuracy (Tab. I).
    Dropout,
    /// Where self-replicators sit over the image (Fig. 6).
    Heatmap,
    /// Connectivity of self-replicators (Fig. 9/10).
    Connectivity,
    /// PCA weight trajectories (Fig. 12).
    Trajectories,
    /// PN_SR pruning against magnitude and other pruning strategies.
    Pruning,
    /// Jacobian spectral radius of self-replicators (fixpoint stability).
    Stability,
}

impl Kind {
    /// Every kind, in the paper's figure order.
    pub const ALL: [Kind; 10] = [
        Kind::Types,
        Kind::Curves,
        Kind::Robustness,
        Kind::Resubstitution,
        Kind::Dropout,
        Kind::Heatmap,
        Kind::Connectivity,
        Kind::Trajectories,
        Kind::Pruning,
        Kind::Stability,
    ];

    /// The name on the command line and in output folders.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Types => "types",
            Kind::Curves => "curves",
            Kind::Robustness => "robustness",
            Kind::Resubstitution => "resubstitution",
            Kind::Dropout => "dropout",
            Kind::Heatmap => "heatmap",
            Kind::Connectivity => "connectivity",
            Kind::Trajectories => "trajectories",
            Kind::Pruning => "pruning",
            Kind::Stability => "stability",
        }
    }

    /// What the analysis shows (the paper's figure number depends on the task: see
    /// [`super::paper_figure`]).
    pub fn title(self) -> &'static str {
        match self {
            Kind::Types => "Particle classes over training",
            Kind::Curves => "Losses and task metric",
            Kind::Robustness => "Robustness of self-replicators to noise",
            Kind::Resubstitution => "Weight re-substitution error",
            Kind::Dropout => "Specialist dropout vs pruning",
            Kind::Heatmap => "Where the self-replicators sit",
            Kind::Connectivity => "Connectivity per class",
            Kind::Trajectories => "PCA weight trajectories",
            Kind::Pruning => "Pruning study: accuracy vs sparsity (beyond the paper, §VII)",
            Kind::Stability => "Why self-replicators are fragile: fixpoint stability (no figure in the paper)",
        }
    }

    /// Whether the analysis applies to runs of this kind of task.
    pub fn applies_to(self, image_task: bool) -> bool {
        !matches!(self, Kind::Heatmap | Kind::Pruning) || image_task
    }
}

impl FromStr for Kind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            Error::Invalid(format!("unknown analysis `{s}` (expected one of: {})", names.join(", ")))
        })
    }
}

/// Settings only some analyses use.
#[derive(Clone, Debug)]
pub struct Options {
    /// Standalone particle populations (`organism particles` outputs) for the robustness
    /// comparison.
    pub standalone: Vec<PathBuf>,
    /// Noise levels and repetitions of the robustness test.
    pub robustness: Robustness,
    /// At most this many self-replicators per run in the robustness test.
    pub max_particles: usize,
    /// Strategies and sparsities of the pruning study.
    pub pruning: pruning::Settings,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            standalone: Vec::new(),
            robustness: Robustness::default(),
            max_particles: 100,
            pruning: pruning::Settings::default(),
        }
    }
}

/// Runs analysis `kind` on `runs` into the new output directory `out` (see [`RunWriter`]: an
/// existing `out` is replaced only with `force`, and only once the analysis is complete). `out`
/// may be neither inside a run directory nor contain one. The paths in the result name `out`.
pub fn analyze_to_dir(
    kind: Kind,
    runs: &[Run],
    tests: &TestSets,
    opts: &Options,
    out: &Path,
    force: bool,
) -> Result<Analysis> {
    let target = resolve_output(out)?;
    for run in runs {
        let dir = std::fs::canonicalize(&run.dir).map_err(|e| Error::io(&run.dir, e))?;
        if target.starts_with(&dir) || dir.starts_with(&target) {
            return Err(Error::Invalid(format!(
                "--out {}: would write into or over the run directory {}; choose another --out",
                out.display(),
                shown(&run.dir).display()
            )));
        }
    }
    let writer = RunWriter::create(out, force)?;
    // The analysis computes; its figures are drawn into the output before it is complete.
    let result = analyze(kind, runs, tests, opts, writer.dir()).and_then(|a| plot::draw_all(&a.figures).map(|()| a));
    let tmp = writer.dir().to_path_buf();
    let mut a = writer.complete(result)?;
    let moved = |p: &PathBuf| p.strip_prefix(&tmp).map_or_else(|_| p.clone(), |rest| out.join(rest));
    a.csv = a.csv.iter().map(moved).collect();
    for f in &mut a.figures {
        f.stem = moved(&f.stem);
    }
    Ok(a)
}

/// Runs analysis `kind` on `runs`, writing into `out`. Runs of different tasks are refused.
pub fn analyze(kind: Kind, runs: &[Run], tests: &TestSets, opts: &Options, out: &Path) -> Result<Analysis> {
    if runs.iter().any(|r| r.config.task != runs[0].config.task) {
        let each: Vec<String> =
            runs.iter().map(|r| format!("{} ({})", shown(&r.dir).display(), r.config.task.name())).collect();
        return Err(Error::Invalid(format!(
            "runs of different tasks cannot be analysed together: {}",
            each.join(", ")
        )));
    }
    opts.robustness.validate()?;
    limits::count("--max-particles", opts.max_particles as u64, u64::MAX)?;
    if kind == Kind::Robustness {
        let n_weights = runs[0].organism.particles.shape().n_weights();
        opts.robustness.memory(n_weights, opts.max_particles).check()?;
    }
    match kind {
        Kind::Types => types::analyze(runs, out),
        Kind::Curves => curves::analyze(runs, out),
        Kind::Robustness => robustness::analyze(runs, &opts.standalone, &opts.robustness, opts.max_particles, out),
        Kind::Resubstitution => resubstitution::analyze(runs, tests, out),
        Kind::Dropout => dropout::analyze(runs, tests, out),
        Kind::Heatmap => heatmap::analyze(runs, tests, out),
        Kind::Connectivity => connectivity::analyze(runs, out),
        Kind::Trajectories => trajectories::analyze(runs, out),
        Kind::Pruning => pruning::analyze(runs, tests, &opts.pruning, out),
        Kind::Stability => stability::analyze(runs, out),
    }
}
