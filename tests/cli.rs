//! The command line as a user meets it: commands that work as written, and bad input that
//! fails clearly (non-zero exit, a message naming the culprit, nothing written half-way).

use std::path::Path;
use std::process::{Command, Output};

fn organism(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_organism")).args(args).output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn fails_with(args: &[&str], needle: &str) {
    let o = organism(args);
    assert!(!o.status.success(), "{args:?} should fail");
    assert!(stderr(&o).contains(needle), "{args:?}: stderr does not name `{needle}`:\n{}", stderr(&o));
}

#[test]
fn train_writes_a_complete_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("add");
    let o = organism(&[
        "train",
        "--preset",
        "addition",
        "--seed",
        "3",
        "--set",
        "epochs=4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in
        ["config.toml", "metrics.csv", "organism.safetensors", "trajectory.safetensors", "summary.json", "timing.json"]
    {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    for key in [
        "preset",
        "seed",
        "epochs",
        "test_metric",
        "metric_name",
        "types",
        "self_train_loss",
        "task_loss",
        "resubstitution_max_abs_diff",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    assert!(summary.get("wall_seconds").is_none(), "wall time is in timing.json, not summary.json");
    let timing: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("timing.json")).unwrap()).unwrap();
    assert!(timing["wall_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(summary["seed"], 3);
    assert_eq!(summary["epochs"], 4);
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.contains("epochs = 4") && config.contains("seed = 3"), "{config}");
    // 5 rows of metrics: epoch 0 (untrained) to 4.
    assert_eq!(std::fs::read_to_string(out.join("metrics.csv")).unwrap().lines().count(), 6);

    // An existing run is kept unless --force.
    fails_with(&["train", "--preset", "addition", "--set", "epochs=1", "--out", out.to_str().unwrap()], "--force");
    let o =
        organism(&["train", "--preset", "addition", "--set", "epochs=1", "--out", out.to_str().unwrap(), "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn several_seeds_go_into_seed_directories() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let o = organism(&[
        "train",
        "--preset",
        "addition",
        "--seeds",
        "0..3",
        "--set",
        "epochs=2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for s in 0..3 {
        assert!(out.join(format!("seed-{s}/summary.json")).is_file());
    }
}

#[test]
fn bad_configuration_names_the_key_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let o = out.to_str().unwrap();
    fails_with(&["train", "--preset", "nope", "--out", o], "nope");
    fails_with(&["train", "--set", "epochz=3", "--out", o], "epochz");
    fails_with(&["train", "--set", "epochs=many", "--out", o], "epochs");
    fails_with(&["train", "--set", "organism.depth=1", "--out", o], "organism.depth");
    fails_with(&["train", "--set", "organism.width=0", "--out", o], "organism.width");
    fails_with(&["train", "--set", "lr=-1", "--out", o], "lr");
    fails_with(&["train", "--seeds", "5..2", "--out", o], "--seeds");
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "epochs = \"ten\"\n").unwrap();
    fails_with(&["train", "--config", file.to_str().unwrap(), "--out", o], "epochs");
    assert!(!out.exists(), "a failed run wrote {}", out.display());
}

#[test]
fn particles_then_robustness() {
    let dir = tempfile::tempdir().unwrap();
    let pop = dir.path().join("pop");
    let o = organism(&[
        "particles",
        "--count",
        "40",
        "--hidden",
        "2",
        "--steps",
        "400",
        "--every",
        "100",
        "--out",
        pop.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let types = std::fs::read_to_string(pop.join("types.csv")).unwrap();
    assert!(types.starts_with("step,class,count"), "{types}");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(pop.join("summary.json")).unwrap()).unwrap();
    let total: u64 = summary["types"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, 40);
    assert_eq!(summary["steps"], 400);

    let rob = dir.path().join("rob");
    let from = pop.join("particles.safetensors");
    let o = organism(&[
        "robustness",
        "--from",
        from.to_str().unwrap(),
        "--seeds",
        "2",
        "--max-steps",
        "50",
        "--out",
        rob.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(rob.join("robustness.csv")).unwrap();
    assert!(csv.starts_with("particle,seed,noise,time_to_vergence,time_as_fixpoint,capped"), "{csv}");
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(rob.join("summary.json")).unwrap()).unwrap();
    assert!(s["levels"].is_array());
}

#[test]
fn robustness_accepts_an_organism_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("add");
    assert!(organism(&["train", "--preset", "addition", "--set", "epochs=15", "--out", run.to_str().unwrap()])
        .status
        .success());
    let rob = dir.path().join("rob");
    let o = organism(&[
        "robustness",
        "--from",
        run.to_str().unwrap(),
        "--seeds",
        "1",
        "--max-steps",
        "20",
        "--out",
        rob.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(rob.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["particles"], 18);
}

#[test]
fn bad_particle_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rob");
    let o = out.to_str().unwrap();
    let missing = dir.path().join("missing.safetensors");
    fails_with(&["robustness", "--from", missing.to_str().unwrap(), "--out", o], "missing.safetensors");
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a tensor file at all").unwrap();
    fails_with(&["robustness", "--from", junk.to_str().unwrap(), "--out", o], "junk.safetensors");
    // A real particle file, truncated.
    let pop = dir.path().join("pop");
    assert!(organism(&["particles", "--count", "5", "--steps", "1", "--out", pop.to_str().unwrap()]).status.success());
    let bytes = std::fs::read(pop.join("particles.safetensors")).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
    fails_with(&["robustness", "--from", cut.to_str().unwrap(), "--out", o], "cut.safetensors");
    // A directory that is not a run.
    fails_with(&["robustness", "--from", dir.path().to_str().unwrap(), "--out", o], "not a run directory");
    assert!(!Path::new(o).exists());
}

#[test]
fn analyze_checks_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("add");
    assert!(organism(&["train", "--preset", "addition", "--set", "epochs=3", "--out", run.to_str().unwrap()])
        .status
        .success());
    let out = dir.path().join("types");
    let o = organism(&["analyze", "types", run.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["types.csv", "types.png", "types.svg"] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let heat = dir.path().join("heat");
    fails_with(&["analyze", "heatmap", run.to_str().unwrap(), "--out", heat.to_str().unwrap()], "image task");
    fails_with(
        &["analyze", "types", dir.path().to_str().unwrap(), "--out", heat.to_str().unwrap()],
        "not a run directory",
    );
    fails_with(&["analyze", "nonsense", run.to_str().unwrap()], "nonsense");
}

#[test]
fn data_info_answers_offline() {
    let cache = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_organism"))
        .args(["data", "info"])
        .env("ORGANISM_DATA", cache.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("mnist") && text.contains("bundled"), "{text}");
}

#[test]
fn train_help_lists_exactly_the_configuration_keys() {
    let o = organism(&["train", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout).to_string();
    let mut listed: Vec<String> = Vec::new();
    for line in help.lines().skip_while(|l| !l.starts_with("Configuration keys")).skip(1) {
        let line = line.trim().trim_end_matches(',');
        if line.is_empty() {
            break;
        }
        match line.split_once(".{") {
            Some((group, names)) => {
                listed.extend(names.trim_end_matches('}').split(", ").map(|n| format!("{group}.{n}")))
            }
            None => listed.extend(line.split(", ").map(String::from)),
        }
    }
    // The keys of a resolved configuration, as it serialises.
    fn walk(v: &toml::Value, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in v.as_table().unwrap() {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            if v.is_table() {
                walk(v, &key, out)
            } else {
                out.push(key)
            }
        }
    }
    // Interactions and cell particles are left out of a configuration while off (default): switch
    // them on to see every key.
    let on = [
        "interaction.kind=attack",
        "organism.activation=particle",
        "activation_particle.per=cell",
        "organism.aggregation=particle",
        "aggregator_particle.per=cell",
    ]
    .map(String::from);
    let cfg = organism::config::Config::resolve(Some("mnist"), None, &on).unwrap();
    let mut keys = Vec::new();
    walk(&toml::Value::try_from(&cfg).unwrap(), "", &mut keys);
    listed.sort();
    keys.sort();
    assert_eq!(listed, keys, "{help}");
}
