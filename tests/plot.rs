//! Each chart renders synthetic data to a PNG and an SVG.
//!
//! Set `ORGANISM_PLOT_DIR=some/dir` to keep the figures there for a look.

use std::path::{Path, PathBuf};

use organism::report::plot::*;
use organism::Error;

/// Where a test writes: `$ORGANISM_PLOT_DIR` if set, else a temporary directory.
struct Out {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

fn out() -> Out {
    match std::env::var_os("ORGANISM_PLOT_DIR") {
        Some(dir) => Out { dir: dir.into(), _temp: None },
        None => {
            let temp = tempfile::tempdir().unwrap();
            Out { dir: temp.path().to_owned(), _temp: Some(temp) }
        }
    }
}

/// Both files exist, the PNG starts with the PNG signature and neither is trivially small.
fn assert_written(stem: &Path) {
    let png = std::fs::read(stem.with_extension("png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 5_000, "png of {} bytes", png.len());
    let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.len() > 2_000, "svg of {} bytes", svg.len());
}

fn epochs(n: usize) -> Vec<f64> {
    (0..n).map(|i| (i * 10) as f64).collect()
}

#[test]
fn lines_with_bands_draws_two_panels() {
    let out = out();
    let stem = out.dir.join("lines");
    let x = epochs(21);
    let decay = |scale: f64| x.iter().map(|e| scale * (-e / 60.0).exp() + 1e-4).collect::<Vec<_>>();
    let losses = Panel {
        y_label: "loss".into(),
        log_y: true,
        series: vec![
            Series::new("self-train loss", decay(1.0), decay(0.3)),
            Series::new("task loss", decay(0.1), decay(0.02)),
        ],
    };
    let rise = |top: f64| x.iter().map(|e| top * (1.0 - (-e / 50.0).exp())).collect::<Vec<_>>();
    let metric = Panel {
        y_label: "accuracy".into(),
        log_y: false,
        series: vec![
            Series::new("train accuracy", rise(0.95), vec![0.02; 21]),
            Series::new("test accuracy", rise(0.9), vec![]),
        ],
    };
    lines_with_bands(&stem, "Loss and accuracy over training", "epoch", &x, &[losses, metric]).unwrap();
    assert_written(&stem);
}

#[test]
fn stacked_area_draws_classes() {
    let out = out();
    let stem = out.dir.join("types");
    let x = epochs(11);
    let count = |f: &dyn Fn(f64) -> f64| x.iter().map(|e| f(*e)).collect::<Vec<_>>();
    let classes = vec![
        Series::new("divergent", count(&|e| 20.0 - e / 10.0), vec![2.0; 11]),
        Series::new("zero", count(&|_| 5.0), vec![1.0; 11]),
        Series::new("other", count(&|e| 300.0 - e), vec![15.0; 11]),
        Series::new("second_order", count(&|e| e / 5.0), vec![3.0; 11]),
        Series::new("self_replicator", count(&|e| 50.0 + e), vec![10.0; 11]),
    ];
    stacked_area(&stem, &Figure::new("Particle types over training", "epoch", "particles"), &x, &classes).unwrap();
    assert_written(&stem);
}

#[test]
fn box_plots_draws_groups_per_category() {
    let out = out();
    let stem = out.dir.join("robustness");
    let categories: Vec<String> = (0..10).map(|k| power_of_ten(-k)).collect();
    let samples = |base: f64| -> Vec<Vec<f64>> {
        (0..10)
            .map(|k| {
                (0..20)
                    .map(|s| base * (k + 1) as f64 * (1.0 + 0.1 * (s % 7) as f64) + if s == 0 { 40.0 } else { 0.0 })
                    .collect()
            })
            .collect()
    };
    let groups = vec![
        BoxGroup { name: "time to vergence".into(), samples: samples(3.0) },
        BoxGroup { name: "time as fixpoint".into(), samples: samples(1.5) },
    ];
    let fig = Figure::new("Robustness of self-replicators", "noise level", "self-applications");
    box_plots(&stem, &fig, &categories, &groups, true).unwrap();
    assert_written(&stem);
}

#[test]
fn bars_draws_error_bars() {
    let out = out();
    let stem = out.dir.join("dropout");
    let bar = |label: &str, mean: f64, sd: f64| Bar { label: label.into(), mean, sd };
    let bars_data = [
        bar("whole organism", 0.91, 0.01),
        bar("PN_SR dropped", 0.905, 0.012),
        bar("PN_F dropped", 0.1, 0.02),
        bar("L1 pruning", 0.89, 0.015),
        bar("random pruning", 0.6, 0.05),
    ];
    bars(&stem, &Figure::new("Specialist dropout", "", "test accuracy"), &bars_data, false).unwrap();
    assert_written(&stem);
}

#[test]
fn heatmaps_draw_panels_with_colour_bars() {
    let out = out();
    let stem = out.dir.join("heatmaps");
    let grid = |f: &dyn Fn(usize, usize) -> f64| (0..225).map(|i| f(i / 15, i % 15)).collect::<Vec<_>>();
    let edge = |r: usize, c: usize| r.min(c).min(14 - r).min(14 - c) as f64;
    let maps = vec![
        Heatmap { title: "PN_SR count".into(), rows: 15, cols: 15, values: grid(&|r, c| (5.0 - edge(r, c)).max(0.0)) },
        Heatmap {
            title: "PN_SR Σ|weight|".into(),
            rows: 15,
            cols: 15,
            values: grid(&|r, c| 0.01 * (5.0 - edge(r, c)).max(0.0)),
        },
        Heatmap { title: "mean test image".into(), rows: 15, cols: 15, values: grid(&|r, c| edge(r, c) / 7.0) },
    ];
    heatmaps(&stem, &Figure::new("First layer per input pixel", "pixel column", "pixel row"), &maps).unwrap();
    assert_written(&stem);
}

#[test]
fn connectivity_draws_one_panel_per_group() {
    let out = out();
    let stem = out.dir.join("connectivity");
    let edges = |n: usize, shift: f64| -> Vec<Edge> {
        (0..n)
            .map(|i| {
                let layer = (i % 3) as i32 - 1;
                let u = (i as f64 * 0.618 + shift).fract();
                Edge { layer_from: layer, pos_from: u, layer_to: layer + 1, pos_to: (u * 3.7).fract() }
            })
            .collect()
    };
    let panels = vec![
        Connections { title: "self_replicator".into(), edges: edges(60, 0.1) },
        Connections { title: "other".into(), edges: edges(400, 0.3) },
        Connections { title: "second_order".into(), edges: vec![] },
    ];
    connectivity(
        &stem,
        &Figure::new("Connectivity per particle class", "layer (−1 = input)", "unit position"),
        &panels,
    )
    .unwrap();
    assert_written(&stem);
}

#[test]
fn trajectories_draw_3d_panels() {
    let out = out();
    let stem = out.dir.join("trajectories");
    let spiral = |k: usize, n: usize| -> Vec<Vec<(f64, f64, f64)>> {
        (0..n)
            .map(|i| {
                let phase = i as f64 * 0.7 + k as f64;
                (0..20)
                    .map(|e| {
                        (
                            ((e as f64) * 0.2 + phase).cos() * (1.0 + i as f64 * 0.1),
                            ((e as f64) * 0.2 + phase).sin(),
                            e as f64 * 10.0,
                        )
                    })
                    .collect()
            })
            .collect()
    };
    let panels = vec![
        Trajectories { title: "self_replicator (layer 2)".into(), lines: spiral(0, 8) },
        Trajectories { title: "other (layer 2)".into(), lines: spiral(1, 42) },
    ];
    trajectories(&stem, "PCA weight trajectories", &panels).unwrap();
    assert_written(&stem);
}

#[test]
fn mismatched_lengths_are_errors() {
    let out = out();
    let stem = out.dir.join("bad");
    let panel =
        Panel { y_label: "loss".into(), log_y: false, series: vec![Series::new("loss", vec![1.0, 2.0], vec![])] };
    let err = lines_with_bands(&stem, "bad", "epoch", &[0.0, 1.0, 2.0], &[panel]).unwrap_err();
    assert!(matches!(&err, Error::Invalid(msg) if msg.contains("`loss` has 2 means")), "{err}");
    let map = Heatmap { title: "map".into(), rows: 2, cols: 3, values: vec![0.0; 5] };
    assert!(matches!(heatmaps(&stem, &Figure::default(), &[map]), Err(Error::Invalid(_))));
    let group = BoxGroup { name: "g".into(), samples: vec![vec![1.0]] };
    assert!(matches!(box_plots(&stem, &Figure::default(), &[], &[group], false), Err(Error::Invalid(_))));
    assert!(!stem.with_extension("png").exists());
}

#[test]
fn empty_data_draws_a_note() {
    let out = out();
    let stem = out.dir.join("empty");
    stacked_area(&stem, &Figure::new("Nothing yet", "epoch", "particles"), &[], &[]).unwrap();
    assert_written(&stem);
}
