//! The learned cell aggregators of an organism's aggregator particles (issue 13, section 2;
//! docs/aggregators.md): does the fold compute a sum? For every layer, each cell's value (the
//! fold of its aggregator over its edges) against the plain sum `Σ_e y_e` of the same edge
//! values (SPEC §2), on the run's test inputs ([`crate::organism::Organism::aggregated_cells`]).
//!
//! A sum would lie on `fold = sum`; a scaled sum plus a bias on a straight line; a fold that
//! depends on more than the sum (the edges' order or positions, their values one by one) spreads
//! around its mean. The pairs of a layer (every test sample × cell) are binned by their sum
//! ([`BINS`] equal bins over the range seen): the figure draws the mean fold per bin with the
//! band from the smallest to the largest, and the least-squares line `fold ≈ a·sum + b`; its
//! `R²` is the share of the fold's variance a function affine in the sum explains. Written as
//! `aggregators.csv` (one row per layer: the fit and the ranges) and `aggregators_L{l}.png/.svg`.

use crate::organism::{Organism, Per};
use crate::plot::{Chart, Figure, Lines, Panel, Series};
use crate::run::write_text;
use crate::Result;
use std::path::Path;

/// File stem of the table; figures are `{STEM}_L{l}` for layer `l`.
pub const STEM: &str = "aggregators";
/// Bins of the sum axis.
pub const BINS: usize = 40;

/// The least-squares line `fold ≈ slope·sum + intercept` of a layer's pairs and its `R²`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// Pairs with both values finite.
    pub n: usize,
    /// `a` of `a·sum + b`.
    pub slope: f64,
    /// `b` of `a·sum + b`.
    pub intercept: f64,
    /// Share of the fold's variance explained by the line (NaN when the fold or the sum is
    /// constant).
    pub r2: f64,
}

impl Fit {
    /// The least-squares fit of `fold` on `sum` over the pairs with both values finite.
    pub fn of(sum: &[f32], fold: &[f32]) -> Fit {
        let pairs: Vec<(f64, f64)> = sum
            .iter()
            .zip(fold)
            .map(|(&s, &f)| (s as f64, f as f64))
            .filter(|(s, f)| s.is_finite() && f.is_finite())
            .collect();
        let n = pairs.len();
        let mean = |f: fn(&(f64, f64)) -> f64| pairs.iter().map(f).sum::<f64>() / n as f64;
        let (ms, mf) = (mean(|p| p.0), mean(|p| p.1));
        let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
        for (s, f) in &pairs {
            sxx += (s - ms) * (s - ms);
            sxy += (s - ms) * (f - mf);
            syy += (f - mf) * (f - mf);
        }
        let slope = sxy / sxx;
        Fit { n, slope, intercept: mf - slope * ms, r2: sxy * sxy / (sxx * syy) }
    }
}

/// `fold` in [`BINS`] equal bins of `sum` over its finite range (NaN in empty bins).
struct Bins {
    centres: Vec<f64>,
    mean: Vec<f64>,
    min: Vec<f64>,
    max: Vec<f64>,
}

/// The [`Bins`] of the pairs `(sum, fold)`; `None` without a finite pair.
fn binned(sum: &[f32], fold: &[f32]) -> Option<Bins> {
    let pairs = sum.iter().zip(fold).filter(|(s, f)| s.is_finite() && f.is_finite());
    let (lo, hi) = pairs
        .clone()
        .fold(None, |r: Option<(f32, f32)>, (&s, _)| Some(r.map_or((s, s), |(lo, hi)| (lo.min(s), hi.max(s)))))?;
    let (lo, hi) = (lo as f64, hi as f64);
    let width = if hi > lo { (hi - lo) / BINS as f64 } else { 1.0 };
    let (mut total, mut count) = (vec![0.0; BINS], vec![0usize; BINS]);
    let (mut min, mut max) = (vec![f64::INFINITY; BINS], vec![f64::NEG_INFINITY; BINS]);
    for (&s, &f) in pairs {
        let b = (((s as f64 - lo) / width) as usize).min(BINS - 1);
        total[b] += f as f64;
        count[b] += 1;
        min[b] = min[b].min(f as f64);
        max[b] = max[b].max(f as f64);
    }
    let empty = |v: f64, b: usize| if count[b] > 0 { v } else { f64::NAN };
    let centres = (0..BINS).map(|b| lo + (b as f64 + 0.5) * width).collect();
    let mean = (0..BINS).map(|b| empty(total[b] / count[b].max(1) as f64, b)).collect();
    let min = min.iter().enumerate().map(|(b, &v)| empty(v, b)).collect();
    let max = max.iter().enumerate().map(|(b, &v)| empty(v, b)).collect();
    Some(Bins { centres, mean, min, max })
}

/// Writes `aggregators.csv` (`layer,n,slope,intercept,r2,sum_min,sum_max,fold_min,fold_max`)
/// of `organism`'s aggregator particles on the test inputs `x` into `dir`, and returns one
/// figure per layer for the caller to draw (nothing without aggregator particles).
pub fn figures(dir: &Path, organism: &Organism, x: &[f32]) -> Result<Vec<Figure>> {
    let (Some(agg), Some(layers)) = (&organism.aggregators, organism.aggregated_cells(x)) else {
        return Ok(Vec::new());
    };
    let per = match agg.per {
        Per::Layer => "one aggregator particle per layer",
        Per::Cell => "one aggregator particle per cell",
    };
    let samples = x.len() / organism.shape.inputs;
    let mut csv = String::from("layer,n,slope,intercept,r2,sum_min,sum_max,fold_min,fold_max\n");
    let mut figures = Vec::new();
    for (l, (sum, fold)) in layers.iter().enumerate() {
        let fit = Fit::of(sum, fold);
        let range =
            |v: &[f32]| v.iter().filter(|v| v.is_finite()).fold([f32::NAN; 2], |[lo, hi], &v| [v.min(lo), v.max(hi)]);
        let ([s0, s1], [f0, f1]) = (range(sum), range(fold));
        csv.push_str(&format!("{l},{},{},{},{},{s0},{s1},{f0},{f1}\n", fit.n, fit.slope, fit.intercept, fit.r2));
        let Some(Bins { centres: x, mean, min, max }) = binned(sum, fold) else { continue };
        let line = x.iter().map(|s| fit.slope * s + fit.intercept).collect();
        let series = vec![
            Series {
                name: "fold: mean per bin (band: min–max)".into(),
                y: mean,
                band: Some((min, max)),
                ..Default::default()
            },
            Series {
                name: format!("least squares {:.3}·sum {:+.3}, R² = {:.3}", fit.slope, fit.intercept, fit.r2),
                y: line,
                ..Default::default()
            },
        ];
        let cells = sum.len() / samples.max(1);
        figures.push(Figure {
            stem: dir.join(format!("{STEM}_L{l}")),
            title: format!("Learned aggregator of layer {l} ({per}): fold against the plain sum"),
            caption: format!(
                "Each cell's value (its aggregator's fold over the edges) against the plain sum of the same \
                 edge values, for {samples} test samples × {cells} cells of layer {l} ({} finite pairs), in {BINS} \
                 bins of the sum: mean fold per bin, band from its smallest to its largest. A sum is the line \
                 fold = sum; the least-squares line is fold ≈ {:.4}·sum {:+.4} with R² = {:.4} (the share of the \
                 fold's variance that a function affine in the sum explains). Sums seen: [{s0:.3}, {s1:.3}]; \
                 folds: [{f0:.3}, {f1:.3}].",
                fit.n, fit.slope, fit.intercept, fit.r2
            ),
            chart: Chart::Lines(Lines {
                x_label: "plain sum Σ_e y_e".into(),
                x,
                panels: vec![Panel { y_label: "cell value (fold)".into(), series, ..Default::default() }],
            }),
        });
    }
    write_text(&dir.join(format!("{STEM}.csv")), &csv)?;
    Ok(figures)
}
