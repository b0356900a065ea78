//! A PyTorch user opens our checkpoints with Python's `safetensors` (tensor names, shapes,
//! dtypes and metadata as documented in the README). Needs `python3` with `safetensors` and
//! `numpy`: `.ci/run` installs them; elsewhere the test is skipped with a message.

mod common;

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
    if !common::python_with_safetensors() {
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

/// A pruned network exported as a masked dense model (`weight_l{l}`, `mask_l{l}`) runs in numpy
/// exactly as `Dense` runs it: x → W0 → GELU → W1 → GELU → W2 (depth 3: the residual adds
/// nothing), with every pruned weight 0 and its mask 0.
const MASKED: &str = r#"
import json, math, sys
import numpy as np
from safetensors.numpy import load_file
from safetensors import safe_open
t = load_file(sys.argv[1])
with safe_open(sys.argv[1], "np") as f:
    meta = f.metadata()
assert meta["format"] == "masked_dense" and meta["method"] == "test", meta
shape = json.loads(meta["organism"])
case = json.load(open(sys.argv[2]))
h = np.array(case["x"], dtype=np.float64).reshape(-1, shape["inputs"])
gelu = np.vectorize(lambda z: 0.5 * z * (1.0 + math.erf(z / math.sqrt(2.0))))
for l in range(shape["depth"]):
    w, m = t[f"weight_l{l}"], t[f"mask_l{l}"]
    assert w.dtype == np.float32 and w.shape == m.shape
    assert set(np.unique(m)) <= {0.0, 1.0} and np.all(w[m == 0] == 0), l
    h = h @ w.astype(np.float64).T
    if l + 1 < shape["depth"]:
        h = gelu(h)
want = np.array(case["y"]).reshape(h.shape)
assert np.allclose(h, want, rtol=1e-5, atol=1e-6), np.abs(h - want).max()
print("ok")
"#;

#[test]
fn python_runs_an_exported_pruned_network() {
    use organism::analysis::pruning::write_masked_dense;
    use organism::organism::Dense;
    if !common::python_with_safetensors() {
        return;
    }
    let shape = common::small_gelu_shape();
    let n = shape.n_particles();
    let weights: Vec<f32> = (0..n).map(|i| ((i * 37 % 23) as f32 - 11.0) / 10.0).collect();
    let keep: Vec<bool> = (0..n).map(|i| i % 3 != 2).collect();
    let pruned: Vec<f32> = weights.iter().zip(&keep).map(|(&w, &k)| if k { w } else { 0.0 }).collect();
    let x: Vec<f32> = (0..5 * 6).map(|i| (i as f32 * 0.37).sin()).collect();
    let y = Dense::new(&shape, &pruned).forward(&x);
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("pruned.safetensors");
    write_masked_dense(&model, &shape, &weights, &keep, &[("method", "test".into())]).unwrap();
    let case = dir.path().join("case.json");
    std::fs::write(&case, serde_json::json!({ "x": x, "y": y }).to_string()).unwrap();
    let o =
        Command::new("python3").args(["-c", MASKED, model.to_str().unwrap(), case.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
