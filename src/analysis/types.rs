//! The `types` analysis (paper Fig. 2 and 9, SPEC §6): how many particles of each fixpoint class
//! the organism holds at every counted epoch, mean and standard deviation over runs.
//!
//! Writes `types.csv` (`epoch, class, mean, sd`) and `types.png`/`.svg` (the classes stacked in
//! [`Class::ALL`] order). Findings: `share_self_replicators` (final PN_SR count over particle
//! count, per run), `all_self_replicators` (1 for a run whose particles all end as PN_SR, else 0)
//! and `first_all_sr_epoch` (the first counted epoch at which every particle was a PN_SR, over the
//! runs that reached it), `sr_outside_first_layer` (final PN_SR in layers ≥ 1) and
//! `sr_trend_per_100_epochs` (least-squares slope of the PN_SR count over the counted epochs).

use super::{add_figure, final_classes, stem, Analysis, Stat};
use crate::fixpoint::{Class, ClassCounts};
use crate::report::plot::{stacked_area, Figure, Series};
use crate::run::{write_csv, write_text, Run};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Serialize, Default)]
struct Row {
    epoch: usize,
    class: &'static str,
    mean: f64,
    sd: f64,
}

/// Runs the analysis on `runs`, writing into `out` (created if needed).
pub fn analyze(runs: &[Run], out: &Path) -> Result<Analysis> {
    if runs.is_empty() {
        return Err(Error::Invalid("types: no runs given".into()));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut a = Analysis { kind: "types".into(), ..Analysis::default() };

    // Counts of every run at every epoch it counted.
    let mut by_epoch: BTreeMap<usize, Vec<ClassCounts>> = BTreeMap::new();
    for run in runs {
        for row in &run.metrics {
            if let Some(c) = row.counts() {
                by_epoch.entry(row.epoch).or_default().push(c);
            }
        }
    }
    if by_epoch.values().any(|v| v.len() != runs.len()) {
        a.notes
            .push("the runs counted classes at different epochs; each epoch averages the runs that counted it".into());
    }
    let sizes: Vec<usize> = runs.iter().map(|r| r.organism.particles.len()).collect();
    if sizes.iter().any(|&n| n != sizes[0]) {
        a.notes.push(format!("the runs' organisms differ in size ({sizes:?} particles); counts are absolute"));
    }

    let epochs: Vec<f64> = by_epoch.keys().map(|&e| e as f64).collect();
    let mut rows = Vec::new();
    let mut series: Vec<Series> = Class::ALL.iter().map(|c| Series::new(c.name(), Vec::new(), Vec::new())).collect();
    for (&epoch, counts) in &by_epoch {
        for (k, class) in Class::ALL.iter().enumerate() {
            let v: Vec<f64> = counts.iter().map(|c| c[*class] as f64).collect();
            let s = Stat::of(&v);
            rows.push(Row { epoch, class: class.name(), mean: s.mean, sd: s.sd });
            series[k].mean.push(s.mean);
            series[k].sd.push(s.sd);
        }
    }
    let csv = out.join("types.csv");
    if rows.is_empty() {
        write_text(&csv, "epoch,class,mean,sd\n")?;
        a.notes.push("no run has class counts".into());
    } else {
        write_csv(&csv, &rows)?;
    }
    a.csv.push(csv);

    let fig = Figure::new(
        format!("Particle types over training: {}", describe(runs)),
        "epoch",
        if runs.len() > 1 { "particles (mean ± sd over seeds)" } else { "particles" },
    );
    // Classes never present are left out of the figure (they would draw as lines on the others),
    // except the paper's two, PN_SR and the bulk of PN_F.
    let (shown, absent): (Vec<Series>, Vec<Series>) = series.into_iter().partition(|s| {
        s.name == Class::SelfReplicator.name()
            || s.name == Class::Other.name()
            || s.mean.iter().any(|&m| m.is_finite() && m > 0.0)
    });
    if !absent.is_empty() {
        let names: Vec<&str> = absent.iter().map(|s| s.name.as_str()).collect();
        a.notes.push(format!("never present, left out of the figure: {}", names.join(", ")));
    }
    let st = stem(out, "types");
    stacked_area(&st, &fig, &epochs, &shown)?;
    add_figure(&mut a, &st);

    // Findings, from each run's final classes as recorded in its summary.
    let share: Vec<f64> = runs
        .iter()
        .map(|r| {
            let sr = r.summary.types.get(Class::SelfReplicator.name()).copied().unwrap_or(0);
            sr as f64 / r.summary.n_particles.max(1) as f64
        })
        .collect();
    let all: Vec<f64> = runs
        .iter()
        .map(|r| {
            let sr = r.summary.types.get(Class::SelfReplicator.name()).copied().unwrap_or(0);
            if r.summary.n_particles > 0 && sr == r.summary.n_particles {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let first: Vec<f64> =
        runs.iter().filter_map(|r| r.summary.first_all_self_replicators_epoch).map(|e| e as f64).collect();
    if first.len() < runs.len() {
        a.notes.push(format!(
            "first_all_sr_epoch: {} of {} runs never had every particle a self-replicator at a counted epoch and are left out",
            runs.len() - first.len(),
            runs.len()
        ));
    }
    // PN_SR outside the first layer (Fig. 11, 12a: "in the input layer, but not solely").
    let outside: Vec<f64> = runs
        .iter()
        .map(|r| {
            let classes = final_classes(r);
            let positions = r.organism.shape.positions();
            positions.iter().zip(&classes).filter(|((l, _, _), c)| *l > 0 && **c == Class::SelfReplicator).count()
                as f64
        })
        .collect();
    // The trend of the PN_SR count (Fig. 9: "slow but gradual"): least-squares slope over the
    // counted epochs, per 100 epochs.
    let trend: Vec<f64> = runs
        .iter()
        .map(|r| {
            let pts: Vec<(f64, f64)> = r
                .metrics
                .iter()
                .filter_map(|m| m.counts().map(|c| (m.epoch as f64, c[Class::SelfReplicator] as f64)))
                .collect();
            100.0 * slope(&pts)
        })
        .collect();
    a.record("share_self_replicators", share);
    a.record("sr_outside_first_layer", outside);
    a.record("sr_trend_per_100_epochs", trend);
    a.findings.insert("all_self_replicators".into(), Stat::of(&all));
    a.findings.insert("first_all_sr_epoch".into(), Stat::of(&first));
    Ok(a)
}

/// `task, n seeds` of the runs, e.g. `addition, 10 seeds`.
fn describe(runs: &[Run]) -> String {
    let mut tasks: Vec<&str> = runs.iter().map(|r| r.summary.task.as_str()).collect();
    tasks.sort();
    tasks.dedup();
    let n = runs.len();
    format!("{}, {n} seed{}", tasks.join(" + "), if n == 1 { "" } else { "s" })
}

/// Least-squares slope of `y` on `x` (NaN with fewer than two distinct x).
fn slope(pts: &[(f64, f64)]) -> f64 {
    let n = pts.len() as f64;
    let (mx, my) = (pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n);
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx > 0.0 {
        sxy / sxx
    } else {
        f64::NAN
    }
}
