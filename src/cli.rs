//! The command line: every subcommand, its flags and their help (clap). `main.rs` runs them.

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};
use organism::activation::Activation;
use organism::analysis::kind::Kind;
use organism::config::{self, Task, PRESETS};
use organism::data::DatasetKind;
use organism::experiment;
use organism::fixpoint::{Counting, Robustness, EPSILON};
use organism::particle::Init;
use std::path::PathBuf;

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
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
pub(crate) struct TrainArgs {
    /// Built-in preset to start from.
    #[arg(long, value_parser = preset_names())]
    pub(crate) preset: Option<String>,
    /// TOML file of keys laid over the preset (its `preset` key names the base preset).
    #[arg(long, value_name = "FILE.toml")]
    pub(crate) config: Option<PathBuf>,
    /// Override a key, e.g. `--set epochs=5` or `--set organism.width=4` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) sets: Vec<String>,
    /// Seed of a single run, written straight into --out.
    #[arg(long, conflicts_with = "seeds")]
    pub(crate) seed: Option<u64>,
    /// Several seeds trained in parallel into OUT/seed-N/, e.g. `0..10` or `0,3,7`.
    #[arg(long)]
    pub(crate) seeds: Option<String>,
    /// Image data: a folder with the four IDX files (sets data.dir).
    #[arg(long, value_name = "DIR")]
    pub(crate) data: Option<PathBuf>,
    /// Image data set (sets task).
    #[arg(long, value_parser = image_tasks())]
    pub(crate) dataset: Option<Task>,
    /// Output directory.
    #[arg(long, required_unless_present = "resume")]
    pub(crate) out: Option<PathBuf>,
    #[arg(long, help = FORCE)]
    pub(crate) force: bool,
    /// Continue the run a killed `organism train --out DIR` (one seed or --seeds) left behind,
    /// each seed from its last checkpoint (complete seeds are kept), with the configuration it
    /// was started with. The finished DIR is byte for byte what an uninterrupted run writes
    /// (except timing.json).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["preset", "config", "sets", "seed", "seeds", "data", "dataset", "out"])]
    pub(crate) resume: Option<PathBuf>,
    /// Write a checkpoint (in the unfinished run directory) every this many epochs; 0 = never.
    #[arg(long, value_name = "N", default_value_t = experiment::CHECKPOINT_EVERY)]
    pub(crate) checkpoint_every: usize,
}

#[derive(Args)]
pub(crate) struct ParticlesArgs {
    /// Number of particles.
    #[arg(long, default_value_t = 1000)]
    pub(crate) count: usize,
    /// Hidden width h of the `[5, h, h, 1]` particles.
    #[arg(long, default_value_t = 2)]
    pub(crate) hidden: usize,
    /// Self-training steps.
    #[arg(long, default_value_t = 1000)]
    pub(crate) steps: usize,
    /// Count classes every this many steps.
    #[arg(long, default_value_t = 10)]
    pub(crate) every: usize,
    /// Seed of the particles' initialisation.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Particle activation: none (linear, the paper's), tanh or gelu.
    #[arg(long, default_value = "none")]
    pub(crate) activation: Activation,
    /// Weight initialisation: `xavier` (the authors' code) or `torch_linear` (±1/sqrt(in)).
    #[arg(long, default_value = "xavier")]
    pub(crate) init: Init,
    /// SGD learning rate (positive).
    #[arg(long, default_value_t = 0.004)]
    pub(crate) lr: f32,
    /// SGD momentum, in [0, 1).
    #[arg(long, default_value_t = 0.9)]
    pub(crate) momentum: f32,
    /// ε of the fixpoint test that classifies the particles (positive).
    #[arg(long, default_value_t = EPSILON)]
    pub(crate) epsilon: f32,
    /// Output directory.
    #[arg(long)]
    pub(crate) out: PathBuf,
    #[arg(long, help = FORCE)]
    pub(crate) force: bool,
}

/// The noise test of the robustness experiment (paper Fig. 4/7), shared by `robustness` and
/// `analyze robustness`.
#[derive(Args)]
pub(crate) struct NoiseArgs {
    /// Noise draws per particle and level.
    #[arg(long, default_value_t = Robustness::default().seeds)]
    pub(crate) seeds: u64,
    /// Cap on self-applications per clone (capped clones are reported as such).
    #[arg(long, default_value_t = Robustness::default().max_steps)]
    pub(crate) max_steps: usize,
}

impl NoiseArgs {
    /// The robustness test with these draws and cap, the other settings as given.
    pub(crate) fn test(&self, base: Robustness) -> Robustness {
        Robustness { seeds: self.seeds, max_steps: self.max_steps, ..base }
    }
}

#[derive(Args)]
pub(crate) struct RobustnessArgs {
    /// A particles.safetensors / organism.safetensors file, an `organism particles` directory, or a
    /// run directory.
    #[arg(long)]
    pub(crate) from: PathBuf,
    #[command(flatten)]
    pub(crate) noise: NoiseArgs,
    /// Noise levels 10^0 … 10^-(levels-1).
    #[arg(long, default_value_t = Robustness::default().levels)]
    pub(crate) levels: u32,
    /// `clone` (each clone's own times) or `authors` (as the authors' tester: the final state
    /// counts as a fixpoint step and the counters run on over the seeds, SPEC §6).
    #[arg(long, default_value = "clone")]
    pub(crate) counting: Counting,
    /// Output directory.
    #[arg(long)]
    pub(crate) out: PathBuf,
    #[arg(long, help = FORCE)]
    pub(crate) force: bool,
}

#[derive(Args)]
pub(crate) struct AnalyzeArgs {
    /// types, curves, robustness, resubstitution, dropout, heatmap, connectivity, trajectories,
    /// pruning or stability.
    pub(crate) kind: Kind,
    /// Run directories (seeds of one experiment).
    #[arg(required = true)]
    pub(crate) runs: Vec<PathBuf>,
    /// Output directory (default: analysis-KIND).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// robustness: standalone populations (`organism particles` outputs) to compare with.
    #[arg(long)]
    pub(crate) standalone: Vec<PathBuf>,
    /// robustness: the noise test.
    #[command(flatten)]
    pub(crate) noise: NoiseArgs,
    /// robustness: at most this many self-replicators per run.
    #[arg(long, default_value_t = 100)]
    pub(crate) max_particles: usize,
    /// pruning: epochs of fine-tuning (self-pruning, L1 + fine-tuning, each iterative round,
    /// lottery ticket).
    #[arg(long, default_value_t = 10)]
    pub(crate) fine_tune_epochs: usize,
    /// pruning: draws of random pruning per sparsity.
    #[arg(long, default_value_t = 5)]
    pub(crate) random_draws: usize,
    #[arg(long, help = FORCE)]
    pub(crate) force: bool,
}

#[derive(Args)]
pub(crate) struct ReproduceArgs {
    /// Report directory.
    #[arg(long, default_value = "report")]
    pub(crate) out: PathBuf,
    /// A small version of everything (few epochs and seeds), in about 15 seconds.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Also run the experiments beyond the paper (interacting, non-linear, activation and aggregator particles, issue 13),
    /// multi-seed, into a "Beyond the paper" part of the same report with its own claims table.
    /// A flag of `reproduce` rather than a separate command: it shares the report, its claims
    /// discipline and the data; 12 to 19 minutes on 2 cores as measured (`--quick`: about 12 seconds more).
    #[arg(long)]
    pub(crate) extended: bool,
    /// A folder with the MNIST IDX files (else the cache, a download, or the bundled subset).
    #[arg(long, value_name = "DIR")]
    pub(crate) data: Option<PathBuf>,
    #[arg(long, help = FORCE)]
    pub(crate) force: bool,
    /// Continue the report a killed `reproduce` with the same --out, --quick, --extended and
    /// --data left unfinished: training runs (each seed from its last checkpoint, the
    /// `--extended` studies' included) and standalone populations already complete are kept, the
    /// rest is redone (every analysis); the report is the same but
    /// for its wall times. Without an unfinished report, starts a new one.
    #[arg(long)]
    pub(crate) resume: bool,
}

#[derive(Subcommand)]
pub(crate) enum SweepCommand {
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
pub(crate) enum DataCommand {
    /// Download a data set into the cache (verifying checksums).
    Fetch {
        /// mnist or fashion-mnist
        dataset: DatasetKind,
    },
    /// Say which data sets are found where.
    Info,
}

/// What `--force` may replace, the same for every command (the output rule of `run.rs`).
pub(crate) const FORCE: &str = "Replace an existing output: only an empty directory or an earlier output of organism, \
and only once the new one is complete";

pub(crate) fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _)| *n).collect()
}

/// `--dataset` values: the image tasks, by name.
pub(crate) fn image_tasks() -> impl TypedValueParser<Value = Task> {
    let names: Vec<&str> = Task::ALL.iter().filter(|t| t.dataset().is_some()).map(|t| t.name()).collect();
    clap::builder::PossibleValuesParser::new(names)
        .map(|s| *Task::ALL.iter().find(|t| t.name() == s).expect("a possible value"))
}

/// The long help of `train`: the configuration keys, listed from [`config::keys`].
pub(crate) fn train_help() -> String {
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
         organism.activation = particle),\n  \
         organism.aggregation = sum|particle, aggregator_particle.per = layer|cell, \
         aggregator_particle.activation = none|tanh|gelu (with organism.aggregation = particle).\n\n\
         Examples:\n  organism train --preset addition --seeds 0..10 --out runs/add\n  \
         organism train --preset mnist --set epochs=5 --set self_train_steps=10 --out runs/m",
        lines.join(",\n  "),
        Task::ALL.map(Task::name).join("|")
    )
}
