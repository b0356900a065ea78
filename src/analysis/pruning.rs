//! The pruning study (issue 14): beyond Fig. 8's single point, test accuracy against sparsity
//! for the pruning strategies the paper names as future work (§VII: "tests and comparisons of
//! mentioned pruning strategies (repeated training, self-pruning, fine-tuning)").
//!
//! Every strategy yields a *keep mask* over the organism's particles, which are also the weights
//! of its dense network of extracted weights (SPEC §2), so one mask prunes either. Sparsity is
//! the share of pruned weights; the levels are [`Settings::levels`] plus the run's own PN_SR
//! share. The strategies (`method` in the CSV):
//! - `pn_sr`: drop particles in the [`pn_sr_order`]: the PN_SR first, then, if the level needs
//!   more, the `zero`, `second_order`, `other` and `divergent` particles, each class by smallest
//!   |extracted weight| first (ties by index). Evaluated on the organism with those particles
//!   zeroed.
//! - `self_pruning`: `pn_sr`, then `k` epochs of the full organism schedule (SPEC §3) with the
//!   dropped particles frozen at zero.
//! - `l1`: global magnitude pruning of the extracted dense weights, one-shot, no training.
//! - `l1_finetune`: `l1`, then `k` epochs of task steps on the dense network, pruned weights
//!   held at zero.
//! - `iterative`: iterative magnitude pruning: prune 20 % of the remaining weights by magnitude,
//!   fine-tune `k` epochs, repeat until the sparsity passes the largest level; one point per
//!   round (sparsities 0.2, 0.36, 0.488, …).
//! - `lottery`: lottery-ticket rewinding: the `l1` mask of the final weights, the surviving
//!   weights rewound to their values at an early epoch (the first kept trajectory snapshot at or
//!   after [`REWIND_SHARE`] of the run's epochs, at least epoch 1), retrained `k` epochs.
//! - `random`: [`Settings::random_draws`] uniform draws of the pruned weights; their mean.
//!
//! Fine-tuning uses the run's configuration (batch size, SGD lr and momentum, data noise), a
//! fresh task optimizer, and a ChaCha8 stream fixed by seed, method and level, so the study is
//! reproducible. Writes `pruning.csv` (per seed), `pruning_mean.csv` (mean ± 95 % interval
//! over seeds, Student t), `pruning.json` (settings and the paired per-seed comparison of
//! `pn_sr` with `l1` over the whole curve), `pruning.png`/`.svg` and, per seed, every method's
//! network at the PN_SR share as a masked dense model (`pruned/seed-N/METHOD.safetensors`, see
//! [`write_masked_dense`]).

use super::{describe, figure, final_classes, require_image_task, Analysis, Stat, TestSets};
use crate::config::Config;
use crate::data::task::{Samples, TaskData};
use crate::fixpoint::Class;
use crate::organism::{metric, Dense, OrganismShape};
use crate::particle::ParticleBatch;
use crate::plot::{Chart, Lines, Panel, Series};
use crate::run::{write_csv, write_json, write_safetensors, Run, TensorSpec};
use crate::train::{evaluate, fine_tune, Pruned};
use crate::{Error, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use safetensors::{Dtype, SafeTensors};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The lottery ticket rewinds to the first snapshot at or after this share of the run's epochs.
pub const REWIND_SHARE: f64 = 0.02;
/// Iterative magnitude pruning removes this share of the remaining weights per round.
pub const IMP_RATE: f64 = 0.2;

/// How the study runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Sparsities (shares of pruned weights) every one-shot method is measured at.
    pub levels: Vec<f64>,
    /// Epochs of fine-tuning (`k`) for self-pruning, L1 + fine-tuning, each iterative round and
    /// the lottery ticket.
    pub fine_tune_epochs: usize,
    /// Draws of random pruning per level.
    pub random_draws: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { levels: vec![0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6], fine_tune_epochs: 10, random_draws: 5 }
    }
}

/// The strategies, in CSV and figure order: `(csv name, legend label)`.
pub const METHODS: [(&str, &str); 7] = [
    ("pn_sr", "PN_SR pruning"),
    ("self_pruning", "PN_SR pruning + self-pruning"),
    ("l1", "L1 one-shot"),
    ("l1_finetune", "L1 one-shot + fine-tuning"),
    ("iterative", "iterative L1 + fine-tuning"),
    ("lottery", "lottery ticket (rewound)"),
    ("random", "random"),
];

/// Label of the level at the run's own PN_SR share.
const SR_LEVEL: &str = "sr_share";

#[derive(Serialize, Default, Clone)]
struct Row {
    seed: u64,
    method: &'static str,
    /// A grid level such as `0.3`, `sr_share`, or `round-N` for the iterative method.
    level: String,
    sparsity: f64,
    pruned: usize,
    metric: f64,
}

#[derive(Serialize, Default)]
struct MeanRow {
    method: &'static str,
    level: String,
    sparsity: f64,
    mean: f64,
    ci95: f64,
    n: usize,
}

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
fn magnitude(w: f32) -> f32 {
    if w.is_nan() {
        f32::INFINITY
    } else {
        w.abs()
    }
}

/// Indices of `weights` among those `keep` still has, smallest |w| first (ties by index).
fn by_magnitude(weights: &[f32], keep: &[bool]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..weights.len()).filter(|&i| keep[i]).collect();
    order.sort_by(|&a, &b| magnitude(weights[a]).total_cmp(&magnitude(weights[b])));
    order
}

/// A keep mask of `n` weights with the first `k` of `order` pruned.
fn prune_first(n: usize, order: &[usize], k: usize) -> Vec<bool> {
    let mut keep = vec![true; n];
    order.iter().take(k).for_each(|&i| keep[i] = false);
    keep
}

fn masked(weights: &[f32], keep: &[bool]) -> Vec<f32> {
    weights.iter().zip(keep).map(|(&w, &k)| if k { w } else { 0.0 }).collect()
}

fn dense_metric(shape: &OrganismShape, weights: &[f32], test: &Samples) -> f64 {
    let y = Dense::new(shape, weights).forward(&test.x);
    metric(&y, shape.outputs, (&test.y).into()) as f64
}

/// A fixed random stream per run seed, method and level.
fn stream(seed: u64, method: usize, level: usize) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(((method as u64) << 32) | level as u64);
    r
}

/// A pruned network: its dense weights (pruned ones zero) and keep mask.
struct Pruning {
    weights: Vec<f32>,
    keep: Vec<bool>,
    metric: f64,
}

/// What one seed's study measured.
struct SeedResult {
    rows: Vec<Row>,
    /// Per method, the network at the PN_SR share (or the last iterative round).
    exports: Vec<(&'static str, f64, Pruning)>,
    notes: Vec<String>,
}

/// The dense weights of the first trajectory snapshot at or after [`REWIND_SHARE`] of the
/// run's epochs (at least epoch 1), with that epoch.
fn rewind_weights(run: &Run) -> Result<Option<(usize, Vec<f32>)>> {
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
fn study(run: &Run, data: &TaskData, settings: &Settings) -> Result<SeedResult> {
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
fn evaluate_pruned(organism: &mut crate::organism::Organism, keep: &[bool], test: &Samples) -> f64 {
    let p = organism.particles.shape().n_weights();
    for (w, &k) in organism.particles.weights_mut().chunks_mut(p).zip(keep) {
        if !k {
            w.fill(0.0);
        }
    }
    evaluate(organism, test) as f64
}

/// Mean of a curve over the grid levels by the trapezoidal rule, divided by the span of
/// sparsities: the "whole curve" score, in accuracy units. `points` are `(sparsity, metric)`.
pub fn curve_score(points: &[(f64, f64)]) -> f64 {
    let mut p = points.to_vec();
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    if p.len() < 2 {
        return p.first().map_or(f64::NAN, |x| x.1);
    }
    let area: f64 = p.windows(2).map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0).sum();
    area / (p[p.len() - 1].0 - p[0].0)
}

/// The paired comparison of one seed.
#[derive(Serialize)]
struct Paired {
    seed: u64,
    /// Whole-curve scores of `pn_sr` and `l1` over the grid levels, and their difference.
    curve_pn_sr: f64,
    curve_l1: f64,
    curve_difference: f64,
    /// `pn_sr − l1` at every grid level, and at the PN_SR share.
    by_level: BTreeMap<String, f64>,
}

/// The study over `runs`; writes into `out` (see the module doc).
pub fn analyze(runs: &[Run], tests: &TestSets, settings: &Settings, out: &Path) -> Result<Analysis> {
    if runs.is_empty() {
        return Err(Error::Invalid("pruning: no runs given".into()));
    }
    require_image_task(runs, "pruning")?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut a = Analysis { kind: "pruning".into(), ..Analysis::default() };
    let mut rows = Vec::new();
    for run in runs {
        if !run.organism.particles.shape().activation().is_identity() {
            a.notes.push(format!(
                "{}: non-linear PNs; the dense network of extracted weights only approximates the organism",
                run.dir.display()
            ));
        }
        let data = tests.data(run)?;
        let result = study(run, &data, settings)?;
        let dir = out.join("pruned").join(format!("seed-{}", run.config.seed));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        for (method, sparsity, p) in &result.exports {
            let meta = [("method", method.to_string()), ("sparsity", format!("{sparsity}"))];
            write_masked_dense(
                &dir.join(format!("{method}.safetensors")),
                &run.organism.shape,
                &p.weights,
                &p.keep,
                &meta,
            )?;
        }
        rows.extend(result.rows);
        a.notes.extend(result.notes);
    }
    let csv = out.join("pruning.csv");
    write_csv(&csv, &rows)?;
    a.csv.push(csv);

    // Mean ± 95 % interval over seeds per method and level.
    let mut groups: BTreeMap<(usize, String), Vec<&Row>> = BTreeMap::new();
    for r in &rows {
        let m = METHODS.iter().position(|(name, _)| *name == r.method).expect("a known method");
        groups.entry((m, r.level.clone())).or_default().push(r);
    }
    let means: Vec<MeanRow> = groups
        .iter()
        .map(|((m, level), rs)| {
            let s = Stat::of(&rs.iter().map(|r| r.metric).collect::<Vec<_>>());
            let sparsity = Stat::of(&rs.iter().map(|r| r.sparsity).collect::<Vec<_>>()).mean;
            MeanRow { method: METHODS[*m].0, level: level.clone(), sparsity, mean: s.mean, ci95: s.ci95(), n: s.n }
        })
        .collect();
    let csv = out.join("pruning_mean.csv");
    write_csv(&csv, &means)?;
    a.csv.push(csv);

    // The figure: every method's mean against its mean sparsity, ± 95 % interval.
    let mut xs: Vec<f64> = means.iter().map(|m| m.sparsity).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    let series: Vec<Series> = METHODS
        .iter()
        .filter(|(name, _)| means.iter().any(|m| m.method == *name))
        .map(|(name, label)| {
            let at = |x: f64| means.iter().find(|m| m.method == *name && (m.sparsity - x).abs() < 1e-9);
            let y: Vec<f64> = xs.iter().map(|&x| at(x).map_or(f64::NAN, |m| m.mean)).collect();
            let half: Vec<f64> =
                xs.iter().map(|&x| at(x).map_or(f64::NAN, |m| if m.ci95.is_finite() { m.ci95 } else { 0.0 })).collect();
            let band =
                (y.iter().zip(&half).map(|(m, h)| m - h).collect(), y.iter().zip(&half).map(|(m, h)| m + h).collect());
            Series { name: label.to_string(), colour: None, y, band: Some(band) }
        })
        .collect();
    let metric_name = runs[0].config.task.metric_name();
    let panel = Panel {
        y_label: format!("test {metric_name} (mean ± 95 % interval over seeds)"),
        log_y: false,
        y_range: None,
        series,
    };
    let title = format!("Pruning: test {metric_name} vs sparsity ({})", describe(runs));
    let caption = format!(
        "Test {metric_name} of every pruning method against the share of weights it pruned, mean over {} run{} with \
         its 95 % confidence interval; fine-tuning {} epochs after pruning.",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        settings.fine_tune_epochs
    );
    let chart =
        Chart::Lines(Lines { x_label: "sparsity (share of weights pruned)".into(), x: xs, panels: vec![panel] });
    a.figures.push(figure(out, "pruning", title, caption, chart));

    // Paired per seed: PN_SR pruning against L1 one-shot over the whole grid curve.
    let grid = |r: &&Row| r.level != SR_LEVEL;
    let mut paired = Vec::new();
    for run in runs {
        let seed = run.config.seed;
        let curve = |method: &str| -> Vec<(f64, f64)> {
            rows.iter()
                .filter(|r| r.seed == seed && r.method == method)
                .filter(grid)
                .map(|r| (r.sparsity, r.metric))
                .collect()
        };
        let (pn, l1) = (curve("pn_sr"), curve("l1"));
        let at = |method: &str, level: &str| {
            rows.iter().find(|r| r.seed == seed && r.method == method && r.level == level).map(|r| r.metric)
        };
        let by_level = rows
            .iter()
            .filter(|r| r.seed == seed && r.method == "pn_sr")
            .filter_map(|r| at("l1", &r.level).map(|l1| (r.level.clone(), r.metric - l1)))
            .collect();
        let (cp, cl) = (curve_score(&pn), curve_score(&l1));
        paired.push(Paired { seed, curve_pn_sr: cp, curve_l1: cl, curve_difference: cp - cl, by_level });
    }
    let diffs: Vec<f64> = paired.iter().map(|p| p.curve_difference).collect();
    let diff = Stat::of(&diffs);
    let wins = diffs.iter().filter(|&&d| d > 0.0).count();
    let summary = serde_json::json!({
        "levels": settings.levels,
        "fine_tune_epochs": settings.fine_tune_epochs,
        "random_draws": settings.random_draws,
        "iterative_rate": IMP_RATE,
        "rewind_share": REWIND_SHARE,
        "metric": metric_name,
        "paired_pn_sr_vs_l1": paired,
        "curve_difference": { "mean": diff.mean, "sd": diff.sd, "ci95": diff.ci95(), "n": diff.n, "seeds_pn_sr_better": wins },
    });
    let json = out.join("pruning.json");
    write_json(&json, &summary)?;

    for (name, _) in METHODS {
        let s: Vec<f64> = paired
            .iter()
            .filter_map(|p| {
                let pts: Vec<(f64, f64)> = rows
                    .iter()
                    .filter(|r| r.seed == p.seed && r.method == name && (name == "iterative" || r.level != SR_LEVEL))
                    .map(|r| (r.sparsity, r.metric))
                    .collect();
                (!pts.is_empty()).then(|| curve_score(&pts))
            })
            .collect();
        if !s.is_empty() {
            // Per seed, in run order: the claims table pairs the methods' curves by seed.
            a.record(&format!("curve_{name}"), s);
        }
    }
    a.findings.insert("curve_difference_pn_sr_l1".into(), diff);
    a.findings.insert("share_seeds_pn_sr_better".into(), Stat::of(&[wins as f64 / diffs.len() as f64]));
    a.notes.push(format!(
        "PN_SR pruning vs L1 one-shot, whole curve (trapezoid mean over sparsity {:.2}–{:.2}), paired per seed: \
         difference {:.4} ± {:.4} (95 % interval, n = {}); PN_SR better in {wins} of {} seeds (pruning.json)",
        settings.levels.iter().cloned().fold(f64::INFINITY, f64::min),
        settings.levels.iter().cloned().fold(0.0, f64::max),
        diff.mean,
        diff.ci95(),
        diff.n,
        diffs.len()
    ));
    a.notes.push(format!(
        "fine-tuning: {} epochs of the run's schedule (self-pruning) or of dense task steps (the others), fresh SGD \
         lr {} momentum {}; iterative rounds prune {} % of the remaining weights; random = mean of {} draws",
        settings.fine_tune_epochs,
        runs[0].config.lr,
        runs[0].config.momentum,
        IMP_RATE * 100.0,
        settings.random_draws
    ));
    Ok(a)
}

/// Writes a pruned dense network: per layer `l`, `weight_l{l}` (`out × in`, f32, pruned
/// weights 0) and `mask_l{l}` (same shape, 1 kept / 0 pruned, f32 as `torch.nn.utils.prune`
/// keeps it), with metadata `format = "masked_dense"`, `organism` (the shape as JSON: residual
/// skip and activation) and `extra`. Loads in PyTorch with `safetensors.torch.load_file`.
pub fn write_masked_dense(
    path: &Path,
    shape: &OrganismShape,
    weights: &[f32],
    keep: &[bool],
    extra: &[(&str, String)],
) -> Result<()> {
    if weights.len() != shape.n_particles() || keep.len() != weights.len() {
        return Err(Error::Invalid(format!(
            "{}: {} weights and {} mask entries for a network of {}",
            path.display(),
            weights.len(),
            keep.len(),
            shape.n_particles()
        )));
    }
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut tensors = Vec::new();
    let mut start = 0;
    for (l, (i, o)) in shape.layers().into_iter().enumerate() {
        let w = masked(&weights[start..start + i * o], &keep[start..start + i * o]);
        let m: Vec<f32> = keep[start..start + i * o].iter().map(|&k| if k { 1.0 } else { 0.0 }).collect();
        tensors.push((format!("weight_l{l}"), vec![o, i], bytes(&w)));
        tensors.push((format!("mask_l{l}"), vec![o, i], bytes(&m)));
        start += i * o;
    }
    let specs: Vec<(TensorSpec, &[u8])> = tensors
        .iter()
        .map(|(name, dims, b)| (TensorSpec { name, dtype: Dtype::F32, shape: dims.clone() }, b.as_slice()))
        .collect();
    // Sorted metadata: the same bytes for the same network (issue 8).
    let mut meta: BTreeMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    meta.insert("format".into(), "masked_dense".into());
    meta.insert("organism".into(), serde_json::to_string(shape).expect("a shape serialises"));
    write_safetensors(path, &specs, meta)
}

/// Reads a file of [`write_masked_dense`]: the shape, the dense weights (SPEC order) and the
/// keep mask.
pub fn read_masked_dense(path: &Path) -> Result<(OrganismShape, Vec<f32>, Vec<bool>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |msg: String| Error::format(path, msg);
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some("masked_dense") {
        return Err(bad("not a masked dense network (metadata `format` is not masked_dense)".into()));
    }
    let shape: OrganismShape = meta
        .get("organism")
        .and_then(|o| serde_json::from_str(o).ok())
        .ok_or_else(|| bad("metadata `organism` missing or malformed".into()))?;
    shape.validate().map_err(|e| bad(e.to_string()))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let (mut weights, mut keep) = (Vec::new(), Vec::new());
    for (l, (i, o)) in shape.layers().into_iter().enumerate() {
        let read = |name: String| -> Result<Vec<f32>> {
            let t = st.tensor(&name).map_err(|_| bad(format!("no tensor `{name}`")))?;
            if t.dtype() != Dtype::F32 || t.shape() != [o, i] {
                return Err(bad(format!("tensor `{name}` is not an f32 tensor of shape [{o}, {i}]")));
            }
            Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        };
        weights.extend(read(format!("weight_l{l}"))?);
        let mask = read(format!("mask_l{l}"))?;
        if let Some(v) = mask.iter().find(|&&m| m != 0.0 && m != 1.0) {
            return Err(bad(format!("mask_l{l} holds {v}, not 0 or 1")));
        }
        keep.extend(mask.iter().map(|&m| m == 1.0));
    }
    Ok((shape, weights, keep))
}
