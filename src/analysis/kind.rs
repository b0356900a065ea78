//! The analyses by name, for `organism analyze <kind>` and `organism reproduce`.

use super::{
    connectivity, curves, dropout, heatmap, pruning, resubstitution, robustness, stability, trajectories, types,
    Analysis, TestSets,
};
use crate::fixpoint::Robustness;
use crate::run::Run;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Every analysis of SPEC §6, in the paper's figure order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Types,
    Curves,
    Robustness,
    Resubstitution,
    Dropout,
    Heatmap,
    Connectivity,
    Trajectories,
    Pruning,
    Stability,
}

impl Kind {
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

    /// What the analysis shows, with the paper's figures.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Types => "Particle classes over training (Fig. 2, 9)",
            Kind::Curves => "Losses and task metric (Fig. 3, 6)",
            Kind::Robustness => "Robustness of self-replicators to noise (Fig. 4, 7)",
            Kind::Resubstitution => "Weight re-substitution error (Fig. 5)",
            Kind::Dropout => "Specialist dropout vs pruning (Fig. 8)",
            Kind::Heatmap => "Where the self-replicators sit (Fig. 10)",
            Kind::Connectivity => "Connectivity per class (Fig. 11)",
            Kind::Trajectories => "PCA weight trajectories (Fig. 12)",
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
    pub robustness: Robustness,
    /// At most this many self-replicators per run in the robustness test.
    pub max_particles: usize,
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

/// Runs analysis `kind` on `runs`, writing into `out`.
pub fn analyze(kind: Kind, runs: &[Run], tests: &TestSets, opts: &Options, out: &Path) -> Result<Analysis> {
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
