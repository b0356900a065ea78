//! Figures over plain numbers: a [`Figure`] is a chart specification (what to draw, from numbers
//! an analysis computed) and where to write it; [`Figure::draw`] writes `stem.png` and
//! `stem.svg`. This module knows nothing of runs or organisms.
//!
//! One look for all charts ([`style`]): the Okabe–Ito palette, DejaVu Sans (bundled in
//! `assets/`, so no system font is needed) at fixed sizes, legends inside the plot area
//! ([`legend`]). One file per chart kind:
//!
//! | chart | file | paper |
//! |---|---|---|
//! | [`Lines`]: lines with bands, stacked panels | `lines.rs` | Fig. 2/9, 3/6 |
//! | [`Intervals`]: mean and interval per category | `intervals.rs` | Fig. 4/7 |
//! | [`Boxes`]: box plots per category | `boxes.rs` | Fig. 5 |
//! | [`Bars`]: bars with error bars and points | `bars.rs` | Fig. 8 |
//! | [`Heatmaps`]: square-pixel grids with colour bars | `heatmap.rs` | Fig. 10 |
//! | [`Connectivity`]: line bundles between layers | `connectivity.rs` | Fig. 11 |
//! | [`Trajectories`]: 3-D polylines over time | `trajectories.rs` | Fig. 12 |
//!
//! Data that do not fit together (a series shorter than its x values, a grid whose value count
//! is not rows × cols, …) are an [`Error::Invalid`] and nothing is written. Non-finite values
//! are left out of lines and points and shown grey in heatmaps.

pub mod axis;
pub mod bars;
pub mod boxes;
pub mod connectivity;
pub mod heatmap;
pub mod intervals;
pub mod legend;
pub mod lines;
pub mod style;
pub mod trajectories;

pub use bars::{Bar, Bars};
pub use boxes::{BoxGroup, Boxes};
pub use connectivity::{Connections, Connectivity, Edge};
pub use heatmap::{Heatmap, Heatmaps};
pub use intervals::{Interval, IntervalGroup, IntervalPanel, Intervals};
pub use lines::{Lines, Panel, Series};
pub use style::Colour;
pub use trajectories::{Trajectories, TrajectoryPanel};

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use crate::{Error, Result};
use style::{AXIS_LABEL_SIZE, FONT, TITLE_SIZE};

/// One figure: a chart, its title (drawn on top) and caption (for the report, under the
/// figure: what is plotted, over how many, in which units), written to `stem.png`/`stem.svg`.
#[derive(Clone, Debug)]
pub struct Figure {
    /// Output path without extension (`.png` and `.svg` are added).
    pub stem: PathBuf,
    /// Drawn on top of the figure.
    pub title: String,
    /// For the report: what is plotted, over how many, in which units.
    pub caption: String,
    /// What to draw.
    pub chart: Chart,
}

/// The chart kinds.
#[derive(Clone, Debug)]
pub enum Chart {
    /// Curves over a shared x axis.
    Lines(Lines),
    /// Means with intervals per category.
    Intervals(Intervals),
    /// Box plots per category.
    Boxes(Boxes),
    /// Bars with per-seed points.
    Bars(Bars),
    /// Grids of values (e.g. per-pixel counts).
    Heatmaps(Heatmaps),
    /// Edges between layers (Fig. 9/10).
    Connectivity(Connectivity),
    /// Paths in a plane (PCA trajectories, Fig. 12).
    Trajectories(Trajectories),
}

impl Figure {
    /// `stem.png`.
    pub fn png(&self) -> PathBuf {
        with_suffix(&self.stem, "png")
    }

    /// `stem.svg`.
    pub fn svg(&self) -> PathBuf {
        with_suffix(&self.stem, "svg")
    }

    /// Checks the chart's data, then writes `stem.png` and `stem.svg` (creating the directory).
    pub fn draw(&self) -> Result<()> {
        let (stem, title) = (&self.stem, self.title.as_str());
        match &self.chart {
            Chart::Lines(c) => c.draw(stem, title),
            Chart::Intervals(c) => c.draw(stem, title),
            Chart::Boxes(c) => c.draw(stem, title),
            Chart::Bars(c) => c.draw(stem, title),
            Chart::Heatmaps(c) => c.draw(stem, title),
            Chart::Connectivity(c) => c.draw(stem, title),
            Chart::Trajectories(c) => c.draw(stem, title),
        }
    }
}

/// Draws every figure of `figures`.
pub fn draw_all(figures: &[Figure]) -> Result<()> {
    figures.iter().try_for_each(Figure::draw)
}

/// Runs the chart body `|root| { … }` once on a bitmap and once on an SVG backend (a closure
/// cannot be generic over the backend, so the body is expanded for each) and writes both files.
macro_rules! render {
    ($stem:expr, $size:expr, |$root:ident| $body:expr) => {
        $crate::plot::write_both(
                    $stem,
                    $size,
                    |$root: &plotters::drawing::DrawingArea<plotters::prelude::BitMapBackend, plotters::coord::Shift>|
                     -> $crate::plot::DrawResult { $body },
                    |$root: &plotters::drawing::DrawingArea<plotters::prelude::SVGBackend, plotters::coord::Shift>|
                     -> $crate::plot::DrawResult { $body },
                )
    };
}
pub(crate) use render;

pub(crate) type DrawResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

pub(crate) fn write_both(
    stem: &Path,
    size: (u32, u32),
    png: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> DrawResult,
    svg: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> DrawResult,
) -> Result<()> {
    register_bundled_font()?;
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let png_path = with_suffix(stem, "png");
    finish(&BitMapBackend::new(&png_path, size).into_drawing_area(), png).map_err(|e| invalid(&png_path, e))?;
    let svg_path = with_suffix(stem, "svg");
    finish(&SVGBackend::new(&svg_path, size).into_drawing_area(), svg).map_err(|e| invalid(&svg_path, e))?;
    Ok(())
}

fn finish<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    draw: impl FnOnce(&DrawingArea<DB, Shift>) -> DrawResult,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    draw(root)?;
    root.present()?;
    Ok(())
}

/// The figure's title on top; returns the area below it.
pub(crate) fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    root.margin(10, 0, 0, 0).titled(title, (FONT, TITLE_SIZE))
}

/// `area` split into `n` panels side by side; a lone panel keeps the width of one of two.
pub(crate) fn side_by_side<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, n: usize) -> Vec<DrawingArea<DB, Shift>> {
    let side = if n == 1 { style::WIDTH as i32 / 4 } else { 0 };
    area.margin(0, 0, side, side).split_evenly((1, n))
}

/// `text` in the middle of `area` (for a chart without data).
pub(crate) fn note<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, text: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (w, h) = area.dim_in_pixel();
    let style = TextStyle::from((FONT, AXIS_LABEL_SIZE).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text(text, &style, (w as i32 / 2, h as i32 / 2))?;
    Ok(())
}

/// Registers the bundled DejaVu Sans as plotters' "sans-serif" on first use.
fn register_bundled_font() -> Result<()> {
    static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    if *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()) {
        Ok(())
    } else {
        Err(Error::Invalid("the bundled font assets/DejaVuSans.ttf cannot be parsed".into()))
    }
}

/// `dir/name` + `png` → `dir/name.png`, keeping any dots in `name`.
fn with_suffix(stem: &Path, extension: &str) -> PathBuf {
    let mut path = stem.as_os_str().to_owned();
    path.push(".");
    path.push(extension);
    path.into()
}

pub(crate) fn invalid(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{}: {msg}", path.display()))
}

/// A rectangle filled with `colour` at `opacity`, outlined in `colour`.
pub(crate) fn outlined<Coord: Clone>(corners: [Coord; 2], colour: RGBColor, opacity: f64) -> [Rectangle<Coord>; 2] {
    [Rectangle::new(corners.clone(), colour.mix(opacity).filled()), Rectangle::new(corners, colour.stroke_width(2))]
}
