//! Generic charts for the paper's figures, over plain data.
//!
//! Every public function takes a path stem `dir/name` and writes both `dir/name.png` and
//! `dir/name.svg` (creating `dir` if needed). The functions know nothing about organisms: the
//! analyses (SPEC §6) turn their results into the plain series, samples and grids taken here.
//!
//! Shapes that do not fit together (a series shorter than its x values, a grid whose value count
//! is not rows × cols, …) are reported as [`Error::Invalid`]; empty data draws an empty chart with
//! a "no data" note. Non-finite values are left out of lines, count as 0 in stacked areas and are
//! shown grey in heatmaps. On a log axis, values ≤ 0 are drawn at the bottom edge of the axis.
//!
//! The text is drawn with DejaVu Sans, bundled in `assets/`, so no system font is needed.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use crate::{Error, Result};

/// Runs the chart body `|root| { … }` once on a bitmap and once on an SVG backend (a closure
/// cannot be generic over the backend, so the body is expanded for each) and writes both files.
macro_rules! render {
    ($stem:expr, $size:expr, |$root:ident| $body:expr) => {
        write_both(
            $stem,
            $size,
            |$root: &DrawingArea<BitMapBackend, Shift>| -> DrawResult { $body },
            |$root: &DrawingArea<SVGBackend, Shift>| -> DrawResult { $body },
        )
    };
}

/// Title and axis labels of a chart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figure {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
}

impl Figure {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        Figure { title: title.into(), x_label: x_label.into(), y_label: y_label.into() }
    }
}

/// A named curve over the chart's x values: the mean over seeds and its standard deviation
/// (`sd` empty: no band).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub name: String,
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
}

impl Series {
    pub fn new(name: impl Into<String>, mean: Vec<f64>, sd: Vec<f64>) -> Self {
        Series { name: name.into(), mean, sd }
    }
}

/// One panel of [`lines_with_bands`]: its own y axis and the series drawn against it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Panel {
    pub y_label: String,
    pub log_y: bool,
    pub series: Vec<Series>,
}

/// One group of boxes in [`box_plots`]: a name and one sample set per category.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BoxGroup {
    pub name: String,
    pub samples: Vec<Vec<f64>>,
}

/// One bar of [`bars`]: its label, height (mean) and error bar (± sd).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bar {
    pub label: String,
    pub mean: f64,
    pub sd: f64,
}

/// One panel of [`heatmaps`]: a `rows × cols` grid, row-major, row 0 drawn at the top.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Heatmap {
    pub title: String,
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<f64>,
}

/// A line in [`connectivity`] from unit position `pos_from` ∈ [0, 1] of layer `layer_from` to
/// unit position `pos_to` of layer `layer_to`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Edge {
    pub layer_from: i32,
    pub pos_from: f64,
    pub layer_to: i32,
    pub pos_to: f64,
}

/// One panel of [`connectivity`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Connections {
    pub title: String,
    pub edges: Vec<Edge>,
}

/// One panel of [`trajectories`]: polylines of `(pc1, pc2, epoch)` points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trajectories {
    pub title: String,
    pub lines: Vec<Vec<(f64, f64, f64)>>,
}

/// Curves with shaded ± sd bands, one vertically stacked panel per y axis (paper Fig. 3 and 6:
/// self-train and task loss on a log axis above the train/test metric). Colours are per series
/// name, shared by all panels; one legend on the right; only the bottom panel carries `x_label`.
pub fn lines_with_bands(stem: &Path, title: &str, x_label: &str, x: &[f64], panels: &[Panel]) -> Result<()> {
    for series in panels.iter().flat_map(|p| &p.series) {
        check_series(stem, series, x.len())?;
    }
    let names: Vec<&str> = panels.iter().flat_map(|p| &p.series).map(|s| s.name.as_str()).collect();
    let height = 150 + 420 * panels.len().max(1) as u32;
    render!(stem, (1100, height), |root| {
        let legend = Legend::new(&names);
        let area = frame(root, title, &legend)?;
        if panels.is_empty() {
            return no_data(&area);
        }
        let x_axis = Axis::of(x.iter().copied(), false);
        let y_axes: Vec<Axis> =
            panels.iter().map(|p| Axis::of(p.series.iter().flat_map(band_edges), p.log_y)).collect();
        let y_area = y_label_area(&y_axes.iter().collect::<Vec<_>>());
        let areas = area.split_evenly((panels.len(), 1));
        for (i, ((panel, y_axis), area)) in panels.iter().zip(&y_axes).zip(areas).enumerate() {
            let bottom = i + 1 == panels.len();
            let labels = Figure::new("", if bottom { x_label } else { "" }, &panel.y_label);
            let mut chart = cartesian(&area, &labels, &x_axis, y_axis, y_area)?;
            for series in &panel.series {
                draw_band(&mut chart, y_axis, x, series, legend.colour(&series.name))?;
            }
            if panel.series.iter().all(|s| s.mean.is_empty()) {
                no_data(&area)?;
            }
        }
        Ok(())
    })
}

/// Class counts stacked over x (paper Fig. 2 and 9: the five particle classes per epoch), each
/// class's upper edge with a lighter ± sd band for the spread over seeds. Class names pick fixed
/// colours (see [`colour_for`]); the legend lists the classes top of the stack first.
pub fn stacked_area(stem: &Path, fig: &Figure, x: &[f64], classes: &[Series]) -> Result<()> {
    for class in classes {
        check_series(stem, class, x.len())?;
    }
    let names: Vec<&str> = classes.iter().rev().map(|c| c.name.as_str()).collect();
    render!(stem, (1100, 650), |root| {
        let legend = Legend::new(&names);
        let area = frame(root, &fig.title, &legend)?;
        // tops[k][i]: the stack's height at x[i] once classes 0..=k are on it.
        let mut tops: Vec<Vec<f64>> = Vec::with_capacity(classes.len());
        for class in classes {
            let below = tops.last().cloned().unwrap_or_else(|| vec![0.0; x.len()]);
            tops.push(below.iter().zip(&class.mean).map(|(b, m)| if m.is_finite() { b + m } else { *b }).collect());
        }
        let bands = classes
            .iter()
            .zip(&tops)
            .flat_map(|(c, top)| top.iter().zip(sd_or_zero(c)).flat_map(|(t, s)| [t - s, t + s]).collect::<Vec<_>>());
        let x_axis = Axis::of(x.iter().copied(), false);
        let y_axis = Axis::of(bands.chain([0.0]), false);
        let mut chart =
            cartesian(&area, &Figure::new("", &fig.x_label, &fig.y_label), &x_axis, &y_axis, y_label_area(&[&y_axis]))?;
        let zero = vec![0.0; x.len()];
        for (k, class) in classes.iter().enumerate() {
            let colour = legend.colour(&class.name);
            let base = if k == 0 { &zero } else { &tops[k - 1] };
            let top = &tops[k];
            let mut outline: Vec<(f64, f64)> = x.iter().copied().zip(top.iter().copied()).collect();
            outline.extend(x.iter().copied().zip(base.iter().copied()).rev());
            chart.draw_series([Polygon::new(outline, colour.mix(0.55).filled())])?;
            let lower: Vec<f64> = top.iter().zip(sd_or_zero(class)).map(|(t, s)| t - s).collect();
            let upper: Vec<f64> = top.iter().zip(sd_or_zero(class)).map(|(t, s)| t + s).collect();
            chart.draw_series([band_polygon(x, &lower, &upper, colour.mix(0.3).filled())])?;
            chart.draw_series(LineSeries::new(x.iter().copied().zip(top.iter().copied()), colour.stroke_width(2)))?;
        }
        if x.is_empty() || classes.is_empty() {
            no_data(&area)?;
        }
        Ok(())
    })
}

/// Box plots per category, the groups side by side within a category (paper Fig. 4 and 7: per
/// noise level, "time to vergence" and "time as fixpoint"). Boxes span the quartiles with the
/// median marked, whiskers reach the furthest sample within 1.5 IQR, samples beyond are dots.
pub fn box_plots(stem: &Path, fig: &Figure, categories: &[String], groups: &[BoxGroup], log_y: bool) -> Result<()> {
    for group in groups {
        if group.samples.len() != categories.len() {
            return Err(invalid(
                stem,
                format!(
                    "box group `{}` has {} sample sets for {} categories",
                    group.name,
                    group.samples.len(),
                    categories.len()
                ),
            ));
        }
    }
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    render!(stem, (1100, 650), |root| {
        let legend = Legend::new(&names);
        let area = frame(root, &fig.title, &legend)?;
        let x_axis = Axis::categories(categories);
        let samples = groups.iter().flat_map(|g| g.samples.iter().flatten().copied());
        let y_axis = Axis::of(samples, log_y);
        let mut chart =
            cartesian(&area, &Figure::new("", &fig.x_label, &fig.y_label), &x_axis, &y_axis, y_label_area(&[&y_axis]))?;
        let width = 0.8 / groups.len().max(1) as f64;
        for (g, group) in groups.iter().enumerate() {
            let colour = legend.colour(&group.name);
            for (c, samples) in group.samples.iter().enumerate() {
                let Some(stats) = BoxStats::of(samples) else {
                    continue;
                };
                let centre = c as f64 - 0.4 + (g as f64 + 0.5) * width;
                let (left, right) = (centre - 0.4 * width, centre + 0.4 * width);
                let y = |v: f64| y_axis.map(v);
                chart.draw_series(outlined([(left, y(stats.q1)), (right, y(stats.q3))], colour, 0.35))?;
                chart.draw_series(
                    [
                        vec![(left, y(stats.median)), (right, y(stats.median))],
                        vec![(centre, y(stats.q3)), (centre, y(stats.high))],
                        vec![(centre, y(stats.q1)), (centre, y(stats.low))],
                        vec![(centre - 0.2 * width, y(stats.high)), (centre + 0.2 * width, y(stats.high))],
                        vec![(centre - 0.2 * width, y(stats.low)), (centre + 0.2 * width, y(stats.low))],
                    ]
                    .into_iter()
                    .map(|points| PathElement::new(points, BLACK.stroke_width(2))),
                )?;
                chart.draw_series(
                    stats.outliers.iter().map(|&v| Circle::new((centre, y(v)), 3, colour.stroke_width(1))),
                )?;
            }
        }
        if groups.iter().all(|g| g.samples.iter().all(Vec::is_empty)) {
            no_data(&area)?;
        }
        Ok(())
    })
}

/// Labelled bars with ± sd error bars and the mean written above (paper Fig. 8: accuracy of the
/// whole organism, with PN_SR or PN_F dropped, after L1 or random pruning; Fig. 5: absolute error
/// per seed). Bars named after a particle class take its colour.
pub fn bars(stem: &Path, fig: &Figure, bars: &[Bar], log_y: bool) -> Result<()> {
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    render!(stem, (1100, 650), |root| {
        let area = frame(root, &fig.title, &Legend::new(&[]))?;
        let x_axis = Axis::categories(&labels);
        let ends: Vec<f64> = bars.iter().flat_map(|b| [b.mean - b.sd.abs(), b.mean + b.sd.abs()]).collect();
        let y_axis = if log_y {
            Axis::of(ends.into_iter(), true)
        } else {
            // Room above the highest bar for its value.
            let top = ends.iter().copied().filter(|v| v.is_finite()).fold(0.0, f64::max);
            Axis::of(ends.into_iter().chain([0.0, 1.08 * top]), false)
        };
        let mut chart =
            cartesian(&area, &Figure::new("", &fig.x_label, &fig.y_label), &x_axis, &y_axis, y_label_area(&[&y_axis]))?;
        let floor = if log_y { y_axis.range().start } else { 0.0 };
        for (i, bar) in bars.iter().enumerate().filter(|(_, b)| b.mean.is_finite()) {
            let colour = colour_for(&bar.label, i);
            let x = i as f64;
            let (low, high) = (y_axis.map(bar.mean - bar.sd.abs()), y_axis.map(bar.mean + bar.sd.abs()));
            chart.draw_series(outlined([(x - 0.3, floor), (x + 0.3, y_axis.map(bar.mean))], colour, 0.8))?;
            if bar.sd.is_finite() && bar.sd != 0.0 {
                chart.draw_series(
                    [
                        vec![(x, low), (x, high)],
                        vec![(x - 0.08, low), (x + 0.08, low)],
                        vec![(x - 0.08, high), (x + 0.08, high)],
                    ]
                    .into_iter()
                    .map(|points| PathElement::new(points, BLACK.stroke_width(2))),
                )?;
            }
            let above = high.max(y_axis.map(bar.mean));
            let text = TextStyle::from((FONT, TICK_SIZE).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
            chart.draw_series([EmptyElement::at((x, above)) + Text::new(format_value(bar.mean), (0, -6), text)])?;
        }
        if bars.is_empty() {
            no_data(&area)?;
        }
        Ok(())
    })
}

/// Grids side by side, each with a viridis colour scale and its own colour bar (paper Fig. 10:
/// per input pixel, the count of PN_SR, their summed |weight| and the mean test image).
/// `fig.x_label`/`fig.y_label` label the columns/rows of every panel.
pub fn heatmaps(stem: &Path, fig: &Figure, maps: &[Heatmap]) -> Result<()> {
    for map in maps {
        if map.values.len() != map.rows * map.cols {
            return Err(invalid(
                stem,
                format!("heatmap `{}` has {} values for {}×{} cells", map.title, map.values.len(), map.rows, map.cols),
            ));
        }
    }
    let width = 40 + 520 * maps.len().max(1) as u32;
    render!(stem, (width, 550), |root| {
        let area = frame(root, &fig.title, &Legend::new(&[]))?;
        if maps.is_empty() {
            return no_data(&area);
        }
        for (map, panel) in maps.iter().zip(area.split_evenly((1, maps.len()))) {
            let (grid_area, bar_area) = panel.split_horizontally(panel.dim_in_pixel().0.saturating_sub(115));
            let x_axis = Axis::cells(map.cols, false);
            let y_axis = Axis::cells(map.rows, true);
            let labels = Figure::new(&map.title, &fig.x_label, &fig.y_label);
            let mut chart = cartesian(&grid_area, &labels, &x_axis, &y_axis, y_label_area(&[&y_axis]))?;
            let finite = || map.values.iter().copied().filter(|v| v.is_finite());
            let (min, max) = (finite().fold(f64::INFINITY, f64::min), finite().fold(f64::NEG_INFINITY, f64::max));
            let cells = map.values.iter().enumerate().map(|(i, &v)| {
                let (r, c) = ((i / map.cols.max(1)) as f64, (i % map.cols.max(1)) as f64);
                let top = map.rows as f64 - r;
                let colour = if v.is_finite() { viridis(v, min, max) } else { RGBColor(200, 200, 200) };
                Rectangle::new([(c, top - 1.0), (c + 1.0, top)], colour.filled())
            });
            chart.draw_series(cells)?;
            if map.values.is_empty() {
                no_data(&grid_area)?;
            } else {
                colour_bar(&bar_area, finite())?;
            }
        }
        Ok(())
    })
}

/// One panel per group of line segments from (layer, unit position) to (layer, unit position),
/// drawn translucent so dense bundles show (paper Fig. 11: each particle as a line from its input
/// unit to its output unit, layer −1 being the organism's input, one panel per class). A panel
/// titled after a particle class takes its colour.
pub fn connectivity(stem: &Path, fig: &Figure, panels: &[Connections]) -> Result<()> {
    let edges = || panels.iter().flat_map(|p| &p.edges);
    if let Some(e) = edges().find(|e| !(e.pos_from.is_finite() && e.pos_to.is_finite())) {
        return Err(invalid(stem, format!("edge {e:?} has a non-finite unit position")));
    }
    let first = edges().flat_map(|e| [e.layer_from, e.layer_to]).min().unwrap_or(0);
    let last = edges().flat_map(|e| [e.layer_from, e.layer_to]).max().unwrap_or(1);
    let layers: Vec<String> = (first..=last).map(|l| l.to_string()).collect();
    let width = 40 + 560 * panels.len().max(1) as u32;
    render!(stem, (width, 620), |root| {
        let area = frame(root, &fig.title, &Legend::new(&[]))?;
        if panels.is_empty() {
            return no_data(&area);
        }
        let x_axis = Axis::categories(&layers);
        let y_axis = Axis::linear(-0.02, 1.02);
        for (i, (panel, area)) in panels.iter().zip(area.split_evenly((1, panels.len()))).enumerate() {
            let labels = Figure::new(&panel.title, &fig.x_label, &fig.y_label);
            let mut chart = cartesian(&area, &labels, &x_axis, &y_axis, y_label_area(&[&y_axis]))?;
            let alpha = (100.0 / panel.edges.len().max(1) as f64).clamp(0.06, 0.7);
            let style = colour_for(&panel.title, i).mix(alpha).stroke_width(2);
            chart.draw_series(panel.edges.iter().map(|e| {
                let from = ((e.layer_from - first) as f64, e.pos_from.clamp(0.0, 1.0));
                let to = ((e.layer_to - first) as f64, e.pos_to.clamp(0.0, 1.0));
                PathElement::new(vec![from, to], style)
            }))?;
            if panel.edges.is_empty() {
                no_data(&area)?;
            }
        }
        Ok(())
    })
}

/// One 3-D panel per group of polylines through (PC1, PC2, epoch), epoch vertical, each line in
/// its own colour (paper Fig. 12: PCA-projected weight trajectories per particle class).
pub fn trajectories(stem: &Path, title: &str, panels: &[Trajectories]) -> Result<()> {
    let width = 40 + 620 * panels.len().max(1) as u32;
    render!(stem, (width, 650), |root| {
        let area = frame(root, title, &Legend::new(&[]))?;
        if panels.is_empty() {
            return no_data(&area);
        }
        for (panel, area) in panels.iter().zip(area.split_evenly((1, panels.len()))) {
            let points =
                || panel.lines.iter().flatten().filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite());
            let pc1 = Axis::of(points().map(|p| p.0), false).range();
            let pc2 = Axis::of(points().map(|p| p.1), false).range();
            let epoch = Axis::of(points().map(|p| p.2), false).range();
            let mut chart = ChartBuilder::on(&area)
                .caption(&panel.title, (FONT, PANEL_TITLE_SIZE))
                .margin(20)
                .build_cartesian_3d(pc1.clone(), epoch.clone(), pc2.clone())?;
            chart.with_projection(|mut p| {
                p.yaw = 0.6;
                p.pitch = 0.25;
                p.scale = 0.8;
                p.into_matrix()
            });
            let tick = |v: &f64| format_value(*v);
            chart
                .configure_axes()
                .label_style((FONT, TICK_SIZE))
                .x_formatter(&tick)
                .y_formatter(&tick)
                .z_formatter(&tick)
                .x_labels(5)
                .y_labels(5)
                .z_labels(5)
                .max_light_lines(1)
                .light_grid_style(BLACK.mix(0.05))
                .draw()?;
            // Axis names at the outer corners, nudged (in pixels) clear of the tick labels.
            let name = |text, at, offset: (i32, i32), h| {
                let style = TextStyle::from((FONT, AXIS_LABEL_SIZE).into_font()).pos(Pos::new(h, VPos::Center));
                EmptyElement::at(at) + Text::new(text, offset, style)
            };
            chart.draw_series([
                name("PC1", (pc1.end, epoch.start, pc2.start), (12, -12), HPos::Left),
                name("epoch", (pc1.start, epoch.end, pc2.start), (0, -14), HPos::Center),
                name("PC2", (pc1.start, epoch.start, pc2.end), (-8, 22), HPos::Right),
            ])?;
            let n = panel.lines.len().max(1) as f64;
            for (i, line) in panel.lines.iter().enumerate() {
                let colour = HSLColor(i as f64 / n, 0.85, 0.45);
                let points = line.iter().filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite());
                chart.draw_series(LineSeries::new(points.map(|&(a, b, e)| (a, e, b)), colour.stroke_width(2)))?;
            }
            if points().next().is_none() {
                no_data(&area)?;
            }
        }
        Ok(())
    })
}

/// The colour of a series, bar or panel: fixed for the five particle classes (`self_replicator`
/// orange, `other` blue, `zero` grey, `second_order` green, `divergent` red), else the `index`-th
/// colour of a ten-colour palette starting blue, green, orange, red.
pub fn colour_for(name: &str, index: usize) -> RGBColor {
    const PALETTE: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    // A class name may be followed by more words, e.g. `self_replicator (PN_SR, 53)`.
    match name.split([' ', '(']).next().unwrap_or(name) {
        "self_replicator" => PALETTE[2],
        "other" => PALETTE[0],
        "zero" => PALETTE[7],
        "second_order" => PALETTE[1],
        "divergent" => PALETTE[3],
        _ => PALETTE[index % PALETTE.len()],
    }
}

/// `10^k` written with superscript digits, e.g. `10⁻³`: a label for noise levels and log ticks.
pub fn power_of_ten(k: i32) -> String {
    const DIGITS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let digits: String = k.unsigned_abs().to_string().chars().map(|d| DIGITS[d as usize - '0' as usize]).collect();
    format!("10{}{digits}", if k < 0 { "⁻" } else { "" })
}

const FONT: &str = "sans-serif";
const TITLE_SIZE: u32 = 30;
const PANEL_TITLE_SIZE: u32 = 24;
const AXIS_LABEL_SIZE: u32 = 22;
const TICK_SIZE: u32 = 18;
const LEGEND_SIZE: u32 = 20;

type DrawResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;
type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

/// Space under a 2-D chart for tick labels and the x axis label.
const X_LABEL_AREA: u32 = 65;

fn write_both(
    stem: &Path,
    size: (u32, u32),
    png: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> DrawResult,
    svg: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> DrawResult,
) -> Result<()> {
    register_bundled_font()?;
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let png_path = with_suffix(stem, "png");
    finish(&BitMapBackend::new(&png_path, size).into_drawing_area(), png).map_err(|e| invalid(&png_path, e))?;
    let svg_path = with_suffix(stem, "svg");
    finish(&SVGBackend::new(&svg_path, size).into_drawing_area(), svg).map_err(|e| invalid(&svg_path, e))?;
    Ok(())
}

fn finish<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    draw: impl FnOnce(&DrawingArea<DB, Shift>) -> DrawResult,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    draw(root)?;
    root.present()?;
    Ok(())
}

/// Registers the bundled DejaVu Sans as plotters' "sans-serif" on first use.
fn register_bundled_font() -> Result<()> {
    static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    if *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()) {
        Ok(())
    } else {
        Err(Error::Invalid("the bundled font assets/DejaVuSans.ttf cannot be parsed".into()))
    }
}

/// `dir/name` + `png` → `dir/name.png`, keeping any dots in `name`.
fn with_suffix(stem: &Path, extension: &str) -> PathBuf {
    let mut path = stem.as_os_str().to_owned();
    path.push(".");
    path.push(extension);
    path.into()
}

fn invalid(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{}: {msg}", path.display()))
}

fn check_series(stem: &Path, series: &Series, n: usize) -> Result<()> {
    if series.mean.len() != n || !(series.sd.is_empty() || series.sd.len() == n) {
        return Err(invalid(
            stem,
            format!(
                "series `{}` has {} means and {} standard deviations for {n} x values",
                series.name,
                series.mean.len(),
                series.sd.len()
            ),
        ));
    }
    Ok(())
}

/// The standard deviations of a series, zero where absent or not finite.
fn sd_or_zero(series: &Series) -> impl Iterator<Item = f64> + '_ {
    let sd = series.sd.iter().map(|s| if s.is_finite() { s.abs() } else { 0.0 });
    sd.chain(std::iter::repeat(0.0)).take(series.mean.len())
}

/// The values a series' band reaches, for the axis range.
fn band_edges(series: &Series) -> Vec<f64> {
    series.mean.iter().zip(sd_or_zero(series)).flat_map(|(m, s)| [m - s, *m, m + s]).collect()
}

/// A filled band between `lower` and `upper` over `x`.
fn band_polygon(x: &[f64], lower: &[f64], upper: &[f64], style: ShapeStyle) -> Polygon<(f64, f64)> {
    let mut outline: Vec<(f64, f64)> = x.iter().copied().zip(upper.iter().copied()).collect();
    outline.extend(x.iter().copied().zip(lower.iter().copied()).rev());
    Polygon::new(outline, style)
}

/// A series' mean as a line over its shaded ± sd band; points with a non-finite value are left out.
fn draw_band<DB: DrawingBackend>(
    chart: &mut Chart2d<DB>,
    y: &Axis,
    x: &[f64],
    series: &Series,
    colour: RGBColor,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let keep: Vec<usize> = (0..x.len()).filter(|&i| x[i].is_finite() && series.mean[i].is_finite()).collect();
    let xs: Vec<f64> = keep.iter().map(|&i| x[i]).collect();
    let mean: Vec<f64> = keep.iter().map(|&i| series.mean[i]).collect();
    if !series.sd.is_empty() {
        let sd: Vec<f64> = sd_or_zero(series).collect();
        let lower: Vec<f64> = keep.iter().map(|&i| y.map(series.mean[i] - sd[i])).collect();
        let upper: Vec<f64> = keep.iter().map(|&i| y.map(series.mean[i] + sd[i])).collect();
        chart.draw_series([band_polygon(&xs, &lower, &upper, colour.mix(0.2).filled())])?;
    }
    chart
        .draw_series(LineSeries::new(xs.into_iter().zip(mean.into_iter().map(|m| y.map(m))), colour.stroke_width(2)))?;
    Ok(())
}

/// A figure's frame: the title on top and, if there are names, a legend column on the right.
/// Returns the area left for the chart(s).
fn frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    legend: &Legend,
) -> std::result::Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let area = root.margin(12, 0, 0, 0).titled(title, (FONT, TITLE_SIZE))?;
    if legend.names.is_empty() {
        return Ok(area);
    }
    let (main, side) = area.split_horizontally(area.dim_in_pixel().0.saturating_sub(legend.width()));
    let text = TextStyle::from((FONT, LEGEND_SIZE).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, name) in legend.names.iter().enumerate() {
        let y = 50 + 32 * i as i32;
        let colour = legend.colour(name);
        for swatch in outlined([(8, y - 9), (32, y + 9)], colour, 0.6) {
            side.draw(&swatch)?;
        }
        side.draw_text(name, &text, (42, y))?;
    }
    Ok(main)
}

/// The names shown in a figure's legend, in order and without repeats, and their colours.
struct Legend<'n> {
    names: Vec<&'n str>,
}

impl<'n> Legend<'n> {
    fn new(names: &[&'n str]) -> Self {
        let mut unique: Vec<&str> = Vec::new();
        for name in names {
            if !unique.contains(name) {
                unique.push(name);
            }
        }
        Legend { names: unique }
    }

    fn colour(&self, name: &str) -> RGBColor {
        colour_for(name, self.names.iter().position(|n| *n == name).unwrap_or(0))
    }

    /// Width of the legend column, from its longest name.
    fn width(&self) -> u32 {
        let chars = self.names.iter().map(|n| n.chars().count()).max().unwrap_or(0) as u32;
        60 + chars * LEGEND_SIZE * 6 / 10
    }
}

/// A "no data" note in the middle of `area`.
fn no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (w, h) = area.dim_in_pixel();
    let text =
        TextStyle::from((FONT, AXIS_LABEL_SIZE).into_font()).pos(Pos::new(HPos::Center, VPos::Center)).color(&RED);
    area.draw_text("no data", &text, (w as i32 / 2, h as i32 / 2))?;
    Ok(())
}

/// Width for y tick labels and the y axis label wide enough for all of `axes` (the same width
/// keeps stacked panels aligned).
fn y_label_area(axes: &[&Axis]) -> u32 {
    let ticks = axes.iter().flat_map(|a| &a.ticks);
    let chars = ticks.map(|t| t.1.chars().count()).max().unwrap_or(1) as u32;
    45 + chars * TICK_SIZE * 6 / 10
}

/// A 2-D chart on `area` with `labels` (its title as caption, if any) over the two axes, with
/// `y_label_area` pixels left of it for the y labels.
fn cartesian<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    labels: &Figure,
    x: &Axis,
    y: &Axis,
    y_label_area: u32,
) -> std::result::Result<Chart2d<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut builder = ChartBuilder::on(area);
    builder.margin(10).margin_right(25).x_label_area_size(X_LABEL_AREA).y_label_area_size(y_label_area);
    if !labels.title.is_empty() {
        builder.caption(&labels.title, (FONT, PANEL_TITLE_SIZE));
    }
    let mut chart = builder.build_cartesian_2d(x.clone(), y.clone())?;
    chart
        .configure_mesh()
        .x_desc(&labels.x_label)
        .y_desc(&labels.y_label)
        .axis_desc_style((FONT, AXIS_LABEL_SIZE))
        .label_style((FONT, TICK_SIZE))
        .bold_line_style(BLACK.mix(0.1))
        .draw()?;
    Ok(chart)
}

#[derive(Clone)]
/// An axis: its range (in log10 units on a log axis) and its labelled ticks.
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<(f64, String)>,
}

impl Axis {
    /// An axis spanning the finite `values` (the positive ones on a log axis) with a margin;
    /// a linear axis over values ≥ 0 starts at 0 rather than below.
    fn of(values: impl Iterator<Item = f64>, log: bool) -> Axis {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
            (min, max) = (min.min(v), max.max(v));
        }
        if log {
            let (lo, hi) = if min <= max { (min.log10().floor(), max.log10().ceil()) } else { (0.0, 1.0) };
            return Axis::logarithmic(lo as i32, (hi as i32).max(lo as i32 + 1));
        }
        if min > max {
            return Axis::linear(0.0, 1.0);
        }
        let pad = if max > min { 0.05 * (max - min) } else { (0.1 * max.abs()).max(0.5) };
        let lo = if min >= 0.0 && min - pad < 0.0 { 0.0 } else { min - pad };
        Axis::linear(lo, max + pad)
    }

    /// A linear axis from `lo` to `hi` with about six round ticks.
    fn linear(lo: f64, hi: f64) -> Axis {
        let raw = (hi - lo) / 6.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
        let plain = step >= 1e-3 && lo.abs().max(hi.abs()) < 1e5;
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let ticks = ((lo / step).ceil() as i64..=(hi / step).floor() as i64)
            .map(|k| k as f64 * step)
            .map(|t| (t, if plain { format!("{t:.decimals$}") } else { format_value(t) }))
            .collect();
        Axis { lo, hi, log: false, ticks }
    }

    /// A log axis from 10^`lo` to 10^`hi`, ticks at (at most nine) powers of ten.
    fn logarithmic(lo: i32, hi: i32) -> Axis {
        let stride = ((hi - lo) as usize).div_ceil(8).max(1);
        let ticks = (lo..=hi).step_by(stride).map(|k| (k as f64, power_of_ten(k))).collect();
        Axis { lo: lo as f64, hi: hi as f64, log: true, ticks }
    }

    /// Category `i` at position `i`, labelled with its name.
    fn categories(names: &[String]) -> Axis {
        let ticks = names.iter().enumerate().map(|(i, n)| (i as f64, n.clone())).collect();
        Axis { lo: -0.5, hi: names.len().max(1) as f64 - 0.5, log: false, ticks }
    }

    /// `n` grid cells, cell `i` spanning `i..i+1` (`n-1-i..n-i` if `flipped`), about eight of
    /// them labelled with their index.
    fn cells(n: usize, flipped: bool) -> Axis {
        let stride = n.div_ceil(8).max(1);
        let ticks = (0..n)
            .step_by(stride)
            .map(|i| (if flipped { (n - 1 - i) as f64 + 0.5 } else { i as f64 + 0.5 }, i.to_string()))
            .collect();
        Axis { lo: 0.0, hi: n.max(1) as f64, log: false, ticks }
    }

    /// Where `v` lies on the axis: log10 of it on a log axis, whose values ≤ 0 go to the bottom.
    fn map(&self, v: f64) -> f64 {
        match (self.log, v > 0.0) {
            (false, _) => v,
            (true, true) => v.log10(),
            (true, false) => self.lo,
        }
    }
}

/// A plotters coordinate whose bold key points are the axis' ticks (and no light ones).
impl Ranged for Axis {
    type ValueType = f64;
    type FormatOption = NoDefaultFormatting;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = (value - self.lo) / (self.hi - self.lo);
        limit.0 + (t * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.iter().map(|t| t.0).collect()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// Tick labels: the label of the tick nearest the value.
impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, v: &f64) -> String {
        let nearest = self.ticks.iter().min_by(|a, b| (a.0 - v).abs().total_cmp(&(b.0 - v).abs()));
        nearest.map(|t| t.1.clone()).unwrap_or_default()
    }
}

/// A value with about three significant digits, in exponent form if very large or small.
fn format_value(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || !a.is_finite() {
        format!("{v}")
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.2e}")
    } else {
        let decimals = (2.0 - a.log10().floor()).max(0.0) as usize;
        let text = format!("{v:.decimals$}");
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    }
}

/// A rectangle filled with `colour` at `opacity`, outlined in `colour`.
fn outlined<Coord: Clone>(corners: [Coord; 2], colour: RGBColor, opacity: f64) -> [Rectangle<Coord>; 2] {
    [Rectangle::new(corners.clone(), colour.mix(opacity).filled()), Rectangle::new(corners, colour.stroke_width(2))]
}

/// Quartiles, whiskers (furthest samples within 1.5 IQR of the box) and outliers of a sample.
struct BoxStats {
    q1: f64,
    median: f64,
    q3: f64,
    low: f64,
    high: f64,
    outliers: Vec<f64>,
}

impl BoxStats {
    /// `None` if there is no finite sample.
    fn of(samples: &[f64]) -> Option<BoxStats> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let quantile = |p: f64| {
            let at = p * (sorted.len() - 1) as f64;
            let (i, frac) = (at.floor() as usize, at.fract());
            sorted[i] + frac * (sorted[(i + 1).min(sorted.len() - 1)] - sorted[i])
        };
        if sorted.is_empty() {
            return None;
        }
        let (q1, median, q3) = (quantile(0.25), quantile(0.5), quantile(0.75));
        let (fence_low, fence_high) = (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1));
        let inside = || sorted.iter().copied().filter(|v| (fence_low..=fence_high).contains(v));
        Some(BoxStats {
            q1,
            median,
            q3,
            low: inside().fold(q1, f64::min),
            high: inside().fold(q3, f64::max),
            outliers: sorted.iter().copied().filter(|v| !(fence_low..=fence_high).contains(v)).collect(),
        })
    }
}

fn viridis(v: f64, min: f64, max: f64) -> RGBColor {
    if max > min {
        ViridisRGB::get_color_normalized(v, min, max)
    } else {
        ViridisRGB::get_color(0.5)
    }
}

/// A vertical viridis colour bar over the range of `values`, aligned with a [`cartesian`] chart
/// beside it.
fn colour_bar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, values: impl Iterator<Item = f64>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        (min, max) = (min.min(v), max.max(v));
    }
    let axis = if max > min { Axis::linear(min, max) } else { Axis::linear(min - 0.5, min + 0.5) };
    let mut chart = ChartBuilder::on(area)
        .caption(" ", (FONT, PANEL_TITLE_SIZE))
        .margin(10)
        .x_label_area_size(X_LABEL_AREA)
        .set_label_area_size(LabelAreaPosition::Right, 70)
        .build_cartesian_2d(Axis::linear(0.0, 1.0), axis.clone())?;
    chart.configure_mesh().disable_x_axis().disable_mesh().label_style((FONT, TICK_SIZE)).draw()?;
    const STEPS: usize = 64;
    chart.draw_series((0..STEPS).map(|k| {
        let (a, b) = (k as f64 / STEPS as f64, (k + 1) as f64 / STEPS as f64);
        let y = |t: f64| axis.lo + t * (axis.hi - axis.lo);
        Rectangle::new([(0.0, y(a)), (1.0, y(b))], viridis(y((a + b) / 2.0), min, max.max(min)).filled())
    }))?;
    Ok(())
}
