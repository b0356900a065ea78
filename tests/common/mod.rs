//! Helpers shared by the integration tests (each test file that needs them says `mod common;`).
#![allow(dead_code)] // each test crate uses its own part of these helpers

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every file below `dir` (in its subdirectories too), by path relative to `dir`, sorted.
pub fn files_below(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                found.push((path.strip_prefix(dir).unwrap().display().to_string(), path));
            }
        }
    }
    found.sort();
    found
}

/// Whether `python3` with safetensors and numpy runs here; CI must have it (a test that skips
/// in CI proves nothing), a developer's machine may not.
pub fn python_with_safetensors() -> bool {
    let ok =
        Command::new("python3").args(["-c", "import safetensors, numpy"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "CI must provide python3 with safetensors and numpy");
        eprintln!("skipped: python3 with safetensors and numpy is not installed");
    }
    ok
}

/// A small organism with every feature of the task pass: 6 inputs, width 4, depth 3, 3 outputs,
/// residual skip and GELU between layers.
pub fn small_gelu_shape() -> organism::organism::OrganismShape {
    organism::organism::OrganismShape {
        inputs: 6,
        width: 4,
        depth: 3,
        outputs: 3,
        residual_skip: true,
        activation: organism::organism::LayerActivation::Gelu,
        aggregation: Default::default(),
    }
}
