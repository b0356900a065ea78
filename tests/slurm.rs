//! `organism sweep` against a real Slurm cluster: the one `scripts/slurm-local start` runs on
//! this machine (what `.ci/run` does), or any cluster `sinfo` reaches. Without a cluster these
//! tests skip with a printed reason, except under `CI=true`, where they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// `SLURM_CONF` for the clients: the caller's, else the local cluster's if it was started.
fn slurm_conf() -> Option<PathBuf> {
    if let Some(c) = std::env::var_os("SLURM_CONF") {
        return Some(c.into());
    }
    let state = std::env::var_os("ORGANISM_SLURM_STATE").map_or(PathBuf::from("/tmp/organism-slurm"), PathBuf::from);
    Some(state.join("slurm.conf")).filter(|c| c.is_file())
}

fn command(program: &str) -> Command {
    let mut c = Command::new(program);
    if let Some(conf) = slurm_conf() {
        c.env("SLURM_CONF", conf);
    }
    c
}

/// Whether a cluster answers; fails under CI=true when none does.
fn cluster() -> bool {
    // Without a configuration file, sinfo would retry for a minute before giving up.
    let conf = slurm_conf().unwrap_or_else(|| PathBuf::from("/etc/slurm/slurm.conf"));
    let sinfo = || command("sinfo").args(["-h", "-o", "%a %D"]).output();
    let why = match conf.is_file().then(sinfo) {
        None => format!("no {}", conf.display()),
        Some(Ok(o)) if o.status.success() && !o.stdout.is_empty() => return true,
        Some(Ok(o)) => format!("sinfo failed: {}", String::from_utf8_lossy(&o.stderr).trim()),
        Some(Err(e)) => format!("sinfo not found ({e})"),
    };
    let why = format!("no Slurm cluster reachable ({why}); start one with `scripts/slurm-local start`");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}");
    }
    eprintln!("skipping: {why}");
    false
}

fn organism(args: &[&str]) -> Output {
    let o = command(env!("CARGO_BIN_EXE_organism")).args(args).output().expect("the binary runs");
    assert!(o.status.success(), "organism {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Plans `sweep` into `dir/name`.
fn plan(dir: &Path, name: &str, sweep: &str) -> PathBuf {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, sweep).unwrap();
    let out = dir.join(name);
    organism(&["sweep", "plan", s(&file), "--out", s(&out)]);
    out
}

/// Submits (`sweep slurm DIR EXTRA…`) and returns the job id.
fn submit(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["sweep", "slurm", s(dir), "--cpus", "1"];
    args.extend(extra);
    let out = stdout(&organism(&args));
    let job = out.strip_prefix("submitted job ").and_then(|r| r.split(':').next()).unwrap_or_else(|| panic!("{out}"));
    job.to_string()
}

/// Polls until `check` holds, at most `secs` seconds.
fn wait(secs: u64, what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Waits until Slurm no longer lists job `job` (`sbatch --wait` returns late; `sacct` needs
/// accounting storage).
fn wait_for_job(job: &str) {
    wait(300, &format!("job {job}"), || {
        let o = command("squeue").args(["-h", "-j", job]).output().unwrap();
        o.status.success() && o.stdout.is_empty()
    });
}

fn status(dir: &Path) -> String {
    stdout(&organism(&["sweep", "status", s(dir)]))
}

const SMALL: &str = "preset = \"addition\"\nseeds = [0, 1]\n[set]\nepochs = 5\n[grid]\n\"particle.hidden\" = [2, 3]\n";

#[test]
fn array_sweep_matches_the_local_run_byte_for_byte() {
    if !cluster() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let local = plan(dir.path(), "local", SMALL);
    let remote = plan(dir.path(), "remote", SMALL);
    organism(&["sweep", "run", s(&local), "--jobs", "2"]);
    let job = submit(&remote, &[]);
    wait_for_job(&job);
    assert!(status(&remote).contains("4 tasks: 4 done"), "{}", status(&remote));
    for d in [&local, &remote] {
        organism(&["sweep", "collect", s(d)]);
    }
    let csv = |d: &Path| std::fs::read(d.join("collect/results.csv")).unwrap();
    assert_eq!(csv(&local), csv(&remote), "results.csv differs between the local and the Slurm run");
    assert_eq!(String::from_utf8(csv(&local)).unwrap().lines().count(), 5);
    for task in ["0000", "0001", "0002", "0003"] {
        let (a, b) = (local.join("runs").join(task), remote.join("runs").join(task));
        // Every file but timing.json (the wall time, which depends on the machine's load).
        for f in ["config.toml", "metrics.csv", "organism.safetensors", "trajectory.safetensors", "summary.json"] {
            assert!(std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(), "task {task}: {f} differs");
        }
    }
    assert!(remote.join("logs").read_dir().unwrap().count() == 4, "one log per array element");
}

#[test]
fn missing_resubmits_exactly_the_killed_task() {
    if !cluster() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Long enough (≈ 10 s a task) to be killed while it runs.
    let sweep = plan(
        dir.path(),
        "kill",
        "preset = \"addition\"\nseeds = [0, 1]\n[set]\nepochs = 1500\nvalidate_every = 500\ntrajectory_every = 1500\n\
         [grid]\n\"particle.hidden\" = [2, 3]\n",
    );
    let job = submit(&sweep, &[]);
    wait(120, "task 0001 to run", || status(&sweep).contains("running 0001"));
    let o = command("scancel").arg(format!("{job}_1")).output().unwrap();
    assert!(o.status.success(), "scancel: {}", String::from_utf8_lossy(&o.stderr));
    wait_for_job(&job);
    let st = status(&sweep);
    assert!(st.contains("3 done, 0 running, 1 failed, 0 pending"), "{st}");
    assert!(st.contains("failed  0001"), "{st}");

    let dry = stdout(&organism(&["sweep", "slurm", s(&sweep), "--missing", "--dry-run"]));
    assert!(dry.contains("#SBATCH --array=1%1\n"), "{dry}");
    let job = submit(&sweep, &["--missing"]);
    // While it is queued or running, nothing is missing.
    let again = stdout(&organism(&["sweep", "slurm", s(&sweep), "--missing", "--dry-run"]));
    assert!(again.starts_with("nothing to submit"), "{again}");
    wait_for_job(&job);
    assert!(status(&sweep).contains("4 tasks: 4 done"), "{}", status(&sweep));
}
