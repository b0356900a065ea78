//! The pruning strategies: keep masks, fine-tuning and the study of one seed.

use super::{Row, Settings, IMP_RATE, REWIND_SHARE, SR_LEVEL};
use crate::analysis::final_classes;
use crate::config::Config;
use crate::fixpoint::Class;
use crate::organism::{metric, Dense, OrganismShape};
use crate::particle::ParticleBatch;
use crate::run::Run;
use crate::task::{Samples, TaskData};
use crate::train::{evaluate, fine_tune, Pruned};
use crate::{Error, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// The order in which `pn_sr` drops particles: PN_SR, then `zero`, `second_order`, `other`,
/// `divergent`; inside each class smallest |extracted weight| first, ties by index.
pub fn pn_sr_order(classes: &[Class], extracted: &[f32]) -> Vec<usize> {
    let rank = |c: Class| match c {
        Class::SelfReplicator => 0,
        Class::Zero => 1,
        Class::SecondOrder => 2,
        Class::Other => 3,
        Class::Divergent => 4,
    };
    let mut order: Vec<usize> = (0..classes.len()).collect();
    order.sort_by(|&a, &b| {
        rank(classes[a]).cmp(&rank(classes[b])).then(magnitude(extracted[a]).total_cmp(&magnitude(extracted[b])))
    });
    order
}

/// |w|, NaN counting as the largest (so a broken weight is pruned last).
pub(super) fn magnitude(w: f32) -> f32 {
    if w.is_nan() {
        f32::INFINITY
    } else {
        w.abs()
    }
}

/// Indices of `weights` among those `keep` still has, smallest |w| first (ties by index).
pub(super) fn by_magnitude(weights: &[f32], keep: &[bool]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..weights.len()).filter(|&i| keep[i]).collect();
    order.sort_by(|&a, &b| magnitude(weights[a]).total_cmp(&magnitude(weights[b])));
    order
}

/// A keep mask of `n` weights with the first `k` of `order` pruned.
pub(super) fn prune_first(n: usize, order: &[usize], k: usize) -> Vec<bool> {
    let mut keep = vec![true; n];
    order.iter().take(k).for_each(|&i| keep[i] = false);
    keep
}

pub(super) fn masked(weights: &[f32], keep: &[bool]) -> Vec<f32> {
    weights.iter().zip(keep).map(|(&w, &k)| if k { w } else { 0.0 }).collect()
}

pub(super) fn dense_metric(shape: &OrganismShape, weights: &[f32], test: &Samples) -> f64 {
    let y = Dense::new(shape, weights).forward(&test.x);
    metric(&y, shape.outputs, (&test.y).into()) as f64
}

/// A fixed random stream per run seed, method and level.
pub(super) fn stream(seed: u64, method: usize, level: usize) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(((method as u64) << 32) | level as u64);
    r
}

/// A pruned network: its dense weights (pruned ones zero) and keep mask.
pub(super) struct Pruning {
    pub(super) weights: Vec<f32>,
    pub(super) keep: Vec<bool>,
    pub(super) metric: f64,
}

/// What one seed's study measured.
pub(super) struct SeedResult {
    pub(super) rows: Vec<Row>,
    /// Per method, the network at the PN_SR share (or the last iterative round).
    pub(super) exports: Vec<(&'static str, f64, Pruning)>,
    pub(super) notes: Vec<String>,
}

/// The dense weights of the first trajectory snapshot at or after [`REWIND_SHARE`] of the
/// run's epochs (at least epoch 1), with that epoch.
pub(super) fn rewind_weights(run: &Run) -> Result<Option<(usize, Vec<f32>)>> {
    let Some(t) = run.trajectory() else { return Ok(None) };
    let t = t?;
    let target = ((run.config.epochs as f64 * REWIND_SHARE).ceil() as usize).max(1);
    let Some(k) = t.epochs.iter().position(|&e| e >= target) else { return Ok(None) };
    let n = run.organism.particles.len() * run.organism.particles.shape().n_weights();
    let snapshot = t
        .weights
        .get(k * n..(k + 1) * n)
        .ok_or_else(|| Error::format(run.dir.join("trajectory.safetensors"), "fewer weights than its epochs need"))?;
    let batch = ParticleBatch::from_weights(run.organism.particles.shape().clone(), snapshot.to_vec())?;
    Ok(Some((t.epochs[k], batch.extract())))
}

/// The whole study on one run.
pub(super) fn study(run: &Run, data: &TaskData, settings: &Settings) -> Result<SeedResult> {
    let test = data.test();
    let cfg: &Config = &run.config;
    let shape = &run.organism.shape;
    let seed = run.config.seed;
    let k_epochs = settings.fine_tune_epochs;
    let extracted = run.organism.extracted_weights();
    let n = extracted.len();
    let classes = final_classes(run);
    let n_sr = classes.iter().filter(|&&c| c == Class::SelfReplicator).count();
    let pn_order = pn_sr_order(&classes, &extracted);
    let l1_order = by_magnitude(&extracted, &vec![true; n]);
    let rewind = rewind_weights(run)?;
    let mut notes = Vec::new();
    match &rewind {
        Some((epoch, _)) => notes.push(format!("seed {seed}: the lottery ticket rewinds to epoch {epoch}")),
        None => notes.push(format!("seed {seed}: no trajectory snapshot to rewind to; no lottery ticket")),
    }

    // The levels: the grid, then the run's PN_SR share.
    let mut levels: Vec<(String, usize)> =
        settings.levels.iter().map(|&s| (format!("{s}"), (s * n as f64).round() as usize)).collect();
    if n_sr > 0 {
        levels.push((SR_LEVEL.to_string(), n_sr));
    }

    // One-shot methods at every level, levels in parallel (each has its own streams).
    let per_level: Vec<Vec<(&'static str, Pruning)>> = levels
        .par_iter()
        .enumerate()
        .map(|(li, &(_, k))| {
            let mut out = Vec::new();
            let keep = prune_first(n, &pn_order, k);
            let mut organism = run.organism.clone();
            let before = evaluate_pruned(&mut organism, &keep, test);
            out.push(("pn_sr", Pruning { weights: masked(&extracted, &keep), keep: keep.clone(), metric: before }));
            fine_tune(Pruned::Organism(&mut organism), &keep, cfg, data, k_epochs, &mut stream(seed, 1, li));
            let metric = evaluate(&organism, test) as f64;
            out.push(("self_pruning", Pruning { weights: organism.extracted_weights(), keep, metric }));

            let keep = prune_first(n, &l1_order, k);
            let weights = masked(&extracted, &keep);
            out.push(("l1", Pruning { metric: dense_metric(shape, &weights, test), weights, keep: keep.clone() }));
            let mut weights = extracted.clone();
            fine_tune(
                Pruned::Dense { shape, weights: &mut weights },
                &keep,
                cfg,
                data,
                k_epochs,
                &mut stream(seed, 3, li),
            );
            out.push((
                "l1_finetune",
                Pruning { metric: dense_metric(shape, &weights, test), weights, keep: keep.clone() },
            ));
            if let Some((_, early)) = &rewind {
                let mut weights = early.clone();
                let mut rng = stream(seed, 5, li);
                fine_tune(Pruned::Dense { shape, weights: &mut weights }, &keep, cfg, data, k_epochs, &mut rng);
                out.push(("lottery", Pruning { metric: dense_metric(shape, &weights, test), weights, keep }));
            }
            let mut rng = stream(seed, 6, li);
            let draws: Vec<Pruning> = (0..settings.random_draws.max(1))
                .map(|_| {
                    let order = rand::seq::index::sample(&mut rng, n, k).into_vec();
                    let keep = prune_first(n, &order, k);
                    let weights = masked(&extracted, &keep);
                    Pruning { metric: dense_metric(shape, &weights, test), weights, keep }
                })
                .collect();
            let mean = draws.iter().map(|d| d.metric).sum::<f64>() / draws.len() as f64;
            let first = draws.into_iter().next().expect("at least one draw");
            out.push(("random", Pruning { metric: mean, ..first }));
            out
        })
        .collect();

    let mut rows = Vec::new();
    let mut exports = Vec::new();
    for ((level, k), results) in levels.iter().zip(per_level) {
        for (method, p) in results {
            let sparsity = *k as f64 / n as f64;
            rows.push(Row { seed, method, level: level.clone(), sparsity, pruned: *k, metric: p.metric });
            if level == SR_LEVEL {
                exports.push((method, sparsity, p));
            }
        }
    }

    // Iterative magnitude pruning: 20 % of the remaining weights per round, fine-tuned each time.
    let max_level = settings.levels.iter().cloned().fold(0.0, f64::max);
    let mut weights = extracted.clone();
    let mut keep = vec![true; n];
    let mut round = 0;
    loop {
        round += 1;
        let remaining = keep.iter().filter(|&&k| k).count();
        let k = ((remaining as f64 * IMP_RATE).round() as usize).max(1).min(remaining);
        let order = by_magnitude(&weights, &keep);
        order.iter().take(k).for_each(|&i| keep[i] = false);
        let mut rng = stream(seed, 4, round);
        fine_tune(Pruned::Dense { shape, weights: &mut weights }, &keep, cfg, data, k_epochs, &mut rng);
        let pruned = keep.iter().filter(|&&k| !k).count();
        let sparsity = pruned as f64 / n as f64;
        let metric = dense_metric(shape, &weights, test);
        rows.push(Row { seed, method: "iterative", level: format!("round-{round}"), sparsity, pruned, metric });
        if sparsity >= max_level || pruned == n {
            exports.push(("iterative", sparsity, Pruning { weights: weights.clone(), keep: keep.clone(), metric }));
            break;
        }
    }
    Ok(SeedResult { rows, exports, notes })
}

/// `organism` with the particles `keep` drops zeroed, evaluated on `test`.
pub(super) fn evaluate_pruned(organism: &mut crate::organism::Organism, keep: &[bool], test: &Samples) -> f64 {
    let p = organism.particles.shape().n_weights();
    for (w, &k) in organism.particles.weights_mut().chunks_mut(p).zip(keep) {
        if !k {
            w.fill(0.0);
        }
    }
    evaluate(organism, test) as f64
}
