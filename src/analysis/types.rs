//! The `types` analysis (paper Fig. 2 and 9, SPEC §6): how many particles of each fixpoint class
//! the organism holds at every counted epoch, mean and standard deviation over runs.
//!
//! Writes `types.csv` (`epoch, class, mean, sd` of the count, `share_mean, share_sd` of the share
//! of the organism's particles in %) and specifies `types.png`/`.svg`: one line per class, the
//! share in %, with a ± sd band clipped to [0, 100 %] (unstacked, so no band can leave the range). Findings: `share_self_replicators` (final PN_SR count over particle
//! count, per run), `all_self_replicators` (1 for a run whose particles all end as PN_SR, else 0)
//! and `first_all_sr_epoch` (the first counted epoch at which every particle was a PN_SR, over the
//! runs that reached it), `first_sr_epoch` (the first counted epoch with a PN_SR, per run; no value for a run that never had
//! one), `sr_outside_first_layer` (final PN_SR in layers ≥ 1) and
//! `sr_trend_per_100_epochs` (least-squares slope of the PN_SR count over the counted epochs).

use super::kind::Kind;
use super::{class_colour, class_label, describe, figure, figure_title, final_classes, Analysis, Stat};
use crate::fixpoint::{Class, ClassCounts};
use crate::plot::{Chart, Lines, Panel, Series};
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
    share_mean: f64,
    share_sd: f64,
}

/// Runs the analysis on `runs`, writing into `out` (created if needed).
pub fn analyze(runs: &[Run], out: &Path) -> Result<Analysis> {
    if runs.is_empty() {
        return Err(Error::Invalid("types: no runs given".into()));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut a = Analysis { kind: "types".into(), ..Analysis::default() };

    // Counts of every run at every epoch it counted, with the run's particle count.
    let mut by_epoch: BTreeMap<usize, Vec<(ClassCounts, usize)>> = BTreeMap::new();
    for run in runs {
        for row in &run.metrics {
            if let Some(c) = row.counts() {
                by_epoch.entry(row.epoch).or_default().push((c, run.organism.particles.len()));
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
    let mut series: Vec<Series> = Class::ALL
        .iter()
        .map(|&c| Series {
            name: class_label(c).into(),
            colour: Some(class_colour(c)),
            band: Some((Vec::new(), Vec::new())),
            ..Series::default()
        })
        .collect();
    for (&epoch, counts) in &by_epoch {
        for (k, class) in Class::ALL.iter().enumerate() {
            let v: Vec<f64> = counts.iter().map(|(c, _)| c[*class] as f64).collect();
            let share: Vec<f64> = counts.iter().map(|(c, n)| 100.0 * c[*class] as f64 / (*n).max(1) as f64).collect();
            let (s, p) = (Stat::of(&v), Stat::of(&share));
            rows.push(Row { epoch, class: class.name(), mean: s.mean, sd: s.sd, share_mean: p.mean, share_sd: p.sd });
            let band = series[k].band.as_mut().expect("every class has a band");
            band.0.push((p.mean - p.sd).clamp(0.0, 100.0));
            band.1.push((p.mean + p.sd).clamp(0.0, 100.0));
            series[k].y.push(p.mean);
        }
    }
    let csv = out.join("types.csv");
    if rows.is_empty() {
        write_text(&csv, "epoch,class,mean,sd,share_mean,share_sd\n")?;
        a.notes.push("no run has class counts".into());
    } else {
        write_csv(&csv, &rows)?;
    }
    a.csv.push(csv);

    // Classes never present are left out of the figure, except the paper's two: PN_SR and the
    // bulk of PN_F.
    type Classes = Vec<(Class, Series)>;
    let (mut shown, absent): (Classes, Classes) = Class::ALL.into_iter().zip(series).partition(|(c, s)| {
        *c == Class::SelfReplicator || *c == Class::Other || s.y.iter().any(|&m| m.is_finite() && m > 0.0)
    });
    if !absent.is_empty() {
        let names: Vec<&str> = absent.iter().map(|(c, _)| class_label(*c)).collect();
        a.notes.push(format!("never present, left out of the figure: {}", names.join(", ")));
    }
    // PN_SR first, as in the paper's legend.
    shown.sort_by_key(|(c, _)| *c != Class::SelfReplicator);
    let n = runs.len();
    let spread = if n > 1 { "mean over seeds, band ± sd clipped to 0–100 %" } else { "one seed, no band" };
    let chart = Chart::Lines(Lines {
        x_label: "epoch".into(),
        x: epochs,
        panels: vec![Panel {
            y_label: "share of particles (%)".into(),
            log_y: false,
            y_range: Some((0.0, 100.0)),
            series: shown.into_iter().map(|(_, s)| s).collect(),
        }],
    });
    let title = figure_title(Kind::Types, runs, &format!("Particle classes over training ({})", describe(runs)));
    let caption = format!(
        "Share of the organism's {} particles in each class (%) per counted epoch; {spread}; n = {n} run{}. \
         PN_SR: ε-fixpoints of self-application (ε = {}); PN_F: every other particle.",
        runs[0].organism.particles.len(),
        if n == 1 { "" } else { "s" },
        crate::plot::style::format_value(runs[0].config.epsilon as f64)
    );
    a.figures.push(figure(out, "types", title, caption, chart));

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
    // How fast self-replication appears: the first counted epoch with a PN_SR (NaN: never).
    let first_sr: Vec<f64> = runs
        .iter()
        .map(|r| {
            let first = r.metrics.iter().find(|m| m.counts().is_some_and(|c| c[Class::SelfReplicator] > 0));
            first.map_or(f64::NAN, |m| m.epoch as f64)
        })
        .collect();
    a.record("share_self_replicators", share);
    // Activation particles (issue 13) are counted apart from the weight particles: their share of
    // PN_SR, recorded only when every run has them.
    let act_share: Option<Vec<f64>> = runs
        .iter()
        .map(|r| {
            let act = r.summary.activation_particles.as_ref()?;
            let n: usize = act.types.values().sum();
            let sr = act.types.get(Class::SelfReplicator.name()).copied().unwrap_or(0);
            Some(sr as f64 / n.max(1) as f64)
        })
        .collect();
    if let Some(act_share) = act_share {
        a.record("share_activation_self_replicators", act_share);
    }
    a.record("first_sr_epoch", first_sr);
    a.record("sr_outside_first_layer", outside);
    a.record("sr_trend_per_100_epochs", trend);
    a.findings.insert("all_self_replicators".into(), Stat::of(&all));
    a.findings.insert("first_all_sr_epoch".into(), Stat::of(&first));
    Ok(a)
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
