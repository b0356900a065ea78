//! Polylines through (PC1, PC2, time) in 3-D, time vertical, one panel per group (paper Fig. 12:
//! PCA-projected weight trajectories per particle class).

use std::path::Path;

use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::Axis;
use super::style::{format_value, Colour, AXIS_LABEL_SIZE, FONT, PANEL_TITLE_SIZE, TICK_SIZE, WIDTH};
use super::{note, render, side_by_side, titled};
use crate::Result;

/// One panel: polylines of `(pc1, pc2, time)` points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrajectoryPanel {
    /// Panel title.
    pub title: String,
    /// The polylines, one per particle or run.
    pub lines: Vec<Vec<(f64, f64, f64)>>,
}

/// Panels side by side. The time axis is drawn on a log(1 + t) scale, so that the early epochs,
/// where the weights move, take most of the height.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trajectories {
    /// Name of the time axis (e.g. epoch).
    pub time_label: String,
    /// The panels, left to right.
    pub panels: Vec<TrajectoryPanel>,
}

impl Trajectories {
    pub(crate) fn draw(&self, stem: &Path, title: &str) -> Result<()> {
        render!(stem, (WIDTH, 760), |root| {
            let area = titled(root, title)?;
            if self.panels.is_empty() {
                return note(&area, "no data");
            }
            for (panel, area) in self.panels.iter().zip(side_by_side(&area, self.panels.len())) {
                let points =
                    || panel.lines.iter().flatten().filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite());
                let pc1 = Axis::of(points().map(|p| p.0), false);
                let pc2 = Axis::of(points().map(|p| p.1), false);
                let last = points().map(|p| p.2).fold(1.0, f64::max);
                let time = time_axis(last);
                let (x_axis, z_axis) = (thin(&pc1), thin(&pc2));
                let mut chart = ChartBuilder::on(&area)
                    .caption(&panel.title, (FONT, PANEL_TITLE_SIZE))
                    .margin(30)
                    .build_cartesian_3d(x_axis.clone(), time.clone(), z_axis.clone())?;
                chart.with_projection(|mut p| {
                    p.yaw = 0.6;
                    p.pitch = 0.35;
                    p.scale = 0.85;
                    p.into_matrix()
                });
                let (x_label, y_label, z_label) =
                    (|v: &f64| x_axis.format_ext(v), |v: &f64| time.format_ext(v), |v: &f64| z_axis.format_ext(v));
                chart
                    .configure_axes()
                    .label_style((FONT, TICK_SIZE))
                    .x_formatter(&x_label)
                    .y_formatter(&y_label)
                    .z_formatter(&z_label)
                    .max_light_lines(1)
                    .light_grid_style(BLACK.mix(0.05))
                    .draw()?;
                let (pc1, time, pc2) = (pc1.lo..pc1.hi, time.lo..time.hi, pc2.lo..pc2.hi);
                // Axis names at the outer corners, pushed (in pixels) clear of the tick labels.
                let name = |text: &str, at, offset: (i32, i32), h| {
                    let style = TextStyle::from((FONT, AXIS_LABEL_SIZE).into_font()).pos(Pos::new(h, VPos::Center));
                    EmptyElement::at(at) + Text::new(text.to_string(), offset, style)
                };
                chart.draw_series([
                    name("PC1", (pc1.end, time.start, pc2.start), (28, 8), HPos::Left),
                    name(&self.time_label, (pc1.start, time.end, pc2.end), (-8, -24), HPos::Right),
                    name("PC2", (pc1.start, time.start, pc2.end), (-12, 30), HPos::Right),
                ])?;
                for (i, line) in panel.lines.iter().enumerate() {
                    let colour = Colour::nth(i).rgb();
                    let points = line.iter().filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite());
                    let xyz = points.map(|&(a, b, t)| (a, (1.0 + t.max(0.0)).log10(), b));
                    chart.draw_series(LineSeries::new(xyz, colour.stroke_width(2)))?;
                }
                if points().next().is_none() {
                    note(&area, "no data")?;
                }
            }
            Ok(())
        })
    }
}

/// The time axis on a log(1 + t) scale from 0 to `last`, ticks at 0, 1, 10, 100, …
fn time_axis(last: f64) -> Axis {
    let hi = (1.0 + last).log10();
    let ticks = [0.0, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5]
        .into_iter()
        .map(|t: f64| ((1.0 + t).log10(), format_value(t)))
        .filter(|(at, _)| *at <= hi)
        .collect();
    Axis { lo: 0.0, hi, log: false, ticks }
}

/// The ticks of a PC axis away from its ends (where the labels of two axes meet at a corner of
/// the 3-D box), every other one when there are many.
fn thin(axis: &Axis) -> Axis {
    let margin = 0.12 * (axis.hi - axis.lo);
    let inner: Vec<(f64, String)> =
        axis.ticks.iter().filter(|t| t.0 > axis.lo + margin && t.0 < axis.hi - margin).cloned().collect();
    let ticks = inner.iter().step_by(if inner.len() > 4 { 2 } else { 1 }).cloned().collect();
    Axis { ticks, ..axis.clone() }
}
