//! `organism`: the command line. Parses, dispatches to the library, prints; no logic of its own.

use clap::builder::TypedValueParser;
use clap::{Args, CommandFactory, Parser, Subcommand};
use organism::activation::Activation;
use organism::analysis::{self, kind::Kind, open_runs, TestSets};
use organism::config::{self, Config, Overrides, Task, PRESETS};
use organism::data::task::TaskData;
use organism::data::{self, DatasetKind, LoadOptions};
use organism::experiment::{self, ParticlesRun};
use organism::fixpoint::{Counting, Robustness, EPSILON};
use organism::particle::Init;
use organism::progress::Progress;
use organism::reproduce;
use organism::train::StandaloneConfig;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "organism",
    disable_help_subcommand = true,
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
    /// Grids of configurations × seeds: plan, run locally or on Slurm, status, collect.
    ///
    /// `organism sweep plan sweeps/addition-hidden.toml --out sw` expands a sweep file into
    /// numbered tasks (every configuration checked first); `sweep run sw` or `sweep slurm sw`
    /// runs them; `sweep status sw` says where they stand; `sweep collect sw` writes the table
    /// and figures.
    Sweep {
        #[command(subcommand)]
        command: SweepCommand,
    },
    /// Find, download or describe the image data sets.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// The help of the program or of a command, e.g. `organism help train`.
    Help {
        /// A command, and a subcommand of it (e.g. `data fetch`).
        command: Vec<String>,
    },
}

#[derive(Args)]
#[command(after_long_help = train_help())]
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
    /// Image data set (sets task).
    #[arg(long, value_parser = image_tasks())]
    dataset: Option<Task>,
    /// Output directory.
    #[arg(long, required_unless_present = "resume")]
    out: Option<PathBuf>,
    #[arg(long, help = FORCE)]
    force: bool,
    /// Continue the run a killed `organism train --out DIR` (one seed or --seeds) left behind,
    /// each seed from its last checkpoint (complete seeds are kept), with the configuration it
    /// was started with. The finished DIR is byte for byte what an uninterrupted run writes
    /// (except timing.json).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["preset", "config", "sets", "seed", "seeds", "data", "dataset", "out"])]
    resume: Option<PathBuf>,
    /// Write a checkpoint (in the unfinished run directory) every this many epochs; 0 = never.
    #[arg(long, value_name = "N", default_value_t = experiment::CHECKPOINT_EVERY)]
    checkpoint_every: usize,
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
    /// Seed of the particles' initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Particle activation: none (linear, the paper's), tanh or gelu.
    #[arg(long, default_value = "none")]
    activation: Activation,
    /// Weight initialisation: `xavier` (the authors' code) or `torch_linear` (±1/sqrt(in)).
    #[arg(long, default_value = "xavier")]
    init: Init,
    /// SGD learning rate (positive).
    #[arg(long, default_value_t = 0.004)]
    lr: f32,
    /// SGD momentum, in [0, 1).
    #[arg(long, default_value_t = 0.9)]
    momentum: f32,
    /// ε of the fixpoint test that classifies the particles (positive).
    #[arg(long, default_value_t = EPSILON)]
    epsilon: f32,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, help = FORCE)]
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
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, help = FORCE)]
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
    #[arg(long, help = FORCE)]
    force: bool,
}

#[derive(Args)]
struct ReproduceArgs {
    /// Report directory.
    #[arg(long, default_value = "report")]
    out: PathBuf,
    /// A small version of everything (few epochs and seeds), in about 15 seconds.
    #[arg(long)]
    quick: bool,
    /// Also run the experiments beyond the paper (interacting and non-linear particles, issue 13),
    /// multi-seed, into a "Beyond the paper" part of the same report with its own claims table.
    /// A flag of `reproduce` rather than a separate command: it shares the report, its claims
    /// discipline and the data; about 30 minutes on 2 cores (`--quick`: about 30 s more).
    #[arg(long)]
    extended: bool,
    /// A folder with the MNIST IDX files (else the cache, a download, or the bundled subset).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    #[arg(long, help = FORCE)]
    force: bool,
    /// Continue the report a killed `reproduce` with the same --out, --quick and --data left
    /// unfinished: training runs (each seed from its last checkpoint) and standalone
    /// populations already complete are kept, the rest is redone; the report is the same but
    /// for its wall times. Without an unfinished report, starts a new one.
    #[arg(long)]
    resume: bool,
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Expand a sweep file into a sweep directory of numbered tasks (nothing runs yet).
    Plan {
        /// The sweep file (TOML: preset or config, seeds, [set], [grid], [[zip]]).
        file: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Run the tasks that are not done (or one task) on this machine.
    Run {
        dir: PathBuf,
        /// Tasks trained at once.
        #[arg(long, default_value_t = 1, conflicts_with = "task")]
        jobs: usize,
        /// Run only this task (what a Slurm array element calls).
        #[arg(long)]
        task: Option<usize>,
    },
    /// Write a Slurm job-array script (one task per element) and submit it with sbatch.
    Slurm {
        dir: PathBuf,
        #[arg(long)]
        partition: Option<String>,
        /// Time limit per task, e.g. 1:00:00.
        #[arg(long)]
        time: Option<String>,
        /// CPUs per task.
        #[arg(long)]
        cpus: Option<u32>,
        /// Memory per task, e.g. 2G.
        #[arg(long)]
        mem: Option<String>,
        /// At most this many array elements at once (default: all).
        #[arg(long)]
        parallel: Option<usize>,
        /// Submit only the tasks that are pending or failed and not queued.
        #[arg(long)]
        missing: bool,
        /// Print the script; submit nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Done, running, failed and pending tasks, with each failure's last error line.
    Status { dir: PathBuf },
    /// Write results.csv, wall_times.csv, a figure per swept key and index.html.
    Collect {
        dir: PathBuf,
        /// Output directory (default: DIR/collect).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing output directory.
        #[arg(long)]
        force: bool,
    },
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

/// What `--force` may replace, the same for every command (the output rule of `run.rs`).
const FORCE: &str = "Replace an existing output: only an empty directory or an earlier output of organism, \
and only once the new one is complete";

fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _)| *n).collect()
}

/// `--dataset` values: the image tasks, by name.
fn image_tasks() -> impl TypedValueParser<Value = Task> {
    let names: Vec<&str> = Task::ALL.iter().filter(|t| t.dataset().is_some()).map(|t| t.name()).collect();
    clap::builder::PossibleValuesParser::new(names)
        .map(|s| *Task::ALL.iter().find(|t| t.name() == s).expect("a possible value"))
}

/// The long help of `train`: the configuration keys, listed from [`config::keys`].
fn train_help() -> String {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for key in config::keys() {
        let (group, name) = key.rsplit_once('.').map_or((String::new(), key.clone()), |(g, n)| (g.into(), n.into()));
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, names)) => names.push(name),
            None => groups.push((group, vec![name])),
        }
    }
    let lines: Vec<String> = groups
        .into_iter()
        .map(|(g, names)| if g.is_empty() { names.join(", ") } else { format!("{g}.{{{}}}", names.join(", ")) })
        .collect();
    format!(
        "Configuration keys (presets in presets/*.toml; `--set KEY=VALUE`):\n  {}\n\n\
         Values: task = {}, organism.activation = none|gelu|particle, \
         particle.activation = none|tanh|gelu, particle.init = xavier|torch_linear, warmup_accuracy 0 = off,\n  \
         interaction.kind = none|attack|melt, interaction.rate = probability per particle and batch, \
         interaction.scope = cell|layer|organism,\n  \
         activation_particle.per = layer|cell, activation_particle.activation = tanh|gelu (with \
         organism.activation = particle).\n\n\
         Examples:\n  organism train --preset addition --seeds 0..10 --out runs/add\n  \
         organism train --preset mnist --set epochs=5 --set self_train_steps=10 --out runs/m",
        lines.join(",\n  "),
        Task::ALL.map(Task::name).join("|")
    )
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Each cause once: an error that already quotes its source does not repeat it.
            let mut message = e.to_string();
            for cause in e.chain().skip(1) {
                let cause = cause.to_string();
                if !message.contains(&cause) {
                    message = format!("{message}: {cause}");
                }
            }
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let progress = Progress::default();
    match cli.command {
        Command::Train(a) => {
            if let Some(dir) = &a.resume {
                match experiment::resume_dir(dir, a.force, a.checkpoint_every, &progress)? {
                    Some(summaries) => {
                        for s in summaries {
                            println!("seed {}: finished ({:.1} s in all)", s.seed, s.wall_seconds)
                        }
                    }
                    None if dir.join(organism::run::CONFIG).is_file() => {
                        println!("{} is already complete", dir.display())
                    }
                    None => {
                        return Err(organism::Error::Invalid(format!("nothing to resume for {}", dir.display())).into())
                    }
                }
                println!("wrote {}", dir.display());
                return Ok(());
            }
            let out = a.out.as_ref().expect("clap requires --out without --resume");
            let overrides = Overrides { seed: a.seed, task: a.dataset, data_dir: a.data.clone() };
            let cfg = Config::resolve_with(a.preset.as_deref(), a.config.as_deref(), &a.sets, &overrides)?;
            let summaries = match &a.seeds {
                Some(s) => {
                    let seeds = experiment::parse_seeds(s)?;
                    organism::run::check_free(out, a.force)?;
                    experiment::train_seeds_with(&cfg, &seeds, out, a.force, None, a.checkpoint_every, &progress)?
                }
                None => {
                    organism::run::check_free(out, a.force)?;
                    let data = TaskData::load(&cfg)?;
                    vec![experiment::train_to_dir_with(&cfg, &data, out, a.force, a.checkpoint_every, &progress)?]
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
            println!("wrote {}", out.display());
        }
        Command::Particles(a) => {
            let standalone =
                StandaloneConfig { steps: a.steps, every: a.every, lr: a.lr, momentum: a.momentum, epsilon: a.epsilon };
            let run = ParticlesRun::new(a.count, a.hidden, a.activation, a.init, a.seed, standalone)?;
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
            organism::run::check_free(&out, a.force)?;
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
            let result = analysis::kind::analyze_to_dir(a.kind, &runs, &TestSets::default(), &opts, &out, a.force)?;
            for (name, s) in &result.findings {
                println!("{name}: {:.6} ± {:.6} (n = {})", s.mean, s.sd, s.n);
            }
            for n in &result.notes {
                println!("note: {n}");
            }
            let figures = result.figures.iter().flat_map(|f| [f.png(), f.svg()]);
            for f in result.csv.iter().cloned().chain(figures) {
                println!("wrote {}", f.display());
            }
        }
        Command::Reproduce(a) => {
            let opts = reproduce::Options {
                out: a.out.clone(),
                quick: a.quick,
                extended: a.extended,
                force: a.force,
                data_dir: a.data.clone(),
                resume: a.resume,
            };
            let outcome = reproduce::reproduce(&opts, &progress)?;
            println!("claims of the paper, as measured here:");
            for c in &outcome.claims {
                println!("- {}\n    measured: {}\n    {}", c.claim, c.measured, c.verdict.name());
            }
            println!("total wall time {:.1} s; report in {}", outcome.wall_seconds, a.out.join("index.html").display());
        }
        Command::Help { command } => {
            let mut cmd = Cli::command();
            cmd.build();
            for name in &command {
                cmd = cmd
                    .find_subcommand(name)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("no command `{name}`; `organism --help` lists them"))?;
            }
            cmd.print_long_help()?;
        }
        Command::Sweep { command } => sweep(command, &progress)?,
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

fn sweep(command: SweepCommand, progress: &Progress) -> anyhow::Result<()> {
    use organism::sweep::{self, collect, plan, run::Outcome, slurm, Sweep};
    match command {
        SweepCommand::Plan { file, out } => {
            let p = plan::plan(&file)?;
            plan::write(&file, &p, &out)?;
            println!("{} tasks ({} seeds each); wrote {}", p.configs.len(), p.manifest.seeds.len(), out.display());
        }
        SweepCommand::Run { dir, jobs, task } => {
            let sw = Sweep::open(&dir)?;
            let say = |i: usize, r: &organism::Result<Outcome>| match r {
                Ok(Outcome::Ran(s)) => println!(
                    "task {} ({}): test {} {:.4e} ({:.1} s)",
                    sweep::task_name(i),
                    sw.describe(i),
                    s.metric_name,
                    s.test_metric.unwrap_or(f32::NAN),
                    s.wall_seconds
                ),
                Ok(Outcome::Skipped(why)) => println!("{why}"),
                Err(e) => eprintln!("task {} ({}) failed: {e}", sweep::task_name(i), sw.describe(i)),
            };
            match task {
                Some(i) => {
                    let r = sweep::run::run_task(&sw, i, progress);
                    say(i, &r);
                    r?;
                }
                None => {
                    let hidden = Progress::hidden();
                    let (ran, failed) = sweep::run::run_all(&sw, jobs, &hidden, &say)?;
                    println!("ran {ran} tasks, {} failed", failed.len());
                    anyhow::ensure!(failed.is_empty(), "{} tasks failed (see `organism sweep status`)", failed.len());
                }
            }
        }
        SweepCommand::Slurm { dir, partition, time, cpus, mem, parallel, missing, dry_run } => {
            let sw = Sweep::open(&dir)?;
            let opts = slurm::Options { partition, time, cpus, mem, parallel, missing };
            let sub = slurm::prepare(&sw, &opts, &std::env::current_exe()?)?;
            if sub.indices.is_empty() {
                println!("nothing to submit: every task is done, running or queued");
            } else if dry_run {
                print!("{}", sub.script);
            } else {
                let job = slurm::submit(&sw, &sub)?;
                println!("submitted job {job}: array {}", slurm::ranges(&sub.indices));
            }
        }
        SweepCommand::Status { dir } => print!("{}", sweep::status(&Sweep::open(&dir)?)),
        SweepCommand::Collect { dir, out, force } => {
            let sw = Sweep::open(&dir)?;
            let out = out.unwrap_or_else(|| sw.dir.join("collect"));
            let c = collect::collect(&sw, &out, force)?;
            if !c.missing.is_empty() {
                eprintln!("note: {} tasks are not done and are not in the table", c.missing.len());
            }
            println!("{} tasks; wrote {}", c.rows, c.dir.display());
        }
    }
    Ok(())
}
