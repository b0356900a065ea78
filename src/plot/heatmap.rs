//! Grids of square pixels side by side, each with a viridis colour scale and a labelled colour
//! bar (paper Fig. 10: per input pixel, the count of PN_SR, their summed |weight| and the mean
//! test image).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{y_label_area, Axis, X_LABEL_AREA};
use super::style::{AXIS_LABEL_SIZE, FONT, PANEL_TITLE_SIZE, TICK_SIZE};
use super::{invalid, note, render, titled, DrawResult};
use crate::Result;

/// One grid: `rows × cols` values, row-major, row 0 drawn at the top; `unit` names the values
/// on the colour bar.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Heatmap {
    /// Title above the grid.
    pub title: String,
    /// What the values are (the colour bar's label).
    pub unit: String,
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows × cols` values, row-major.
    pub values: Vec<f64>,
}

/// Grids side by side; `x_label`/`y_label` name the columns/rows of every grid.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Heatmaps {
    /// Names the columns of every grid.
    pub x_label: String,
    /// Names the rows of every grid.
    pub y_label: String,
    /// The grids, left to right.
    pub maps: Vec<Heatmap>,
}

/// Side of a grid's square plot area, in pixels.
const SIDE: u32 = 300;
/// Width of a colour bar with its ticks and name.
const BAR: u32 = 115;
const MARGIN: u32 = 10;
const PANEL_TITLE: u32 = 40;

impl Heatmaps {
    pub(crate) fn draw(&self, stem: &Path, title: &str) -> Result<()> {
        if let Some(m) = self.maps.iter().find(|m| m.values.len() != m.rows * m.cols) {
            return Err(invalid(
                stem,
                format!("heatmap `{}` has {} values for {}×{} cells", m.title, m.values.len(), m.rows, m.cols),
            ));
        }
        let y_axes: Vec<Axis> = self.maps.iter().map(|m| Axis::cells(m.rows, true)).collect();
        let y_area = y_label_area(&y_axes.iter().collect::<Vec<_>>());
        // Each grid is SIDE × SIDE pixels whatever its rows and columns: square pixels for
        // square images.
        let panel_width = 2 * MARGIN + y_area + SIDE + BAR;
        let chart_height = 2 * MARGIN + SIDE + X_LABEL_AREA;
        let size = (panel_width * self.maps.len().max(1) as u32, 60 + PANEL_TITLE + chart_height);
        render!(stem, size, |root| {
            let area = titled(root, title)?;
            if self.maps.is_empty() {
                return note(&area, "no data");
            }
            for (k, (map, y_axis)) in self.maps.iter().zip(&y_axes).enumerate() {
                let panel = area
                    .clone()
                    .shrink(((k as u32 * panel_width) as i32, 0), (panel_width, PANEL_TITLE + chart_height));
                let style =
                    TextStyle::from((FONT, PANEL_TITLE_SIZE).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
                panel.draw_text(&map.title, &style, ((panel_width / 2) as i32, (PANEL_TITLE / 2) as i32))?;
                let body = panel.shrink((0, PANEL_TITLE as i32), (panel_width, chart_height));
                let (grid_area, bar_area) = body.split_horizontally(2 * MARGIN + y_area + SIDE);
                let mut chart = ChartBuilder::on(&grid_area)
                    .margin(MARGIN)
                    .x_label_area_size(X_LABEL_AREA)
                    .y_label_area_size(y_area)
                    .build_cartesian_2d(Axis::cells(map.cols, false), y_axis.clone())?;
                chart
                    .configure_mesh()
                    .disable_mesh()
                    .x_desc(&self.x_label)
                    .y_desc(&self.y_label)
                    .axis_desc_style((FONT, AXIS_LABEL_SIZE))
                    .label_style((FONT, TICK_SIZE))
                    .draw()?;
                let finite = || map.values.iter().copied().filter(|v| v.is_finite());
                let (min, max) = (finite().fold(f64::INFINITY, f64::min), finite().fold(f64::NEG_INFINITY, f64::max));
                let cols = map.cols.max(1);
                chart.draw_series(map.values.iter().enumerate().map(|(i, &v)| {
                    let (r, c) = ((i / cols) as f64, (i % cols) as f64);
                    let top = map.rows as f64 - r;
                    let colour = if v.is_finite() { viridis(v, min, max) } else { RGBColor(200, 200, 200) };
                    Rectangle::new([(c, top - 1.0), (c + 1.0, top)], colour.filled())
                }))?;
                if finite().next().is_some() {
                    colour_bar(&bar_area, min, max, &map.unit)?;
                }
            }
            Ok(())
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

/// A vertical viridis colour bar from `min` to `max`, named `unit`, level with the grid beside.
fn colour_bar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, min: f64, max: f64, unit: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let axis = if max > min { Axis::linear(min, max) } else { Axis::linear(min - 0.5, min + 0.5) };
    let mut chart = ChartBuilder::on(area)
        .margin(MARGIN)
        .margin_left(0)
        .x_label_area_size(X_LABEL_AREA)
        .set_label_area_size(LabelAreaPosition::Right, BAR - 40 - MARGIN)
        .build_cartesian_2d(Axis::linear(0.0, 1.0), axis.clone())?;
    chart
        .configure_mesh()
        .disable_x_axis()
        .disable_mesh()
        .y_desc(unit)
        .axis_desc_style((FONT, TICK_SIZE))
        .label_style((FONT, TICK_SIZE))
        .draw()?;
    const STEPS: usize = 64;
    chart.draw_series((0..STEPS).map(|k| {
        let (a, b) = (k as f64 / STEPS as f64, (k + 1) as f64 / STEPS as f64);
        let y = |t: f64| axis.lo + t * (axis.hi - axis.lo);
        Rectangle::new([(0.0, y(a)), (1.0, y(b))], viridis(y((a + b) / 2.0), min, max).filled())
    }))?;
    Ok(())
}
