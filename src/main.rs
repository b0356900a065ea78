//! `organism`: the command line. Parses, dispatches to the library, prints; no logic of its own.

use clap::{Args, Parser, Subcommand};
use organism::activation::Activation;
use organism::analysis::{self, kind::Kind, open_runs, TestSets};
use organism::config::{Config, PRESETS};
use organism::data::{self, DatasetKind, LoadOptions};
use organism::experiment::{self, ParticlesRun};
use organism::fixpoint::{Counting, Robustness, EPSILON};
use organism::particle::{Init, ParticleShape};
use organism::progress::Progress;
use organism::reproduce;
use organism::schedule::StandaloneConfig;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "organism",
    version,
    about = "Organism networks: neural networks whose every weight is a self-replicating particle network",
    long_about = "Organism networks (ONs) are dense networks whose every edge is a small particle network \
(PN) that is trained to self-replicate its own weights while the ON is trained on a task \
(Illium et al., \"Constructing Organism Networks from Collaborative Self-Replicators\").\n\n\
Start with `organism reproduce --quick --out report` for a quick tour, or \
`organism train --preset addition --seeds 0..10 --out runs/add`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train organisms on a preset's task and write one run directory per seed.
    ///
    /// A run directory holds config.toml (fully resolved), metrics.csv (per epoch),
    /// organism.safetensors, trajectory.safetensors and summary.json.
    Train(TrainArgs),
    /// Self-train a population of standalone particles (the paper's individually trained SRNNs).
    Particles(ParticlesArgs),
    /// Robustness of self-replicators to noise (paper Fig. 4/7).
    Robustness(RobustnessArgs),
    /// One analysis of the paper over run directories (CSV + PNG + SVG).
    Analyze(AnalyzeArgs),
    /// The paper, regenerated: both experiments, every analysis, report/index.html + report.md.
    ///
    /// Trains the `addition` preset (10 seeds) and the `mnist` preset (3 seeds), a standalone
    /// particle population for the robustness comparison, runs every analysis and writes a
    /// self-contained HTML report and a Markdown report with the claims table.
    Reproduce(ReproduceArgs),
    /// Find, download or describe the image data sets.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
}

#[derive(Args)]
#[command(after_long_help = "Configuration keys (presets in presets/*.toml):\n  \
seed, epochs, batch_size, self_train_steps, lr, momentum, validate_every, trajectory_every,\n  \
warmup_accuracy (0 = off), epsilon,\n  \
organism.{inputs, width, depth, outputs, residual_skip, activation = none|gelu},\n  \
particle.{hidden, activation = none|tanh|gelu, init = xavier|torch_linear},\n  \
data.{train_samples, test_samples, image_size, antialias, noise, dir, download}\n\n\
Examples:\n  organism train --preset addition --seeds 0..10 --out runs/add\n  \
organism train --preset mnist --set epochs=5 --set self_train_steps=10 --out runs/m")]
struct TrainArgs {
    /// Built-in preset to start from.
    #[arg(long, value_parser = preset_names())]
    preset: Option<String>,
    /// TOML file of keys laid over the preset (its `preset` key names the base preset).
    #[arg(long, value_name = "FILE.toml")]
    config: Option<PathBuf>,
    /// Override a key, e.g. `--set epochs=5` or `--set organism.width=4` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Seed of a single run, written straight into --out.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Several seeds trained in parallel into OUT/seed-N/, e.g. `0..10` or `0,3,7`.
    #[arg(long)]
    seeds: Option<String>,
    /// Image data: a folder with the four IDX files (sets data.dir).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Image data set: mnist or fashion-mnist (sets task).
    #[arg(long)]
    dataset: Option<String>,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Overwrite existing run directories.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct ParticlesArgs {
    /// Number of particles.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Hidden width h of the `[5, h, h, 1]` particles.
    #[arg(long, default_value_t = 2)]
    hidden: usize,
    /// Self-training steps.
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Count classes every this many steps.
    #[arg(long, default_value_t = 10)]
    every: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Particle activation (the paper's are linear).
    #[arg(long, default_value = "none")]
    activation: Activation,
    /// Weight initialisation: `xavier` (the authors' code) or `torch_linear` (±1/sqrt(in)).
    #[arg(long, default_value = "xavier")]
    init: Init,
    #[arg(long, default_value_t = 0.004)]
    lr: f32,
    #[arg(long, default_value_t = 0.9)]
    momentum: f32,
    #[arg(long, default_value_t = EPSILON)]
    epsilon: f32,
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct RobustnessArgs {
    /// A particles.safetensors / organism.safetensors file, an `organism particles` directory, or a
    /// run directory.
    #[arg(long)]
    from: PathBuf,
    /// Noise draws per particle and level.
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// Cap on self-applications per clone (capped clones are reported as such).
    #[arg(long, default_value_t = 10_000)]
    max_steps: usize,
    /// Noise levels 10^0 … 10^-(levels-1).
    #[arg(long, default_value_t = 10)]
    levels: u32,
    /// `clone` (each clone's own times) or `authors` (as the authors' tester: the final state
    /// counts as a fixpoint step and the counters run on over the seeds, SPEC §6).
    #[arg(long, default_value = "clone")]
    counting: Counting,
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct AnalyzeArgs {
    /// types, curves, robustness, resubstitution, dropout, heatmap, connectivity, trajectories,
    /// pruning or stability.
    kind: Kind,
    /// Run directories (seeds of one experiment).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Output directory (default: analysis-KIND).
    #[arg(long)]
    out: Option<PathBuf>,
    /// robustness: standalone populations (`organism particles` outputs) to compare with.
    #[arg(long)]
    standalone: Vec<PathBuf>,
    /// robustness: noise draws per particle and level.
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// robustness: cap on self-applications per clone.
    #[arg(long, default_value_t = 10_000)]
    max_steps: usize,
    /// robustness: at most this many self-replicators per run.
    #[arg(long, default_value_t = 100)]
    max_particles: usize,
    /// pruning: epochs of fine-tuning (self-pruning, L1 + fine-tuning, each iterative round,
    /// lottery ticket).
    #[arg(long, default_value_t = 10)]
    fine_tune_epochs: usize,
    /// pruning: draws of random pruning per sparsity.
    #[arg(long, default_value_t = 5)]
    random_draws: usize,
}

#[derive(Args)]
struct ReproduceArgs {
    /// Report directory.
    #[arg(long, default_value = "report")]
    out: PathBuf,
    /// A small version of everything (few epochs and seeds), in about 15 seconds.
    #[arg(long)]
    quick: bool,
    /// A folder with the MNIST IDX files (else the cache, a download, or the bundled subset).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Overwrite an existing report directory.
    #[arg(long)]
    force: bool,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Download a data set into the cache (verifying checksums).
    Fetch {
        /// mnist or fashion-mnist
        dataset: DatasetKind,
    },
    /// Say which data sets are found where.
    Info,
}

fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _)| *n).collect()
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let progress = Progress::default();
    match cli.command {
        Command::Train(a) => {
            let mut sets = a.sets.clone();
            if let Some(d) = &a.data {
                sets.push(format!("data.dir={:?}", d.display().to_string()));
            }
            if let Some(kind) = &a.dataset {
                let kind: DatasetKind = kind.parse()?;
                sets.push(format!("task={:?}", kind.name()));
            }
            if let Some(seed) = a.seed {
                sets.push(format!("seed={seed}"));
            }
            let cfg = Config::resolve(a.preset.as_deref(), a.config.as_deref(), &sets)?;
            let summaries = match &a.seeds {
                Some(s) => {
                    experiment::train_seeds(&cfg, &experiment::parse_seeds(s)?, &a.out, a.force, None, &progress)?
                }
                None => {
                    organism::run::check_free(&a.out, a.force)?;
                    let data = experiment::task_data(&cfg)?;
                    vec![experiment::train_to_dir(&cfg, &data, &a.out, a.force, &progress)?]
                }
            };
            for s in summaries {
                let types: Vec<String> =
                    s.types.iter().filter(|(_, &n)| n > 0).map(|(k, n)| format!("{k} {n}")).collect();
                println!(
                    "seed {}: test {} {:.4e}, {} ({:.1} s)",
                    s.seed,
                    s.metric_name,
                    s.test_metric.unwrap_or(f32::NAN),
                    types.join(", "),
                    s.wall_seconds
                );
            }
            println!("wrote {}", a.out.display());
        }
        Command::Particles(a) => {
            let run = ParticlesRun {
                count: a.count,
                shape: ParticleShape::new(vec![5, a.hidden, a.hidden, 1], a.activation)?,
                init: a.init,
                seed: a.seed,
                standalone: StandaloneConfig {
                    steps: a.steps,
                    every: a.every.max(1),
                    lr: a.lr,
                    momentum: a.momentum,
                    epsilon: a.epsilon,
                },
            };
            let summary = experiment::particles_to_dir(&run, &a.out, a.force, &progress)?;
            println!("{}", serde_json::to_string(&summary["types"])?);
            println!("wrote {}", a.out.display());
        }
        Command::Robustness(a) => {
            let test = Robustness {
                levels: a.levels,
                seeds: a.seeds,
                max_steps: a.max_steps,
                eps: EPSILON,
                counting: a.counting,
            };
            let summary = experiment::robustness_to_dir(&a.from, &test, &a.out, a.force)?;
            println!(
                "tested {} self-replicators, {} capped runs",
                summary["self_replicators_tested"], summary["capped_runs"]
            );
            println!("wrote {}", a.out.display());
        }
        Command::Analyze(a) => {
            let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("analysis-{}", a.kind.name())));
            let runs = open_runs(&a.runs)?;
            let opts = analysis::kind::Options {
                standalone: a.standalone.clone(),
                robustness: Robustness { seeds: a.seeds, max_steps: a.max_steps, ..Robustness::default() },
                max_particles: a.max_particles,
                pruning: analysis::pruning::Settings {
                    fine_tune_epochs: a.fine_tune_epochs,
                    random_draws: a.random_draws,
                    ..Default::default()
                },
            };
            let result = analysis::kind::analyze(a.kind, &runs, &TestSets::default(), &opts, &out)?;
            for (name, s) in &result.findings {
                println!("{name}: {:.6} ± {:.6} (n = {})", s.mean, s.sd, s.n);
            }
            for n in &result.notes {
                println!("note: {n}");
            }
            for f in result.csv.iter().chain(&result.figures) {
                println!("wrote {}", f.display());
            }
        }
        Command::Reproduce(a) => {
            let opts =
                reproduce::Options { out: a.out.clone(), quick: a.quick, force: a.force, data_dir: a.data.clone() };
            let outcome = reproduce::reproduce(&opts, &progress)?;
            println!("claims of the paper, as measured here:");
            for c in &outcome.claims {
                println!("- {}\n    measured: {}\n    {}", c.claim, c.measured, c.verdict.name());
            }
            println!("total wall time {:.1} s; report in {}", outcome.wall_seconds, a.out.join("index.html").display());
        }
        Command::Data { command } => {
            let opts = LoadOptions { download: true, progress: true, ..LoadOptions::default() };
            match command {
                DataCommand::Fetch { dataset } => {
                    let dir = data::fetch(dataset, &opts)?;
                    println!("{dataset} is in {}", dir.display());
                }
                DataCommand::Info => print!("{}", data::info(&opts)),
            }
        }
    }
    Ok(())
}
