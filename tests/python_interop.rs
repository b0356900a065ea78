//! A PyTorch user opens our checkpoints with Python's `safetensors` (tensor names, shapes,
//! dtypes and metadata as documented in the README). Needs `python3` with `safetensors` and
//! `numpy`: `.ci/run` installs them; elsewhere the test is skipped with a message.

use std::process::Command;

const CHECK: &str = r#"
import json, sys
from safetensors.numpy import load_file
from safetensors import safe_open
run = sys.argv[1]
w = load_file(run + "/organism.safetensors")["weights"]
assert w.shape == (18, 27) and str(w.dtype) == "float32", w.shape
with safe_open(run + "/organism.safetensors", "np") as f:
    meta = f.metadata()
assert meta["format"] == "organism"
assert json.loads(meta["organism"])["width"] == 3
assert json.loads(meta["particle_names"])[1] == "L0_C0_W1"
t = load_file(run + "/trajectory.safetensors")
assert t["weights"].shape == (3, 18, 27) and list(t["epochs"]) == [0, 1, 2], t["epochs"]
print("ok")
"#;

#[test]
fn python_safetensors_reads_a_run() {
    let has_python =
        Command::new("python3").args(["-c", "import safetensors, numpy"]).output().is_ok_and(|o| o.status.success());
    if !has_python {
        assert!(std::env::var_os("CI").is_none(), "CI must provide python3 with safetensors and numpy");
        eprintln!("skipped: python3 with safetensors and numpy is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("add");
    let o = Command::new(env!("CARGO_BIN_EXE_organism"))
        .args(["train", "--preset", "addition", "--set", "epochs=2", "--out", run.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new("python3").args(["-c", CHECK, run.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
