//! PCA-projected weight trajectories (paper Fig. 12, SPEC §6), for one run: per layer, every
//! particle's weight vector at every kept epoch is projected onto two principal components fitted
//! on all of that layer's points (all groups, all epochs: the paper's "shared PCA space"), and
//! drawn against epoch, one panel per group (PN_SR / PN_F by final class).

use super::kind::Kind;
use super::{evenly, figure, figure_title, final_classes, run_label, Analysis, Stat};
use crate::fixpoint::Class;
use crate::plot::{Chart, Trajectories, TrajectoryPanel};
use crate::run::{shown, write_csv, Run};
use crate::train::Trajectory;
use crate::{Error, Result};
use nalgebra::{DMatrix, SymmetricEigen};
use serde::Serialize;
use std::path::Path;

/// At most this many lines per panel; larger groups are subsampled evenly.
pub const MAX_LINES: usize = 60;

/// A fitted principal component analysis.
#[derive(Clone, Debug)]
pub struct Pca {
    /// The mean of the fitted data, subtracted before projecting.
    pub mean: Vec<f64>,
    /// Unit principal axes, largest variance first; each signed so that its largest-magnitude
    /// entry is positive (a fixed orientation, so results are reproducible).
    pub components: Vec<Vec<f64>>,
    /// Variance along each component.
    pub variances: Vec<f64>,
    /// Total variance of the data (trace of its covariance).
    pub total_variance: f64,
}

impl Pca {
    /// Fits `k` components to the rows of `data` (`rows × dim`, row-major). Rows with a
    /// non-finite value are left out; `None` when fewer than two rows remain.
    pub fn fit(data: &[f64], dim: usize, k: usize) -> Option<Pca> {
        let rows: Vec<&[f64]> = data.chunks(dim).filter(|r| r.iter().all(|v| v.is_finite())).collect();
        if rows.len() < 2 || dim == 0 {
            return None;
        }
        let n = rows.len() as f64;
        let mut mean = vec![0.0; dim];
        for r in &rows {
            mean.iter_mut().zip(*r).for_each(|(m, v)| *m += v / n);
        }
        let mut cov = DMatrix::<f64>::zeros(dim, dim);
        let mut centred = vec![0.0; dim];
        for r in &rows {
            centred.iter_mut().zip(r.iter().zip(&mean)).for_each(|(c, (v, m))| *c = v - m);
            for i in 0..dim {
                for j in i..dim {
                    cov[(i, j)] += centred[i] * centred[j];
                }
            }
        }
        for i in 0..dim {
            for j in i..dim {
                let v = cov[(i, j)] / (n - 1.0);
                cov[(i, j)] = v;
                cov[(j, i)] = v;
            }
        }
        let total_variance = cov.trace();
        let eig = SymmetricEigen::new(cov);
        let mut order: Vec<usize> = (0..dim).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let (mut components, mut variances) = (Vec::new(), Vec::new());
        for &i in order.iter().take(k) {
            let mut v: Vec<f64> = eig.eigenvectors.column(i).iter().copied().collect();
            let big = v.iter().copied().fold(0.0, |b: f64, x| if x.abs() > b.abs() { x } else { b });
            if big < 0.0 {
                v.iter_mut().for_each(|x| *x = -*x);
            }
            components.push(v);
            variances.push(eig.eigenvalues[i].max(0.0));
        }
        Some(Pca { mean, components, variances, total_variance })
    }

    /// Coordinates of `x` along every component.
    pub fn project(&self, x: &[f64]) -> Vec<f64> {
        self.components
            .iter()
            .map(|c| c.iter().zip(x.iter().zip(&self.mean)).map(|(a, (v, m))| a * (v - m)).sum())
            .collect()
    }

    /// Share of the total variance along the fitted components (1 for data without variance).
    pub fn explained(&self) -> f64 {
        if self.total_variance > 0.0 {
            self.variances.iter().sum::<f64>() / self.total_variance
        } else {
            1.0
        }
    }
}

#[derive(Serialize, Default)]
struct Row {
    layer: usize,
    /// Index in storage order (layer, cell, edge), as in `organism.safetensors`.
    particle: usize,
    class: &'static str,
    epoch: usize,
    pc1: f64,
    pc2: f64,
}

/// The first run with a readable trajectory that fits its organism, with notes on the others.
fn first_trajectory<'a>(runs: &'a [Run], notes: &mut Vec<String>) -> Option<(&'a Run, Trajectory)> {
    for run in runs {
        match run.trajectory() {
            None => notes.push(format!("{}: no trajectory.safetensors", shown(&run.dir).display())),
            Some(Err(e)) => notes.push(format!("{}: trajectory unreadable ({e})", shown(&run.dir).display())),
            Some(Ok(t)) => {
                let (n, p) = (run.organism.particles.len(), run.organism.particles.shape().n_weights());
                if t.epochs.is_empty() || t.weights.len() != t.epochs.len() * n * p {
                    notes.push(format!(
                        "{}: trajectory of {} values does not fit {} epochs × {n} particles × {p} weights",
                        shown(&run.dir).display(),
                        t.weights.len(),
                        t.epochs.len()
                    ));
                } else {
                    return Some((run, t));
                }
            }
        }
    }
    None
}

/// Fig. 12 for the first of `runs` that kept a trajectory; writes `trajectories.csv` and specifies
/// one `trajectories_layer{l}.png`/`.svg` per layer (a group without particles gets a note instead
/// of a panel). Without any trajectory: notes, no files.
pub fn analyze(runs: &[Run], out: &Path) -> Result<Analysis> {
    let mut a = Analysis { kind: "trajectories".into(), ..Default::default() };
    let Some((run, traj)) = first_trajectory(runs, &mut a.notes) else {
        a.notes.push("no run has a trajectory; nothing drawn".into());
        return Ok(a);
    };
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    a.notes.push(format!("drawn for one run: {}", shown(&run.dir).display()));
    let classes = final_classes(run);
    let (n, p) = (run.organism.particles.len(), run.organism.particles.shape().n_weights());
    let t_len = traj.epochs.len();
    let point = |t: usize, i: usize| -> Vec<f64> {
        traj.weights[(t * n + i) * p..(t * n + i + 1) * p].iter().map(|&v| v as f64).collect()
    };
    let mut rows = Vec::new();
    let mut first = 0;
    let name = run_label(run);
    for (l, (inp, outp)) in run.organism.shape.layers().into_iter().enumerate() {
        let members: Vec<usize> = (first..first + inp * outp).collect();
        first += inp * outp;
        let data: Vec<f64> = (0..t_len).flat_map(|t| members.iter().flat_map(move |&i| point(t, i))).collect();
        let Some(pca) = Pca::fit(&data, p, 2) else {
            a.notes.push(format!("layer {l}: fewer than two finite weight vectors, no PCA"));
            continue;
        };
        a.findings.insert(format!("explained_variance_layer{l}"), Stat::of(&[pca.explained()]));
        let mut panels = Vec::new();
        for (title, sr) in [("PN_SR", true), ("PN_F", false)] {
            let group: Vec<usize> =
                members.iter().copied().filter(|&i| (classes[i] == Class::SelfReplicator) == sr).collect();
            let mut lines = Vec::new();
            let drawn = evenly(group.len(), MAX_LINES);
            for (k, &i) in group.iter().enumerate() {
                let mut line = Vec::with_capacity(t_len);
                for (t, &epoch) in traj.epochs.iter().enumerate() {
                    let pc = pca.project(&point(t, i));
                    if pc.iter().all(|v| v.is_finite()) {
                        rows.push(Row {
                            layer: l,
                            particle: i,
                            class: classes[i].name(),
                            epoch,
                            pc1: pc[0],
                            pc2: pc[1],
                        });
                        line.push((pc[0], pc[1], epoch as f64));
                    }
                }
                if drawn.binary_search(&k).is_ok() {
                    lines.push(line);
                }
            }
            if group.is_empty() {
                a.notes.push(format!("layer {l}: no {title}, its panel is left out"));
                continue;
            }
            let shown = if drawn.len() < group.len() {
                a.notes.push(format!(
                    "layer {l}: {} of {} {} trajectories drawn (evenly subsampled); all are in the CSV",
                    drawn.len(),
                    group.len(),
                    if sr { "PN_SR" } else { "PN_F" }
                ));
                format!("{} of {}", drawn.len(), group.len())
            } else {
                group.len().to_string()
            };
            panels.push(TrajectoryPanel { title: format!("{title} ({shown})"), lines });
        }
        let kept = 100.0 * pca.explained();
        let title = figure_title(
            Kind::Trajectories,
            runs,
            &format!("Layer {l} weight trajectories ({name}): PC1 + PC2 keep {kept:.0} % of the variance"),
        );
        let caption = format!(
            "Every particle of layer {l} of run {name} as its weight vector over the kept epochs, projected on the \
             two principal components of all of the layer's weight vectors at all epochs (a shared PCA space; \
             the two keep {kept:.1} % of the variance). Epoch upwards on a log(1 + epoch) scale; one colour per \
             particle; at most {MAX_LINES} particles per panel."
        );
        let chart = Chart::Trajectories(Trajectories { time_label: "epoch".into(), panels });
        a.figures.push(figure(out, &format!("trajectories_layer{l}"), title, caption, chart));
    }
    let csv = out.join("trajectories.csv");
    write_csv(&csv, &rows)?;
    a.csv.push(csv);
    Ok(a)
}
