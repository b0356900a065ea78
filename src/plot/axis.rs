//! Axes: a range with labelled ticks (linear, logarithmic, categories, grid cells) and the
//! cartesian chart every 2-D figure is drawn on.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{format_value, power_of_ten, AXIS_LABEL_SIZE, FONT, PANEL_TITLE_SIZE, TICK_SIZE};

/// Space under a 2-D chart for tick labels and the x axis name.
pub const X_LABEL_AREA: u32 = 60;

/// A plotters chart over two [`Axis`] coordinates.
pub type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

/// An axis: its range (in log10 units on a log axis) and its labelled ticks.
#[derive(Clone, Debug)]
pub struct Axis {
    /// Lower end (log10 units on a log axis).
    pub lo: f64,
    /// Upper end (log10 units on a log axis).
    pub hi: f64,
    /// Logarithmic: values are drawn at their log10.
    pub log: bool,
    /// Tick positions (in axis units) and their labels.
    pub ticks: Vec<(f64, String)>,
}

impl Axis {
    /// An axis spanning the finite `values` (the positive ones on a log axis) with a margin;
    /// a linear axis over values ≥ 0 starts at 0 rather than below.
    pub fn of(values: impl Iterator<Item = f64>, log: bool) -> Axis {
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
    pub fn linear(lo: f64, hi: f64) -> Axis {
        let raw = (hi - lo) / 6.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
        let plain = step >= 1e-3 && lo.abs().max(hi.abs()) < 1e5;
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let ticks = ((lo / step).ceil() as i64..=(hi / step).floor() as i64)
            .map(|k| k as f64 * step)
            .map(|t| (t, if plain { format!("{t:.decimals$}").replace('-', "−") } else { format_value(t) }))
            .collect();
        Axis { lo, hi, log: false, ticks }
    }

    /// A log axis from 10^`lo` to 10^`hi`, ticks at (at most nine) powers of ten.
    pub fn logarithmic(lo: i32, hi: i32) -> Axis {
        let stride = ((hi - lo) as usize).div_ceil(8).max(1);
        let ticks = (lo..=hi).step_by(stride).map(|k| (k as f64, power_of_ten(k))).collect();
        Axis { lo: lo as f64, hi: hi as f64, log: true, ticks }
    }

    /// Category `i` at position `i`, labelled with its name.
    pub fn categories(names: &[String]) -> Axis {
        let ticks = names.iter().enumerate().map(|(i, n)| (i as f64, n.clone())).collect();
        Axis { lo: -0.5, hi: names.len().max(1) as f64 - 0.5, log: false, ticks }
    }

    /// `n` grid cells, cell `i` spanning `i..i+1` (`n-1-i..n-i` if `flipped`), about six of
    /// them labelled with their index.
    pub fn cells(n: usize, flipped: bool) -> Axis {
        let stride = n.div_ceil(6).max(1);
        let ticks = (0..n)
            .step_by(stride)
            .map(|i| (if flipped { (n - 1 - i) as f64 + 0.5 } else { i as f64 + 0.5 }, i.to_string()))
            .collect();
        Axis { lo: 0.0, hi: n.max(1) as f64, log: false, ticks }
    }

    /// Where `v` lies on the axis: log10 of it on a log axis, whose values ≤ 0 go to the bottom.
    pub fn map(&self, v: f64) -> f64 {
        match (self.log, v > 0.0) {
            (false, _) => v,
            (true, true) => v.log10(),
            (true, false) => self.lo,
        }
    }

    /// Where `v` lies as a share of the axis, 0 at `lo` and 1 at `hi`.
    pub fn fraction(&self, v: f64) -> f64 {
        (self.map(v) - self.lo) / (self.hi - self.lo)
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

/// Width for y tick labels and the y axis name wide enough for all of `axes` (the same width
/// keeps stacked panels aligned).
pub fn y_label_area(axes: &[&Axis]) -> u32 {
    let ticks = axes.iter().flat_map(|a| &a.ticks);
    let chars = ticks.map(|t| t.1.chars().count()).max().unwrap_or(1) as u32;
    42 + chars * TICK_SIZE * 6 / 10
}

/// Title, x name and y name of one chart panel (empty: none).
#[derive(Clone, Copy, Debug, Default)]
pub struct Labels<'a> {
    /// Panel title.
    pub title: &'a str,
    /// X axis name.
    pub x: &'a str,
    /// Y axis name.
    pub y: &'a str,
}

/// A 2-D chart on `area` with `labels` over the two axes, `y_area` pixels left of it for the
/// y tick labels and name.
pub fn cartesian<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    labels: Labels,
    x: &Axis,
    y: &Axis,
    y_area: u32,
) -> Result<Chart2d<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut builder = ChartBuilder::on(area);
    builder.margin(10).margin_right(25).x_label_area_size(X_LABEL_AREA).y_label_area_size(y_area);
    if !labels.title.is_empty() {
        builder.caption(labels.title, (FONT, PANEL_TITLE_SIZE));
    }
    let mut chart = builder.build_cartesian_2d(x.clone(), y.clone())?;
    chart
        .configure_mesh()
        .x_desc(labels.x)
        .y_desc(labels.y)
        .axis_desc_style((FONT, AXIS_LABEL_SIZE))
        .label_style((FONT, TICK_SIZE))
        .bold_line_style(BLACK.mix(0.1))
        .draw()?;
    Ok(chart)
}
