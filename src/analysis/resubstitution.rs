//! The `resubstitution` analysis (paper Fig. 5, SPEC §6): every particle's weight extracted with
//! input (0,0,0,0,1) and loaded into a dense network of the organism's shape; the absolute
//! difference of the organism's and the dense network's outputs on the run's test set.
//!
//! Writes `resubstitution.csv` (`seed, max_abs_error, mean_abs_error, run`) and
//! `resubstitution.png`/`.svg` (per run, a box plot of the absolute error of every test output,
//! log axis). Findings, per run: `max_abs_error`, `mean_abs_error`,
//! `max_error_over_rounding_bound` (the largest error in ulps of the outputs' scale, over the
//! f32 rounding bound of [`rounding_bound_ulps`]) and, for regression, `log10_sd_ratio_to_task_error`.

use super::{add_figure, stem, Analysis, Stat, TestSets};
use crate::organism::{Path, Targets};
use crate::report::plot::{box_plots, BoxGroup, Figure};
use crate::run::{write_csv, Run};
use crate::schedule::resubstitution_errors;
use crate::{Error, Result};
use serde::Serialize;

#[derive(Serialize, Default)]
struct Row {
    seed: u64,
    max_abs_error: f64,
    mean_abs_error: f64,
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
    let mut zeros = 0usize;
    let mut total = 0usize;
    for run in runs {
        let test = tests.get(run)?;
        let errors: Vec<f64> = resubstitution_errors(&run.organism, &test.x).into_iter().map(f64::from).collect();
        let finite: Vec<f64> = errors.iter().copied().filter(|e| e.is_finite()).collect();
        if finite.len() < errors.len() {
            a.notes.push(format!(
                "{}: {} of {} outputs are not finite and are left out",
                run.dir.display(),
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
        if let Targets::Values(t) = test.y.as_targets() {
            let task: Vec<f64> = dense.iter().zip(t).map(|(y, t)| f64::from((y - t).abs())).collect();
            sd_ratio.push((Stat::of(&finite).sd / Stat::of(&task).sd).log10());
        }
        zeros += finite.iter().filter(|&&e| e == 0.0).count();
        total += finite.len();
        rows.push(Row {
            seed: run.config.seed,
            max_abs_error: max,
            mean_abs_error: mean,
            run: run.dir.display().to_string(),
        });
        samples.push(finite);
    }
    let csv = out.join("resubstitution.csv");
    write_csv(&csv, &rows)?;
    a.csv.push(csv);

    let categories = labels(runs);
    let n = runs.len();
    let fig = Figure::new(
        format!("Weight re-substitution: {}, {n} seed{}", task_names(runs), if n == 1 { "" } else { "s" }),
        "run",
        "|organism − dense network| per test output (log)",
    );
    let group = BoxGroup { name: "absolute error".into(), samples };
    let st = stem(out, "resubstitution");
    box_plots(&st, &fig, &categories, &[group], true)?;
    add_figure(&mut a, &st);
    if zeros > 0 {
        a.notes.push(format!(
            "{zeros} of {total} test outputs agree exactly (error 0); the log axis draws them at its bottom edge"
        ));
    }

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
                r.dir.file_name().map_or_else(|| r.dir.display().to_string(), |n| n.to_string_lossy().to_string())
            }
        })
        .collect()
}

fn task_names(runs: &[Run]) -> String {
    let mut tasks: Vec<&str> = runs.iter().map(|r| r.summary.task.as_str()).collect();
    tasks.sort();
    tasks.dedup();
    tasks.join(" + ")
}
