//! Each chart renders synthetic data to a PNG and an SVG.
//!
//! Set `ORGANISM_PLOT_DIR=some/dir` to keep the figures there for a look.

use std::path::{Path, PathBuf};

use organism::plot::style::{format_value, power_of_ten};
use organism::plot::*;
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

/// Draws `chart` as `dir/name` and checks both files: the PNG starts with the PNG signature and
/// neither is trivially small.
fn draw(dir: &Path, name: &str, chart: Chart) {
    let fig = Figure { stem: dir.join(name), title: format!("A {name} chart"), caption: String::new(), chart };
    fig.draw().unwrap();
    assert_written(&fig.stem);
}

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

/// A series with a band of ± `spread` times its values.
fn banded(name: &str, y: Vec<f64>, spread: f64) -> Series {
    let band = (y.iter().map(|v| v * (1.0 - spread)).collect(), y.iter().map(|v| v * (1.0 + spread)).collect());
    Series { name: name.into(), colour: None, y, band: Some(band) }
}

#[test]
fn lines_draw_stacked_panels() {
    let out = out();
    let x = epochs(21);
    let decay = |scale: f64| x.iter().map(|e| scale * (-e / 60.0).exp() + 1e-4).collect::<Vec<_>>();
    let losses = Panel {
        y_label: "loss".into(),
        log_y: true,
        y_range: None,
        series: vec![banded("self-train loss", decay(1.0), 0.5), banded("task loss", decay(0.1), 0.2)],
    };
    let rise = |top: f64| x.iter().map(|e| top * (1.0 - (-e / 50.0).exp())).collect::<Vec<_>>();
    let metric = Panel {
        y_label: "accuracy".into(),
        log_y: false,
        y_range: Some((0.0, 1.0)),
        series: vec![
            banded("train accuracy", rise(0.95), 0.02),
            Series { name: "test accuracy".into(), y: rise(0.9), ..Series::default() },
        ],
    };
    draw(&out.dir, "lines", Chart::Lines(Lines { x_label: "epoch".into(), x, panels: vec![losses, metric] }));
}

#[test]
fn intervals_draw_groups_per_category() {
    let out = out();
    let categories: Vec<String> = (0..10).map(power_of_ten).collect();
    let group = |name: &str, scale: f64| IntervalGroup {
        name: name.into(),
        colour: None,
        points: (0..10)
            .map(|k| {
                (k != 3).then_some(Interval {
                    mean: scale * k as f64,
                    lo: scale * k as f64 - 1.0,
                    hi: scale * k as f64 + 1.0,
                })
            })
            .collect(),
    };
    let panel = |y: &str| IntervalPanel {
        title: String::new(),
        y_label: y.into(),
        log_y: false,
        groups: vec![group("organism", 2.0), group("standalone", 1.5)],
    };
    let panels = vec![panel("until zero or divergence"), panel("as a fixpoint")];
    draw(&out.dir, "intervals", Chart::Intervals(Intervals { x_label: "noise".into(), categories, panels }));
}

#[test]
fn boxes_draw_with_notes() {
    let out = out();
    let samples: Vec<Vec<f64>> =
        (0..3).map(|k| (1..200).map(|s| 1e-8 * (s as f64) * (k + 1) as f64).collect()).collect();
    let chart = Chart::Boxes(Boxes {
        x_label: "run".into(),
        y_label: "absolute error".into(),
        log_y: true,
        categories: vec!["seed 0".into(), "seed 1".into(), "seed 2".into()],
        groups: vec![BoxGroup { name: "error".into(), colour: None, samples }],
        notes: vec!["1 of 200 exactly 0".into(); 3],
    });
    draw(&out.dir, "boxes", chart);
}

#[test]
fn bars_draw_error_bars_and_points() {
    let out = out();
    let bar = |label: &str, mean: f64, sd: f64| Bar {
        label: label.into(),
        colour: None,
        mean,
        sd,
        points: vec![mean - sd, mean + sd, mean],
    };
    let bars = vec![
        bar("whole organism", 0.91, 0.01),
        bar("PN_SR dropped", 0.905, 0.012),
        bar("PN_F dropped", 0.1, 0.02),
        bar("L1 pruning", 0.89, 0.015),
        bar("random pruning", 0.6, 0.05),
    ];
    draw(&out.dir, "bars", Chart::Bars(Bars { x_label: String::new(), y_label: "test accuracy".into(), bars }));
}

#[test]
fn heatmaps_draw_square_grids_with_colour_bars() {
    let out = out();
    let grid = |f: &dyn Fn(usize, usize) -> f64| (0..225).map(|i| f(i / 15, i % 15)).collect::<Vec<_>>();
    let edge = |r: usize, c: usize| r.min(c).min(14 - r).min(14 - c) as f64;
    let map = |title: &str, values| Heatmap { title: title.into(), unit: "value".into(), rows: 15, cols: 15, values };
    let maps = vec![
        map("PN_SR count", grid(&|r, c| (5.0 - edge(r, c)).max(0.0))),
        map("PN_SR Σ|weight|", grid(&|r, c| 0.01 * (5.0 - edge(r, c)).max(0.0))),
        map("mean test image", grid(&|r, c| edge(r, c) / 7.0)),
    ];
    let chart = Chart::Heatmaps(Heatmaps { x_label: "pixel column".into(), y_label: "pixel row".into(), maps });
    draw(&out.dir, "heatmaps", chart);
}

#[test]
fn connectivity_draws_one_panel_per_group() {
    let out = out();
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
        Connections { title: "PN_SR".into(), colour: Some(Colour::Orange), edges: edges(60, 0.1) },
        Connections { title: "PN_F".into(), colour: Some(Colour::Blue), edges: edges(400, 0.3) },
    ];
    let chart = Chart::Connectivity(Connectivity { x_label: "layer".into(), y_label: "unit position".into(), panels });
    draw(&out.dir, "connectivity", chart);
}

#[test]
fn trajectories_draw_3d_panels() {
    let out = out();
    let spiral = |k: usize, n: usize| -> Vec<Vec<(f64, f64, f64)>> {
        (0..n)
            .map(|i| {
                let phase = i as f64 * 0.7 + k as f64;
                (0..20)
                    .map(|e| {
                        let t = (e as f64) * 0.2 + phase;
                        (t.cos() * (1.0 + i as f64 * 0.1), t.sin(), e as f64 * 10.0)
                    })
                    .collect()
            })
            .collect()
    };
    let panels = vec![
        TrajectoryPanel { title: "PN_SR (8)".into(), lines: spiral(0, 8) },
        TrajectoryPanel { title: "PN_F (42)".into(), lines: spiral(1, 42) },
    ];
    draw(&out.dir, "trajectories", Chart::Trajectories(Trajectories { time_label: "epoch".into(), panels }));
}

#[test]
fn mismatched_lengths_are_errors_and_write_nothing() {
    let out = out();
    let stem = out.dir.join("bad");
    let fig = |chart| Figure { stem: stem.clone(), title: "bad".into(), caption: String::new(), chart };
    let series = Series { name: "loss".into(), y: vec![1.0, 2.0], ..Series::default() };
    let panel = Panel { series: vec![series], ..Panel::default() };
    let lines = Lines { x_label: "epoch".into(), x: vec![0.0, 1.0, 2.0], panels: vec![panel] };
    let err = fig(Chart::Lines(lines)).draw().unwrap_err();
    assert!(matches!(&err, Error::Invalid(msg) if msg.contains("`loss` has 2 values")), "{err}");
    let map = Heatmap { title: "map".into(), rows: 2, cols: 3, values: vec![0.0; 5], ..Heatmap::default() };
    let heatmaps = Heatmaps { maps: vec![map], ..Heatmaps::default() };
    assert!(matches!(fig(Chart::Heatmaps(heatmaps)).draw(), Err(Error::Invalid(_))));
    let group = BoxGroup { name: "g".into(), colour: None, samples: vec![vec![1.0]] };
    let boxes = Boxes { groups: vec![group], ..Boxes::default() };
    assert!(matches!(fig(Chart::Boxes(boxes)).draw(), Err(Error::Invalid(_))));
    assert!(!stem.with_extension("png").exists());
}

#[test]
fn empty_data_draws_a_note() {
    let out = out();
    let chart = Chart::Lines(Lines { x_label: "epoch".into(), ..Lines::default() });
    let fig = Figure { stem: out.dir.join("empty"), title: "Nothing yet".into(), caption: String::new(), chart };
    fig.draw().unwrap();
    assert_eq!(&std::fs::read(fig.png()).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    assert!(std::fs::read_to_string(fig.svg()).unwrap().contains("no data"));
}

#[test]
fn numbers_are_written_for_people() {
    assert_eq!(format_value(1.0), "1");
    assert_eq!(format_value(0.8290), "0.829");
    assert_eq!(format_value(12.345), "12.3");
    assert_eq!(format_value(-0.41), "−0.41");
    assert_eq!(format_value(1e-7), "10⁻⁷");
    assert_eq!(format_value(6.41e-8), "6.4·10⁻⁸");
    assert_eq!(format_value(0.0), "0");
    assert_eq!(format_value(f64::NAN), "—");
}
