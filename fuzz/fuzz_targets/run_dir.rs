//! A run directory (`config.toml`, `summary.json`, `metrics.csv`, `organism.safetensors`,
//! `trajectory.safetensors`) of any content, read as `analyze` reads it: a run or an error,
//! never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use organism::run::Run;

const FILES: [&str; 5] = ["config.toml", "summary.json", "metrics.csv", "organism.safetensors", "trajectory.safetensors"];

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    // The files are separated by the byte 0xfe (never in UTF-8 text).
    let mut parts = data.split(|&b| b == 0xfe);
    for name in FILES {
        if let Some(part) = parts.next() {
            std::fs::write(dir.path().join(name), part).unwrap();
        }
    }
    if let Ok(run) = Run::open(dir.path()) {
        if let Some(t) = run.trajectory() {
            let _ = t;
        }
    }
});
