//! `organism reproduce --extended`: the experiments beyond the paper (issue 13), multi-seed, with
//! the paper's claims discipline. The paper's future work (§VI–VII) asks for "operator-based
//! interaction between particles" and particles as "layer activation function approximators";
//! each [`Study`] asks one question about such a variant and answers it in the report's
//! "Beyond the paper" part: a claims table (each row declared here before measuring, judged by
//! [`crate::report::claims::evaluate_one`]), figures, and the analyses of every arm.
//!
//! A study is one entry of [`STUDIES`]: a base preset and a [`Design`] that expands into arms
//! (configurations trained on the same seeds, so the comparisons are paired per seed).

use crate::analysis::kind::{analyze, Kind, Options as AnalysisOptions};
use crate::analysis::{open_runs, Analysis, TestSets};
use crate::config::{Config, Overrides};
use crate::experiment::{continue_seeds, seed_dir};
use crate::progress::Progress;
use crate::report::document::Part;
use crate::task::TaskData;
use crate::Result;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

mod report;
use report::{study_claims, study_figure, study_section};

/// Interaction rates of [`Design::Interactions`] besides 0 (probability per particle and batch).
pub const RATES: [(f64, &str); 3] = [(1e-3, "1e-3"), (1e-2, "1e-2"), (1e-1, "1e-1")];
/// Interaction kinds of [`Design::Interactions`].
pub const KINDS: [&str; 2] = ["attack", "melt"];
/// Interaction scopes (`interaction.scope`): the arms of [`RATES`] draw partners from the target's
/// cell (the first); each kind also runs at rate `RATES[SCOPE_RATE]` with each other scope.
pub const SCOPES: [&str; 3] = ["cell", "layer", "organism"];
/// The rate (index into [`RATES`], 1e-2) at which the scopes are compared: the highest rate at
/// which attack keeps the addition task with scope `cell`, yet frequent enough (one interaction
/// per particle every 100 batches) for partners from afar to matter.
pub const SCOPE_RATE: usize = 1;

/// How a study's arms are made from its base preset.
#[derive(Clone, Copy, Debug)]
pub enum Design {
    /// The base without interactions, then each of [`KINDS`] at each of [`RATES`] (scope `cell`),
    /// then each kind at `RATES[SCOPE_RATE]` with each other of [`SCOPES`].
    Interactions,
    /// The base against each of these variants (e.g. non-linear particles against the base's
    /// linear ones). Its claims name the variant and the base, so any variant fits; a variant with
    /// activation particles also gets their share of PN_SR.
    Variants(&'static [Variant]),
}

/// One arm of [`Design::Variants`]: a preset with keys set on it.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    /// The arm's directory name and label.
    pub name: &'static str,
    /// The preset it starts from.
    pub preset: &'static str,
    /// Keys set on it (after the study's).
    pub set: &'static [&'static str],
}

/// The variant that is `preset` as it is.
pub const fn preset(preset: &'static str) -> Variant {
    Variant { name: preset, preset, set: &[] }
}

/// One experiment beyond the paper.
#[derive(Clone, Copy, Debug)]
pub struct Study {
    /// Its directory under `beyond/`.
    pub name: &'static str,
    /// Its section title in the report.
    pub title: &'static str,
    /// The one question it answers.
    pub question: &'static str,
    /// The preset every arm starts from.
    pub base: &'static str,
    /// How the arms are made from the base.
    pub design: Design,
    /// Seeds of the full and of the quick run.
    pub seeds: (u64, u64),
    /// Keys set on every arm of the full run.
    pub set: &'static [&'static str],
    /// Keys set on every arm in quick mode instead of `set`.
    pub quick_set: &'static [&'static str],
}

const INTERACTIONS: &str = "Do interactions spread self-replication through an organism, or destroy the task?";
const NONLINEAR: &str = "Do non-linear (tanh, GELU) particles still become self-replicators in an organism, how fast, \
                         at what cost to the task, and are their fixpoints stable where linear ones are not?";
/// The non-linear particles run on the general per-sample path (≈ 30× the linear cost on MNIST,
/// ≈ 10 s per epoch of the bundled subset on a loaded 2-core machine): 10 epochs, counted every
/// epoch, against linear particles trained as long.
const NONLINEAR_MNIST_SET: &[&str] = &["epochs=10", "validate_every=1", "trajectory_every=10"];
const ACTIVATIONS: &str =
    "Can particles serve as the organism's activation function: what does an activation particle \
                           per layer or per cell cost or gain in accuracy against GELU (and none), do the weight \
                           particles still become self-replicators, and do the activation particles?";

/// Aggregator particles fold every cell's edges (docs/aggregators.md): ≈ 14 s per epoch of the
/// bundled MNIST subset on a loaded 2-core machine, so 10 epochs, as the non-linear particles.
const AGGREGATORS: &str =
    "Does a learned cell aggregator (an aggregator particle's fold over the cell's edges, in place of \
                           the sum) keep the task, and do the weight particles still become self-replicators?";

/// The experiments, in report order.
pub const STUDIES: &[Study] = &[
    Study {
        name: "interactions-addition",
        title: "Interactions on addition",
        question: INTERACTIONS,
        base: "addition",
        design: Design::Interactions,
        seeds: (5, 2),
        set: &[],
        quick_set: &["epochs=10"],
    },
    Study {
        name: "interactions-mnist",
        title: "Interactions on MNIST",
        question: INTERACTIONS,
        base: "mnist",
        design: Design::Interactions,
        seeds: (3, 2),
        set: &["trajectory_every=200"],
        quick_set: &["epochs=2", "validate_every=1"],
    },
    Study {
        name: "nonlinear-addition",
        title: "Non-linear particles on addition",
        question: NONLINEAR,
        base: "addition",
        design: Design::Variants(&[preset("addition-tanh"), preset("addition-gelu")]),
        seeds: (5, 2),
        // Longer than the preset's 60 epochs: time for slower self-replication to show.
        set: &["epochs=200"],
        quick_set: &["epochs=5"],
    },
    Study {
        name: "nonlinear-mnist",
        title: "Non-linear particles on MNIST",
        question: NONLINEAR,
        base: "mnist",
        design: Design::Variants(&[preset("mnist-tanh"), preset("mnist-gelu")]),
        // One seed in quick mode: an epoch of non-linear particles costs ≈ 10 s.
        seeds: (3, 1),
        set: NONLINEAR_MNIST_SET,
        quick_set: &["epochs=1", "validate_every=1"],
    },
    Study {
        name: "activations-mnist",
        title: "Activation particles on MNIST",
        question: ACTIVATIONS,
        // GELU between layers, as the paper's text has it.
        base: "mnist",
        design: Design::Variants(&[
            Variant { name: "none", preset: "mnist", set: &["organism.activation=none"] },
            Variant { name: "particle-layer", preset: "mnist-actparticle", set: &["activation_particle.per=layer"] },
            Variant { name: "particle-cell", preset: "mnist-actparticle", set: &["activation_particle.per=cell"] },
        ]),
        // The preset's 200 epochs of the bundled subset (800 task steps): ≈ 1–2 min per arm of 3 seeds.
        seeds: (3, 2),
        set: &["trajectory_every=200"],
        quick_set: &["epochs=2", "validate_every=1"],
    },
    Study {
        name: "aggregators-addition",
        title: "Aggregator particles on addition",
        question: AGGREGATORS,
        base: "addition",
        design: Design::Variants(&[preset("addition-aggparticle")]),
        seeds: (5, 2),
        set: &[],
        quick_set: &["epochs=5"],
    },
    Study {
        name: "aggregators-mnist",
        title: "Aggregator particles on MNIST",
        question: AGGREGATORS,
        base: "mnist",
        design: Design::Variants(&[preset("mnist-aggparticle")]),
        // One seed in quick mode: an epoch with aggregator particles costs ≈ 14 s.
        seeds: (3, 1),
        set: NONLINEAR_MNIST_SET,
        quick_set: &["epochs=1", "validate_every=1"],
    },
];

/// One configuration of a study.
struct Arm {
    /// Directory name and label, e.g. `attack-1e-2`, `melt-1e-2-layer` or `mnist-tanh`.
    name: String,
    cfg: Config,
    /// For [`Design::Interactions`]: its interactions; `None` for the baseline.
    interaction: Option<Setting>,
}

/// The interactions of an arm of [`Design::Interactions`], as indices into [`KINDS`], [`RATES`]
/// and [`SCOPES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Setting {
    kind: usize,
    rate: usize,
    scope: usize,
}

fn arms(study: &Study, quick: bool, data_dir: &Option<PathBuf>) -> Result<Vec<Arm>> {
    let extra = if quick { study.quick_set } else { study.set };
    let resolve = |preset: &str, more: &[String]| -> Result<Config> {
        let sets: Vec<String> = extra.iter().map(|s| s.to_string()).chain(more.iter().cloned()).collect();
        let cfg = Config::resolve(Some(preset), None, &sets)?;
        if cfg.task.dataset().is_none() {
            return Ok(cfg);
        }
        Config::resolve_with(
            Some(preset),
            None,
            &sets,
            &Overrides { data_dir: data_dir.clone(), ..Overrides::default() },
        )
    };
    let mut arms = vec![Arm { name: study.base.into(), cfg: resolve(study.base, &[])?, interaction: None }];
    match study.design {
        Design::Interactions => {
            arms[0].name = "none".into();
            let rates = (0..KINDS.len()).flat_map(|kind| (0..RATES.len()).map(move |rate| (kind, rate, 0)));
            let scopes =
                (0..KINDS.len()).flat_map(|kind| (1..SCOPES.len()).map(move |scope| (kind, SCOPE_RATE, scope)));
            for (kind, rate, scope) in rates.chain(scopes) {
                let (k, (r, label), sc) = (KINDS[kind], RATES[rate], SCOPES[scope]);
                let sets = [
                    format!("interaction.kind={k}"),
                    format!("interaction.rate={r}"),
                    format!("interaction.scope={sc}"),
                ];
                arms.push(Arm {
                    // Scope `cell` goes unnamed: the arms of the rate sweep.
                    name: if scope == 0 { format!("{k}-{label}") } else { format!("{k}-{label}-{sc}") },
                    cfg: resolve(study.base, &sets)?,
                    interaction: Some(Setting { kind, rate, scope }),
                });
            }
        }
        Design::Variants(variants) => {
            for v in variants {
                let sets: Vec<String> = v.set.iter().map(|s| s.to_string()).collect();
                arms.push(Arm { name: v.name.into(), cfg: resolve(v.preset, &sets)?, interaction: None });
            }
        }
    }
    Ok(arms)
}

/// What a study measured: its arms' analyses (by kind), for the claims and figures.
struct Measured {
    arms: Vec<(Arm, Vec<Analysis>)>,
}

impl Measured {
    /// The index of the arm with these interactions.
    fn arm(&self, setting: Setting) -> Option<usize> {
        self.arms.iter().position(|(a, _)| a.interaction == Some(setting))
    }
}

/// The analyses every arm gets: the class shares (Fig. 2/9's), the curves (the task metric) and
/// the fixpoint stability of its PN_SR; with interactions also the robustness of its PN_SR to
/// noise (Fig. 4/7's test), against the rate.
fn arm_kinds(design: Design) -> &'static [Kind] {
    match design {
        Design::Interactions => &[Kind::Types, Kind::Curves, Kind::Stability, Kind::Robustness],
        Design::Variants(_) => &[Kind::Types, Kind::Curves, Kind::Stability],
    }
}

/// Runs every study into `out` (`out/<study>/runs/<arm>/seed-N`, `…/analysis/<arm>/<kind>`) and
/// returns the report's "Beyond the paper" part. An arm's runs already complete in `out` are kept
/// and unfinished ones continued (a resumed `reproduce`); the analyses are always redone. `data_dir`: the MNIST IDX folder, as for
/// `reproduce`.
pub fn run(quick: bool, data_dir: &Option<PathBuf>, out: &Path, progress: &Progress) -> Result<Part> {
    run_studies(STUDIES, quick, data_dir, out, progress)
}

/// [`run`] for some of the studies (e.g. one, `examples/study.rs`).
pub fn run_studies(
    studies: &[Study],
    quick: bool,
    data_dir: &Option<PathBuf>,
    out: &Path,
    progress: &Progress,
) -> Result<Part> {
    let start = Instant::now();
    let tests = TestSets::default();
    // The robustness test as `reproduce` runs it (quick: fewer noise seeds, steps and particles).
    let (robustness, max_particles) = crate::reproduce::robustness_test(quick);
    let options = AnalysisOptions { robustness, max_particles, ..AnalysisOptions::default() };
    let mut sections = Vec::new();
    let mut claims = Vec::new();
    for study in studies {
        let t = Instant::now();
        let arms = arms(study, quick, data_dir)?;
        let seeds: Vec<u64> = (0..if quick { study.seeds.1 } else { study.seeds.0 }).collect();
        let data = match arms[0].cfg.task.dataset() {
            Some(_) => Some(Arc::new(TaskData::load(&arms[0].cfg)?)),
            None => None,
        };
        let dir = out.join(study.name);
        let mut measured = Measured { arms: Vec::new() };
        for arm in arms {
            progress.println(&format!(
                "beyond the paper: {} / {} ({} seeds, {} epochs) …",
                study.name,
                arm.name,
                seeds.len(),
                arm.cfg.epochs
            ));
            let runs_dir = dir.join("runs").join(&arm.name);
            // Kept if complete, continued if a killed run left it unfinished (`reproduce --resume`).
            continue_seeds(&arm.cfg, &seeds, &runs_dir, data.as_deref(), progress)?;
            if let Some(d) = &data {
                tests.insert(&arm.cfg, d.clone());
            }
            let runs = open_runs(&seeds.iter().map(|&s| seed_dir(&runs_dir, s)).collect::<Vec<_>>())?;
            let mut analyses = Vec::new();
            for &kind in arm_kinds(study.design) {
                let adir = dir.join("analysis").join(&arm.name).join(kind.name());
                analyses.push(analyze(kind, &runs, &tests, &options, &adir)?);
            }
            if report::has_activation_particles(&arm) {
                analyses.push(learned_activations(&runs, &seeds, &dir.join("analysis").join(&arm.name))?);
            }
            measured.arms.push((arm, analyses));
        }
        let first = claims.len();
        claims.extend(study_claims(study, &measured, first));
        let mut figure = study_figure(study, &measured, &dir);
        crate::plot::draw_all(&figure.figures)?;
        figure.notes.push(format!("wall time of the study {:.0} s", t.elapsed().as_secs_f64()));
        sections.push(study_section(study, &seeds, measured, figure)?);
        progress.println(&format!("beyond the paper: {} done in {:.1} s", study.name, t.elapsed().as_secs_f64()));
    }
    let intro = vec![
        "The paper's future work (§VI–VII): \"operator-based interaction between particles\" and particles as \
         \"learned cell aggregators or layer activation function approximators\" (the latter needs non-linear \
         particles). Each study trains every arm \
         on the same seeds, so comparisons are paired per seed; each row of the table below was declared in \
         `src/explore.rs` before measuring and is judged like the paper's claims."
            .into(),
        format!(
            "Mode: {}; wall time {:.0} s.",
            if quick { "quick (few epochs and seeds: checks the wiring, answers nothing)" } else { "full" },
            start.elapsed().as_secs_f64()
        ),
    ];
    Ok(Part { title: "Beyond the paper".into(), intro, claims, sections })
}

/// The kind name of an arm's [`learned_activations`].
const LEARNED_ACTIVATIONS: &str = "activations";

/// The figures of every learned activation function `z ↦ a` of the arm's runs (`runs[i]` of
/// seed `seeds[i]`), one per seed and hidden layer, as each run directory has them
/// ([`crate::analysis::activations`]), in `dir/activations/seed-N/`.
fn learned_activations(runs: &[crate::run::Run], seeds: &[u64], dir: &Path) -> Result<Analysis> {
    let mut a = Analysis { kind: LEARNED_ACTIVATIONS.into(), ..Analysis::default() };
    for (run, seed) in runs.iter().zip(seeds) {
        let out = dir.join(LEARNED_ACTIVATIONS).join(format!("seed-{seed}"));
        std::fs::create_dir_all(&out).map_err(|e| crate::Error::io(&out, e))?;
        for mut f in crate::analysis::activations::figures(&out, &run.organism, &run.summary)? {
            f.title = format!("Seed {seed}: {}", f.title);
            a.figures.push(f);
        }
    }
    Ok(a)
}

/// The arm's analysis of `kind`.
fn analysis(analyses: &[Analysis], kind: Kind) -> Option<&Analysis> {
    analyses.iter().find(|a| a.kind == kind.name())
}

/// The task-metric tolerance of "keeps the task": accuracy lost at most 0.02, or MAE raised at
/// most 1e-3, as a paired difference range, with its reason.
fn task_tolerance(image: bool) -> (f64, f64, &'static str) {
    if image {
        (
            -0.02,
            f64::INFINITY,
            "paired per seed; the task is kept when at most 2 accuracy points (40 of 2,000 test images) are lost",
        )
    } else {
        (
            f64::NEG_INFINITY,
            1e-3,
            "paired per seed; the task is kept when the MAE rises by at most 1e-3 (0.07 % of the targets' sd √2; \
             the paper's organisms reach ≈ 1e-7, a lost task ≈ 1)",
        )
    }
}

/// "Interactions keep the PN_SR's robustness": the paired difference of the mean self-applications
/// as fixpoint below ε lies within ± this, with its reason.
const ROBUSTNESS_TOLERANCE: (f64, &str) = (
    0.5,
    "paired per seed (a seed without PN_SR drops out); a deviation from a linear PN_SR grows by its spectral radius \
     ≈ 4 per self-application, so half a self-application is a 2× change of the deviation it absorbs: less is the \
     same robustness",
);

/// "The scope leaves the share of PN_SR as it is": the paired difference against scope `cell` lies
/// within ± this, with its reason.
const SCOPE_SHARE_TOLERANCE: (f64, &str) = (
    0.05,
    "paired per seed (same initial organism); the smallest change the addition organism can show is one particle of \
     its 18 (0.056)",
);

/// The two-sided task tolerance of the scope rows: [`task_tolerance`]'s amounts either way (the
/// scope changes the task when the accuracy moves by more than 0.02 or the MAE by more than 1e-3).
fn scope_task_tolerance(image: bool) -> (f64, f64, &'static str) {
    if image {
        (
            -0.02,
            0.02,
            "paired per seed; the same task when the accuracy moves by at most 2 points (40 of 2,000 test images)",
        )
    } else {
        (
            -1e-3,
            1e-3,
            "paired per seed; the same task when the MAE moves by at most 1e-3 (0.07 % of the targets' sd √2)",
        )
    }
}
