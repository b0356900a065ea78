//! Byte-reproducible outputs and resuming a killed run, through the binary as a user runs it:
//! every file a run writes (except `timing.json`, the wall time) is the same bytes for the same
//! configuration and seed, for 1, 2 or 3 threads, and after any number of `kill -9` and
//! `organism train --resume`.

mod common;

use rand::Rng;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_organism");

/// Every file of an output directory and its subdirectories but `timing.json`, by path
/// relative to `dir`.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    common::files_below(dir)
        .into_iter()
        .filter(|(_, path)| path.file_name().unwrap() != "timing.json")
        .map(|(name, path)| (name, std::fs::read(&path).unwrap()))
        .collect()
}

fn run(args: &[&str], threads: usize) {
    let o = Command::new(BIN).args(args).env("RAYON_NUM_THREADS", threads.to_string()).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A small run of an MNIST preset on the bundled subset.
fn preset_args(preset: &str, out: &Path, epochs: usize) -> Vec<String> {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k");
    [
        "train",
        "--preset",
        preset,
        "--seed",
        "1",
        "--data",
        data,
        "--set",
        "batch_size=1000",
        "--set",
        "trajectory_every=2",
        "--set",
        "validate_every=3",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("epochs={epochs}")].into_iter().flat_map(|e| ["--set".to_string(), e]))
    .chain(["--out".to_string(), out.display().to_string()])
    .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn every_file_is_the_same_bytes_for_1_2_and_3_threads() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen: Vec<(String, BTreeMap<String, Vec<u8>>)> = Vec::new();
    for threads in [1, 2, 3] {
        let add = dir.path().join(format!("add-{threads}"));
        run(
            &["train", "--preset", "addition", "--seed", "2", "--set", "epochs=5", "--out", add.to_str().unwrap()],
            threads,
        );
        let mnist = dir.path().join(format!("mnist-{threads}"));
        run(&strs(&preset_args("mnist", &mnist, 2)), threads);
        let particles = dir.path().join(format!("particles-{threads}"));
        run(
            &["particles", "--count", "300", "--steps", "50", "--seed", "4", "--out", particles.to_str().unwrap()],
            threads,
        );
        // Activation particles, one per cell (their figure and table included).
        let act = dir.path().join(format!("act-{threads}"));
        let args = ["--set", "epochs=3", "--set", "activation_particle.per=cell", "--out", act.to_str().unwrap()];
        run(&[&["train", "--preset", "addition-actparticle", "--seed", "3"][..], &args].concat(), threads);
        // Aggregator particles, one per cell.
        let agg = dir.path().join(format!("agg-{threads}"));
        let args = ["--set", "epochs=3", "--set", "aggregator_particle.per=cell", "--out", agg.to_str().unwrap()];
        run(&[&["train", "--preset", "addition-aggparticle", "--seed", "3"][..], &args].concat(), threads);
        let kinds =
            [("addition", add), ("mnist", mnist), ("particles", particles), ("activation", act), ("aggregator", agg)];
        for (kind, d) in kinds {
            let f = files(&d);
            assert!(f.len() >= 3, "{kind}: {:?}", f.keys());
            match seen.iter().find(|(k, _)| k == kind) {
                None => seen.push((kind.to_string(), f)),
                Some((_, first)) => {
                    assert_eq!(first.keys().collect::<Vec<_>>(), f.keys().collect::<Vec<_>>(), "{kind}");
                    for (name, bytes) in first {
                        assert!(f[name] == *bytes, "{kind}: {name} differs between 1 and {threads} threads");
                    }
                }
            }
        }
    }
}

/// A small MNIST run (bundled subset) killed with SIGKILL at random moments and resumed each
/// time ends byte for byte as the uninterrupted run.
#[test]
fn a_run_killed_at_random_moments_and_resumed_is_byte_identical() {
    killed_and_resumed_is_byte_identical("mnist");
}

/// The same with activation particles: their weights and task momentum are part of the
/// checkpoint.
#[test]
fn a_run_with_activation_particles_killed_and_resumed_is_byte_identical() {
    killed_and_resumed_is_byte_identical("mnist-actparticle");
}

/// The same with aggregator particles.
#[test]
fn a_run_with_aggregator_particles_killed_and_resumed_is_byte_identical() {
    killed_and_resumed_is_byte_identical("addition-aggparticle");
}

fn killed_and_resumed_is_byte_identical(preset: &str) {
    let dir = tempfile::tempdir().unwrap();
    let epochs = 10;
    let reference = dir.path().join("reference");
    let started = Instant::now();
    run(&strs(&preset_args(preset, &reference, epochs)), 2);
    let whole_ms = started.elapsed().as_millis() as u64;

    let out = dir.path().join("killed");
    let mut args = preset_args(preset, &out, epochs);
    args.extend(["--checkpoint-every".to_string(), "2".to_string()]);
    let resume = ["train", "--resume", out.to_str().unwrap(), "--checkpoint-every", "2"].map(String::from);
    let kills = kill_and_resume(dir.path(), &out, &args, &resume, whole_ms);
    assert_same(&files(&reference), &files(&out), &kills);
}

/// A multi-seed run (`--seeds`) killed at random moments and resumed (seeds complete are
/// kept, the others continue from their checkpoints) ends byte for byte as the uninterrupted
/// one, whose every seed is in turn the run of that single seed.
#[test]
fn a_multi_seed_run_killed_and_resumed_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let args = |out: &Path| -> Vec<String> {
        let out = out.to_str().unwrap();
        ["train", "--preset", "addition", "--seeds", "0..3", "--set", "epochs=60", "--checkpoint-every", "5"]
            .iter()
            .map(|s| s.to_string())
            .chain(["--out".to_string(), out.to_string()])
            .collect()
    };
    let reference = dir.path().join("reference");
    let started = Instant::now();
    run(&strs(&args(&reference)), 2);
    let whole_ms = started.elapsed().as_millis() as u64;
    let expected = files(&reference);
    assert!(expected.contains_key("seeds.json") && expected.contains_key("config.toml"), "{:?}", expected.keys());

    let single = dir.path().join("single");
    run(&["train", "--preset", "addition", "--seed", "1", "--set", "epochs=60", "--out", single.to_str().unwrap()], 2);
    // The same files but the output marker, which only the whole output carries.
    let seed_1: BTreeMap<String, Vec<u8>> = expected
        .iter()
        .filter_map(|(name, bytes)| Some((name.strip_prefix("seed-1/")?.to_string(), bytes.clone())))
        .collect();
    let mut single = files(&single);
    single.remove(".organism-output");
    assert_same(&single, &seed_1, &[]);

    let out = dir.path().join("killed");
    let resume = ["train", "--resume", out.to_str().unwrap(), "--checkpoint-every", "5"].map(String::from);
    let kills = kill_and_resume(dir.path(), &out, &args(&out), &resume, whole_ms);
    assert_same(&expected, &files(&out), &kills);
}

/// Runs `args` (writing `out` in `dir`) and kills it with SIGKILL at random moments, then
/// `resume` until `out` is complete; returns the kill moments (ms after each start). Kill
/// moments are drawn within the time an uninterrupted run took (`whole_ms`), so every attempt
/// can be killed mid-run however fast or loaded the machine is.
fn kill_and_resume(dir: &Path, out: &Path, args: &[String], resume: &[String], whole_ms: u64) -> Vec<u64> {
    let mut whole_ms = whole_ms.max(100);
    let mut rng = rand::thread_rng();
    let mut kills = Vec::new();
    while !out.is_dir() {
        let mut cmd = Command::new(BIN);
        // Killed before it wrote its configuration, a run has nothing to resume: start it again.
        if partials(dir).iter().any(|p| p.join("config.toml").is_file()) {
            cmd.args(resume);
        } else {
            cmd.args(args);
        }
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        // A random moment within the first 80 % of a whole run's time, at most four kills in all.
        let after = rng.gen_range(whole_ms / 20..whole_ms * 4 / 5);
        let deadline = Instant::now() + Duration::from_millis(after);
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() >= deadline && kills.len() < 4 {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        match finished {
            Some(status) => {
                assert!(status.success(), "the run failed after kills at {kills:?} ms");
                if kills.is_empty() {
                    // Finished before the first kill (this run was faster than the reference):
                    // start over with a shorter window.
                    std::fs::remove_dir_all(out).unwrap();
                    whole_ms = (whole_ms / 2).max(20);
                }
            }
            None => {
                child.kill().unwrap(); // SIGKILL on Unix
                child.wait().unwrap();
                kills.push(after);
            }
        }
    }
    assert!(!kills.is_empty(), "the run was never killed");
    // No resumable partial directory is left beside the finished run.
    let left: Vec<_> = partials(dir).into_iter().filter(|p| p.join("config.toml").exists()).collect();
    assert!(left.is_empty(), "{left:?}");
    kills
}

/// `got` has the files of `expected`, byte for byte.
fn assert_same(expected: &BTreeMap<String, Vec<u8>>, got: &BTreeMap<String, Vec<u8>>, kills: &[u64]) {
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "after kills at {kills:?} ms");
    for (name, bytes) in expected {
        assert!(got[name] == *bytes, "{name} differs after kills at {kills:?} ms");
    }
}

/// The partial directories in `dir`.
fn partials(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".partial-"))
        .collect()
}

#[test]
fn resume_without_a_killed_run_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("none");
    let o = Command::new(BIN).args(["train", "--resume", out.to_str().unwrap()]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing to resume"), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A killed run whose parent has not yet reaped it (a zombie, as a shell leaves it for a moment
/// after `kill -9`) is dead: `--resume` takes its partial directory over at once instead of
/// saying it is "still being written".
#[cfg(target_os = "linux")]
#[test]
fn a_killed_run_not_yet_reaped_is_resumed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = preset_args("mnist", &out, 3);
    let mut child = Command::new(BIN).args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !partials(dir.path()).iter().any(|p| p.join("config.toml").is_file()) {
        assert!(child.try_wait().unwrap().is_none() && Instant::now() < deadline, "the run wrote no configuration");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix; not waited for: a zombie once the kernel is done
    let stat = format!("/proc/{}/stat", child.id());
    let zombie = || std::fs::read_to_string(&stat).unwrap().rsplit_once(')').unwrap().1.trim_start().starts_with('Z');
    while !zombie() {
        assert!(Instant::now() < deadline, "the killed run never became a zombie");
        std::thread::sleep(Duration::from_millis(1));
    }
    let resume = ["train", "--resume", out.to_str().unwrap()];
    let o = Command::new(BIN).args(resume).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("summary.json").is_file());
    child.wait().unwrap();
}

/// A checkpoint's trajectory written for another row shape (as an older version wrote it for
/// aggregator runs, without `aggregator_weights`) is refused on resume, and left untouched,
/// instead of having rows written where its tensors do not lie.
#[test]
fn a_trajectory_of_another_layout_is_not_resumed() {
    use organism::checkpoint::{RowShape, TrajectoryWriter};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trajectory.safetensors");
    let old = RowShape { n: 6, p: 14, n_act: 0, p_act: 0, n_agg: 0, p_agg: 0 };
    let mut w = TrajectoryWriter::create(&path, 3, 0..3, old).unwrap();
    w.push([&[0.5; 6 * 14], &[], &[]]).unwrap();
    w.flush().unwrap();
    drop(w);
    let before = std::fs::read(&path).unwrap();

    let new = RowShape { n_agg: 2, p_agg: 14, ..old };
    let err = TrajectoryWriter::reopen(&path, 3, 1, new).err().expect("another layout must be refused");
    assert!(err.to_string().contains("trajectory.safetensors"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "the refused file was changed");
    // The same layout is continued.
    assert!(TrajectoryWriter::reopen(&path, 3, 1, old).is_ok());
}
