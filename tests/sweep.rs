//! `organism sweep` on one machine: executors that share a directory never run a task twice,
//! a failed task shows its error and runs again, bad sweep files write nothing.

use std::path::Path;
use std::process::{Command, Output};

fn organism(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_organism")).args(args).output().expect("the binary runs")
}

fn ok(args: &[&str]) -> String {
    let o = organism(args);
    assert!(o.status.success(), "organism {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn plan(dir: &Path, text: &str) -> std::path::PathBuf {
    let file = dir.join("sweep.toml");
    std::fs::write(&file, text).unwrap();
    let out = dir.join("sw");
    ok(&["sweep", "plan", s(&file), "--out", s(&out)]);
    out
}

const SWEEP: &str =
    "preset = \"addition\"\nseeds = \"0..3\"\n[set]\nepochs = 3\n[grid]\n\"particle.hidden\" = [2, 3]\n";

#[test]
fn concurrent_executors_run_each_task_once() {
    let dir = tempfile::tempdir().unwrap();
    let sw = plan(dir.path(), SWEEP);
    let spawn = || Command::new(env!("CARGO_BIN_EXE_organism")).args(["sweep", "run", s(&sw), "--jobs", "2"]).spawn();
    let (a, b) = (spawn().unwrap(), spawn().unwrap());
    for child in [a, b] {
        assert!(child.wait_with_output().unwrap().status.success());
    }
    assert!(ok(&["sweep", "status", s(&sw)]).contains("6 tasks: 6 done"));
    let mut claims: Vec<String> =
        std::fs::read_dir(sw.join("claims")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    claims.sort();
    let expected: Vec<String> = (0..6).map(|i| format!("{i:04}.1")).collect();
    assert_eq!(claims, expected, "one attempt per task");
}

#[test]
fn a_failed_task_reports_its_error_and_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let sw = plan(dir.path(), SWEEP);
    let config = sw.join("configs/0004.toml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, good.replace("epochs = 3", "epochs = 0")).unwrap();
    let o = organism(&["sweep", "run", s(&sw)]);
    assert!(!o.status.success(), "a failed task makes `sweep run` fail");
    let st = ok(&["sweep", "status", s(&sw)]);
    assert!(st.contains("5 done, 0 running, 1 failed, 0 pending"), "{st}");
    assert!(st.contains("failed  0004") && st.contains("epochs"), "the error names the key: {st}");

    std::fs::write(&config, good).unwrap();
    let out = ok(&["sweep", "run", s(&sw)]);
    assert!(out.contains("ran 1 tasks"), "only the failed task runs again: {out}");
    assert!(sw.join("claims/0004.2").is_file());
    assert!(ok(&["sweep", "status", s(&sw)]).contains("6 done"));
    let csv = ok(&["sweep", "collect", s(&sw)]);
    assert!(csv.contains("6 tasks"), "{csv}");
    let table = std::fs::read_to_string(sw.join("collect/results.csv")).unwrap();
    assert_eq!(table.lines().count(), 7);
    assert!(table.starts_with("task,particle.hidden,seed,metric,test_metric,"), "{table}");
}

#[test]
fn bad_sweep_files_fail_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("seeds = [0]\n[grid]\n\"particle.hiden\" = [2]\n", "particle.hiden"),
        ("seeds = [0]\n[grid]\nlr = []\n", "lr"),
        ("seeds = [0]\n[[zip]]\nlr = [0.1, 0.2]\nmomentum = [0.5]\n", "momentum"),
    ];
    for (text, key) in cases {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, text).unwrap();
        let out = dir.path().join("out");
        let o = organism(&["sweep", "plan", s(&file), "--out", s(&out)]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(key), "{text}: {err}");
        assert!(!out.exists(), "{text}: wrote {}", out.display());
    }
}
