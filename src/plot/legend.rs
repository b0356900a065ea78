//! Legends inside the plot area, in the corner the data leave emptiest.

use plotters::chart::SeriesLabelPosition;
use plotters::coord::CoordTranslate;
use plotters::prelude::*;

use super::style::{FONT, LEGEND_SIZE};

/// Of nine places in a chart (corners first, then the middles of the sides, then the centre),
/// the first with the fewest of `points` (each given as shares `(x, y)` of the axes, 0 to 1)
/// within a box of 45 % × 35 % of the chart there.
pub fn best_corner(points: impl Iterator<Item = (f64, f64)>) -> SeriesLabelPosition {
    use SeriesLabelPosition::*;
    // (place, x range, y range) of the box a legend there covers.
    let (left, centre, right) = ((0.0, 0.45), (0.275, 0.725), (0.55, 1.0));
    let (low, middle, high) = ((0.0, 0.35), (0.325, 0.675), (0.65, 1.0));
    let places = [
        (UpperRight, right, high),
        (UpperLeft, left, high),
        (LowerRight, right, low),
        (LowerLeft, left, low),
        (MiddleRight, right, middle),
        (MiddleLeft, left, middle),
        (UpperMiddle, centre, high),
        (LowerMiddle, centre, low),
        (MiddleMiddle, centre, middle),
    ];
    let mut counts = [0usize; 9];
    for (x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        for (count, (_, (x0, x1), (y0, y1))) in counts.iter_mut().zip(&places) {
            *count += (*x0 <= x && x <= *x1 && *y0 <= y && y <= *y1) as usize;
        }
    }
    let best = (0..places.len()).min_by_key(|&k| counts[k]).unwrap_or(0);
    places[best].0.clone()
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
