//! The `curves` analysis (paper Fig. 3 and 6, SPEC §6): self-train loss, task loss and the
//! train/test metric (MAE for addition, accuracy for classification) per epoch, mean ± standard
//! deviation over runs.
//!
//! Writes `curves.csv` (`epoch, series, mean, sd, line, lower, upper`; series `self_train_loss`,
//! `task_loss`, `train_metric`, `test_metric`; `line`, `lower`, `upper` are what the figure
//! draws) and specifies `curves.png`/`.svg`: the losses on a log axis above the metric (log for
//! MAE, linear for accuracy). On a log axis the line is the geometric mean over seeds and the
//! band its geometric sd (×/÷), a band that lives on the log scale; on a linear axis the line is
//! the mean and the band ± sd clipped to [0, 1]. Findings: `test_metric`, `train_metric`,
//! `self_train_loss`, `task_loss`, each at the run's final epoch (arithmetic mean over runs).

use super::kind::Kind;
use super::{describe, figure, figure_title, Analysis, Stat};
use crate::plot::{Chart, Colour, Lines, Panel, Series};
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
    line: f64,
    lower: f64,
    upper: f64,
}

type Getter = fn(&MetricsRow) -> Option<f32>;

const SERIES: [(&str, Getter); 4] = [
    ("self_train_loss", |r| r.self_train_loss),
    ("task_loss", |r| r.task_loss),
    ("train_metric", |r| r.train_metric),
    ("test_metric", |r| r.test_metric),
];

/// The line and band drawn for values `v` (over seeds) on a log axis: the geometric mean and
/// geometric mean ×/÷ geometric sd, over the positive values (NaN when there are none).
fn geometric(v: &[f64]) -> (f64, f64, f64) {
    let logs: Vec<f64> = v.iter().filter(|x| **x > 0.0).map(|x| x.ln()).collect();
    let s = Stat::of(&logs);
    let sd = if s.n > 1 { s.sd } else { 0.0 };
    (s.mean.exp(), (s.mean - sd).exp(), (s.mean + sd).exp())
}

/// The line and band drawn for values `v` on a linear axis of a share: mean ± sd within [0, 1].
fn clipped(s: &Stat) -> (f64, f64, f64) {
    (s.mean, (s.mean - s.sd).clamp(0.0, 1.0), (s.mean + s.sd).clamp(0.0, 1.0))
}

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

    let metric = runs[0].config.task.metric_name();
    let classification = metric == "accuracy";
    // Which series are drawn on a log axis: the losses, and the metric unless it is accuracy.
    let log = |k: usize| k < 2 || !classification;
    let epochs: Vec<f64> = by_epoch.keys().map(|&e| e as f64).collect();
    let mut rows = Vec::new();
    let mut drawn: Vec<(Vec<f64>, Vec<f64>, Vec<f64>)> = vec![Default::default(); SERIES.len()];
    for (&epoch, metrics) in &by_epoch {
        for (k, (name, get)) in SERIES.iter().enumerate() {
            let v: Vec<f64> = metrics.iter().filter_map(|r| get(r)).map(f64::from).collect();
            let s = Stat::of(&v);
            let (line, lower, upper) = if log(k) { geometric(&v) } else { clipped(&s) };
            if s.n > 0 {
                rows.push(Row { epoch, series: name, mean: s.mean, sd: s.sd, line, lower, upper });
            }
            drawn[k].0.push(line);
            drawn[k].1.push(lower);
            drawn[k].2.push(upper);
        }
    }
    let csv = out.join("curves.csv");
    if rows.is_empty() {
        crate::run::write_text(&csv, "epoch,series,mean,sd,line,lower,upper\n")?;
        a.notes.push("no run has recorded losses or metrics".into());
    } else {
        write_csv(&csv, &rows)?;
    }
    a.csv.push(csv);

    // Figure: losses (log) above the metric, colours as in the paper's Fig. 3/6.
    let mut take = |k: usize, name: &str, colour: Colour| {
        let (y, lower, upper) = std::mem::take(&mut drawn[k]);
        Series { name: name.into(), colour: Some(colour), y, band: (runs.len() > 1).then_some((lower, upper)) }
    };
    let task_loss_name = if classification { "task loss (cross-entropy)" } else { "task loss (MSE)" };
    let losses = Panel {
        y_label: "loss (log scale)".into(),
        log_y: true,
        y_range: None,
        series: vec![
            take(0, "self-train loss (Σ of particle MSEs)", Colour::Orange),
            take(1, task_loss_name, Colour::Blue),
        ],
    };
    let metric_label = if classification { "accuracy" } else { "MAE" };
    let metrics = Panel {
        y_label: if classification { "accuracy".into() } else { "MAE (log scale)".into() },
        log_y: !classification,
        y_range: None,
        series: vec![
            take(2, &format!("train {metric_label}"), Colour::Vermillion),
            take(3, &format!("test {metric_label}"), Colour::Green),
        ],
    };
    let n = runs.len();
    let title = figure_title(Kind::Curves, runs, &format!("Losses and {metric_label} ({})", describe(runs)));
    let spread = if n > 1 {
        format!(
            "Log axes: geometric mean over the {n} seeds with a ×/÷ geometric-sd band; {}.",
            if classification { "accuracy: mean ± sd, clipped to [0, 1]" } else { "all panels are log axes" }
        )
    } else {
        "One seed, no band.".into()
    };
    let unit = if classification { "accuracy as a fraction of the test set" } else { "MAE in units of the sum" };
    let caption = format!(
        "Per epoch (0 = untrained): the self-train loss (sum of every particle's MSE), the task loss and the \
         train/test {metric_label} ({unit}). {spread}"
    );
    a.notes.push("the self-train loss is the organism's combined loss: the sum of its particles' MSEs".into());
    let chart = Chart::Lines(Lines { x_label: "epoch".into(), x: epochs, panels: vec![losses, metrics] });
    a.figures.push(figure(out, "curves", title, caption, chart));

    // Findings at each run's final epoch.
    for (name, get) in SERIES {
        let v: Vec<f64> = runs.iter().map(|r| r.metrics.last().and_then(get).map_or(f64::NAN, f64::from)).collect();
        a.record(name, v);
    }
    Ok(a)
}
