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

use super::{describe, figure, require_image_task, require_summing_cells, Analysis, Stat, TestSets};
use crate::plot::{Chart, Lines, Panel, Series};
use crate::run::{write_csv, write_json, Run};
use crate::{Error, Result};
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

mod export;
mod strategies;

pub use export::{read_masked_dense, write_masked_dense};
pub use strategies::pn_sr_order;
use strategies::study;

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
    require_summing_cells(runs, "pruning")?;
    if let Some(run) = runs.iter().find(|r| r.organism.activations.is_some()) {
        return Err(Error::Invalid(format!(
            "pruning: {} has activation particles; its dense baseline is defined for fixed activations only",
            run.dir.display()
        )));
    }
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
