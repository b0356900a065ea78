//! A mean with its interval per category, groups side by side, panels side by side (paper
//! Fig. 4/7: per noise level, the mean ± 95 % interval of the self-applications, organism and
//! standalone particles next to each other, one panel per measure).

use std::path::Path;

use plotters::prelude::*;

use super::axis::{cartesian, y_label_area, Axis, Labels};
use super::style::{Colour, WIDTH};
use super::{invalid, legend, note, render, titled};
use crate::Result;

/// A mean and the interval `lo ≤ mean ≤ hi` around it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Interval {
    /// The centre (a mean).
    pub mean: f64,
    /// Lower end of the interval.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
}

/// One group (drawn in one colour): an interval per category, `None` where it has no data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IntervalGroup {
    /// Legend entry.
    pub name: String,
    /// Fixed colour, or `None` for the next of the palette.
    pub colour: Option<Colour>,
    /// One interval per category, `None` where the group has no data.
    pub points: Vec<Option<Interval>>,
}

/// One panel with its y axis.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IntervalPanel {
    /// Panel title.
    pub title: String,
    /// Y axis label, with its unit.
    pub y_label: String,
    /// Logarithmic y axis (intervals must then be positive).
    pub log_y: bool,
    /// The groups, side by side within each category.
    pub groups: Vec<IntervalGroup>,
}

/// Panels side by side over the same categories.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Intervals {
    /// X axis label shared by the panels.
    pub x_label: String,
    /// Category names along x.
    pub categories: Vec<String>,
    /// The panels, left to right.
    pub panels: Vec<IntervalPanel>,
}

impl Intervals {
    pub(crate) fn draw(&self, stem: &Path, title: &str) -> Result<()> {
        let n = self.categories.len();
        if let Some(g) = self.panels.iter().flat_map(|p| &p.groups).find(|g| g.points.len() != n) {
            return Err(invalid(
                stem,
                format!("group `{}` has {} intervals for {n} categories", g.name, g.points.len()),
            ));
        }
        // Up to three panels side by side; more go two to a row, so that every panel keeps
        // room for its title and category names (≈ 600 px for four or five categories).
        let cols = if self.panels.len() > 3 { 2 } else { self.panels.len().max(1) };
        let rows = self.panels.len().div_ceil(cols).max(1);
        render!(stem, (WIDTH, 620 * rows as u32), |root| {
            let area = titled(root, title)?;
            if self.panels.is_empty() || n == 0 {
                return note(&area, "no data");
            }
            let x_axis = Axis::categories(&self.categories);
            for (panel, area) in self.panels.iter().zip(area.split_evenly((rows, cols))) {
                let values =
                    panel.groups.iter().flat_map(|g| g.points.iter().flatten()).flat_map(|p| [p.lo, p.mean, p.hi]);
                let y = Axis::of(values.chain(if panel.log_y { None } else { Some(0.0) }), panel.log_y);
                let labels = Labels { title: &panel.title, x: &self.x_label, y: &panel.y_label };
                let mut chart = cartesian(&area, labels, &x_axis, &y, y_label_area(&[&y]))?;
                let width = 0.7 / panel.groups.len().max(1) as f64;
                let mut placed = Vec::new();
                for (g, group) in panel.groups.iter().enumerate() {
                    let colour = group.colour.unwrap_or(Colour::nth(g)).rgb();
                    let at = |c: usize| c as f64 - 0.35 + (g as f64 + 0.5) * width;
                    let shown: Vec<(f64, Interval)> = group
                        .points
                        .iter()
                        .enumerate()
                        .filter_map(|(c, p)| p.filter(|p| p.mean.is_finite()).map(|p| (at(c), p)))
                        .collect();
                    let whiskers =
                        shown.iter().filter(|(_, p)| p.lo.is_finite() && p.hi.is_finite()).flat_map(|&(x, p)| {
                            let (lo, hi) = (y.map(p.lo), y.map(p.hi));
                            let cap = 0.25 * width;
                            [
                                vec![(x, lo), (x, hi)],
                                vec![(x - cap, lo), (x + cap, lo)],
                                vec![(x - cap, hi), (x + cap, hi)],
                            ]
                        });
                    chart.draw_series(whiskers.map(|points| PathElement::new(points, colour.stroke_width(2))))?;
                    chart.draw_series(LineSeries::new(
                        shown.iter().map(|&(x, p)| (x, y.map(p.mean))),
                        colour.mix(0.5).stroke_width(1),
                    ))?;
                    chart
                        .draw_series(shown.iter().map(|&(x, p)| Circle::new((x, y.map(p.mean)), 5, colour.filled())))?
                        .label(group.name.clone())
                        .legend(legend::swatch(colour));
                    placed.extend(shown.iter().flat_map(|&(x, p)| [(x, p.lo), (x, p.mean), (x, p.hi)]));
                }
                let points = placed.iter().map(|&(x, v)| (x_axis.fraction(x), y.fraction(v)));
                legend::draw(&mut chart, legend::best_corner(points))?;
            }
            Ok(())
        })
    }
}
