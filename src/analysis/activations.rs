//! The learned activation functions of an organism's activation particles (issue 13, section
//! 2): each `z ↦ a = PN_act(0,0,0,0,z)` over the range of `z` its cells saw on the test set
//! (`summary.json`'s `activation_z_ranges`). Written into the run directory as
//! `activations.csv` (`z`, then one column per activation particle) and
//! `activations.png`/`.svg` (one panel per hidden layer).

use crate::organism::{Organism, Per};
use crate::plot::{Chart, Figure, Lines, Panel, Series};
use crate::run::{write_text, Summary};
use crate::Result;
use std::path::Path;

/// File stem of the figure and the table.
pub const STEM: &str = "activations";
/// Points of each curve.
const POINTS: usize = 201;

/// Writes the figure and table of `organism`'s activation particles into `dir` (nothing
/// without them).
pub fn write(dir: &Path, organism: &Organism, summary: &Summary) -> Result<()> {
    let Some(act) = &organism.activations else { return Ok(()) };
    let ranges = summary.activation_z_ranges.clone().unwrap_or_default();
    let seen = || ranges.iter().flatten();
    let lo = seen().map(|r| r[0]).fold(f32::INFINITY, f32::min);
    let hi = seen().map(|r| r[1]).fold(f32::NEG_INFINITY, f32::max);
    // Nothing seen, or one value: a unit interval around it.
    let (lo, hi) = if lo < hi {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 1.0, lo + 1.0)
    } else {
        (-1.0, 1.0)
    };
    let zs: Vec<f32> = (0..POINTS).map(|i| lo + (hi - lo) * i as f32 / (POINTS - 1) as f32).collect();
    let curves = act.curves(&zs);
    let names = act.names();

    let mut csv = format!("z,{}\n", names.join(","));
    for (i, z) in zs.iter().enumerate() {
        let row: Vec<String> = curves.iter().map(|c| c[i].to_string()).collect();
        csv.push_str(&format!("{z},{}\n", row.join(",")));
    }
    write_text(&dir.join(format!("{STEM}.csv")), &csv)?;

    let hidden_layers = organism.shape.depth - 1;
    let per_layer = curves.len() / hidden_layers;
    let panels = (0..hidden_layers)
        .map(|l| {
            let mut series: Vec<Series> = (l * per_layer..(l + 1) * per_layer)
                .map(|k| Series {
                    name: names[k].clone(),
                    y: curves[k].iter().map(|&a| a as f64).collect(),
                    ..Default::default()
                })
                .collect();
            series.push(Series {
                name: "a = z (reference)".into(),
                y: zs.iter().map(|&z| z as f64).collect(),
                colour: Some(crate::plot::Colour::Grey),
                ..Default::default()
            });
            Panel { y_label: format!("a, hidden layer {l}"), series, ..Default::default() }
        })
        .collect();
    let per = match act.per {
        Per::Layer => "one activation particle per hidden layer",
        Per::Cell => "one activation particle per hidden cell",
    };
    let span: Vec<String> = names
        .iter()
        .zip(&ranges)
        .map(|(n, r)| match r {
            Some([a, b]) => format!("{n}: [{a:.3}, {b:.3}]"),
            None => format!("{n}: none finite"),
        })
        .collect();
    let figure = Figure {
        stem: dir.join(STEM),
        title: format!("Learned activation functions ({per})"),
        caption: format!(
            "Each activation particle's z ↦ a = PN_act(0,0,0,0,z) over the range of cell sums z seen on the test \
             set after training ({}); grey: the identity.",
            span.join("; ")
        ),
        chart: Chart::Lines(Lines { x_label: "cell sum z".into(), x: zs.iter().map(|&z| z as f64).collect(), panels }),
    };
    figure.draw()
}
