//! Specialist dropout (paper Fig. 8, SPEC §6): the test metric of every run's organism whole,
//! with all PN_SR (final class `self_replicator`) zeroed, with all PN_F (every other particle)
//! zeroed, and after pruning as many extracted weights as there are PN_SR from the dense network,
//! globally by smallest magnitude (L1) or at random.
//!
//! Zeroing a particle sets all its weights to 0, so its extracted weight (and, for linear PNs, its
//! whole contribution) is 0; the organism is then evaluated as in training. Pruning works on the
//! dense network of extracted weights (paper §IV-B), which equals the organism for linear PNs.

use super::kind::Kind;
use super::{describe, figure, figure_title, final_classes, Analysis, Stat, TestSets};
use crate::fixpoint::{self_replicators, Class};
use crate::organism::{metric, Dense, Organism, Targets};
use crate::plot::{Bar, Bars, Chart, Colour};
use crate::run::{shown, write_csv, Run};
use crate::task::Samples;
use crate::train::evaluate;
use crate::{Error, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The variants, in CSV and figure order: `(csv name, bar label, colour)`.
const VARIANTS: [(&str, &str, Colour); 5] = [
    ("whole", "whole organism", Colour::Grey),
    ("drop_sr", "PN_SR dropped", Colour::Orange),
    ("drop_f", "PN_F dropped", Colour::Blue),
    ("l1", "L1 pruning", Colour::Green),
    ("random", "random pruning", Colour::Purple),
];

#[derive(Serialize, Default)]
struct Row {
    seed: u64,
    variant: &'static str,
    n_zeroed: usize,
    metric: f64,
}

/// A run's organism with the particles `which` set to zero.
fn without(run: &Run, which: &[usize]) -> Organism {
    let mut organism = run.organism.clone();
    let p = organism.particles.shape().n_weights();
    let w = organism.particles.weights_mut();
    for &i in which {
        w[i * p..(i + 1) * p].fill(0.0);
    }
    organism
}

/// Number of distinct classes `organism` predicts (argmax of its outputs) on `test`.
fn distinct_predictions(organism: &Organism, test: &Samples) -> usize {
    let q = organism.shape.outputs;
    let y = organism.forward(&test.x, organism.default_path());
    let mut seen = vec![false; q];
    for row in y.chunks_exact(q) {
        let best = (0..q).fold(0, |b, k| if row[k] > row[b] { k } else { b });
        seen[best] = true;
    }
    seen.iter().filter(|&&s| s).count()
}

/// Share of the most frequent class among the test labels (0 for a regression task).
fn majority_share(test: &Samples) -> f64 {
    match Targets::from(&test.y) {
        Targets::Classes(labels) => {
            let mut counts = [0usize; 256];
            labels.iter().for_each(|&l| counts[usize::from(l)] += 1);
            *counts.iter().max().unwrap() as f64 / labels.len().max(1) as f64
        }
        Targets::Values(_) => 0.0,
    }
}

/// The dense network of `weights` on `test`.
fn dense_metric(run: &Run, weights: &[f32], test: &Samples) -> f64 {
    let shape = &run.organism.shape;
    let y = Dense::new(shape, weights).with_activations(run.organism.activations.as_ref()).forward(&test.x);
    metric(&y, shape.outputs, (&test.y).into()) as f64
}

/// Indices of the `k` smallest |w| (NaN counts as largest; ties by index).
fn smallest(weights: &[f32], k: usize) -> Vec<usize> {
    let key = |i: usize| if weights[i].is_nan() { f32::INFINITY } else { weights[i].abs() };
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
    order.truncate(k);
    order
}

fn zeroed(weights: &[f32], which: &[usize]) -> Vec<f32> {
    let mut w = weights.to_vec();
    for &i in which {
        w[i] = 0.0;
    }
    w
}

/// Fig. 8 over `runs`; writes `dropout.csv` into `out` and specifies `dropout.png`/`.svg`, unless
/// every particle of every run is a PN_SR (then the variants are degenerate: a note, no figure).
pub fn analyze(runs: &[Run], tests: &TestSets, out: &Path) -> Result<Analysis> {
    if runs.is_empty() {
        return Err(Error::Invalid("dropout: no runs given".into()));
    }
    super::require_summing_cells(runs, "dropout")?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut a = Analysis { kind: "dropout".into(), ..Default::default() };
    let metric_name = runs[0].config.task.metric_name();
    if let Some(r) = runs.iter().find(|r| r.config.task.metric_name() != metric_name) {
        return Err(Error::Invalid(format!(
            "{}: the dropout analysis compares runs of one task; this run measures {} where the first measures {}",
            shown(&r.dir).display(),
            r.config.task.metric_name(),
            metric_name
        )));
    }
    let mut rows = Vec::new();
    let mut per_variant: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let (mut delta_sr, mut delta_l1, mut share) = (Vec::new(), Vec::new(), Vec::new());
    let (mut distinct_f, mut majority) = (Vec::new(), Vec::new());
    for run in runs {
        let test = tests.get(run)?;
        let classes = final_classes(run);
        let sr = self_replicators(&classes);
        let f: Vec<usize> = (0..classes.len()).filter(|&i| classes[i] != Class::SelfReplicator).collect();
        let n = classes.len();
        let k = sr.len();
        if k == 0 {
            a.notes.push(format!(
                "{}: no PN_SR, so dropping them and pruning 0 weights leaves the organism whole",
                shown(&run.dir).display()
            ));
        }
        if !run.organism.particles.shape().activation().is_identity() {
            a.notes.push(format!(
                "{}: non-linear PNs; pruning acts on the dense network of extracted weights, an approximation",
                shown(&run.dir).display()
            ));
        }
        let extracted = run.organism.extracted_weights();
        let whole = evaluate(&run.organism, &test) as f64;
        let drop_sr = if k == 0 { whole } else { evaluate(&without(run, &sr), &test) as f64 };
        let f_dropped = without(run, &f);
        let drop_f = evaluate(&f_dropped, &test) as f64;
        if run.config.task.dataset().is_some() {
            distinct_f.push(distinct_predictions(&f_dropped, &test) as f64);
            majority.push(majority_share(&test));
        }
        let l1 = dense_metric(run, &zeroed(&extracted, &smallest(&extracted, k)), &test);
        let mut rng = ChaCha8Rng::seed_from_u64(run.config.seed);
        let random_idx = rand::seq::index::sample(&mut rng, n, k).into_vec();
        let random = dense_metric(run, &zeroed(&extracted, &random_idx), &test);
        for ((variant, _, _), (value, zeroed)) in
            VARIANTS.iter().zip([(whole, 0), (drop_sr, k), (drop_f, f.len()), (l1, k), (random, k)])
        {
            rows.push(Row { seed: run.config.seed, variant, n_zeroed: zeroed, metric: value });
            per_variant.entry(variant).or_default().push(value);
        }
        delta_sr.push(whole - drop_sr);
        delta_l1.push(whole - l1);
        share.push(k as f64 / n as f64);
    }
    let csv = out.join("dropout.csv");
    write_csv(&csv, &rows)?;
    a.csv.push(csv);

    let share_stat = Stat::of(&share);
    if share.iter().all(|&s| s == 1.0) {
        a.notes.push(
            "no figure: every particle is a PN_SR, so dropping PN_SR and pruning as many weights zero the whole \
             organism and there are no PN_F to drop"
                .into(),
        );
    } else {
        let bars = VARIANTS
            .iter()
            .map(|(v, label, colour)| {
                let s = Stat::of(&per_variant[v]);
                let points = per_variant[v].clone();
                Bar { label: label.to_string(), colour: Some(*colour), mean: s.mean, sd: s.sd, points }
            })
            .collect();
        let unit = if metric_name == "accuracy" { "accuracy" } else { "MAE" };
        let chart = Chart::Bars(Bars { x_label: String::new(), y_label: format!("test {unit} (mean ± sd)"), bars });
        let title = figure_title(
            Kind::Dropout,
            runs,
            &format!(
                "Specialist dropout vs pruning ({}): {:.1} % of weights zeroed",
                describe(runs),
                100.0 * share_stat.mean
            ),
        );
        let n = runs.len();
        let caption = format!(
            "Test {unit} of the whole organism, with every PN_SR or every PN_F zeroed, and of its dense network \
             with as many weights as there are PN_SR pruned by smallest magnitude (L1) or at random; bars: mean \
             ± sd over {n} run{}, dots: one per run.",
            if n == 1 { "" } else { "s" }
        );
        a.figures.push(figure(out, "dropout", title, caption, chart));
    }

    for (v, _, _) in VARIANTS {
        a.record(&format!("metric_{v}"), per_variant.remove(v).unwrap_or_default());
    }
    a.record("delta_drop_sr", delta_sr);
    a.record("delta_l1", delta_l1);
    a.record("share_pruned", share);
    if !distinct_f.is_empty() {
        a.record("drop_f_distinct_predictions", distinct_f);
        a.record("majority_class_share", majority);
    }
    a.notes.push(format!(
        "metric = test {metric_name}; deltas are whole − variant per run{}",
        if metric_name == "mae" { " (negative: the variant is worse)" } else { " (positive: the variant is worse)" }
    ));
    a.notes.push("random pruning draws its weights with ChaCha8 seeded by the run's seed".into());
    Ok(a)
}
