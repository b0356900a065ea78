//! Aggregator particles (issue 13, docs/aggregators.md): the fold by hand, the closed form of a
//! linear aggregator, and the two PN paths against each other.

use organism::activation::Activation;
use organism::organism::{
    Aggregation, CellParticleConfig, CellParticles, LayerActivation, Organism, OrganismShape, Path, Per, Role,
    TaskWorkspace,
};
use organism::particle::{Init, ParticleBatch, ParticleShape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn shape(inputs: usize, width: usize, depth: usize, outputs: usize) -> OrganismShape {
    OrganismShape {
        inputs,
        width,
        depth,
        outputs,
        residual_skip: false,
        activation: LayerActivation::None,
        aggregation: Aggregation::Particle,
    }
}

/// A linear `[5, 1, 1, 1]` PN computing `a·input` (first layer `a`, then 1, 1).
fn linear_pn(a: [f32; 5]) -> Vec<f32> {
    [a.as_slice(), &[1.0, 1.0]].concat()
}

fn tiny() -> ParticleShape {
    ParticleShape::new(vec![5, 1, 1, 1], Activation::None).unwrap()
}

/// A 2 → 1 → 1 organism, hand-computed: weights `PN(0,0,0,0,x) = w·x`, one aggregator per layer
/// `acc' = α·acc + γ·E' + β·y` with α = 0.5, β = 2, γ = 3.
#[test]
fn fold_by_hand() {
    let s = shape(2, 1, 2, 1);
    let weight = |w: f32| linear_pn([0.0, 0.0, 0.0, 0.0, w]);
    let weights = [weight(1.0), weight(-1.0), weight(0.25)].concat();
    let particles = ParticleBatch::from_weights(tiny(), weights).unwrap();
    let agg = linear_pn([0.5, 0.0, 0.0, 3.0, 2.0]);
    let aggs = ParticleBatch::from_weights(tiny(), [agg.clone(), agg].concat()).unwrap();
    let aggs = CellParticles::new(Role::Aggregator, Per::Layer, &s, aggs).unwrap();
    let org = Organism::with_cell_particles(s, particles, None, Some(aggs)).unwrap();
    let x = [1.0f32, 2.0];
    // Layer 0, edges at E' = 1e-8 and 1/(1 + 1e-8) + 1e-8: y = (1, −2).
    let e1 = 1.0f32 / (1.0 + 1e-8) + 1e-8;
    let acc1 = 0.5 * 0.0 + 3.0 * 1e-8 + 2.0 * 1.0;
    let acc2 = 0.5 * acc1 + 3.0 * e1 + 2.0 * -2.0;
    // Layer 1, one edge at E' = 0/(0 + 1e-8) + 1e-8, y = 0.25·acc2.
    let want = 3.0 * 1e-8 + 2.0 * (0.25 * acc2);
    for path in [Path::Extracted, Path::General] {
        let got = org.forward(&x, path)[0];
        assert!((got - want).abs() <= 1e-6, "{path:?}: {got} vs {want}");
    }
    let x = [3.0f32, 1.0];
    let want = 3.0 * 1e-8 + 2.0 * 0.25 * (0.5 * (3.0 * 1e-8 + 6.0) + 3.0 * e1 - 2.0);
    assert!((org.forward(&x, Path::Extracted)[0] - want).abs() <= 1e-5, "{want}");
}

/// A linear aggregator folds to `Σ_e α^(n−1−e)·(β·y_e + γ·E'_e)` (docs/aggregators.md), here on
/// a 12 → 1 layer of random weights; tolerance: 12 fold steps of a few rounded operations on
/// values of size ≤ 30, far below 1e-4.
#[test]
fn linear_fold_is_a_geometric_weighting() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let s = shape(12, 1, 2, 1);
    let n = 12;
    let w: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut weights: Vec<f32> = w.iter().flat_map(|&w| linear_pn([0.0, 0.0, 0.0, 0.0, w])).collect();
    weights.extend(linear_pn([0.0, 0.0, 0.0, 0.0, 1.0]));
    let (alpha, beta, gamma) = (0.8f32, 1.5f32, -0.7f32);
    let agg = [linear_pn([alpha, 0.0, 0.0, gamma, beta]), linear_pn([0.0, 0.0, 0.0, 0.0, 1.0])].concat();
    let aggs = ParticleBatch::from_weights(tiny(), agg).unwrap();
    let aggs = CellParticles::new(Role::Aggregator, Per::Layer, &s, aggs).unwrap();
    let org = Organism::with_cell_particles(s, ParticleBatch::from_weights(tiny(), weights).unwrap(), None, Some(aggs))
        .unwrap();
    let x: Vec<f32> = (0..n).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let pos = |e: usize| e as f32 / (11.0 + 1e-8) + 1e-8;
    let want: f32 = (0..n).map(|e| alpha.powi((n - 1 - e) as i32) * (beta * w[e] * x[e] + gamma * pos(e))).sum();
    // The output layer's aggregator is `acc' = y` (one edge): the output is the fold.
    let got = org.forward(&x, Path::Extracted)[0];
    assert!((got - want).abs() <= 1e-4, "{got} vs {want}");
}

/// Collapsed (linear aggregators' default) and general evaluation of the fold agree, outputs
/// and gradients, within f32 rounding of sums of ≲ 100 terms of size O(1) (relative 1e-4).
#[test]
fn collapsed_and_general_aggregators_agree() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let s = shape(4, 3, 3, 2);
    let cfg = CellParticleConfig { per: Per::Cell, hidden: 3, activation: Activation::None };
    let default = CellParticleConfig::default();
    let org =
        Organism::random(s, ParticleShape::standard(3).unwrap(), Init::Xavier, [&default, &cfg], &mut rng).unwrap();
    let mut general = org.clone();
    let a = general.aggregators.as_mut().unwrap();
    a.particles = a.particles.clone().with_general_path();
    let x: Vec<f32> = (0..40 * 4).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let t: Vec<f32> = (0..40 * 2).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let targets = organism::organism::Targets::Values(&t);
    let (p, q) = (
        org.task_pass(&x, targets, Path::Extracted, &mut TaskWorkspace::new()),
        general.task_pass(&x, targets, Path::Extracted, &mut TaskWorkspace::new()),
    );
    let close = |a: &[f32], b: &[f32], what: &str| {
        let scale = a.iter().map(|v| v.abs()).fold(0.0f32, f32::max).max(1e-6);
        for (i, (u, v)) in a.iter().zip(b).enumerate() {
            assert!((u - v).abs() <= 1e-4 * scale, "{what} {i}: {u} vs {v}");
        }
    };
    close(&p.output, &q.output, "output");
    close(&p.grads, &q.grads, "weight gradient");
    close(&p.aggregator_grads, &q.aggregator_grads, "aggregator gradient");
    assert_eq!(p.aggregator_grads.len(), (3 + 3 + 2) * org.aggregators.as_ref().unwrap().particles.shape().n_weights());
}

/// The aggregator figure's fit (src/analysis/aggregators.rs) on a layer of 12 random weights:
/// the aggregator `acc' = acc + y` is the plain sum (slope 1, intercept 0, R² 1, up to f32
/// rounding of 12-term sums of size ≤ 24 against their f64 fit: 1e-4), and `acc' = 0.5·acc + y`
/// weights the edges geometrically, which no line in the sum explains (R² well below 1).
#[test]
fn the_aggregator_figure_tells_a_sum_from_a_geometric_weighting() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let s = shape(12, 1, 2, 1);
    let weights: Vec<f32> = (0..13).flat_map(|_| linear_pn([0.0, 0.0, 0.0, 0.0, rng.gen_range(-1.0..1.0)])).collect();
    let x: Vec<f32> = (0..300 * 12).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let fit = |alpha: f32| {
        let agg = [linear_pn([alpha, 0.0, 0.0, 0.0, 1.0]), linear_pn([0.0, 0.0, 0.0, 0.0, 1.0])].concat();
        let aggs =
            CellParticles::new(Role::Aggregator, Per::Layer, &s, ParticleBatch::from_weights(tiny(), agg).unwrap());
        let particles = ParticleBatch::from_weights(tiny(), weights.clone()).unwrap();
        let org = Organism::with_cell_particles(s.clone(), particles, None, Some(aggs.unwrap())).unwrap();
        let layers = org.aggregated_cells(&x).unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0].0.len(), 300);
        let dir = tempfile::tempdir().unwrap();
        let figures = organism::analysis::aggregators::figures(dir.path(), &org, &x).unwrap();
        organism::plot::draw_all(&figures).unwrap();
        assert!(dir.path().join("aggregators_L0.png").is_file() && dir.path().join("aggregators.csv").is_file());
        organism::analysis::aggregators::Fit::of(&layers[0].0, &layers[0].1)
    };
    let sum = fit(1.0);
    assert_eq!(sum.n, 300);
    assert!((sum.slope - 1.0).abs() <= 1e-4 && sum.intercept.abs() <= 1e-4 && sum.r2 >= 1.0 - 1e-4, "{sum:?}");
    let geometric = fit(0.5);
    assert!(geometric.r2 < 0.9, "{geometric:?}");
}
