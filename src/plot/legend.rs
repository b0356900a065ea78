//! Legends inside the plot area, in the corner the data leave emptiest.

use plotters::chart::SeriesLabelPosition;
use plotters::coord::CoordTranslate;
use plotters::prelude::*;

use super::style::{FONT, LEGEND_SIZE};

/// Of the four corners of a chart, the one with the fewest of `points` (each given as shares
/// `(x, y)` of the axes, 0 to 1) within a box of 45 % × 35 % of the chart; ties go to the
/// upper right, upper left, lower right, lower left in that order.
pub fn best_corner(points: impl Iterator<Item = (f64, f64)>) -> SeriesLabelPosition {
    let mut counts = [0usize; 4];
    for (x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        let (left, right, low, high) = (x <= 0.45, x >= 0.55, y <= 0.35, y >= 0.65);
        counts[0] += (right && high) as usize;
        counts[1] += (left && high) as usize;
        counts[2] += (right && low) as usize;
        counts[3] += (left && low) as usize;
    }
    let best = (0..4).min_by_key(|&k| counts[k]).unwrap_or(0);
    [
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::LowerRight,
        SeriesLabelPosition::LowerLeft,
    ][best]
        .clone()
}

/// A filled swatch for a legend entry at `(x, y)`.
pub fn swatch(colour: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 7), (x + 22, y + 7)], colour.mix(0.85).filled())
}

/// Draws the labels of the series drawn on `chart` so far, boxed, at `corner`.
pub fn draw<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    corner: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(corner)
        .margin(12)
        .legend_area_size(30)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.35))
        .label_font((FONT, LEGEND_SIZE))
        .draw()
}
