//! The learned activation functions of an organism's activation particles (issue 13, section
//! 2): each `z ↦ a = PN_act(0,0,0,0,z)` over the range of `z` its cells saw on the test set
//! (`summary.json`'s `activation_particles.z_ranges`). Written into the run directory as
//! `activations.csv` (`particle,z,a`) and `activations_L{l}.png`/`.svg` (one figure per hidden
//! layer).

use crate::organism::{Organism, Per};
use crate::plot::{Chart, Figure, Lines, Panel, Series};
use crate::run::{write_text, Summary};
use crate::Result;
use std::path::Path;

/// File stem of the table; figures are `{STEM}_L{l}` for hidden layer `l`.
pub const STEM: &str = "activations";
/// Points of each curve.
const POINTS: usize = 201;

/// `POINTS` values evenly over `[lo, hi]` (a unit interval around `lo` when the range is one
/// value, `[-1, 1]` when nothing was seen).
fn grid(range: Option<[f32; 2]>) -> Vec<f32> {
    let [lo, hi] = match range {
        Some([lo, hi]) if lo < hi => [lo, hi],
        Some([lo, _]) => [lo - 1.0, lo + 1.0],
        None => [-1.0, 1.0],
    };
    (0..POINTS).map(|i| lo + (hi - lo) * i as f32 / (POINTS - 1) as f32).collect()
}

/// Writes the table of `organism`'s activation particles into `dir`, `activations.csv`
/// (`particle,z,a`, each particle over the range of z it saw), and returns one figure per hidden
/// layer over the range of z its cells saw, for the caller to draw (nothing without them).
pub fn figures(dir: &Path, organism: &Organism, summary: &Summary) -> Result<Vec<Figure>> {
    let Some(act) = &organism.activations else { return Ok(Vec::new()) };
    let ranges = summary.activation_particles.as_ref().map(|a| a.z_ranges.clone()).unwrap_or_default();
    let range = |k: usize| ranges.get(k).copied().flatten();
    let names = act.names();

    let mut csv = String::from("particle,z,a\n");
    for (k, name) in names.iter().enumerate() {
        let zs = grid(range(k));
        for (z, a) in zs.iter().zip(act.curve(k, &zs)) {
            csv.push_str(&format!("{name},{z},{a}\n"));
        }
    }
    write_text(&dir.join(format!("{STEM}.csv")), &csv)?;

    let hidden_layers = organism.shape.depth - 1;
    let per_layer = names.len() / hidden_layers;
    let per = match act.per {
        Per::Layer => "one activation particle per hidden layer",
        Per::Cell => "one activation particle per hidden cell",
    };
    let mut figures = Vec::new();
    for l in 0..hidden_layers {
        let ks = l * per_layer..(l + 1) * per_layer;
        let seen: Vec<[f32; 2]> = ks.clone().filter_map(range).collect();
        let union = seen.iter().copied().reduce(|a, b| [a[0].min(b[0]), a[1].max(b[1])]);
        let zs = grid(union);
        let series = ks
            .clone()
            .map(|k| Series {
                name: names[k].clone(),
                y: act.curve(k, &zs).into_iter().map(f64::from).collect(),
                ..Default::default()
            })
            .collect();
        let span: Vec<String> = ks
            .map(|k| match range(k) {
                Some([a, b]) => format!("{}: [{a:.3}, {b:.3}]", names[k]),
                None => format!("{}: no finite z", names[k]),
            })
            .collect();
        let panel = Panel { y_label: "a = PN_act(0,0,0,0,z)".into(), series, ..Default::default() };
        let figure = Figure {
            stem: dir.join(format!("{STEM}_L{l}")),
            title: format!("Learned activation function of hidden layer {l} ({per})"),
            caption: format!(
                "Each activation particle's z ↦ a over the range of cell sums z its layer saw on the test set after \
                 training (per particle: {}).",
                span.join("; ")
            ),
            chart: Chart::Lines(Lines {
                x_label: "cell sum z".into(),
                x: zs.iter().map(|&z| z as f64).collect(),
                panels: vec![panel],
            }),
        };
        figures.push(figure);
    }
    Ok(figures)
}
