//! Line bundles between layers, one panel per group (paper Fig. 11: each particle as a line from
//! its input unit to its output unit, layer −1 being the organism's input, one panel per class).

use std::path::Path;

use plotters::prelude::*;

use super::axis::{cartesian, y_label_area, Axis, Labels};
use super::style::{Colour, WIDTH};
use super::{invalid, note, render, side_by_side, titled};
use crate::Result;

/// A line from unit position `pos_from` ∈ [0, 1] of layer `layer_from` to unit position
/// `pos_to` of layer `layer_to`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Edge {
    /// Layer the edge leaves (x position).
    pub layer_from: i32,
    /// Unit position within that layer, in [0, 1].
    pub pos_from: f64,
    /// Layer the edge enters.
    pub layer_to: i32,
    /// Unit position within that layer, in [0, 1].
    pub pos_to: f64,
}

/// One panel: a titled group of edges in one colour.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Connections {
    /// Panel title.
    pub title: String,
    /// Fixed colour, or `None` for the next of the palette.
    pub colour: Option<Colour>,
    /// The edges drawn.
    pub edges: Vec<Edge>,
}

/// Panels side by side over the same layers; edges are translucent so dense bundles show.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Connectivity {
    /// X axis label (the layers).
    pub x_label: String,
    /// Y axis label (position within a layer).
    pub y_label: String,
    /// The panels, left to right.
    pub panels: Vec<Connections>,
}

impl Connectivity {
    pub(crate) fn draw(&self, stem: &Path, title: &str) -> Result<()> {
        let edges = || self.panels.iter().flat_map(|p| &p.edges);
        if let Some(e) = edges().find(|e| !(e.pos_from.is_finite() && e.pos_to.is_finite())) {
            return Err(invalid(stem, format!("edge {e:?} has a non-finite unit position")));
        }
        let first = edges().flat_map(|e| [e.layer_from, e.layer_to]).min().unwrap_or(0);
        let last = edges().flat_map(|e| [e.layer_from, e.layer_to]).max().unwrap_or(1);
        let layers: Vec<String> = (first..=last).map(|l| l.to_string().replace('-', "−")).collect();
        render!(stem, (WIDTH, 600), |root| {
            let area = titled(root, title)?;
            if self.panels.is_empty() {
                return note(&area, "no data");
            }
            let x_axis = Axis::categories(&layers);
            let y_axis = Axis::linear(-0.02, 1.02);
            for (i, (panel, area)) in self.panels.iter().zip(side_by_side(&area, self.panels.len())).enumerate() {
                let labels =
                    Labels { title: &panel.title, x: &self.x_label, y: if i == 0 { &self.y_label } else { "" } };
                let mut chart = cartesian(&area, labels, &x_axis, &y_axis, y_label_area(&[&y_axis]))?;
                let alpha = (100.0 / panel.edges.len().max(1) as f64).clamp(0.06, 0.7);
                let style = panel.colour.unwrap_or(Colour::nth(i)).rgb().mix(alpha).stroke_width(2);
                chart.draw_series(panel.edges.iter().map(|e| {
                    let from = ((e.layer_from - first) as f64, e.pos_from.clamp(0.0, 1.0));
                    let to = ((e.layer_to - first) as f64, e.pos_to.clamp(0.0, 1.0));
                    PathElement::new(vec![from, to], style)
                }))?;
            }
            Ok(())
        })
    }
}
