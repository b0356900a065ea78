//! Finite-difference checks of the analytic gradients, and agreement of the collapsed and the
//! general particle paths.
//!
//! The code is f32, so derivatives are checked along random unit directions `d` with a central
//! difference refined by one Richardson step, `(4·D(h/2) − D(h)) / 3` with
//! `D(h) = (L(w + h·d) − L(w − h·d)) / 2h`, whose truncation error is O(h⁴); the tolerance is then
//! dominated by f32 rounding of the losses.

use organism::activation::Activation;
use organism::organism::{
    Aggregation, CellParticleConfig, LayerActivation, Organism, OrganismShape, Path, Per, Targets, TaskWorkspace,
};
use organism::particle::{Evaluator, Init, ParticleBatch, ParticleShape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

const H: f32 = 2e-2;

fn unit_direction(n: usize, rng: &mut impl Rng) -> Vec<f32> {
    let d: Vec<f32> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
    let norm = d.iter().map(|x| x * x).sum::<f32>().sqrt();
    d.iter().map(|x| x / norm).collect()
}

fn axpy(w: &[f32], t: f32, d: &[f32]) -> Vec<f32> {
    w.iter().zip(d).map(|(a, b)| a + t * b).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Richardson-refined central difference of `loss` at `w` along `d`.
fn directional_fd(loss: impl Fn(&[f32]) -> f32, w: &[f32], d: &[f32]) -> f32 {
    directional_fd_step(&loss, w, d, H)
}

/// [`directional_fd`] with step `h`.
fn directional_fd_step(loss: &impl Fn(&[f32]) -> f32, w: &[f32], d: &[f32], h: f32) -> f32 {
    let central = |h: f32| (loss(&axpy(w, h, d)) - loss(&axpy(w, -h, d))) / (2.0 * h);
    (4.0 * central(h / 2.0) - central(h)) / 3.0
}

/// `|fd − analytic| ≤ rel·max(|fd|, |analytic|) + abs`.
fn assert_derivative(what: &str, fd: f32, analytic: f32, rel: f32, abs: f32) {
    let tol = rel * fd.abs().max(analytic.abs()) + abs;
    assert!((fd - analytic).abs() <= tol, "{what}: finite difference {fd}, analytic {analytic} (tolerance {tol})");
}

/// Self-training loss of a network with weights `net` on the rows and targets of `w0`
/// (Def. 5: rows and targets are constants), through the public weightwise application.
fn self_train_loss_at(shape: &ParticleShape, net: &[f32], w0: &[f32]) -> f32 {
    let batch = ParticleBatch::from_weights(shape.clone(), net.to_vec()).unwrap();
    let out = batch.apply(0, w0);
    out.iter().zip(w0).map(|(y, v)| (y - v) * (y - v)).sum::<f32>() / w0.len() as f32
}

fn check_self_train_gradient(shape: ParticleShape, general: bool, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut batch = ParticleBatch::random(shape.clone(), 8, Init::Xavier, &mut rng);
    if general {
        batch = batch.with_general_path();
    }
    let mut grads = vec![0.0; batch.weights().len()];
    let losses = batch.self_train_grads(&mut grads);
    let p = shape.n_weights();
    for n in 0..batch.len() {
        let w0 = batch.particle(n);
        let g = &grads[n * p..(n + 1) * p];
        let loss0 = self_train_loss_at(&shape, w0, w0);
        assert_derivative(&format!("{shape:?} particle {n}: loss"), loss0, losses[n], 1e-5, 1e-7);
        for k in 0..3 {
            let d = unit_direction(p, &mut rng);
            let fd = directional_fd(|w| self_train_loss_at(&shape, w, w0), w0, &d);
            assert_derivative(&format!("{shape:?} particle {n}, direction {k}"), fd, dot(g, &d), 2e-3, 2e-5);
        }
        // Every coordinate, each with the same relative + absolute tolerance: a small component
        // is held to 2e-5 absolute, a large one to 0.2 %.
        for i in 0..p {
            let mut e = vec![0.0; p];
            e[i] = 1.0;
            let fd = directional_fd(|w| self_train_loss_at(&shape, w, w0), w0, &e);
            assert_derivative(&format!("{shape:?} particle {n}, weight {i}"), fd, g[i], 2e-3, 2e-5);
        }
    }
}

#[test]
fn self_train_gradient_linear_collapsed() {
    for (h, seed) in [(2, 1), (3, 2), (5, 3)] {
        check_self_train_gradient(ParticleShape::standard(h).unwrap(), false, seed);
    }
    check_self_train_gradient(ParticleShape::new(vec![6, 4, 3, 2, 1], Activation::None).unwrap(), false, 4);
}

#[test]
fn self_train_gradient_general_linear() {
    check_self_train_gradient(ParticleShape::standard(3).unwrap(), true, 5);
}

#[test]
fn self_train_gradient_general_tanh() {
    check_self_train_gradient(ParticleShape::new(vec![5, 4, 4, 1], Activation::Tanh).unwrap(), false, 6);
    check_self_train_gradient(ParticleShape::new(vec![6, 3, 4, 2, 1], Activation::Tanh).unwrap(), false, 7);
}

#[test]
fn self_train_gradient_general_gelu() {
    check_self_train_gradient(ParticleShape::new(vec![5, 4, 4, 1], Activation::Gelu).unwrap(), false, 8);
}

#[test]
fn aux_gradient_general_nonlinear() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for act in [Activation::Tanh, Activation::Gelu] {
        let shape = ParticleShape::new(vec![5, 4, 4, 1], act).unwrap();
        let batch = ParticleBatch::random(shape.clone(), 4, Init::Xavier, &mut rng);
        let mut ev = Evaluator::new(&batch);
        let p = shape.n_weights();
        for n in 0..batch.len() {
            let w0 = batch.particle(n).to_vec();
            let x: f32 = rng.gen_range(-2.0..2.0);
            let mut g = vec![0.0; p];
            let dx = ev.aux_backward(&w0, x, 1.0, &mut g);
            let d = unit_direction(p, &mut rng);
            let aux = |w: &[f32], x: f32| Evaluator::new(&batch).aux(w, x);
            let fd = directional_fd(|w| aux(w, x), &w0, &d);
            assert_derivative(&format!("{act} aux ∂w"), fd, dot(&g, &d), 2e-3, 2e-5);
            let fd_x = directional_fd(|xs| aux(&w0, xs[0]), &[x], &[1.0]);
            assert_derivative(&format!("{act} aux ∂x"), fd_x, dx, 2e-3, 2e-5);
        }
    }
}

/// Task gradient of a small organism against finite differences of its task loss, over all its
/// parameters: the weight particles, then the cell particles (activation, aggregator; if any).
fn check_task_gradient(org: &Organism, x: &[f32], targets: Targets, path: Path, rng: &mut impl Rng) {
    check_task_gradient_chain(org, x, targets, path, 64.0, rng);
}

/// [`check_task_gradient`] for an organism whose longest chain of rounded f32 operations from a
/// parameter to the loss is below `chain`.
fn check_task_gradient_chain(org: &Organism, x: &[f32], targets: Targets, path: Path, chain: f32, rng: &mut impl Rng) {
    let pass = org.task_pass(x, targets, path, &mut TaskWorkspace::new());
    assert_eq!(pass.output, org.forward(x, path), "task_pass output vs forward");
    let grads: Vec<f32> = std::iter::once(pass.grads.as_slice()).chain(pass.cell_grads()).flatten().copied().collect();
    assert_task_gradient(org, x, targets, path, chain, &grads, rng);
}

/// Every parameter of `org` (weight particles, then cell particles) in one vector.
fn parameters(org: &Organism) -> Vec<f32> {
    std::iter::once(&org.particles)
        .chain(org.cell_particles().map(|c| &c.particles))
        .flat_map(|p| p.weights())
        .copied()
        .collect()
}

/// `grads` (in the order of [`parameters`]) against finite differences of the task loss.
fn assert_task_gradient(
    org: &Organism,
    x: &[f32],
    targets: Targets,
    path: Path,
    chain: f32,
    grads: &[f32],
    rng: &mut impl Rng,
) {
    let pass = org.task_pass(x, targets, path, &mut TaskWorkspace::new());
    let w0 = parameters(org);
    assert_eq!(w0.len(), grads.len(), "one gradient per parameter");
    let loss = |w: &[f32]| {
        let mut o = org.clone();
        let (now, mut rest) = w.split_at(o.particles.weights().len());
        o.particles.weights_mut().copy_from_slice(now);
        for c in o.cell_particles_mut() {
            let (now, later) = rest.split_at(c.particles.weights().len());
            c.particles.weights_mut().copy_from_slice(now);
            rest = later;
        }
        o.task_pass(x, targets, path, &mut TaskWorkspace::new()).loss
    };
    // Four random directions and every coordinate, with a relative tolerance and an absolute
    // one derived from f32 rounding of the loss: a loss value carries an error of at most about
    // δL = chain·u·|L| (u = 2⁻²⁴; chain bounds the longest chain of rounded operations from a
    // weight to the loss), and the Richardson difference at step h turns that into at most
    // 3·δL/h. A small step keeps the truncation error (these organisms are polynomials of high
    // degree in each weight) below the relative tolerance.
    let h = H / 8.0;
    let delta_l = chain * (f32::EPSILON / 2.0) * pass.loss.abs().max(1e-6);
    let abs_each = 3.0 * delta_l / h;
    for k in 0..4 {
        let d = unit_direction(w0.len(), rng);
        let fd = directional_fd_step(&loss, &w0, &d, h);
        assert_derivative(&format!("{path:?} task loss, direction {k}"), fd, dot(grads, &d), 3e-3, abs_each);
    }
    for i in 0..w0.len() {
        let mut e = vec![0.0; w0.len()];
        e[i] = 1.0;
        let fd = directional_fd_step(&loss, &w0, &e, h);
        assert_derivative(&format!("{path:?} task loss, weight {i}"), fd, grads[i], 3e-3, abs_each);
    }
}

/// Particles scaled up so that the organism's outputs, and so the task gradients, are O(1):
/// f32 noise in the loss then stays far below the derivatives checked.
fn scaled(mut org: Organism, s: f32) -> Organism {
    org.particles.weights_mut().iter_mut().for_each(|w| *w *= s);
    org
}

/// A 3 → 3 … → 2 organism of `depth` layers with the residual skip.
fn small_shape(depth: usize, activation: LayerActivation, aggregation: Aggregation) -> OrganismShape {
    OrganismShape { inputs: 3, width: 3, depth, outputs: 2, residual_skip: true, activation, aggregation }
}

fn small_task(rng: &mut impl Rng, b: usize, q: usize) -> (Vec<f32>, Vec<f32>, Vec<u8>) {
    let x = (0..b * 3).map(|_| rng.gen_range(-3.0..3.0)).collect();
    let values = (0..b * q).map(|_| rng.gen_range(-4.0..4.0)).collect();
    let labels = (0..b).map(|_| rng.gen_range(0..q as u8)).collect();
    (x, values, labels)
}

#[test]
fn task_gradient_general_nonlinear_pn() {
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    for (depth, on_act, pn_act) in [
        (3, LayerActivation::Gelu, Activation::Tanh),
        (4, LayerActivation::Gelu, Activation::Gelu),
        (4, LayerActivation::None, Activation::Tanh),
    ] {
        let shape = small_shape(depth, on_act, Aggregation::Sum);
        let pn = ParticleShape::new(vec![5, 3, 3, 1], pn_act).unwrap();
        let org = scaled(Organism::new(shape, pn, Init::Xavier, &mut rng).unwrap(), 2.0);
        let (x, values, labels) = small_task(&mut rng, 70, 2);
        check_task_gradient(&org, &x, Targets::Values(&values), Path::General, &mut rng);
        check_task_gradient(&org, &x, Targets::Classes(&labels), Path::General, &mut rng);
    }
}

/// Activation particles (issue 13): `∂loss/∂w` of the activation particles is checked directly;
/// `∂a/∂z` is checked through the weight particles of every layer below a hidden activation,
/// whose gradients flow back through it. Both task paths, one activation particle per layer and
/// per cell, tanh and GELU activation particles. Chain bound: each activation particle adds
/// a `[5, 3, 3, 1]` PN (three dots of at most 5 terms and two activations, < 24 operations) to
/// the path, so 64 + 2·24 < 128.
#[test]
fn task_gradient_activation_particles() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for (depth, per, act, pn_act) in [
        (3, Per::Layer, Activation::Tanh, Activation::None),
        (4, Per::Cell, Activation::Tanh, Activation::None),
        (3, Per::Cell, Activation::Gelu, Activation::Tanh),
    ] {
        let shape = small_shape(depth, LayerActivation::Particle, Aggregation::Sum);
        let pn = ParticleShape::new(vec![5, 3, 3, 1], pn_act).unwrap();
        let cfg = CellParticleConfig { per, hidden: 3, activation: act };
        let org = scaled(
            Organism::random(shape, pn, Init::Xavier, [&cfg, &CellParticleConfig::default()], &mut rng).unwrap(),
            2.0,
        );
        let a = org.activations.as_ref().unwrap();
        assert_eq!(a.particles.len(), if per == Per::Layer { depth - 1 } else { (depth - 1) * 3 });
        let (x, values, labels) = small_task(&mut rng, 70, 2);
        let paths: &[Path] = if pn_act.is_identity() { &[Path::Extracted, Path::General] } else { &[Path::General] };
        for &path in paths {
            check_task_gradient_chain(&org, &x, Targets::Values(&values), path, 128.0, &mut rng);
            check_task_gradient_chain(&org, &x, Targets::Classes(&labels), path, 128.0, &mut rng);
        }
    }
}

/// An organism with aggregator particles of `agg` (and activation `act` between layers).
fn aggregated(
    depth: usize,
    act: LayerActivation,
    pn: ParticleShape,
    agg: &CellParticleConfig,
    rng: &mut impl Rng,
) -> Organism {
    let shape = small_shape(depth, act, Aggregation::Particle);
    let default = CellParticleConfig::default();
    scaled(Organism::random(shape, pn, Init::Xavier, [&default, agg], rng).unwrap(), 2.0)
}

/// Chain bound of an organism of `depth` layers of 3 inputs with aggregator (and activation)
/// particles: a weight reaches its cell's value through at most 3 fold steps, each a
/// `[5, 3, 3, 1]` PN (< 24 operations), so each layer adds < 3·24 + 24 operations and
/// 64 + depth·96 bounds the chain.
fn fold_chain(depth: usize) -> f32 {
    64.0 + depth as f32 * 96.0
}

/// Aggregator particles (issue 13): back-propagation through the fold, checked on every
/// coordinate of the weight particles and the aggregators: per layer and per cell, tanh, GELU
/// and linear aggregators, with GELU and activation particles between layers, both task paths.
#[test]
fn task_gradient_aggregator_particles() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let tanh = CellParticleConfig { per: Per::Layer, hidden: 3, activation: Activation::Tanh };
    let gelu_cell = CellParticleConfig { per: Per::Cell, hidden: 3, activation: Activation::Gelu };
    let linear = CellParticleConfig { per: Per::Layer, hidden: 3, activation: Activation::None };
    for (depth, act, agg, pn_act) in [
        (3, LayerActivation::None, &tanh, Activation::None),
        (4, LayerActivation::Gelu, &gelu_cell, Activation::None),
        (3, LayerActivation::Particle, &tanh, Activation::Tanh),
        (2, LayerActivation::None, &linear, Activation::None),
    ] {
        let pn = ParticleShape::new(vec![5, 3, 3, 1], pn_act).unwrap();
        let org = aggregated(depth, act, pn, agg, &mut rng);
        let (x, values, labels) = small_task(&mut rng, 70, 2);
        let paths: &[Path] = if pn_act.is_identity() { &[Path::Extracted, Path::General] } else { &[Path::General] };
        for &path in paths {
            let near = near_targets(&org, &x, path);
            for targets in [Targets::Values(&values), Targets::Values(&near), Targets::Classes(&labels)] {
                check_task_gradient_chain(&org, &x, targets, path, fold_chain(depth), &mut rng);
            }
        }
    }
}

/// Regression targets 0.05 from the organism's own outputs: a small loss carries a small f32
/// rounding error, so the derived tolerance is tight (the error bound scales with the loss, the
/// gradient with its square root).
fn near_targets(org: &Organism, x: &[f32], path: Path) -> Vec<f32> {
    org.forward(x, path).iter().enumerate().map(|(i, y)| y + if i % 2 == 0 { 0.05 } else { -0.05 }).collect()
}

/// The check above can fail: an aggregator gradient 1 % off (e.g. a fold step's ∂/∂acc
/// dropped in one coordinate) is caught, near the targets where the tolerance is tight.
#[test]
fn aggregator_gradient_check_catches_one_percent() {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let agg = CellParticleConfig { per: Per::Layer, hidden: 3, activation: Activation::Tanh };
    let org = aggregated(3, LayerActivation::None, ParticleShape::standard(3).unwrap(), &agg, &mut rng);
    let (x, _, _) = small_task(&mut rng, 70, 2);
    let values = near_targets(&org, &x, Path::Extracted);
    let targets = Targets::Values(&values);
    check_task_gradient_chain(&org, &x, targets, Path::Extracted, fold_chain(3), &mut rng);
    let pass = org.task_pass(&x, targets, Path::Extracted, &mut TaskWorkspace::new());
    let mut grads = [pass.grads.as_slice(), &pass.aggregator_grads].concat();
    let n = pass.grads.len();
    let k = n
        + (0..pass.aggregator_grads.len()).max_by(|&a, &b| grads[n + a].abs().total_cmp(&grads[n + b].abs())).unwrap();
    grads[k] *= 1.01;
    let caught = std::panic::catch_unwind(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(15);
        assert_task_gradient(&org, &x, targets, Path::Extracted, fold_chain(3), &grads, &mut rng)
    });
    assert!(caught.is_err(), "a 1 % error in aggregator gradient {k} ({}) went unnoticed", grads[k]);
}

#[test]
fn task_gradient_extracted_linear_pn() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let shape = OrganismShape {
        inputs: 3,
        width: 4,
        depth: 4,
        outputs: 3,
        residual_skip: true,
        activation: LayerActivation::Gelu,
        aggregation: Default::default(),
    };
    let org = scaled(Organism::new(shape, ParticleShape::standard(3).unwrap(), Init::Xavier, &mut rng).unwrap(), 2.0);
    let (x, values, labels) = small_task(&mut rng, 70, 3);
    for path in [Path::Extracted, Path::General] {
        check_task_gradient(&org, &x, Targets::Values(&values), path, &mut rng);
        check_task_gradient(&org, &x, Targets::Classes(&labels), path, &mut rng);
    }
    // Both paths are the same function for linear PNs.
    let a = org.task_pass(&x, Targets::Classes(&labels), Path::Extracted, &mut TaskWorkspace::new());
    let b = org.task_pass(&x, Targets::Classes(&labels), Path::General, &mut TaskWorkspace::new());
    assert_close("extracted vs general output", &a.output, &b.output, 1e-4, 1e-6);
    assert_close("extracted vs general grads", &a.grads, &b.grads, 1e-3, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// Collapsed and general paths agree on linear particles.

fn assert_close(what: &str, got: &[f32], want: &[f32], rel: f32, abs: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0f32, |m, x| m.max(x.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= abs + rel * scale, "{what}[{i}]: {g} vs {w} (scale {scale})");
    }
}

#[test]
fn collapsed_and_general_paths_agree() {
    for (widths, seed) in [
        (vec![5, 2, 2, 1], 20),
        (vec![5, 3, 3, 1], 21),
        (vec![5, 5, 5, 1], 22),
        (vec![6, 4, 3, 2, 1], 23),
        (vec![5, 1], 24),
    ] {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let collapsed = ParticleShape::new(widths.clone(), Activation::None).unwrap();
        // Several chunks of particles, some scaled up so the terms are not all small.
        let n = 150;
        let mut fast = ParticleBatch::random(collapsed, n, Init::Xavier, &mut rng);
        let p = fast.shape().n_weights();
        for (k, w) in fast.weights_mut().chunks_mut(p).enumerate() {
            let s = 1.0 + (k % 3) as f32;
            w.iter_mut().for_each(|v| *v *= s);
        }
        let slow = fast.clone().with_general_path();
        let what = |s: &str| format!("{widths:?}: {s}");

        let (mut g_fast, mut g_slow) = (vec![0.0; n * p], vec![0.0; n * p]);
        let l_fast = fast.self_train_grads(&mut g_fast);
        let l_slow = slow.self_train_grads(&mut g_slow);
        for k in 0..n {
            let (a, b) = (&g_fast[k * p..(k + 1) * p], &g_slow[k * p..(k + 1) * p]);
            assert_close(&what("self-train loss"), &l_fast[k..k + 1], &l_slow[k..k + 1], 1e-5, 1e-7);
            assert_close(&what("self-train grads"), a, b, 1e-5, 1e-7);
        }
        assert_close(
            &what("self-application"),
            fast.self_applied().weights(),
            slow.self_applied().weights(),
            1e-5,
            1e-7,
        );
        let x: Vec<f32> = (0..n).map(|_| rng.gen_range(-2.0..2.0)).collect();
        let dout: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let xs = rng.gen_range(-2.0..2.0);
        assert_close(&what("aux_apply"), &fast.aux_apply(xs), &slow.aux_apply(xs), 1e-5, 1e-7);
        assert_close(&what("extract"), &fast.extract(), &slow.extract(), 1e-5, 1e-7);
        let (mut a_fast, mut a_slow) = (vec![0.0; n * p], vec![0.0; n * p]);
        let dx_fast = fast.aux_backward(&x, &dout, &mut a_fast);
        let dx_slow = slow.aux_backward(&x, &dout, &mut a_slow);
        assert_close(&what("aux_backward dx"), &dx_fast, &dx_slow, 1e-5, 1e-7);
        assert_close(&what("aux_backward grads"), &a_fast, &a_slow, 1e-5, 1e-7);
    }
}
