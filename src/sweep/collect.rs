//! `sweep collect`: the finished tasks as one tidy table, and per swept key a figure of the
//! task metric and the share of self-replicators against the key's values (mean and 95 %
//! confidence interval of the mean over the tasks that share the value: seeds, and the values
//! of the other axes), also as an HTML page.
//!
//! `results.csv` holds only what the configuration and seed determine, so it has the same
//! bytes whichever executors ran the tasks; the wall times are in `wall_times.csv`.

use super::{show_value, task_name, Sweep, TaskState};
use crate::analysis::{Analysis, Stat};
use crate::plot::{Chart, Figure, Lines, Panel, Series};
use crate::report::document::{Report, Section};
use crate::run::{write_csv, RunWriter, Summary, SUMMARY};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// What `collect` wrote.
pub struct Collected {
    /// The output directory.
    pub dir: PathBuf,
    /// Tasks in the table, and tasks left out because they are not done.
    pub rows: usize,
    /// Indices of the tasks left out.
    pub missing: Vec<usize>,
}

/// Writes `results.csv`, `wall_times.csv`, `summary-KEY.png/svg`, `index.html` and `report.md`
/// into `out` (refused if it exists, unless `force`).
pub fn collect(sweep: &Sweep, out: &Path, force: bool) -> Result<Collected> {
    let keys = sweep.manifest.keys();
    let mut done: Vec<(usize, Summary)> = Vec::new();
    let mut missing = Vec::new();
    for (i, state) in sweep.states().iter().enumerate() {
        if *state != TaskState::Done {
            missing.push(i);
            continue;
        }
        let path = sweep.run_dir(i).join(SUMMARY);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        done.push((i, serde_json::from_slice(&bytes).map_err(|e| Error::format(&path, e.to_string()))?));
    }
    let writer = RunWriter::create(out, force)?;

    let mut header: Vec<String> = vec!["task".into()];
    header.extend(keys.iter().cloned());
    header.extend(
        [
            "seed",
            "metric",
            "test_metric",
            "train_metric",
            "task_loss",
            "self_train_loss",
            "resubstitution_max_abs_diff",
            "n_particles",
            "divergent",
            "zero",
            "self_replicator",
            "second_order",
            "other",
            "share_self_replicators",
        ]
        .map(String::from),
    );
    let cell = |x: Option<f32>| x.map_or(String::new(), short);
    let mut rows = vec![header];
    let mut walls = vec![vec!["task".to_string(), "seed".into(), "wall_seconds".into()]];
    for (i, s) in &done {
        let task = &sweep.manifest.tasks[*i];
        let mut row = vec![task_name(*i)];
        row.extend(task.values.iter().map(show_value));
        row.extend([task.seed.to_string(), s.metric_name.clone()]);
        row.extend(
            [s.test_metric, s.train_metric, s.task_loss, s.self_train_loss, s.resubstitution_max_abs_diff].map(cell),
        );
        row.push(s.n_particles.to_string());
        for class in ["divergent", "zero", "self_replicator", "second_order", "other"] {
            row.push(s.types.get(class).copied().unwrap_or(0).to_string());
        }
        row.push(share_self_replicators(s).to_string());
        rows.push(row);
        walls.push(vec![task_name(*i), task.seed.to_string(), s.wall_seconds.to_string()]);
    }
    write_csv(&writer.path("results.csv"), &rows)?;
    write_csv(&writer.path("wall_times.csv"), &walls)?;

    let mut analyses = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        // `particle.hidden` → `summary-particle_hidden` (a dot would start the extension).
        let stem = writer.path(&format!("summary-{}", key.replace('.', "_")));
        analyses.push((key.clone(), summary_figure(sweep, &done, k, key, &stem)?));
    }
    let metric = done.first().map_or("metric".to_string(), |(_, s)| s.metric_name.clone());
    let sweep_file = std::fs::read_to_string(sweep.dir.join("sweep.toml")).unwrap_or_default();
    let report = Report {
        deviations: Vec::new(),
        title: format!("Sweep {}", sweep.dir.display()),
        intro: vec![format!(
            "{} of {} tasks done ({} configurations × {} seeds); table: results.csv, wall times: wall_times.csv. \
             Each figure shows the test {metric} and the share of self-replicating particles against one swept \
             key: mean and 95 % confidence interval of the mean over the tasks with that value.",
            done.len(),
            sweep.len(),
            sweep.len() / sweep.manifest.seeds.len().max(1),
            sweep.manifest.seeds.len()
        )],
        claims: Vec::new(),
        sections: vec![Section {
            title: "Results by swept key".into(),
            notes: missing
                .iter()
                .map(|i| format!("not done: task {} ({})", task_name(*i), sweep.describe(*i)))
                .collect(),
            config_toml: sweep_file,
            analyses,
            skipped: Vec::new(),
        }],
        beyond: None,
    };
    report.write(&writer.path(""))?;
    let dir = writer.finish()?;
    Ok(Collected { dir, rows: done.len(), missing })
}

/// The shortest decimal that reads back as `v`, in scientific notation when tiny or huge.
fn short(v: f32) -> String {
    if v != 0.0 && !(1e-3..1e6).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

fn share_self_replicators(s: &Summary) -> f64 {
    s.types.get("self_replicator").copied().unwrap_or(0) as f64 / s.n_particles.max(1) as f64
}

/// Test metric and share of self-replicators against the values of key `k`.
fn summary_figure(sweep: &Sweep, done: &[(usize, Summary)], k: usize, key: &str, stem: &Path) -> Result<Analysis> {
    let mut values: Vec<serde_json::Value> = Vec::new();
    for t in &sweep.manifest.tasks {
        if !values.contains(&t.values[k]) {
            values.push(t.values[k].clone());
        }
    }
    let numeric = values.iter().all(|v| v.is_number());
    let mut points: Vec<(f64, &serde_json::Value)> = values
        .iter()
        .enumerate()
        .map(|(j, v)| (if numeric { v.as_f64().unwrap_or(f64::NAN) } else { j as f64 }, v))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let x: Vec<f64> = points.iter().map(|p| p.0).collect();
    let mut analysis = Analysis { kind: "sweep".into(), ..Analysis::default() };
    let metric = done.first().map_or("metric".to_string(), |(_, s)| s.metric_name.clone());
    type Measure = fn(&Summary) -> f64;
    let measures: [(&str, Measure); 2] = [
        ("test_metric", |s| s.test_metric.map_or(f64::NAN, f64::from)),
        ("share_self_replicators", share_self_replicators),
    ];
    let mut panels = Vec::new();
    for (name, measure) in measures {
        let (mut mean, mut half) = (Vec::new(), Vec::new());
        for (_, value) in &points {
            let at: Vec<f64> = done
                .iter()
                .filter(|(i, _)| &&sweep.manifest.tasks[*i].values[k] == value)
                .map(|(_, s)| measure(s))
                .collect();
            let stat = Stat::of(&at);
            mean.push(stat.mean);
            half.push(if stat.n > 1 { stat.ci95() } else { 0.0 });
            analysis.findings.insert(format!("{name} at {key} = {}", show_value(value)), stat);
        }
        let y_label = if name == "test_metric" { format!("test {metric}") } else { "share of self-replicators".into() };
        let band = (
            mean.iter().zip(&half).map(|(m, h)| m - h).collect(),
            mean.iter().zip(&half).map(|(m, h)| m + h).collect(),
        );
        panels.push(Panel {
            y_label,
            log_y: name == "test_metric" && metric == "mae",
            y_range: None,
            series: vec![Series { name: "mean ± 95 % CI".into(), colour: None, y: mean, band: Some(band) }],
        });
    }
    let x_label = if numeric {
        key.to_string()
    } else {
        let names: Vec<String> = points.iter().map(|(j, v)| format!("{j} = {}", show_value(v))).collect();
        format!("{key} ({})", names.join(", "))
    };
    let n = done.len();
    let caption = format!(
        "Test {metric} and share of self-replicators against {key}: mean over the {n} finished tasks at each value \
         (seeds and the other swept keys), with its 95 % confidence interval."
    );
    let chart = Chart::Lines(Lines { x_label, x, panels });
    let figure = Figure { stem: stem.to_path_buf(), title: format!("Sweep over {key}"), caption, chart };
    figure.draw()?;
    analysis.figures.push(figure);
    Ok(analysis)
}
