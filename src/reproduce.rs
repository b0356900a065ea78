//! `organism reproduce`: the paper regenerated in one command. Trains the `addition` preset
//! (10 seeds) and the `mnist` preset (3 seeds), self-trains standalone particles for the
//! robustness comparison, runs every analysis and writes the report with the claims table.

use crate::analysis::kind::{analyze, Kind, Options as AnalysisOptions};
use crate::analysis::pruning::Settings as PruningSettings;
use crate::analysis::{open_runs, Analysis, TestSets};
use crate::config::{Config, Overrides};
use crate::experiment::{continue_seeds, particles_to_dir, seed_dir, ParticlesRun};
use crate::fixpoint::Robustness;
use crate::progress::Progress;
use crate::report::claims::{self, Claim, Exp};
use crate::report::document::{Report, Section};
use crate::run::{check_free, write_json, RunWriter, Summary, OPTIONS};
use crate::task::TaskData;
use crate::train::StandaloneConfig;
use crate::Result;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The paper's MNIST budget in task steps: 200 epochs × 30 batches of 2000 (SPEC §5).
const PAPER_MNIST_TASK_STEPS: usize = 6000;
/// At most this many weight snapshots per run (Fig. 12 needs a trajectory, not every epoch).
const MAX_SNAPSHOTS: usize = 100;

/// Settings of `organism reproduce`.
#[derive(Clone, Debug)]
pub struct Options {
    /// The report directory (the output rule of [`crate::run`] applies).
    pub out: PathBuf,
    /// A small version of everything (few epochs and seeds), in seconds.
    pub quick: bool,
    /// Also the experiments beyond the paper ([`crate::explore`]): a second part of the report.
    pub extended: bool,
    /// Replace a previous report (only once the new one is complete).
    pub force: bool,
    /// A folder with the MNIST IDX files (else cache, download, bundled subset).
    pub data_dir: Option<PathBuf>,
    /// Continue the report a killed `reproduce` with these options left unfinished: the
    /// training runs and standalone populations already complete are kept, the rest is redone.
    pub resume: bool,
}

/// The options a report depends on, recorded in [`OPTIONS`]: a resumed report must have
/// been started with the same.
#[derive(serde::Serialize, serde::Deserialize, PartialEq)]
struct Recorded {
    quick: bool,
    extended: bool,
    data: Option<String>,
}

/// One experiment to reproduce.
struct Experiment {
    exp: Exp,
    title: &'static str,
    cfg: Config,
    seeds: Vec<u64>,
    notes: Vec<String>,
    data: Option<Arc<TaskData>>,
}

fn experiments(opts: &Options, progress: &Progress) -> Result<Vec<Experiment>> {
    let quick = |full: &[&str], small: &[&str]| -> Vec<String> {
        (if opts.quick { small } else { full }).iter().map(|s| s.to_string()).collect()
    };
    let addition = Config::resolve(Some("addition"), None, &quick(&[], &["epochs=30"]))?;
    let sets = quick(&[], &["epochs=250", "trajectory_every=5", "validate_every=5"]);
    let data_dir = Overrides { data_dir: opts.data_dir.clone(), ..Overrides::default() };
    let mut mnist = Config::resolve_with(Some("mnist"), None, &sets, &data_dir)?;
    progress.println("loading MNIST …");
    let data = Arc::new(TaskData::load(&mnist)?);
    let mut mnist_notes = vec![format!("data: {}", data.description())];
    let steps_per_epoch = data.train_len().div_ceil(mnist.batch_size);
    if !opts.quick && steps_per_epoch * mnist.epochs < PAPER_MNIST_TASK_STEPS {
        // SPEC §5: a smaller training set keeps the paper's number of task steps.
        let epochs = PAPER_MNIST_TASK_STEPS.div_ceil(steps_per_epoch);
        mnist_notes.push(format!(
            "the training set has {} images ({steps_per_epoch} task steps per epoch), so the run keeps the paper's \
             {PAPER_MNIST_TASK_STEPS} task steps with {epochs} epochs instead of {}",
            data.train_len(),
            mnist.epochs
        ));
        mnist.epochs = epochs;
    }
    mnist.trajectory_every = mnist.trajectory_every.max(mnist.epochs.div_ceil(MAX_SNAPSHOTS));
    let seeds = |full: u64, small: u64| -> Vec<u64> { (0..if opts.quick { small } else { full }).collect() };
    Ok(vec![
        Experiment {
            exp: Exp::Addition,
            title: "Experiment 1: float addition (paper §IV)",
            cfg: addition,
            seeds: seeds(10, 3),
            notes: Vec::new(),
            data: None,
        },
        Experiment {
            exp: Exp::Mnist,
            title: "Experiment 2: MNIST 15×15 (paper §V)",
            cfg: mnist,
            seeds: seeds(3, 2),
            notes: mnist_notes,
            data: Some(data),
        },
    ])
}

/// Self-train steps each organism particle received: the standalone baseline gets as many.
fn organism_self_train_steps(cfg: &Config, train_len: usize) -> usize {
    cfg.epochs * train_len.div_ceil(cfg.batch_size) * cfg.self_train_steps
}

/// What `reproduce` did, also written as `reproduce.json`.
#[derive(serde::Serialize)]
pub struct Outcome {
    /// Wall seconds of each stage, in order.
    pub stages: Vec<(String, f64)>,
    /// Wall seconds in total.
    pub wall_seconds: f64,
    /// The claims table's rows.
    pub claims: Vec<Claim>,
    /// The "Beyond the paper" claims (`--extended`; empty without).
    pub beyond_claims: Vec<Claim>,
}

/// Regenerates the paper into `opts.out`: one output (see [`RunWriter`]) that replaces an
/// earlier report only once the new one is complete. The inputs are checked first. With
/// `opts.resume`, an unfinished report of a killed `reproduce` is continued (a fresh one is
/// started if there is none); the finished report is the same but for its wall times.
pub fn reproduce(opts: &Options, progress: &Progress) -> Result<Outcome> {
    let start = Instant::now();
    let recorded = Recorded {
        quick: opts.quick,
        extended: opts.extended,
        data: opts.data_dir.as_ref().map(|d| d.display().to_string()),
    };
    let resumed = if opts.resume { RunWriter::resume(&opts.out, opts.force, OPTIONS)? } else { None };
    if resumed.is_none() {
        check_free(&opts.out, opts.force)?;
    }
    let exps = experiments(opts, progress)?;
    let writer = match resumed {
        Some(writer) => {
            let before: Option<Recorded> =
                std::fs::read(writer.path(OPTIONS)).ok().and_then(|b| serde_json::from_slice(&b).ok());
            if before.as_ref() != Some(&recorded) {
                return Err(crate::Error::Invalid(format!(
                    "the unfinished {} was started with other options (--quick, --extended, --data); continue it with those",
                    opts.out.display()
                )));
            }
            writer
        }
        None => RunWriter::create(&opts.out, opts.force)?,
    };
    let options = serde_json::to_vec_pretty(&recorded).expect("plain values");
    let result = crate::checkpoint::write_atomic(&writer.path(OPTIONS), &options)
        .and_then(|_| reproduce_into(opts, &exps, writer.dir(), start, progress));
    writer.complete(result)
}

fn reproduce_into(
    opts: &Options,
    exps: &[Experiment],
    out: &Path,
    start: Instant,
    progress: &Progress,
) -> Result<Outcome> {
    let mut stages = Vec::new();
    let mut stage = |name: String, t: Instant| {
        let secs = t.elapsed().as_secs_f64();
        progress.println(&format!("[{:>7.1} s] {name} done in {secs:.1} s", start.elapsed().as_secs_f64()));
        stages.push((name, secs));
        secs
    };
    let tests = TestSets::default();
    let mut sections = Vec::new();
    let (robust, max_particles) = robustness_test(opts.quick);
    for exp in exps {
        let runs_dir = out.join("runs").join(exp.exp.name());
        let t = Instant::now();
        progress.println(&format!(
            "training {} ({} seeds, {} epochs) …",
            exp.exp.name(),
            exp.seeds.len(),
            exp.cfg.epochs
        ));
        let summaries = continue_seeds(&exp.cfg, &exp.seeds, &runs_dir, exp.data.as_deref(), progress)?;
        let train_secs = stage(format!("train {}", exp.exp.name()), t);
        if let Some(d) = &exp.data {
            tests.insert(&exp.cfg, d.clone());
        }

        // The standalone baseline: as many particles as the first organism has replicators
        // (10 to 100), self-trained as many steps as the organism's particles were.
        let t = Instant::now();
        let train_len = exp.data.as_ref().map(|d| d.train_len()).unwrap_or(exp.cfg.data.train_samples);
        let standalone_dir = out.join("runs").join(format!("standalone-{}", exp.exp.name()));
        let sr = summaries[0].types.get("self_replicator").copied().unwrap_or(0);
        let steps = organism_self_train_steps(&exp.cfg, train_len);
        let particles = ParticlesRun {
            count: sr.clamp(10, 100),
            shape: exp.cfg.particle_shape(),
            init: exp.cfg.particle.init,
            seed: 0,
            standalone: StandaloneConfig {
                steps,
                every: (steps / 100).max(1),
                lr: exp.cfg.lr,
                momentum: exp.cfg.momentum,
                epsilon: exp.cfg.epsilon,
            },
        };
        if !standalone_dir.is_dir() {
            particles_to_dir(&particles, &standalone_dir, false, progress)?;
        }
        let standalone_secs = stage(format!("standalone particles for {}", exp.exp.name()), t);

        let t = Instant::now();
        let dirs: Vec<PathBuf> = exp.seeds.iter().map(|&s| seed_dir(&runs_dir, s)).collect();
        let runs = open_runs(&dirs)?;
        let pruning = PruningSettings {
            fine_tune_epochs: if opts.quick { 1 } else { 10 },
            random_draws: if opts.quick { 2 } else { 5 },
            ..PruningSettings::default()
        };
        let aopts = AnalysisOptions {
            standalone: vec![standalone_dir.clone()],
            robustness: robust.clone(),
            max_particles,
            pruning,
        };
        let mut analyses = Vec::new();
        let mut skipped = Vec::new();
        let image = exp.cfg.task.dataset().is_some();
        for kind in Kind::ALL.into_iter().filter(|k| k.applies_to(image)) {
            let dir = out.join("analysis").join(exp.exp.name()).join(kind.name());
            // The analysis computes; its figures are drawn here.
            match analyze(kind, &runs, &tests, &aopts, &dir).and_then(|a| crate::plot::draw_all(&a.figures).map(|()| a))
            {
                Ok(a) => {
                    let heading = match crate::analysis::paper_figure(kind, image) {
                        Some(n) => format!("{} (Fig. {n})", kind.title()),
                        None => kind.title().to_string(),
                    };
                    analyses.push((heading, a))
                }
                Err(e) => skipped.push(format!("{}: {e}", kind.name())),
            }
        }
        let analysis_secs = stage(format!("analyses of {}", exp.exp.name()), t);
        let mut sec = section(exp, &summaries, analyses, skipped);
        sec.notes.push(format!(
            "wall time {}: training {} (the seeds in parallel), standalone particles {}, analyses and figures {}",
            seconds(train_secs + standalone_secs + analysis_secs),
            seconds(train_secs),
            seconds(standalone_secs),
            seconds(analysis_secs)
        ));
        sections.push(sec);
    }

    let look = |exp: Exp, kind: Kind| -> Option<&Analysis> {
        let i = exps.iter().position(|e| e.exp == exp)?;
        sections.get(i)?.analyses.iter().find(|(_, a)| a.kind == kind.name()).map(|(_, a)| a)
    };
    let claims = claims::evaluate(&look, robust.levels);
    let beyond = match opts.extended {
        true => {
            let t = Instant::now();
            let part = crate::explore::run(opts.quick, &opts.data_dir, &out.join("beyond"), progress)?;
            crate::run::write_text(&out.join("beyond").join("claims.md"), &claims::markdown(&part.claims))?;
            stage("beyond the paper".into(), t);
            Some(part)
        }
        false => None,
    };
    let deviations = deviations(exps);
    let wall = start.elapsed().as_secs_f64();
    let report = Report {
        title: "Organism networks: the paper's experiments, reproduced".into(),
        intro: vec![
            "Illium et al., \"Constructing Organism Networks from Collaborative Self-Replicators\", regenerated \
             from scratch by `organism reproduce`. Each claim below is measured on this run with a tolerance declared \
             before measuring; a claim that does not hold is a finding, not a bug."
                .into(),
            format!(
                "Mode: {}. Total wall time {}; each experiment's section gives its own.",
                if opts.quick { "quick (few epochs and seeds: a first look, not a reproduction)" } else { "full" },
                seconds(wall)
            ),
        ],
        claims: claims.clone(),
        deviations: deviations.clone(),
        sections,
        beyond,
    };
    report.write(out)?;
    // The claims and deviations alone, as pasted into the README.
    let claims_md = format!(
        "{}\n### Deviations from the paper\n\n{}",
        claims::markdown(&claims),
        claims::deviations_markdown(&deviations)
    );
    crate::run::write_text(&out.join("claims.md"), &claims_md)?;
    let beyond_claims = report.beyond.as_ref().map(|p| p.claims.clone()).unwrap_or_default();
    let outcome = Outcome { stages, wall_seconds: start.elapsed().as_secs_f64(), claims, beyond_claims };
    write_json(&out.join("reproduce.json"), &outcome)?;
    Ok(outcome)
}

fn section(
    exp: &Experiment,
    summaries: &[Summary],
    analyses: Vec<(String, Analysis)>,
    skipped: Vec<String>,
) -> Section {
    let mut notes = exp.notes.clone();
    notes.push(format!(
        "{} seeds ({}), {} epochs; training time per seed {}",
        exp.seeds.len(),
        exp.seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "),
        exp.cfg.epochs,
        summaries.iter().map(|s| seconds(s.wall_seconds)).collect::<Vec<_>>().join(", ")
    ));
    notes
        .push(format!("runs: runs/{}/seed-N/ (config.toml, metrics.csv, *.safetensors, summary.json)", exp.exp.name()));
    let cfg = Config { seed: exp.seeds[0], ..exp.cfg.clone() };
    Section { title: exp.title.to_string(), notes, config_toml: cfg.to_toml(), analyses, skipped }
}

/// A duration for people: `0.4 s`, `12 s`, `2 min 04 s`.
fn seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 60.0 {
        format!("{s:.0} s")
    } else {
        let whole = s.round() as u64;
        format!("{} min {:02} s", whole / 60, whole % 60)
    }
}

/// Where the reproduction departs from the paper, stated from the experiments' configurations.
fn deviations(exps: &[Experiment]) -> Vec<String> {
    let mut d = Vec::new();
    for e in exps {
        let c = &e.cfg;
        let name = e.exp.name();
        if c.organism.residual_skip {
            d.push(format!(
                "{name}: residual skip as in the authors' code (hidden layer idx odd keeps its input, even adds it; \
                 SPEC §2), not Definition 7's{}",
                if c.organism.depth <= 3 {
                    format!(" — with depth {} it adds nothing", c.organism.depth)
                } else {
                    String::new()
                }
            ));
        }
        d.push(format!(
            "{name}: PN weights initialised `{}` (particle.init; the authors' code: xavier_uniform_)",
            serde_json::to_value(c.particle.init).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
        ));
        match (&e.data, c.task) {
            (Some(data), _) => {
                d.push(format!(
                    "{name}: {} test images evaluated (data.test_samples = {}{}); {} training images{}",
                    data.test().x.len() / c.organism.inputs,
                    c.data.test_samples,
                    if c.data.test_samples == 0 { ", the whole test split" } else { "" },
                    data.train_len(),
                    if data.train_len() < 60_000 {
                        format!(" instead of the paper's 60,000 ({})", data.description())
                    } else {
                        String::new()
                    }
                ));
                d.push(format!(
                    "{name}: the paper's text, not the authors' code: ON activation `{}` (the code: none), {}:1 \
                     self-train to task steps, warm-up {}, input noise σ = {} (the code: none)",
                    c.organism.activation,
                    c.self_train_steps,
                    if c.warmup_accuracy > 0.0 { format!("to accuracy {}", c.warmup_accuracy) } else { "none".into() },
                    c.data.noise
                ));
            }
            (None, _) => d.push(format!(
                "{name}: {} self-train steps per batch (the paper's text; the authors' code used 10), {} test samples",
                c.self_train_steps, c.data.test_samples
            )),
        }
    }
    d.push(
        "robustness: each weight gets ±noise·u, u uniform in [0, 1) with a fair sign (the authors' code), where the \
         text speaks of Gaussian noise; times are counted per clone, and the authors' counting (final state counted, \
         running sums over seeds) is shown next to it"
            .into(),
    );
    d
}

/// The robustness test (SPEC §6) and the most PN_SR tested per run: the paper's 10 noise seeds and
/// at most 10,000 self-applications over 100 particles; quick mode 2 seeds, 200 steps, 10 particles.
pub(crate) fn robustness_test(quick: bool) -> (Robustness, usize) {
    if quick {
        (Robustness { seeds: 2, max_steps: 200, ..Robustness::default() }, 10)
    } else {
        (Robustness::default(), 100)
    }
}
