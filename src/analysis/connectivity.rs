//! Connectivity per particle group (paper Fig. 11, SPEC §6), for one run: each particle is a line
//! from its input unit (layer l − 1, layer −1 being the organism's input) to its output unit
//! (layer l), unit positions normalised to [0, 1]; one panel for the PN_SR, one for the PN_F (a
//! group without particles gets a note instead of an empty panel).

use super::kind::Kind;
use super::{class_colour, figure, figure_title, final_classes, run_label, Analysis, Stat};
use crate::fixpoint::Class;
use crate::plot::{Chart, Connections, Connectivity, Edge};
use crate::run::{shown, write_csv, Run};
use crate::{Error, Result};
use serde::Serialize;
use std::path::Path;

#[derive(Serialize, Default)]
struct Row {
    layer: usize,
    cell: usize,
    edge: usize,
    class: &'static str,
}

/// Position of unit `i` of `n` in [0, 1] (a lone unit sits in the middle).
fn position(i: usize, n: usize) -> f64 {
    if n <= 1 {
        0.5
    } else {
        i as f64 / (n - 1) as f64
    }
}

/// Fig. 11 for the first of `runs`; writes `connectivity.csv` and specifies `connectivity.png`/`.svg`.
pub fn analyze(runs: &[Run], out: &Path) -> Result<Analysis> {
    let run = runs.first().ok_or_else(|| Error::Invalid("connectivity: no runs given".into()))?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut a = Analysis { kind: "connectivity".into(), ..Default::default() };
    a.notes.push(format!("drawn for one run: {}", shown(&run.dir).display()));
    if runs.len() > 1 {
        a.notes.push(format!("the other {} runs are not drawn", runs.len() - 1));
    }
    let classes = final_classes(run);
    let layers = run.organism.shape.layers();
    let (mut sr, mut f) = (Vec::new(), Vec::new());
    let mut rows = Vec::with_capacity(classes.len());
    let mut per_layer = vec![(0usize, 0usize); layers.len()];
    for ((l, c, e), class) in run.organism.shape.positions().into_iter().zip(&classes) {
        let (inp, outp) = layers[l];
        let edge = Edge {
            layer_from: l as i32 - 1,
            pos_from: position(e, inp),
            layer_to: l as i32,
            pos_to: position(c, outp),
        };
        let is_sr = *class == Class::SelfReplicator;
        if is_sr {
            sr.push(edge);
            per_layer[l].0 += 1;
        } else {
            f.push(edge);
        }
        per_layer[l].1 += 1;
        rows.push(Row { layer: l, cell: c, edge: e, class: class.name() });
    }
    let csv = out.join("connectivity.csv");
    write_csv(&csv, &rows)?;
    a.csv.push(csv);

    let (n_sr, n_f) = (sr.len(), f.len());
    let mut panels = Vec::new();
    for (name, class, edges) in [("PN_SR", Class::SelfReplicator, sr), ("PN_F", Class::Other, f)] {
        if edges.is_empty() {
            a.notes.push(format!("no {name} in this run: its panel is left out"));
        } else {
            let title = format!("{name} ({})", edges.len());
            panels.push(Connections { title, colour: Some(class_colour(class)), edges });
        }
    }
    let name = run_label(run);
    let title = figure_title(Kind::Connectivity, runs, &format!("Connectivity per particle group ({name})"));
    let caption = format!(
        "Each particle of run {name} as a line from the unit it reads (layer l − 1; layer −1 is the organism's \
         input) to the unit it feeds (layer l), unit positions scaled to 0–1: {n_sr} PN_SR and {n_f} PN_F."
    );
    let chart = Chart::Connectivity(Connectivity {
        x_label: "layer (−1 = input)".into(),
        y_label: "unit position (0–1)".into(),
        panels,
    });
    a.figures.push(figure(out, "connectivity", title, caption, chart));
    for (l, (s, n)) in per_layer.into_iter().enumerate() {
        a.findings.insert(format!("sr_share_layer_{l}"), Stat::of(&[s as f64 / n.max(1) as f64]));
    }
    Ok(a)
}
