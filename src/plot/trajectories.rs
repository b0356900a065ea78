//! Polylines through (PC1, PC2, time) in 3-D, time vertical, one panel per group (paper Fig. 12:
//! PCA-projected weight trajectories per particle class).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::Axis;
use super::style::{format_value, Colour, AXIS_LABEL_SIZE, FONT, PANEL_TITLE_SIZE, TICK_SIZE, WIDTH};
use super::{note, render, titled};
use crate::Result;

/// One panel: polylines of `(pc1, pc2, time)` points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrajectoryPanel {
    pub title: String,
    pub lines: Vec<Vec<(f64, f64, f64)>>,
}

/// Panels side by side. The time axis is drawn on a log(1 + t) scale, so that the early epochs,
/// where the weights move, take most of the height.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trajectories {
    pub time_label: String,
    pub panels: Vec<TrajectoryPanel>,
}

impl Trajectories {
    pub(crate) fn draw(&self, stem: &Path, title: &str) -> Result<()> {
        render!(stem, (WIDTH, 760), |root| {
            let area = titled(root, title)?;
            if self.panels.is_empty() {
                return note(&area, "no data");
            }
            for (panel, area) in self.panels.iter().zip(area.split_evenly((1, self.panels.len()))) {
                let points =
                    || panel.lines.iter().flatten().filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite());
                let pc1 = Axis::of(points().map(|p| p.0), false).range();
                let pc2 = Axis::of(points().map(|p| p.1), false).range();
                let last = points().map(|p| p.2).fold(1.0, f64::max);
                let time = 0.0..(1.0 + last).log10();
                let mut chart = ChartBuilder::on(&area)
                    .caption(&panel.title, (FONT, PANEL_TITLE_SIZE))
                    .margin(30)
                    .build_cartesian_3d(pc1.clone(), time.clone(), pc2.clone())?;
                chart.with_projection(|mut p| {
                    p.yaw = 0.6;
                    p.pitch = 0.35;
                    p.scale = 0.78;
                    p.into_matrix()
                });
                let tick = |v: &f64| format_value(*v);
                let epoch_tick = |v: &f64| format_value((10f64.powf(*v) - 1.0).round());
                chart
                    .configure_axes()
                    .label_style((FONT, TICK_SIZE))
                    .x_formatter(&tick)
                    .y_formatter(&epoch_tick)
                    .z_formatter(&tick)
                    .x_labels(3)
                    .y_labels(5)
                    .z_labels(3)
                    .max_light_lines(1)
                    .light_grid_style(BLACK.mix(0.05))
                    .draw()?;
                // Axis names at the outer corners, pushed (in pixels) clear of the tick labels.
                let name = |text: &str, at, offset: (i32, i32), h| {
                    let style = TextStyle::from((FONT, AXIS_LABEL_SIZE).into_font()).pos(Pos::new(h, VPos::Center));
                    EmptyElement::at(at) + Text::new(text.to_string(), offset, style)
                };
                chart.draw_series([
                    name("PC1", (pc1.end, time.start, pc2.start), (28, 8), HPos::Left),
                    name(&self.time_label, (pc1.start, time.end, pc2.start), (0, -22), HPos::Center),
                    name("PC2", (pc1.start, time.start, pc2.end), (-30, 8), HPos::Right),
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
