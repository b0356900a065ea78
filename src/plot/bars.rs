//! Labelled bars with ± sd error bars, the value written above, and the individual values as
//! points over each bar (paper Fig. 8: the test metric of the whole organism, with PN_SR or PN_F
//! zeroed, after L1 or random pruning; one point per seed).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{cartesian, y_label_area, Axis, Labels};
use super::style::{format_value, Colour, FONT, TICK_SIZE, WIDTH};
use super::{note, outlined, render, titled};
use crate::Result;

/// One bar: its label, height (mean), error bar (± sd) and the values it summarises.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bar {
    /// Label under the bar.
    pub label: String,
    /// Fixed colour, or `None` for the next of the palette.
    pub colour: Option<Colour>,
    /// Bar height: the mean of `points`.
    pub mean: f64,
    /// Error bar half-length: the standard deviation of `points`.
    pub sd: f64,
    /// The values summarised, drawn as dots (e.g. one per seed).
    pub points: Vec<f64>,
}

/// Bars side by side, each with its own label.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bars {
    /// X axis label.
    pub x_label: String,
    /// Y axis label, with its unit.
    pub y_label: String,
    /// The bars, left to right.
    pub bars: Vec<Bar>,
}

impl Bars {
    pub(crate) fn draw(&self, stem: &Path, title: &str) -> Result<()> {
        let labels: Vec<String> = self.bars.iter().map(|b| b.label.clone()).collect();
        render!(stem, (WIDTH, 600), |root| {
            let area = titled(root, title)?;
            if self.bars.is_empty() {
                return note(&area, "no data");
            }
            let x_axis = Axis::categories(&labels);
            let ends: Vec<f64> = self
                .bars
                .iter()
                .flat_map(|b| [b.mean - b.sd.abs(), b.mean + b.sd.abs()].into_iter().chain(b.points.iter().copied()))
                .filter(|v| v.is_finite())
                .collect();
            // Room above the highest bar for its value.
            let top = ends.iter().copied().fold(0.0, f64::max);
            let y = Axis::of(ends.iter().copied().chain([0.0, 1.1 * top]), false);
            let names = Labels { title: "", x: &self.x_label, y: &self.y_label };
            let mut chart = cartesian(&area, names, &x_axis, &y, y_label_area(&[&y]))?;
            let value = TextStyle::from((FONT, TICK_SIZE).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
            for (i, bar) in self.bars.iter().enumerate().filter(|(_, b)| b.mean.is_finite()) {
                let colour = bar.colour.unwrap_or(Colour::nth(i)).rgb();
                let x = i as f64;
                chart.draw_series(outlined([(x - 0.3, 0.0), (x + 0.3, bar.mean)], colour, 0.55))?;
                let sd = if bar.sd.is_finite() { bar.sd.abs() } else { 0.0 };
                let (low, high) = (bar.mean - sd, bar.mean + sd);
                if sd > 0.0 {
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
                // The values, spread evenly across the middle of the bar.
                let k = bar.points.len().max(1) as f64;
                chart.draw_series(bar.points.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(j, &v)| {
                    let dx = if k > 1.0 { -0.15 + 0.3 * j as f64 / (k - 1.0) } else { 0.0 };
                    Circle::new((x + dx, v), 5, ShapeStyle::from(&BLACK).stroke_width(2))
                }))?;
                let above = bar.points.iter().copied().filter(|v| v.is_finite()).fold(high.max(bar.mean), f64::max);
                chart.draw_series([
                    EmptyElement::at((x, above)) + Text::new(format_value(bar.mean), (0, -8), value.clone())
                ])?;
            }
            Ok(())
        })
    }
}
