//! Lines with shaded bands over a shared x axis, one stacked panel per y axis (paper Fig. 2/9:
//! the share of each particle class per epoch; Fig. 3/6: losses above the task metric).

use std::path::Path;

use plotters::prelude::*;

use super::axis::{cartesian, y_label_area, Axis, Chart2d, Labels};
use super::style::{Colour, WIDTH};
use super::{invalid, legend, note, render, titled, DrawResult};
use crate::Result;

/// A named line with an optional band (`lower ≤ y ≤ upper`, both as long as `y`); the analysis
/// chooses what the band means (± sd clipped to the valid range, quantiles, geometric sd).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Fixed colour, or `None` for the next of the palette.
    pub colour: Option<Colour>,
    /// One value per x; non-finite values break the line.
    pub y: Vec<f64>,
    /// Optional band `(lower, upper)`, both as long as `y`.
    pub band: Option<(Vec<f64>, Vec<f64>)>,
}

/// One panel: its own y axis (log or linear, its range fixed or from the data) and its lines.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Panel {
    /// Y axis label, with its unit.
    pub y_label: String,
    /// Logarithmic y axis (non-positive values are left out).
    pub log_y: bool,
    /// A fixed y range, e.g. 0 to 100 for percentages; `None`: from the data.
    pub y_range: Option<(f64, f64)>,
    /// The lines of this panel.
    pub series: Vec<Series>,
}

/// Panels stacked vertically over the x values `x`; only the bottom one names the x axis.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lines {
    /// X axis label (drawn under the bottom panel).
    pub x_label: String,
    /// The x values shared by every series.
    pub x: Vec<f64>,
    /// The panels, top to bottom.
    pub panels: Vec<Panel>,
}

impl Lines {
    pub(crate) fn draw(&self, stem: &Path, title: &str) -> Result<()> {
        for s in self.panels.iter().flat_map(|p| &p.series) {
            let band_ok = s.band.as_ref().is_none_or(|(lo, hi)| lo.len() == s.y.len() && hi.len() == s.y.len());
            if s.y.len() != self.x.len() || !band_ok {
                return Err(invalid(
                    stem,
                    format!(
                        "series `{}` has {} values (or a band of another length) for {} x values",
                        s.name,
                        s.y.len(),
                        self.x.len()
                    ),
                ));
            }
        }
        let height = 110 + 430 * self.panels.len().max(1) as u32;
        render!(stem, (WIDTH, height), |root| {
            let area = titled(root, title)?;
            if self.panels.is_empty() || self.x.is_empty() {
                return note(&area, "no data");
            }
            let x_axis = Axis::of(self.x.iter().copied(), false);
            let y_axes: Vec<Axis> = self.panels.iter().map(y_axis).collect();
            let y_area = y_label_area(&y_axes.iter().collect::<Vec<_>>());
            let areas = area.split_evenly((self.panels.len(), 1));
            for (i, ((panel, y), area)) in self.panels.iter().zip(&y_axes).zip(areas).enumerate() {
                let bottom = i + 1 == self.panels.len();
                let labels = Labels { title: "", x: if bottom { &self.x_label } else { "" }, y: &panel.y_label };
                let mut chart = cartesian(&area, labels, &x_axis, y, y_area)?;
                for (k, series) in panel.series.iter().enumerate() {
                    draw_series(&mut chart, y, &self.x, series, series.colour.unwrap_or(Colour::nth(k)).rgb())?;
                }
                let points = panel.series.iter().flat_map(|s| {
                    let edges = s.band.iter().flat_map(|(lo, hi)| lo.iter().zip(&self.x).chain(hi.iter().zip(&self.x)));
                    s.y.iter().zip(&self.x).chain(edges).map(|(v, x)| (x_axis.fraction(*x), y.fraction(*v)))
                });
                legend::draw(&mut chart, legend::best_corner(points))?;
            }
            Ok(())
        })
    }
}

/// The panel's y axis: its fixed range, or the span of its lines and bands.
fn y_axis(panel: &Panel) -> Axis {
    if let Some((lo, hi)) = panel.y_range {
        // A little room, so that lines at the ends of the range stay visible.
        let pad = 0.02 * (hi - lo);
        return if panel.log_y { Axis::of([lo, hi].into_iter(), true) } else { Axis::linear(lo - pad, hi + pad) };
    }
    let values = panel.series.iter().flat_map(|s| {
        let band = s.band.iter().flat_map(|(lo, hi)| lo.iter().chain(hi));
        s.y.iter().chain(band).copied()
    });
    Axis::of(values, panel.log_y)
}

/// A series' band, then its line on top; points with a non-finite value are left out (on a log
/// axis, also values ≤ 0).
fn draw_series<DB: DrawingBackend>(
    chart: &mut Chart2d<DB>,
    y: &Axis,
    x: &[f64],
    s: &Series,
    colour: RGBColor,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let drawable = |v: f64| v.is_finite() && (!y.log || v > 0.0);
    if let Some((lower, upper)) = &s.band {
        let keep: Vec<usize> =
            (0..x.len()).filter(|&i| x[i].is_finite() && drawable(lower[i]) && drawable(upper[i])).collect();
        let mut outline: Vec<(f64, f64)> = keep.iter().map(|&i| (x[i], y.map(upper[i]))).collect();
        outline.extend(keep.iter().rev().map(|&i| (x[i], y.map(lower[i]))));
        chart.draw_series([Polygon::new(outline, colour.mix(0.22).filled())])?;
    }
    let line = (0..x.len()).filter(|&i| x[i].is_finite() && drawable(s.y[i])).map(|i| (x[i], y.map(s.y[i])));
    chart
        .draw_series(LineSeries::new(line, colour.stroke_width(3)))?
        .label(s.name.clone())
        .legend(legend::swatch(colour));
    Ok(())
}
