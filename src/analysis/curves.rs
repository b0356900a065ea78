//! The `curves` analysis (paper Fig. 3 and 6, SPEC §6): self-train loss, task loss and the
//! train/test metric (MAE for addition, accuracy for classification) per epoch, mean ± standard
//! deviation over runs.
//!
//! Writes `curves.csv` (`epoch, series, mean, sd`; series `self_train_loss`, `task_loss`,
//! `train_metric`, `test_metric`) and `curves.png`/`.svg`: the losses on a log axis above the
//! metric (log for MAE, linear for accuracy). Findings: `test_metric`, `train_metric`,
//! `self_train_loss`, `task_loss`, each at the run's final epoch.

use super::{add_figure, stem, Analysis, Stat};
use crate::report::plot::{lines_with_bands, Panel, Series};
use crate::run::{write_csv, MetricsRow, Run};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Serialize, Default)]
struct Row {
    epoch: usize,
    series: &'static str,
    mean: f64,
    sd: f64,
}

type Getter = fn(&MetricsRow) -> Option<f32>;

const SERIES: [(&str, Getter); 4] = [
    ("self_train_loss", |r| r.self_train_loss),
    ("task_loss", |r| r.task_loss),
    ("train_metric", |r| r.train_metric),
    ("test_metric", |r| r.test_metric),
];

/// Runs the analysis on `runs`, writing into `out` (created if needed).
pub fn analyze(runs: &[Run], out: &Path) -> Result<Analysis> {
    if runs.is_empty() {
        return Err(Error::Invalid("curves: no runs given".into()));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut a = Analysis { kind: "curves".into(), ..Analysis::default() };

    let mut by_epoch: BTreeMap<usize, Vec<&MetricsRow>> = BTreeMap::new();
    for run in runs {
        for row in &run.metrics {
            by_epoch.entry(row.epoch).or_default().push(row);
        }
    }
    let lengths: Vec<usize> = runs.iter().map(|r| r.metrics.last().map_or(0, |m| m.epoch)).collect();
    if lengths.iter().any(|&l| l != lengths[0]) {
        a.notes.push(format!(
            "the runs trained for different numbers of epochs ({lengths:?}); later epochs average fewer runs"
        ));
    }

    let epochs: Vec<f64> = by_epoch.keys().map(|&e| e as f64).collect();
    let mut rows = Vec::new();
    let mut stats: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); SERIES.len()];
    for (&epoch, metrics) in &by_epoch {
        for (k, (name, get)) in SERIES.iter().enumerate() {
            let v: Vec<f64> = metrics.iter().filter_map(|r| get(r)).map(f64::from).collect();
            let s = Stat::of(&v);
            if s.n > 0 {
                rows.push(Row { epoch, series: name, mean: s.mean, sd: s.sd });
            }
            stats[k].0.push(s.mean);
            stats[k].1.push(s.sd);
        }
    }
    let csv = out.join("curves.csv");
    if rows.is_empty() {
        crate::run::write_text(&csv, "epoch,series,mean,sd\n")?;
        a.notes.push("no run has recorded losses or metrics".into());
    } else {
        write_csv(&csv, &rows)?;
    }
    a.csv.push(csv);

    // Figure: losses (log) above the metric.
    let metric = runs[0].config.task.metric_name();
    let classification = metric == "accuracy";
    let mut take = |k: usize, name: String| {
        let (mean, sd) = std::mem::take(&mut stats[k]);
        Series::new(name, mean, sd)
    };
    let task_loss_name = if classification { "task loss (cross-entropy)" } else { "task loss (MSE)" };
    let losses = Panel {
        y_label: "loss (log scale)".into(),
        log_y: true,
        series: vec![take(0, "self-train loss (Σ over particles)".into()), take(1, task_loss_name.into())],
    };
    let metric_label = if classification { "accuracy" } else { "MAE" };
    let metrics = Panel {
        y_label: if classification { "accuracy".into() } else { "MAE (log scale)".into() },
        log_y: !classification,
        series: vec![take(2, format!("train {metric_label}")), take(3, format!("test {metric_label}"))],
    };
    let n = runs.len();
    let title = format!(
        "Losses and {metric_label}: {}, {n} seed{}{}",
        task_names(runs),
        if n == 1 { "" } else { "s" },
        if n > 1 { " (mean ± sd)" } else { "" }
    );
    let reaches_axis = [&losses, &metrics]
        .iter()
        .filter(|p| p.log_y)
        .flat_map(|p| &p.series)
        .any(|s| s.mean.iter().zip(&s.sd).any(|(m, sd)| m.is_finite() && *sd >= *m && *sd > 0.0));
    if reaches_axis {
        a.notes.push("on the log axes, a band whose sd exceeds its mean reaches down to the axis".into());
    }
    a.notes.push("the self-train loss is the organism's combined loss: the sum of its particles' MSEs".into());
    let st = stem(out, "curves");
    lines_with_bands(&st, &title, "epoch", &epochs, &[losses, metrics])?;
    add_figure(&mut a, &st);

    // Findings at each run's final epoch.
    for (name, get) in SERIES {
        let v: Vec<f64> = runs.iter().map(|r| r.metrics.last().and_then(get).map_or(f64::NAN, f64::from)).collect();
        a.record(name, v);
    }
    Ok(a)
}

fn task_names(runs: &[Run]) -> String {
    let mut tasks: Vec<&str> = runs.iter().map(|r| r.summary.task.as_str()).collect();
    tasks.sort();
    tasks.dedup();
    tasks.join(" + ")
}
