//! Issue 8, as a user (or an adversary) would try it: every case of the list that is
//! about outputs, bounds, paths, validation and messages, spawning the binary. (Case 5,
//! byte-identical safetensors, and the kill-and-resume half of case 8 are in the resume tests.)

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_organism");
const MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k");

fn organism_in(cwd: &Path, args: &[&OsStr]) -> Output {
    Command::new(BIN)
        .current_dir(cwd)
        .args(args)
        .env("HOME", cwd)
        .env_remove("XDG_CACHE_HOME")
        .output()
        .expect("the binary runs")
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn run_in(cwd: &Path, args: &[&str]) -> Output {
    let args = os(args);
    organism_in(cwd, &args.iter().map(OsString::as_os_str).collect::<Vec<_>>())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Fails with exit code 1 (not a panic, not a signal), naming `needle`, never showing an
/// internal temporary path.
fn fails_in(cwd: &Path, args: &[&str], needle: &str) -> String {
    let o = run_in(cwd, args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{args:?} should fail with exit 1:\n{err}");
    assert!(err.contains(needle), "{args:?}: stderr does not name `{needle}`:\n{err}");
    assert!(!err.contains(".partial"), "{args:?}: an internal path in the message:\n{err}");
    err
}

fn succeeds_in(cwd: &Path, args: &[&str]) -> String {
    let o = run_in(cwd, args);
    assert!(o.status.success(), "{args:?}:\n{}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    v.sort();
    v
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn train_addition(cwd: &Path, out: &Path) {
    succeeds_in(cwd, &["train", "--preset", "addition", "--set", "epochs=2", "--out", p(out)]);
}

/// Copies the bundled MNIST subset into `dir`.
fn mnist_copy(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for f in std::fs::read_dir(MNIST).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
    }
}

// Case 1: `--out .` / `--out ..` (with --force) must not touch the current or parent directory.
#[test]
fn case1_outputs_that_name_no_directory_of_their_own_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path().join("work");
    std::fs::create_dir(&cwd).unwrap();
    std::fs::write(cwd.join("sentinel"), "mine").unwrap();
    std::fs::write(root.path().join("sibling"), "mine too").unwrap();
    let commands: [&[&str]; 4] = [
        &["train", "--preset", "addition", "--set", "epochs=1"],
        &["particles", "--count", "3", "--steps", "1"],
        &["reproduce", "--quick", "--data", MNIST],
        &["analyze", "types", "nowhere"],
    ];
    for out in [".", "..", "./", "../work", "/", "sub/.."] {
        for cmd in commands {
            let mut args = cmd.to_vec();
            args.extend(["--out", out, "--force"]);
            let o = run_in(&cwd, &args);
            assert_eq!(o.status.code(), Some(1), "{args:?}:\n{}", stderr(&o));
        }
    }
    assert_eq!(listing(&cwd), ["sentinel"]);
    assert_eq!(listing(root.path()), ["sibling", "work"]);
    assert_eq!(std::fs::read_to_string(cwd.join("sentinel")).unwrap(), "mine");

    // The home directory and a directory that contains the current one are refused too, even
    // when they carry the marker of an organism output.
    std::fs::write(root.path().join(".organism-output"), "").unwrap();
    fails_in(&cwd, &["train", "--set", "epochs=1", "--out", p(root.path()), "--force"], "contains the current");
    let home = root.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join(".organism-output"), "").unwrap();
    let o = Command::new(BIN)
        .current_dir(&cwd)
        .env("HOME", &home)
        .args(["train", "--set", "epochs=1", "--force", "--out"])
        .arg(&home)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("home directory"), "{}", stderr(&o));
    assert_eq!(listing(&home), [".organism-output"]);
}

// Case 1 (continued): `--force` replaces only an empty directory or an earlier output, only
// once the new one is complete; a failed run leaves the old output as it was.
#[test]
fn case1_force_replaces_only_organism_outputs_and_only_when_complete() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    let mine = cwd.join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("thesis.tex"), "years of work").unwrap();
    for cmd in [
        vec!["train", "--set", "epochs=1"],
        vec!["particles", "--count", "3", "--steps", "1"],
        vec!["reproduce", "--quick", "--data", MNIST],
    ] {
        let mut args = cmd.clone();
        args.extend(["--out", "mine", "--force"]);
        fails_in(cwd, &args, "not an output of organism");
    }
    assert_eq!(std::fs::read_to_string(mine.join("thesis.tex")).unwrap(), "years of work");

    // An empty directory is free; an earlier output is replaced with --force.
    std::fs::create_dir(cwd.join("empty")).unwrap();
    train_addition(cwd, &cwd.join("empty"));
    let out = cwd.join("runs");
    succeeds_in(cwd, &["train", "--set", "epochs=1", "--seeds", "0..2", "--out", "runs"]);
    fails_in(cwd, &["train", "--set", "epochs=1", "--seeds", "0..2", "--out", "runs"], "--force");
    let before = std::fs::read(out.join("seed-1/organism.safetensors")).unwrap();

    // A multi-seed run that fails after it started (bad image data) leaves the old output as
    // it was and no seed folders or temporary directories anywhere.
    fails_in(
        cwd,
        &["train", "--preset", "mnist", "--seeds", "0..2", "--data", "no-such-dir", "--out", "runs", "--force"],
        "no-such-dir",
    );
    fails_in(cwd, &["train", "--set", "epochs=1", "--seeds", "0..2", "--set", "lr=-1", "--out", "fresh"], "lr");
    assert_eq!(std::fs::read(out.join("seed-1/organism.safetensors")).unwrap(), before);
    assert_eq!(listing(&out), [".organism-output", "config.toml", "seed-0", "seed-1", "seeds.json"]);
    assert_eq!(listing(cwd), ["empty", "mine", "runs"]);

    succeeds_in(cwd, &["train", "--set", "epochs=3", "--seeds", "0..1", "--out", "runs", "--force"]);
    assert_eq!(listing(&out), [".organism-output", "config.toml", "seed-0", "seeds.json"]);
    assert_eq!(listing(cwd), ["empty", "mine", "runs"]);
}

// Case 2: `reproduce --force` checks its inputs before it touches the old report.
#[test]
fn case2_reproduce_force_keeps_the_old_report_when_inputs_are_bad() {
    let root = tempfile::tempdir().unwrap();
    let report = root.path().join("report");
    std::fs::create_dir(&report).unwrap();
    std::fs::write(report.join(".organism-output"), "").unwrap();
    std::fs::write(report.join("index.html"), "the old report").unwrap();
    fails_in(root.path(), &["reproduce", "--quick", "--data", "missing", "--out", "report", "--force"], "missing");
    assert_eq!(std::fs::read_to_string(report.join("index.html")).unwrap(), "the old report");
    assert_eq!(listing(root.path()), ["report"]);
}

// Case 3: sizes beyond any machine end in a message naming the key, exit 1, nothing written.
#[test]
fn case3_sizes_are_bounded_before_anything_is_allocated() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    let train = |set: &str, key: &str| {
        fails_in(cwd, &["train", "--set", set, "--out", "x"], key);
    };
    train("organism.width=1000000", "organism.width");
    train("organism.depth=1000000000", "organism.depth");
    train("particle.hidden=100000", "particle.hidden");
    train("data.train_samples=1000000000000", "data.train_samples");
    train("epochs=100000000000", "epochs");
    // A billion epochs: the kept trajectory (or the per-epoch records) would not fit.
    let err = fails_in(cwd, &["train", "--set", "epochs=1000000000", "--out", "x"], "memory");
    assert!(err.contains("epochs") || err.contains("trajectory_every"), "{err}");
    fails_in(cwd, &["train", "--preset", "mnist", "--set", "data.image_size=100000", "--out", "x"], "image_size");
    fails_in(cwd, &["particles", "--count", "1000000000000", "--out", "x"], "--count");
    fails_in(cwd, &["particles", "--hidden", "1000000", "--out", "x"], "--hidden");
    fails_in(cwd, &["particles", "--steps", "100000000000", "--out", "x"], "--steps");
    let pop = cwd.join("pop");
    succeeds_in(cwd, &["particles", "--count", "4", "--steps", "1", "--out", "pop"]);
    let from = p(&pop);
    fails_in(cwd, &["robustness", "--from", from, "--levels", "4294967295", "--out", "x"], "--levels");
    fails_in(cwd, &["robustness", "--from", from, "--seeds", "18446744073709551615", "--out", "x"], "--seeds");
    fails_in(cwd, &["robustness", "--from", from, "--max-steps", "100000000000", "--out", "x"], "--max-steps");
    fails_in(cwd, &["train", "--seeds", "0..100000", "--out", "x"], "--seeds");
    assert_eq!(listing(cwd), ["pop"]);
}

// Case 4: inputs that used to panic (exit 101) fail cleanly.
#[test]
fn case4_no_panics_on_huge_seeds_or_overflowing_idx_headers() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    fails_in(cwd, &["train", "--seeds", "9223372036854775808", "--out", "x"], "--seeds");
    fails_in(cwd, &["train", "--seeds", "18446744073709551615", "--out", "x"], "--seeds");
    fails_in(cwd, &["train", "--seeds", "0..18446744073709551615", "--out", "x"], "--seeds");
    fails_in(cwd, &["train", "--seeds", "18446744073709551614..18446744073709551615", "--out", "x"], "--seeds");
    fails_in(cwd, &["train", "--seeds", "99999999999999999999999", "--out", "x"], "--seeds");
    fails_in(cwd, &["train", "--seed", "18446744073709551615", "--out", "x"], "seed");
    fails_in(cwd, &["particles", "--seed", "18446744073709551615", "--out", "x"], "--seed");

    // An IDX image file whose header announces u32::MAX³ bytes.
    let data = cwd.join("data");
    mnist_copy(&data);
    std::fs::remove_file(data.join("train-images-idx3-ubyte.gz")).unwrap();
    let mut header = 0x0803u32.to_be_bytes().to_vec();
    (0..3).for_each(|_| header.extend(u32::MAX.to_be_bytes()));
    std::fs::write(data.join("train-images-idx3-ubyte"), header).unwrap();
    fails_in(cwd, &["train", "--preset", "mnist", "--data", "data", "--out", "x"], "train-images-idx3-ubyte");
    assert_eq!(listing(cwd), ["data"]);
}

// Case 6: data paths with unusual characters work, and the run records them absolute.
#[test]
fn case6_unusual_data_paths_work_and_are_stored_absolute() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    let mut names: Vec<OsString> =
        ["cafe\u{301}", "zero\u{200b}width", "del\u{7f}", "quote\"d 'dir'"].iter().map(OsString::from).collect();
    #[cfg(unix)]
    names.push(<OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"latin1-\xe9t\xe9").to_os_string());
    for (i, name) in names.iter().enumerate() {
        mnist_copy(&cwd.join(name));
        let out = format!("run{i}");
        let mut args: Vec<&OsStr> = ["train", "--preset", "mnist", "--set", "epochs=1", "--set", "data.download=false"]
            .iter()
            .map(OsStr::new)
            .collect();
        args.extend([OsStr::new("--data"), name.as_os_str(), OsStr::new("--out"), OsStr::new(&out)]);
        let o = organism_in(cwd, &args);
        assert!(o.status.success(), "{name:?}: {}", stderr(&o));
        let cfg = organism::config::Config::resolve(None, Some(&cwd.join(&out).join("config.toml")), &[]).unwrap();
        assert!(cfg.data.dir.is_absolute(), "{:?}", cfg.data.dir);
        assert_eq!(std::fs::canonicalize(&cfg.data.dir).unwrap(), std::fs::canonicalize(cwd.join(name)).unwrap());
    }
    // Analysed from another directory: the run finds its (non-UTF-8 or last) data again.
    let elsewhere = tempfile::tempdir().unwrap();
    let run = cwd.join(format!("run{}", names.len() - 1));
    succeeds_in(elsewhere.path(), &["analyze", "resubstitution", p(&run), "--out", "res"]);
    assert!(elsewhere.path().join("res/resubstitution.csv").is_file());
}

// Case 7: `analyze` keeps existing outputs and run directories, and refuses to mix tasks.
#[test]
fn case7_analyze_is_safe() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    train_addition(cwd, &cwd.join("add"));
    mnist_copy(&cwd.join("data"));
    succeeds_in(cwd, &["train", "--preset", "mnist", "--set", "epochs=1", "--data", "data", "--out", "mnist"]);
    std::fs::create_dir(cwd.join("keep")).unwrap();
    std::fs::write(cwd.join("keep/notes.txt"), "mine").unwrap();
    fails_in(cwd, &["analyze", "types", "add", "--out", "keep"], "--force");
    fails_in(cwd, &["analyze", "types", "add", "--out", "keep", "--force"], "not an output of organism");
    assert_eq!(listing(&cwd.join("keep")), ["notes.txt"]);
    let run_files = listing(&cwd.join("add"));
    fails_in(cwd, &["analyze", "types", "add", "--out", "add/types"], "run directory");
    fails_in(cwd, &["analyze", "types", "add", "--out", "add", "--force"], "run directory");
    assert_eq!(listing(&cwd.join("add")), run_files);
    let err = fails_in(cwd, &["analyze", "curves", "add", "mnist", "--out", "mixed"], "different tasks");
    assert!(err.contains("add") && err.contains("mnist"), "{err}");
    fails_in(cwd, &["analyze", "dropout", "add", "mnist", "--out", "drop"], "different tasks");
    fails_in(cwd, &["analyze", "heatmap", "add", "--out", "heat"], "image task");
    assert_eq!(listing(cwd), ["add", "data", "keep", "mnist"]);
    // A second analysis into an earlier one's output needs --force, then replaces it.
    succeeds_in(cwd, &["analyze", "types", "add", "--out", "types"]);
    fails_in(cwd, &["analyze", "curves", "add", "--out", "types"], "--force");
    let out = succeeds_in(cwd, &["analyze", "curves", "add", "--out", "types", "--force"]);
    assert!(!out.contains(".partial") && out.contains("types/curves"), "{out}");
    assert!(cwd.join("types/curves.csv").is_file() && !cwd.join("types/types.csv").exists());
}

// Case 8 (the part that is not resume): stale temporary directories of dead processes are
// cleaned up by the next run into the same parent; foreign ones are left alone.
#[test]
fn case8_stale_temporary_directories_are_cleaned_up() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    let dead = i32::MAX; // no process has this id
    let stale = cwd.join(format!(".run.partial-{dead}"));
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join(".organism-output"), "").unwrap();
    std::fs::write(stale.join("metrics.csv"), "half").unwrap();
    let foreign = cwd.join(format!(".other.partial-{dead}"));
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("data"), "not ours").unwrap();
    let o = run_in(cwd, &["train", "--set", "epochs=1", "--out", "run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stale.exists(), "the stale temporary directory is still there");
    assert!(foreign.join("data").is_file(), "a directory without the marker was removed");
    assert!(stderr(&o).contains("left alone"), "{}", stderr(&o));

    // Killed between the two renames of a swap: the old output is restored, not deleted.
    std::fs::remove_dir_all(&foreign).unwrap();
    std::fs::rename(cwd.join("run"), cwd.join(format!(".run.replaced-{dead}"))).unwrap();
    let before = listing(&cwd.join(format!(".run.replaced-{dead}")));
    fails_in(cwd, &["train", "--set", "epochs=1", "--out", "run"], "--force");
    assert_eq!(listing(&cwd.join("run")), before);
    assert_eq!(listing(cwd), ["run"]);
}

// Case 9: values `train` rejects are rejected everywhere; empty data and odd environments.
#[test]
fn case9_validation_is_the_same_everywhere() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    fails_in(cwd, &["train", "--set", "preset=nope", "--out", "x"], "preset");
    for (flag, value) in [
        ("--lr", "NaN"),
        ("--lr", "-1"),
        ("--lr", "inf"),
        ("--lr", "0"),
        ("--momentum", "5"),
        ("--momentum", "1"),
        ("--momentum", "-0.5"),
        ("--epsilon", "0"),
        ("--epsilon", "-1"),
        ("--every", "0"),
        ("--count", "0"),
        ("--hidden", "0"),
    ] {
        fails_in(cwd, &["particles", &format!("{flag}={value}"), "--out", "x"], flag);
    }
    fails_in(cwd, &["train", "--set", "momentum=1", "--out", "x"], "momentum");

    // Empty training or test sets are an error, not a run with accuracy NaN.
    let data = cwd.join("data");
    mnist_copy(&data);
    let mut labels = 0x0801u32.to_be_bytes().to_vec();
    labels.extend(0u32.to_be_bytes());
    let mut images = 0x0803u32.to_be_bytes().to_vec();
    [0u32, 28, 28].iter().for_each(|d| images.extend(d.to_be_bytes()));
    for f in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        std::fs::remove_file(data.join(f)).unwrap();
    }
    std::fs::write(data.join("t10k-images-idx3-ubyte"), &images).unwrap();
    std::fs::write(data.join("t10k-labels-idx1-ubyte"), &labels).unwrap();
    fails_in(cwd, &["train", "--preset", "mnist", "--data", "data", "--out", "x"], "test set has no images");

    // ORGANISM_DATA="" is not the current directory; a garbage ORGANISM_DATA is not created.
    let o = Command::new(BIN)
        .current_dir(cwd)
        .env("HOME", cwd)
        .env_remove("XDG_CACHE_HOME")
        .env("ORGANISM_DATA", "")
        .args(["data", "info"])
        .output();
    let text = String::from_utf8_lossy(&o.unwrap().stdout).to_string();
    let cache = text.lines().find(|l| l.trim_start().starts_with("cache")).unwrap_or_default().to_string();
    assert!(cache.contains(&format!("{}/", cwd.display())) && cache.contains(".cache"), "{text}");
    let garbage = cwd.join("no/such/place");
    let o = Command::new(BIN)
        .current_dir(cwd)
        .env("HOME", cwd)
        .env("ORGANISM_DATA", &garbage)
        .args(["data", "fetch", "mnist"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("ORGANISM_DATA"), "{}", stderr(&o));
    assert!(!cwd.join("no").exists());
    assert_eq!(listing(cwd), ["data"]);
}

// Case 10: messages a user can act on.
#[test]
fn case10_messages() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    // An OS error is printed once.
    let err = fails_in(cwd, &["robustness", "--from", "missing.safetensors", "--out", "x"], "missing.safetensors");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    std::fs::write(cwd.join("file"), "").unwrap();
    let err = fails_in(cwd, &["train", "--set", "epochs=1", "--out", "file/run"], "file");
    assert_eq!(err.matches("(os error").count(), 1, "{err}");
    fails_in(cwd, &["train", "--set", "epochs=abc", "--out", "x"], "expected an integer");
    let err = fails_in(cwd, &["train", "--set", "organism.activation=relu", "--out", "x"], "organism.activation");
    assert!(!err.contains("tanh"), "offers what it then rejects: {err}");
    fails_in(cwd, &["train", "--set", "particle.activation=relu", "--out", "x"], "none, tanh or gelu");
    assert_eq!(listing(cwd), ["file"]);

    // Every option of `particles` has a help text.
    let help = succeeds_in(cwd, &["particles", "-h"]);
    for line in help.lines().filter(|l| l.trim_start().starts_with("--")) {
        let after = line.trim_start().split_once("  ").map(|(_, h)| h.trim()).unwrap_or("");
        assert!(!after.is_empty() && !after.starts_with('['), "no help text: {line}");
    }
    assert!(succeeds_in(cwd, &["help", "--help"]).contains("help"));
    assert!(succeeds_in(cwd, &["help", "train"]).contains("--preset"));
    let o = run_in(cwd, &["train", "--dataset", "cifar", "--out", "x"]);
    assert!(!o.status.success() && stderr(&o).contains("fashion-mnist"), "{}", stderr(&o));
}
