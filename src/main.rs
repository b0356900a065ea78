//! `organism`: the command line. Parses, dispatches to the library, prints; no logic of its own.

use clap::{CommandFactory, Parser};
use organism::analysis::{self, open_runs, TestSets};
use organism::config::{Config, Overrides};
use organism::data::{self, LoadOptions};
use organism::experiment::{self, ParticlesRun};
use organism::fixpoint::{Robustness, EPSILON};
use organism::progress::Progress;
use organism::reproduce;
use organism::task::TaskData;
use organism::train::StandaloneConfig;
use std::path::PathBuf;
use std::process::ExitCode;

mod cli;
use cli::{Cli, Command, DataCommand, SweepCommand};

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

/// Prints the library's notes and warnings (`log` records of organism, not of its
/// dependencies) on stderr, above the progress bars.
struct Notes(Progress);

impl log::Log for Notes {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Info && m.target().starts_with("organism")
    }

    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            let kind = if r.level() <= log::Level::Warn { "warning" } else { "note" };
            self.0.println(&format!("{kind}: {}", r.args()));
        }
    }

    fn flush(&self) {}
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let progress = Progress::default();
    // Only fails if a logger is already set, and then that one prints.
    let _ =
        log::set_boxed_logger(Box::new(Notes(progress.clone()))).map(|()| log::set_max_level(log::LevelFilter::Info));
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
            let test = a.noise.test(Robustness {
                levels: a.levels,
                eps: EPSILON,
                counting: a.counting,
                ..Robustness::default()
            });
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
                robustness: a.noise.test(Robustness::default()),
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
