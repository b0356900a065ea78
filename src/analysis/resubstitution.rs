//! The `resubstitution` analysis (paper Fig. 5, SPEC §6): every particle's weight extracted with
//! input (0,0,0,0,1) and loaded into a dense network of the organism's shape; the absolute
//! difference of the organism's and the dense network's outputs on the run's test set.
//!
//! Writes `resubstitution.csv` (`seed, max_abs_error, mean_abs_error, run`) and
//! `resubstitution.png`/`.svg` (per run, a box plot of the absolute error of every test output,
//! log axis). Findings: `max_abs_error`, `mean_abs_error` (per run, then over runs).

use super::{add_figure, stem, Analysis, Stat, TestSets};
use crate::organism::resubstitution_errors;
use crate::report::plot::{box_plots, BoxGroup, Figure};
use crate::run::shown;
use crate::run::{write_csv, Run};
use crate::{Error, Result};
use serde::Serialize;
use std::path::Path;

#[derive(Serialize, Default)]
struct Row {
    seed: u64,
    max_abs_error: f64,
    mean_abs_error: f64,
    run: String,
}

/// Runs the analysis on `runs` with their test sets, writing into `out` (created if needed).
pub fn analyze(runs: &[Run], tests: &TestSets, out: &Path) -> Result<Analysis> {
    if runs.is_empty() {
        return Err(Error::Invalid("resubstitution: no runs given".into()));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut a = Analysis { kind: "resubstitution".into(), ..Analysis::default() };

    let mut rows = Vec::new();
    let mut samples = Vec::new();
    let mut zeros = 0usize;
    let mut total = 0usize;
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
        zeros += finite.iter().filter(|&&e| e == 0.0).count();
        total += finite.len();
        rows.push(Row {
            seed: run.config.seed,
            max_abs_error: max,
            mean_abs_error: mean,
            run: shown(&run.dir).display().to_string(),
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
    a.findings.insert("max_abs_error".into(), Stat::of(&max));
    a.findings.insert("mean_abs_error".into(), Stat::of(&mean));
    Ok(a)
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

fn task_names(runs: &[Run]) -> String {
    let mut tasks: Vec<&str> = runs.iter().map(|r| r.summary.task.as_str()).collect();
    tasks.sort();
    tasks.dedup();
    tasks.join(" + ")
}
