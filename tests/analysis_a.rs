//! The `types`, `curves`, `resubstitution` and `robustness` analyses on tiny addition runs.
//!
//! `cargo test --release --test analysis_a -- --ignored --nocapture` also runs them on the example
//! run directories named by `ORGANISM_EXAMPLE_RUNS` (a `;`-separated list of `name=dir,dir,…`),
//! writing into `ORGANISM_EXAMPLE_OUT` (default a temporary directory).

use organism::activation::Activation;
use organism::analysis::{self, open_runs, Analysis, TestSets};
use organism::config::Config;
use organism::experiment::{particles_to_dir, train_to_dir, ParticlesRun};
use organism::fixpoint::Robustness;
use organism::particle::{Init, ParticleShape};
use organism::progress::Progress;
use organism::run::Run;
use organism::task::TaskData;
use organism::train::StandaloneConfig;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Two 30-epoch addition runs (seeds 0 and 1), trained once for all tests: long enough that their
/// particles are self-replicators, so the robustness tests have something to test.
fn runs() -> &'static (tempfile::TempDir, Vec<PathBuf>) {
    static RUNS: OnceLock<(tempfile::TempDir, Vec<PathBuf>)> = OnceLock::new();
    RUNS.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = (0..2u64)
            .map(|seed| {
                let cfg =
                    Config::resolve(Some("addition"), None, &["epochs=30".into(), format!("seed={seed}")]).unwrap();
                let data = TaskData::addition(&cfg);
                let dir = tmp.path().join(format!("seed-{seed}"));
                train_to_dir(&cfg, &data, &dir, false, &Progress::hidden()).unwrap();
                dir
            })
            .collect();
        (tmp, dirs)
    })
}

fn open() -> Vec<Run> {
    open_runs(&runs().1).unwrap()
}

/// The CSV has a header and the given number of data rows at least; every figure has its PNG
/// and SVG.
fn assert_files(a: &Analysis, header: &str, min_rows: usize) {
    assert_eq!(a.csv.len(), 1, "{a:?}");
    let text = std::fs::read_to_string(&a.csv[0]).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(header), "{}", a.csv[0].display());
    assert!(lines.count() >= min_rows, "{}: fewer than {min_rows} rows", a.csv[0].display());
    assert!(!a.figures.is_empty());
    // The analysis specifies its figures; drawing them is the caller's part.
    organism::plot::draw_all(&a.figures).unwrap();
    for png in a.figures.iter().map(|f| f.png()) {
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", png.display());
        assert!(png.with_extension("svg").is_file(), "{}", png.display());
    }
}

fn assert_finite(a: &Analysis, names: &[&str]) {
    for name in names {
        let s = a.findings.get(*name).unwrap_or_else(|| panic!("finding `{name}` missing: {:?}", a.findings));
        assert!(s.mean.is_finite() && s.sd.is_finite() && s.n > 0, "`{name}`: {s:?}");
    }
}

#[test]
fn types_counts_classes_per_epoch() {
    let out = tempfile::tempdir().unwrap();
    let a = analysis::types::analyze(&open(), out.path()).unwrap();
    assert_eq!(a.kind, "types");
    // Epochs 0..=30, five classes each.
    assert_files(&a, "epoch,class,mean,sd,share_mean,share_sd", 31 * 5);
    assert_finite(&a, &["share_self_replicators", "all_self_replicators"]);
    assert!(a.findings.contains_key("first_all_sr_epoch"));
    let share = a.findings["share_self_replicators"];
    assert_eq!(share.n, 2);
    assert!((0.0..=1.0).contains(&share.mean));
    // The class means at an epoch add up to the organism's 18 particles.
    let text = std::fs::read_to_string(&a.csv[0]).unwrap();
    let total: f64 = text
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("0,"))
        .map(|l| l.split(',').nth(2).unwrap().parse::<f64>().unwrap())
        .sum();
    assert!((total - 18.0).abs() < 1e-9, "{total}");
}

#[test]
fn curves_average_losses_and_metrics() {
    let out = tempfile::tempdir().unwrap();
    let a = analysis::curves::analyze(&open(), out.path()).unwrap();
    assert_eq!(a.kind, "curves");
    assert_files(&a, "epoch,series,mean,sd,line,lower,upper", 30 * 4);
    assert_finite(&a, &["test_metric", "train_metric", "self_train_loss", "task_loss"]);
    assert_eq!(a.findings["test_metric"].n, 2);
}

#[test]
fn resubstitution_errors_are_tiny() {
    let out = tempfile::tempdir().unwrap();
    let a = analysis::resubstitution::analyze(&open(), &TestSets::default(), out.path()).unwrap();
    assert_eq!(a.kind, "resubstitution");
    assert_files(&a, "seed,max_abs_error,mean_abs_error,exact_zeros,outputs,run", 2);
    assert_finite(&a, &["max_abs_error", "mean_abs_error", "max_error_over_rounding_bound"]);
    // Linear PNs: both paths compute the same function, so every run's largest error is within
    // the f32 rounding bound (in ulps of the outputs' scale) of `rounding_bound_ulps`.
    let runs = open();
    assert_eq!(analysis::resubstitution::rounding_bound_ulps(&runs[0]), (2 + 9 + 3 + 9 + 3 + 9) as f64);
    for (k, r) in a.samples["max_error_over_rounding_bound"].iter().enumerate() {
        assert!(*r <= 1.0, "run {k}: error {r} × the rounding bound");
    }
}

#[test]
fn robustness_of_organism_and_standalone_particles() {
    let tmp = tempfile::tempdir().unwrap();
    let population = tmp.path().join("standalone");
    let run = ParticlesRun {
        count: 50,
        shape: ParticleShape::new(vec![5, 2, 2, 1], Activation::None).unwrap(),
        init: Init::Xavier,
        seed: 0,
        // 2,000 steps make most of the 50 self-replicators (300 made one).
        standalone: StandaloneConfig { steps: 2000, every: 500, lr: 0.004, momentum: 0.9, epsilon: 1e-5 },
    };
    particles_to_dir(&run, &population, false, &Progress::hidden()).unwrap();
    let test = Robustness { seeds: 2, max_steps: 60, ..Robustness::default() };
    let out = tmp.path().join("out");
    let runs = open();
    // The directory and the file inside it are both accepted.
    let sources = vec![population.clone(), population.join("particles.safetensors")];
    let a = analysis::robustness::analyze(&runs, &sources, &test, 5, &out).unwrap();
    assert_eq!(a.kind, "robustness");
    assert_files(&a, "source,run,particle,seed,noise,time_to_vergence,time_as_fixpoint,capped,final_fixpoint,authors_time_to_vergence,authors_time_as_fixpoint", 0);
    for name in [
        "organism_time_as_fixpoint",
        "organism_time_to_vergence",
        "organism_capped_share",
        "standalone_time_as_fixpoint",
        "standalone_time_to_vergence",
        "standalone_capped_share",
    ] {
        assert!(a.findings.contains_key(name), "{name}: {:?}", a.findings);
    }
    let text = std::fs::read_to_string(&a.csv[0]).unwrap();
    // At most 5 particles per source, 2 seeds, 10 levels.
    assert!(text.lines().count() - 1 <= (runs.len() + 2) * 5 * 2 * 10);
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        assert!(cells[0] == "organism" || cells[0] == "standalone", "{line}");
        assert!(cells[5].parse::<usize>().unwrap() <= 60, "{line}");
    }
    // Both sources have self-replicators: 5 per organism run and 5 per standalone source.
    for (source, n) in [("organism,", runs.len() * 5), ("standalone,", 2 * 5)] {
        assert_eq!(text.lines().filter(|l| l.starts_with(source)).count(), n * 2 * 10, "{source}");
    }
    assert_finite(&a, &["organism_time_as_fixpoint", "organism_time_to_vergence", "organism_capped_share"]);
    assert_finite(&a, &["standalone_time_as_fixpoint", "standalone_time_to_vergence"]);
    // Per noise level the particle is the unit: one value per tested particle.
    assert_eq!(a.samples["organism_time_as_fixpoint@1e-3"].len(), runs.len() * 5);
    assert_eq!(a.samples["standalone_time_to_vergence@1e-9"].len(), 2 * 5);
    // Per organism (the seed as unit): the mean time as fixpoint of its clones at the noise
    // levels below ε = 1e-5 (1e-6 … 1e-9), recomputed from the CSV.
    let per_run = &a.samples[analysis::robustness::PER_RUN];
    assert_eq!(per_run.len(), runs.len());
    let mut names: Vec<&str> = Vec::new();
    for line in text.lines().skip(1).filter(|l| l.starts_with("organism,")) {
        let name = line.split(',').nth(1).unwrap();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    assert_eq!(names.len(), runs.len());
    for (name, &value) in names.iter().zip(per_run) {
        let below: Vec<f64> = text
            .lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|c| c[0] == "organism" && c[1] == *name && c[4].parse::<f32>().unwrap() < 0.5e-5)
            .map(|c| c[6].parse().unwrap())
            .collect();
        assert_eq!(below.len(), 5 * 2 * 4, "{name}");
        let mean = below.iter().sum::<f64>() / below.len() as f64;
        assert!((value - mean).abs() < 1e-12, "{name}: {value} against {mean}");
    }
    // The authors' counting: running sums over the 2 seeds, the final state counted.
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let (seed, taf, fin, a_taf): (u64, usize, bool, usize) =
            (c[3].parse().unwrap(), c[6].parse().unwrap(), c[8].parse().unwrap(), c[10].parse().unwrap());
        if seed == 0 {
            assert_eq!(a_taf, taf + usize::from(fin), "{line}");
        } else {
            assert!(a_taf >= taf + usize::from(fin), "{line}");
        }
    }
}

#[test]
fn robustness_with_nothing_to_test_writes_header_and_figure() {
    let out = tempfile::tempdir().unwrap();
    let test = Robustness { seeds: 1, max_steps: 5, ..Robustness::default() };
    let a = analysis::robustness::analyze(&[], &[], &test, 5, out.path()).unwrap();
    assert_files(&a, "source,run,particle,seed,noise,time_to_vergence,time_as_fixpoint,capped,final_fixpoint,authors_time_to_vergence,authors_time_as_fixpoint", 0);
    assert_eq!(a.findings["organism_time_to_vergence"].n, 0);
    assert!(!a.notes.is_empty());
}

#[test]
fn robustness_caps_and_subsamples() {
    let out = tempfile::tempdir().unwrap();
    let runs = open();
    let test = Robustness { levels: 3, seeds: 1, max_steps: 3, ..Robustness::default() };
    let a = analysis::robustness::analyze(&runs[..1], &[], &test, 2, out.path()).unwrap();
    let text = std::fs::read_to_string(&a.csv[0]).unwrap();
    // 18 self-replicators, 2 tested, 3 levels, 1 seed; 3 self-applications never reach zero
    // or ±inf at the weakest noise, so those clones are capped.
    let rows = text.lines().count() - 1;
    assert_eq!(rows, 2 * 3, "{text}");
    assert!(a.notes.iter().any(|n| n.contains("tested 2 of its 18")), "{:?}", a.notes);
    assert!(a.findings["organism_capped_share"].mean > 0.0, "{:?}", a.findings);
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        assert!(cells[5].parse::<usize>().unwrap() <= 3, "{line}");
    }
    assert!(!a.findings.contains_key("standalone_time_to_vergence"));
}

#[test]
fn a_non_run_directory_is_named_in_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let bogus = tmp.path().join("not-a-run");
    std::fs::create_dir_all(&bogus).unwrap();
    let err = open_runs(&[runs().1[0].clone(), bogus.clone()]).err().expect("an error");
    assert!(err.to_string().contains(&bogus.display().to_string()), "{err}");
    // A missing standalone source is named too.
    let out = tmp.path().join("out");
    let missing = tmp.path().join("no-particles-here");
    let err = analysis::robustness::analyze(&open(), std::slice::from_ref(&missing), &Robustness::default(), 1, &out)
        .expect_err("an error");
    assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
}

#[test]
fn no_runs_is_an_error() {
    let out = tempfile::tempdir().unwrap();
    assert!(analysis::types::analyze(&[], out.path()).is_err());
    assert!(analysis::curves::analyze(&[], out.path()).is_err());
    assert!(analysis::resubstitution::analyze(&[], &TestSets::default(), out.path()).is_err());
}

/// Runs all four analyses on real run directories, for a look at the figures.
#[test]
#[ignore]
fn example_runs() {
    let Some(spec) = std::env::var_os("ORGANISM_EXAMPLE_RUNS") else {
        eprintln!("set ORGANISM_EXAMPLE_RUNS=name=dir,dir;name=dir");
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let base: PathBuf = std::env::var_os("ORGANISM_EXAMPLE_OUT").map_or_else(|| temp.path().to_owned(), PathBuf::from);
    let max_steps = std::env::var("ORGANISM_EXAMPLE_MAX_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let tests = TestSets::default();
    for group in spec.to_string_lossy().split(';') {
        let (name, dirs) = group.split_once('=').unwrap();
        let dirs: Vec<PathBuf> = dirs.split(',').map(PathBuf::from).collect();
        // A missing `…/standalone-hN` is made: 200 particles of hidden width N, 2000 steps.
        for d in &dirs {
            let name = d.file_name().unwrap().to_string_lossy().to_string();
            if let (false, Some(h)) = (d.exists(), name.strip_prefix("standalone-h").and_then(|h| h.parse().ok())) {
                let run = ParticlesRun {
                    count: 200,
                    shape: ParticleShape::new(vec![5, h, h, 1], Activation::None).unwrap(),
                    init: Init::Xavier,
                    seed: 0,
                    standalone: StandaloneConfig { steps: 2000, every: 100, lr: 0.004, momentum: 0.9, epsilon: 1e-5 },
                };
                let summary = particles_to_dir(&run, d, false, &Progress::hidden()).unwrap();
                eprintln!("made {}: {}", d.display(), summary["types"]);
            }
        }
        let (runs, standalone): (Vec<PathBuf>, Vec<PathBuf>) =
            dirs.into_iter().partition(|d| d.join("config.toml").is_file());
        let runs = open_runs(&runs).unwrap();
        let out = base.join(name);
        let show = |a: Analysis| {
            eprintln!("== {name}: {} -> {:?}", a.kind, a.figures);
            for (k, s) in &a.findings {
                eprintln!("   {k}: {:.4e} ± {:.3e} (n={})", s.mean, s.sd, s.n);
            }
            for n in &a.notes {
                eprintln!("   note: {n}");
            }
        };
        let t = std::time::Instant::now();
        show(analysis::types::analyze(&runs, &out).unwrap());
        show(analysis::curves::analyze(&runs, &out).unwrap());
        show(analysis::resubstitution::analyze(&runs, &tests, &out).unwrap());
        let test = Robustness { max_steps, ..Robustness::default() };
        show(analysis::robustness::analyze(&runs, &standalone, &test, 20, &out).unwrap());
        eprintln!("   ({:.1} s)", t.elapsed().as_secs_f64());
    }
}
