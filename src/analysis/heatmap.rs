//! Where the PN_SR sit in the first layer (paper Fig. 10, SPEC §6): per input pixel, the number of
//! PN_SR over the layer's cells, their summed |extracted weight|, and the mean test image.
//!
//! The first layer's particle `(0, c, e)` reads pixel `e = row · side + col`. Counts and sums are
//! averaged over runs. The paper's reading is that PN_SR gather on the empty border of the images:
//! `border_correlation` (Pearson, count map vs mean image, per run; expected negative) and
//! `border_share` (share of PN_SR on pixels whose mean is below [`EMPTY`]) against
//! `empty_pixel_share` (the share of such pixels) measure it.

use super::kind::Kind;
use super::{figure, figure_title, final_classes, require_image_task, Analysis, Stat, TestSets};
use crate::fixpoint::Class;
use crate::plot::{Chart, Heatmap, Heatmaps};
use crate::run::{shown, write_csv, Run};
use crate::{Error, Result};
use serde::Serialize;
use std::path::Path;

/// A pixel whose mean test value is below this is "empty".
pub const EMPTY: f64 = 0.01;

#[derive(Serialize, Default)]
struct Row {
    pixel: usize,
    row: usize,
    col: usize,
    sr_count: f64,
    sr_abs_weight: f64,
    mean_image: f64,
}

/// Pearson correlation; `None` when either side is constant (or too short).
fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len() as f64;
    if a.len() < 2 {
        return None;
    }
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    let r = sab / (saa * sbb).sqrt();
    (saa > 0.0 && sbb > 0.0 && r.is_finite()).then_some(r)
}

/// Per-pixel mean of `x` (`B × pixels`).
fn mean_image(x: &[f32], pixels: usize) -> Vec<f64> {
    let mut m = vec![0.0; pixels];
    let b = x.len() / pixels;
    for image in x.chunks(pixels) {
        m.iter_mut().zip(image).for_each(|(s, &v)| *s += v as f64);
    }
    m.iter_mut().for_each(|s| *s /= b.max(1) as f64);
    m
}

/// Fig. 10 over `runs` (image tasks only); writes `heatmap.csv` and specifies `heatmap.png`/`.svg`.
pub fn analyze(runs: &[Run], tests: &TestSets, out: &Path) -> Result<Analysis> {
    if runs.is_empty() {
        return Err(Error::Invalid("heatmap: no runs given".into()));
    }
    require_image_task(runs, "heatmap")?;
    let pixels = runs[0].organism.shape.inputs;
    let side = (pixels as f64).sqrt().round() as usize;
    if let Some(r) = runs.iter().find(|r| r.organism.shape.inputs != pixels) {
        return Err(Error::Invalid(format!(
            "{}: {} inputs where the first run has {pixels}; heatmaps need one image size",
            shown(&r.dir).display(),
            r.organism.shape.inputs
        )));
    }
    if side * side != pixels {
        return Err(Error::Invalid(format!(
            "{}: {pixels} inputs are not a square image",
            shown(&runs[0].dir).display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut a = Analysis { kind: "heatmap".into(), ..Default::default() };
    let (mut count, mut weight, mut image) = (vec![0.0; pixels], vec![0.0; pixels], vec![0.0; pixels]);
    let (mut corr, mut border, mut empty_share) = (Vec::new(), Vec::new(), Vec::new());
    for run in runs {
        let classes = final_classes(run);
        let extracted = run.organism.extracted_weights();
        let width = run.organism.shape.layers()[0].1;
        let (mut c_run, mut w_run) = (vec![0.0; pixels], vec![0.0; pixels]);
        // Layer 0 comes first in storage order: particle c · pixels + e.
        for i in 0..width * pixels {
            if classes[i] == Class::SelfReplicator {
                c_run[i % pixels] += 1.0;
                w_run[i % pixels] += extracted[i].abs() as f64;
            }
        }
        let test = tests.get(run)?;
        let m = mean_image(&test.x, pixels);
        count.iter_mut().zip(&c_run).for_each(|(s, v)| *s += v / runs.len() as f64);
        weight.iter_mut().zip(&w_run).for_each(|(s, v)| *s += v / runs.len() as f64);
        image.iter_mut().zip(&m).for_each(|(s, v)| *s += v / runs.len() as f64);
        match pearson(&c_run, &m) {
            Some(r) => corr.push(r),
            None => a.notes.push(format!(
                "{}: the PN_SR count map is constant ({} per pixel), so it has no correlation; left out of border_correlation",
                shown(&run.dir).display(),
                c_run[0]
            )),
        }
        let empty: Vec<bool> = m.iter().map(|&v| v < EMPTY).collect();
        let total: f64 = c_run.iter().sum();
        if total > 0.0 {
            border.push(c_run.iter().zip(&empty).filter(|(_, &e)| e).map(|(c, _)| c).sum::<f64>() / total);
        } else {
            a.notes
                .push(format!("{}: no PN_SR in the first layer; left out of border_share", shown(&run.dir).display()));
        }
        empty_share.push(empty.iter().filter(|&&e| e).count() as f64 / pixels as f64);
    }

    let rows: Vec<Row> = (0..pixels)
        .map(|p| Row {
            pixel: p,
            row: p / side,
            col: p % side,
            sr_count: count[p],
            sr_abs_weight: weight[p],
            mean_image: image[p],
        })
        .collect();
    let csv = out.join("heatmap.csv");
    write_csv(&csv, &rows)?;
    a.csv.push(csv);

    let n = runs.len();
    let over = if n == 1 { String::new() } else { format!(", mean over {n} runs") };
    // A constant map's colour scale means nothing: say so in its title.
    let none = if count.iter().all(|&c| c == 0.0) { " (no PN_SR)" } else { "" };
    let width = runs[0].organism.shape.layers()[0].1;
    let map = |title: String, unit: &str, values| Heatmap { title, unit: unit.into(), rows: side, cols: side, values };
    let maps = vec![
        map(format!("(a) PN_SR count{none}"), &format!("PN_SR per pixel (of {width})"), count),
        map(format!("(b) Σ |weight| of PN_SR{none}"), "Σ |extracted weight|", weight),
        map("(c) mean test image".into(), "mean pixel value", image),
    ];
    let title = figure_title(Kind::Heatmap, runs, &format!("First-layer PN_SR per input pixel{over}"));
    let caption = format!(
        "Per input pixel of the {side}×{side} image: (a) how many of the {width} first-layer particles reading it \
         are PN_SR, (b) the sum of their |extracted weight|, (c) the mean test image (pixel values 0–1); \
         averaged over {n} run{}.",
        if n == 1 { "" } else { "s" }
    );
    let chart = Chart::Heatmaps(Heatmaps { x_label: "pixel column".into(), y_label: "pixel row".into(), maps });
    a.figures.push(figure(out, "heatmap", title, caption, chart));

    a.record("border_correlation", corr);
    a.findings.insert("border_share".into(), Stat::of(&border));
    a.findings.insert("empty_pixel_share".into(), Stat::of(&empty_share));
    a.notes.push(format!(
        "border_correlation: Pearson r of the PN_SR count map and the mean test image per run (the paper's \
         reading predicts r < 0); border_share: share of first-layer PN_SR on pixels with mean < {EMPTY}, \
         to compare with empty_pixel_share"
    ));
    Ok(a)
}
