//! Golden tests: every `particle_*.json` and `organism_*.json` in `$ORGANISM_FIXTURES`
//! (default `tests/fixtures/reference`), computed with the authors' PyTorch code (SPEC §7).
//! Shapes are read from each file, so any file of the same schema is checked.

use organism::fixpoint::{classify, Class, EPSILON};
use organism::optim::Sgd;
use organism::particle::{ParticleBatch, ParticleShape};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures(prefix: &str) -> Vec<PathBuf> {
    let dir = std::env::var("ORGANISM_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fixture directory {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(".json")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no {prefix}*.json in {}", dir.display());
    files
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON array nested to any depth, flattened to f32 in order.
fn flat(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        other => panic!("expected numbers, got {other}"),
    }
}

/// Relative `rel` plus absolute `abs` tolerance, with the first offending index in the message.
fn assert_close(what: &str, got: &[f32], want: &[f32], rel: f32, abs: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length {} vs {}", got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= abs + rel * w.abs(), "{what}[{i}]: got {g}, want {w}");
    }
}

/// How far two f32 implementations' self-train losses of particle `w` can lie apart (SPEC §1:
/// loss = mean of r_i², r_i = N(row_i) − v_i). Each implementation rounds r_i by at most
/// γ_K·s_i + u·|v_i|, with K = Σ fan-in of the PN's layers, γ_K = K·u/(1 − K·u) and
/// s_i = |W_L|···|W_1|·|row_i| the forward's absolute scale (the standard dot-product bound);
/// two of them differ by twice that, δ_i, and the loss by (1/P)·Σ (2|r_i|·δ_i + δ_i²), plus the
/// rounding of the mean itself (P·u·loss on each side). The weights match the fixture, so this is
/// the whole difference: at a loss of 1e-9 it is far from 5e-4 relative.
fn loss_rounding(shape: &ParticleShape, w: &[f32]) -> f32 {
    let u = f64::from(f32::EPSILON) / 2.0;
    let widths = shape.widths();
    let k: usize = widths[..widths.len() - 1].iter().sum();
    let gamma = k as f64 * u / (1.0 - k as f64 * u);
    let rows = shape.input_matrix(w);
    let width = rows.len() / w.len();
    let applied = ParticleBatch::from_weights(shape.clone(), w.to_vec()).unwrap().self_applied();
    let p = w.len();
    let (mut sum, mut loss) = (0.0, 0.0);
    for i in 0..p {
        // s_i: |row_i| through the absolute layer matrices, [out][in] each.
        let mut a: Vec<f64> = rows[i * width..(i + 1) * width].iter().map(|x| f64::from(x.abs())).collect();
        let mut off = 0;
        for pair in widths.windows(2) {
            let (inp, out) = (pair[0], pair[1]);
            let m = &w[off..off + inp * out];
            a = (0..out).map(|o| (0..inp).map(|j| f64::from(m[o * inp + j].abs()) * a[j]).sum()).collect();
            off += inp * out;
        }
        let v = f64::from(w[i]);
        let r = f64::from(applied.particle(0)[i]) - v;
        let delta = 2.0 * (gamma * a[0] + u * v.abs());
        sum += 2.0 * r.abs() * delta + delta * delta;
        loss += r * r;
    }
    let loss = loss / p as f64;
    (sum / p as f64 + 2.0 * p as f64 * u * loss) as f32
}

const REL: f32 = 1e-5;
const ABS: f32 = 1e-6;

#[test]
fn particle_golden_files() {
    for path in fixtures("particle_") {
        let f = load(&path);
        let name = path.display().to_string();
        let hidden = f["hidden"].as_u64().unwrap() as usize;
        let shape = ParticleShape::standard(hidden).unwrap();
        assert_eq!(shape.n_weights() as u64, f["n_weights"].as_u64().unwrap(), "{name}: n_weights");
        let weights = flat(&f["weights"]);
        let batch = ParticleBatch::from_weights(shape.clone(), weights.clone()).unwrap();

        assert_close(
            &format!("{name} input_matrix"),
            &shape.input_matrix(&weights),
            &flat(&f["input_matrix"]),
            REL,
            ABS,
        );
        let once = batch.self_applied();
        assert_close(&format!("{name} self_application"), once.weights(), &flat(&f["self_application"]), REL, ABS);
        assert_close(
            &format!("{name} self_application_twice"),
            once.self_applied().weights(),
            &flat(&f["self_application_twice"]),
            REL,
            ABS,
        );

        // 200 steps with one persistent optimizer; losses are taken before each step.
        let st = &f["self_train"];
        let (lr, momentum) = (st["lr"].as_f64().unwrap() as f32, st["momentum"].as_f64().unwrap() as f32);
        let losses = flat(&st["losses"]);
        let snapshots = st["weights_after_step"].as_object().unwrap();
        let mut trained = batch.clone();
        let mut opt = Sgd::new(lr, momentum, shape.n_weights());
        let mut ws = trained.workspace();
        for (step, want) in losses.iter().enumerate() {
            let tol = loss_rounding(&shape, trained.weights());
            let got = trained.self_train_step(&mut opt, &mut ws)[0];
            assert_close(&format!("{name} self_train loss before step {}", step + 1), &[got], &[*want], 0.0, tol);
            if let Some(w) = snapshots.get(&(step + 1).to_string()) {
                assert_close(
                    &format!("{name} weights after step {}", step + 1),
                    trained.weights(),
                    &flat(w),
                    1e-4,
                    1e-5,
                );
            }
        }

        let initial = classify(&batch, EPSILON)[0];
        assert_eq!(initial.name(), f["initial_type"].as_str().unwrap(), "{name}: initial_type");
        let rep = &f["trained_replicator"];
        let rep_batch = ParticleBatch::from_weights(shape.clone(), flat(&rep["weights"])).unwrap();
        assert_eq!(rep["type"].as_str().unwrap(), "self_replicator", "{name}: schema");
        assert_eq!(classify(&rep_batch, EPSILON)[0], Class::SelfReplicator, "{name}: trained_replicator");
    }
}

#[test]
fn organism_golden_files() {
    use organism::organism::{
        Dense, LayerActivation, Organism, OrganismShape, Path as TaskPath, Targets, TaskWorkspace,
    };
    for path in fixtures("organism_") {
        let f = load(&path);
        let name = path.display().to_string();
        let c = &f["config"];
        let get = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{name}: config.{k}")) as usize;
        let shape = OrganismShape {
            inputs: get("inputs"),
            width: get("width"),
            depth: get("depth"),
            outputs: get("outputs"),
            residual_skip: c["residual_skip"].as_bool().unwrap(),
            activation: c["activation"].as_str().unwrap().parse::<LayerActivation>().unwrap(),
            aggregation: Default::default(),
        };
        let names: Vec<String> =
            f["particle_names"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        assert_eq!(shape.particle_names(), names, "{name}: particle order");
        let pshape = ParticleShape::standard(get("particle_hidden")).unwrap();
        let particles = ParticleBatch::from_weights(pshape.clone(), flat(&f["particle_weights"])).unwrap();
        let org = Organism::from_particles(shape.clone(), particles.clone()).unwrap();
        let general = Organism::from_particles(
            shape.clone(),
            ParticleBatch::from_weights(pshape, flat(&f["particle_weights"])).unwrap().with_general_path(),
        )
        .unwrap();

        let x = flat(&f["x"]);
        let classes: Vec<u8>;
        let values: Vec<f32>;
        let targets = match f["task"].as_str().unwrap() {
            "regression" => {
                values = flat(&f["y"]);
                Targets::Values(&values)
            }
            "classification" => {
                classes = flat(&f["y"]).iter().map(|&v| v as u8).collect();
                Targets::Classes(&classes)
            }
            other => panic!("{name}: unknown task {other}"),
        };

        let extracted = org.extracted_weights();
        assert_close(&format!("{name} extracted_weights"), &extracted, &flat(&f["extracted_weights"]), REL, ABS);
        assert_close(
            &format!("{name} dense_output"),
            &Dense::new(&shape, &extracted).forward(&x),
            &flat(&f["dense_output"]),
            REL,
            ABS,
        );

        for (label, o, p) in [("extracted", &org, TaskPath::Extracted), ("general", &general, TaskPath::General)] {
            let pass = o.task_pass(&x, targets, p, &mut TaskWorkspace::new());
            assert_close(&format!("{name} output ({label})"), &pass.output, &flat(&f["output"]), REL, ABS);
            assert_close(
                &format!("{name} loss ({label})"),
                &[pass.loss],
                &[f["loss"].as_f64().unwrap() as f32],
                REL,
                ABS,
            );
            assert_close(&format!("{name} task_grads ({label})"), &pass.grads, &flat(&f["task_grads"]), 1e-4, 1e-6);
            let mut stepped = o.particles.weights().to_vec();
            Sgd::new(0.004, 0.9, stepped.len()).step(&mut stepped, &pass.grads);
            assert_close(
                &format!("{name} weights_after_task_step ({label})"),
                &stepped,
                &flat(&f["weights_after_task_step"]),
                REL,
                ABS,
            );

            let mut grads = vec![0.0; stepped.len()];
            let loss = o.self_train_grads(&mut grads);
            assert_close(
                &format!("{name} self_train_loss ({label})"),
                &[loss],
                &[f["self_train_loss"].as_f64().unwrap() as f32],
                REL,
                ABS,
            );
            assert_close(
                &format!("{name} self_train_grads ({label})"),
                &grads,
                &flat(&f["self_train_grads"]),
                1e-4,
                1e-6,
            );
        }
    }
}
