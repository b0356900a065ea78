//! The `resubstitution` analysis (paper Fig. 5, SPEC §6): every particle's weight extracted with
//! input (0,0,0,0,1) and loaded into a dense network of the organism's shape; the absolute
//! difference of the organism's and the dense network's outputs on the run's test set.
//!
//! Writes `resubstitution.csv` (`seed, max_abs_error, mean_abs_error, exact_zeros, outputs, run`)
//! and specifies `resubstitution.png`/`.svg`: per run, a box plot of the non-zero absolute errors
//! of the test outputs on a log axis, with the count of exact zeros written above (a zero has no
//! place on a log axis). Findings, per run: `max_abs_error`, `mean_abs_error`,
//! `max_error_over_rounding_bound` (the largest error in ulps of the outputs' scale, over the
//! f32 rounding bound of [`rounding_bound_ulps`]) and, for regression, `log10_sd_ratio_to_task_error`.

use super::kind::Kind;
use super::{describe, figure, figure_title, Analysis, Stat, TestSets};
use crate::organism::{resubstitution_errors, Path, Targets};
use crate::plot::{BoxGroup, Boxes, Chart, Colour};
use crate::run::{shown, write_csv, Run};
use crate::{Error, Result};
use serde::Serialize;

#[derive(Serialize, Default)]
struct Row {
    seed: u64,
    max_abs_error: f64,
    mean_abs_error: f64,
    exact_zeros: usize,
    outputs: usize,
    run: String,
}

/// Runs the analysis on `runs` with their test sets, writing into `out` (created if needed).
pub fn analyze(runs: &[Run], tests: &TestSets, out: &std::path::Path) -> Result<Analysis> {
    if runs.is_empty() {
        return Err(Error::Invalid("resubstitution: no runs given".into()));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut a = Analysis { kind: "resubstitution".into(), ..Analysis::default() };

    let mut rows = Vec::new();
    let mut samples = Vec::new();
    let (mut over_bound, mut sd_ratio) = (Vec::new(), Vec::new());
    for run in runs {
        let test = tests.get(run)?;
        let errors: Vec<f64> = resubstitution_errors(&run.organism, &test.x).into_iter().map(f64::from).collect();
        let finite: Vec<f64> = errors.iter().copied().filter(|e| e.is_finite()).collect();
        if finite.len() < errors.len() {
            a.notes.push(format!(
                "{}: {} of {} outputs are not finite and are left out",
                shown(&run.dir).display(),
                errors.len() - finite.len(),
                errors.len()
            ));
        }
        let max = finite.iter().copied().fold(f64::NAN, f64::max);
        let mean = Stat::of(&finite).mean;
        // In ulps of the outputs' scale (the largest |output| of the dense network), against the
        // first-order rounding bound of the two evaluation orders.
        let dense = run.organism.forward(&test.x, Path::Extracted);
        let scale = dense.iter().filter(|v| v.is_finite()).fold(0f32, |m, v| m.max(v.abs()));
        over_bound.push(max / f64::from(ulp(scale)) / rounding_bound_ulps(run));
        if let Targets::Values(t) = Targets::from(&test.y) {
            let task: Vec<f64> = dense.iter().zip(t).map(|(y, t)| f64::from((y - t).abs())).collect();
            sd_ratio.push((Stat::of(&finite).sd / Stat::of(&task).sd).log10());
        }
        rows.push(Row {
            seed: run.config.seed,
            max_abs_error: max,
            mean_abs_error: mean,
            exact_zeros: finite.iter().filter(|&&e| e == 0.0).count(),
            outputs: finite.len(),
            run: shown(&run.dir).display().to_string(),
        });
        samples.push(finite.into_iter().filter(|&e| e != 0.0).collect::<Vec<f64>>());
    }
    let csv = out.join("resubstitution.csv");
    write_csv(&csv, &rows)?;
    a.csv.push(csv);

    let unit = if runs[0].config.task.dataset().is_some() { "logits" } else { "units of the sum" };
    let notes = rows.iter().map(|r| format!("{} of {} exactly 0", r.exact_zeros, r.outputs)).collect();
    let chart = Chart::Boxes(Boxes {
        x_label: "run".into(),
        y_label: format!("|organism − dense network| ({unit}, log scale)"),
        log_y: true,
        categories: labels(runs),
        groups: vec![BoxGroup { name: "absolute error".into(), colour: Some(Colour::Blue), samples }],
        notes,
    });
    let title = figure_title(Kind::Resubstitution, runs, &format!("Weight re-substitution error ({})", describe(runs)));
    let caption = format!(
        "Per run, the absolute difference between the organism's output and the output of a dense network \
         holding the particles' extracted weights, over every output of every test sample, in {unit}. \
         Boxes: quartiles and median of the non-zero errors, whiskers to 1.5 IQR, dots beyond; the count of \
         exact zeros is written above each run."
    );
    a.figures.push(figure(out, "resubstitution", title, caption, chart));

    let max: Vec<f64> = rows.iter().map(|r| r.max_abs_error).collect();
    let mean: Vec<f64> = rows.iter().map(|r| r.mean_abs_error).collect();
    a.record("max_abs_error", max);
    a.record("mean_abs_error", mean);
    a.record("max_error_over_rounding_bound", over_bound);
    if !sd_ratio.is_empty() {
        a.record("log10_sd_ratio_to_task_error", sd_ratio);
    }
    a.notes.push(format!(
        "max_error_over_rounding_bound: the largest error in ulps of the outputs' scale (largest |output|), over \
         the first-order bound Σ over ON layers of (fan-in + PN layers × h) ulps ({:.0} for the first run) for two \
         f32 evaluation orders of the same linear function; log10_sd_ratio_to_task_error: log10 of the sd of the \
         re-substitution error over the sd of the task error |output − target|",
        rounding_bound_ulps(&runs[0])
    ));
    Ok(a)
}

/// The spacing of f32 values at `x` (one ulp; the smallest subnormal step at 0).
pub fn ulp(x: f32) -> f32 {
    let x = x.abs();
    if x.is_finite() {
        f32::from_bits(x.to_bits() + 1) - x
    } else {
        f32::NAN
    }
}

/// First-order worst case, in ulps of the outputs' scale, of the difference between the organism
/// evaluated PN by PN and the dense network of its extracted weights: each output is a chain of
/// sums over every ON layer's fan-in of products that each pass the PN's layers of width h; each
/// path rounds at most once per multiply-add (u = ulp/2 relative), so the two differ by at most
/// Σ_l (fan_in_l + PN layers · h) ulps when the terms are at the outputs' scale.
pub fn rounding_bound_ulps(run: &Run) -> f64 {
    let pn = run.organism.particles.shape().widths();
    let per_edge = (pn.len() - 1) * pn[1..pn.len() - 1].iter().copied().max().unwrap_or(1);
    run.organism.shape.layers().iter().map(|&(fan_in, _)| (fan_in + per_edge) as f64).sum()
}

/// `seed N` per run, or the directory name where seeds repeat.
fn labels(runs: &[Run]) -> Vec<String> {
    let mut seeds: Vec<u64> = runs.iter().map(|r| r.config.seed).collect();
    seeds.sort();
    let unique = seeds.windows(2).all(|w| w[0] != w[1]);
    runs.iter()
        .map(|r| {
            if unique {
                format!("seed {}", r.config.seed)
            } else {
                r.dir
                    .file_name()
                    .map_or_else(|| shown(&r.dir).display().to_string(), |n| n.to_string_lossy().to_string())
            }
        })
        .collect()
}
