//! Golden check of the particle initialisation (SPEC §1): every layer's `[out][in]` weights are
//! uniform in `±sqrt(6/(in+out))` (Xavier, the authors' code) or `±1/sqrt(in)` (torch_linear).

use organism::particle::{Init, ParticleBatch, ParticleShape};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Per layer of `[5, 5, 5, 1]`, over `n` particles: (max |w|, mean w², count).
fn layer_stats(init: Init, n: usize) -> Vec<(f32, f64, usize)> {
    let shape = ParticleShape::standard(5).unwrap();
    let batch = ParticleBatch::random(shape.clone(), n, init, &mut ChaCha8Rng::seed_from_u64(7));
    let sizes: Vec<usize> = shape.widths().windows(2).map(|p| p[0] * p[1]).collect();
    let mut stats = vec![(0f32, 0f64, 0usize); sizes.len()];
    for k in 0..batch.len() {
        let mut w = batch.particle(k);
        for (s, &len) in stats.iter_mut().zip(&sizes) {
            let (layer, rest) = w.split_at(len);
            w = rest;
            for &x in layer {
                s.0 = s.0.max(x.abs());
                s.1 += f64::from(x) * f64::from(x);
                s.2 += 1;
            }
        }
    }
    stats.iter().map(|&(m, sq, c)| (m, sq / c as f64, c)).collect()
}

#[test]
fn init_bounds_are_the_authors_xavier_and_torch_linear() {
    // h = 5: layers 5→5, 5→5, 5→1 (SPEC §1: ±0.775, ±0.775, ±1.0 for Xavier).
    let layers = [(5, 5), (5, 5), (5, 1)];
    let cases = [(Init::Xavier, [0.6f32.sqrt(), 0.6f32.sqrt(), 1.0]), (Init::TorchLinear, [0.2f32.sqrt(); 3])];
    for (init, bounds) in cases {
        let stats = layer_stats(init, 40_000);
        for (((max, mean_sq, count), bound), (fan_in, fan_out)) in stats.into_iter().zip(bounds).zip(layers) {
            assert_eq!(init.bound(fan_in, fan_out), bound, "{init:?} {fan_in}→{fan_out}");
            // Never beyond the bound; and with `count` uniform draws the largest lies below
            // bound·(1 − δ) only with probability (1 − δ)^count: δ = 1e-4 gives e^-20 or less.
            assert!(max <= bound, "{init:?}: max {max} > bound {bound}");
            assert!(max > bound * (1.0 - 1e-4), "{init:?}: max {max} far below bound {bound}");
            // Uniform(−b, b) has E[w²] = b²/3 and sd(w²) = b²·2/sqrt(45); 6 standard errors.
            let b2 = f64::from(bound).powi(2);
            let se = b2 * 2.0 / 45f64.sqrt() / (count as f64).sqrt();
            assert!((mean_sq - b2 / 3.0).abs() < 6.0 * se, "{init:?}: E[w²] {mean_sq} vs {}", b2 / 3.0);
        }
    }
}
