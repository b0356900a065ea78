//! Box plots per category, groups side by side, with a note over each category (paper Fig. 5:
//! per seed, the non-zero re-substitution errors, and how many were exactly zero).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{cartesian, y_label_area, Axis, Labels};
use super::style::{Colour, FONT, TICK_SIZE, WIDTH};
use super::{invalid, legend, note, outlined, render, titled};
use crate::Result;

/// One group of boxes: a name and one sample set per category.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BoxGroup {
    /// Legend entry.
    pub name: String,
    /// Fixed colour, or `None` for the next of the palette.
    pub colour: Option<Colour>,
    /// One sample set per category.
    pub samples: Vec<Vec<f64>>,
}

/// Boxes span the quartiles with the median marked, whiskers reach the furthest sample within
/// 1.5 IQR, samples beyond are dots. On a log axis, samples ≤ 0 cannot be drawn and are left
/// out: say how many in `notes`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Boxes {
    /// X axis label.
    pub x_label: String,
    /// Y axis label, with its unit.
    pub y_label: String,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Category names along x.
    pub categories: Vec<String>,
    /// The groups, side by side within each category.
    pub groups: Vec<BoxGroup>,
    /// Per category (or empty), a short text written above its boxes.
    pub notes: Vec<String>,
}

impl Boxes {
    pub(crate) fn draw(&self, stem: &Path, title: &str) -> Result<()> {
        let n = self.categories.len();
        if let Some(g) = self.groups.iter().find(|g| g.samples.len() != n) {
            return Err(invalid(
                stem,
                format!("box group `{}` has {} sample sets for {n} categories", g.name, g.samples.len()),
            ));
        }
        if !(self.notes.is_empty() || self.notes.len() == n) {
            return Err(invalid(stem, format!("{} notes for {n} categories", self.notes.len())));
        }
        render!(stem, (WIDTH, 620), |root| {
            let area = titled(root, title)?;
            let drawable = |v: &f64| v.is_finite() && (!self.log_y || *v > 0.0);
            let all = || self.groups.iter().flat_map(|g| g.samples.iter().flatten().copied()).filter(drawable);
            if all().next().is_none() {
                return note(&area, "no data");
            }
            let x_axis = Axis::categories(&self.categories);
            let y = Axis::of(all(), self.log_y);
            // Head room for the notes.
            let y = if self.log_y {
                Axis::logarithmic(y.lo as i32, y.hi as i32 + 1)
            } else {
                Axis::of(all().chain([y.hi * 1.12]), false)
            };
            let labels = Labels { title: "", x: &self.x_label, y: &self.y_label };
            let mut chart = cartesian(&area, labels, &x_axis, &y, y_label_area(&[&y]))?;
            let width = 0.7 / self.groups.len().max(1) as f64;
            for (g, group) in self.groups.iter().enumerate() {
                let colour = group.colour.unwrap_or(Colour::nth(g)).rgb();
                for (c, samples) in group.samples.iter().enumerate() {
                    // Quartiles and fences on the axis' scale (log10 on a log axis).
                    let kept: Vec<f64> = samples.iter().copied().filter(drawable).map(|v| y.map(v)).collect();
                    let Some(stats) = BoxStats::of(&kept) else { continue };
                    let centre = c as f64 - 0.35 + (g as f64 + 0.5) * width;
                    let (left, right) = (centre - 0.4 * width, centre + 0.4 * width);
                    let m = |v: f64| v;
                    let boxes =
                        chart.draw_series(outlined([(left, m(stats.q1)), (right, m(stats.q3))], colour, 0.35))?;
                    if c == 0 {
                        boxes.label(group.name.clone()).legend(legend::swatch(colour));
                    }
                    chart.draw_series(
                        [
                            vec![(left, m(stats.median)), (right, m(stats.median))],
                            vec![(centre, m(stats.q3)), (centre, m(stats.high))],
                            vec![(centre, m(stats.q1)), (centre, m(stats.low))],
                        ]
                        .into_iter()
                        .map(|points| PathElement::new(points, BLACK.stroke_width(2))),
                    )?;
                    chart.draw_series(
                        stats.outliers.iter().map(|&v| Circle::new((centre, m(v)), 3, colour.stroke_width(1))),
                    )?;
                }
            }
            let text = TextStyle::from((FONT, TICK_SIZE).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
            chart.draw_series(
                self.notes
                    .iter()
                    .enumerate()
                    .map(|(c, t)| EmptyElement::at((c as f64, y.hi)) + Text::new(t.clone(), (0, 6), text.clone())),
            )?;
            if self.groups.len() > 1 {
                legend::draw(&mut chart, plotters::chart::SeriesLabelPosition::LowerRight)?;
            }
            Ok(())
        })
    }
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
    /// `None` if there is no sample.
    fn of(samples: &[f64]) -> Option<BoxStats> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return None;
        }
        let quantile = |p: f64| {
            let at = p * (sorted.len() - 1) as f64;
            let (i, frac) = (at.floor() as usize, at.fract());
            sorted[i] + frac * (sorted[(i + 1).min(sorted.len() - 1)] - sorted[i])
        };
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
