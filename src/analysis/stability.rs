//! Fixpoint stability of the self-replicators (no figure of the paper; SPEC §6, issue 10): for
//! every PN_SR `w` of a run, with `F(w) = w ◁ w` its self-application,
//!
//! - the spectral radius of the Jacobian `∂F/∂w` at `w`: a fixpoint with radius > 1 is unstable,
//!   a deviation grows by about that factor per self-application;
//! - the homogeneity degree `d` of `F` at `w`: the slope of `log ‖F(s·w)‖` against `log s` near
//!   `s = 1` (for linear `[5, h, h, 1]` PNs, `F_i(w) = a(w)·[w_i, L', C', E', 0]` with `a` the
//!   product of the three layers, degree 3, so `d` = 4 when the position terms are small).
//!
//! Both are computed in f64 from the f32 weights. The derivative of the collapsed PN `a(w)` (a
//! polynomial of degree 3 in `w`) is taken by central differences, whose error is then exactly
//! `h²/6·∂³a` (higher derivatives vanish), ≈ 1e-10 relative for `h = 1e-5`; f64 rounding adds
//! ≈ 1e-16/h ≈ 1e-11: far below the three digits reported.
//!
//! Writes `stability.csv` (`run, particle, spectral_radius, homogeneity_degree, residual`) and
//! `stability.png`/`.svg` (per run, box plots of both). Findings, the particle as unit:
//! `spectral_radius`, `homogeneity_degree`.

use super::{figure, final_classes, Analysis};
use crate::fixpoint::self_replicators;
use crate::particle::ParticleShape;
use crate::plot::{BoxGroup, Boxes, Chart};
use crate::run::{shown, write_csv, write_text, Run};
use crate::{Error, Result};
use nalgebra::DMatrix;
use serde::Serialize;
use std::path::Path;

/// Step of the central differences (see the module notes).
const H: f64 = 1e-5;
/// Scales around 1 at which the homogeneity degree is fitted.
const SCALES: [f64; 4] = [0.9, 0.95, 1.05, 1.1];

#[derive(Serialize, Default)]
struct Row<'a> {
    run: &'a str,
    particle: usize,
    spectral_radius: f64,
    homogeneity_degree: f64,
    /// max |F(w) − w| in f64.
    residual: f64,
}

/// The collapsed linear PN in f64: `a` (1 × 5), the product of the layers' `[out][in]`
/// matrices, last first, so that `PN(x) = a·x`.
fn collapsed(shape: &ParticleShape, w: &[f64]) -> Vec<f64> {
    let widths = shape.widths();
    let mut a = vec![1.0; *widths.last().unwrap()];
    let mut end = w.len();
    // a (1 × out) · W (out × in) → 1 × in, from the output layer down.
    for l in (0..widths.len() - 1).rev() {
        let (inp, out) = (widths[l], widths[l + 1]);
        let m = &w[end - inp * out..end];
        end -= inp * out;
        a = (0..inp).map(|j| (0..out).map(|o| a[o] * m[o * inp + j]).sum()).collect();
    }
    a
}

/// The weightwise input row of weight `i` without the always-zero auxiliary slot:
/// `[w_i, L'_i, C'_i, E'_i]`.
fn row(shape: &ParticleShape, w: &[f64], i: usize) -> [f64; 4] {
    let pos = shape.position(i);
    [w[i], f64::from(pos[0]), f64::from(pos[1]), f64::from(pos[2])]
}

/// Self-application `F(w) = w ◁ w` of a linear PN in f64: `F_i = a(w)·[w_i, L'_i, C'_i, E'_i, 0]`.
pub fn self_apply_f64(shape: &ParticleShape, w: &[f64]) -> Vec<f64> {
    let a = collapsed(shape, w);
    (0..w.len()).map(|i| row(shape, w, i).iter().zip(&a).map(|(x, a)| x * a).sum()).collect()
}

/// Spectral radius of `J = ∂F/∂w` at `w`. With `U` the `P × 4` matrix of rows and `V = ∂a/∂w`
/// (`4 × P`, the first four entries of `a`), `J = a₀·I + U·V`: its eigenvalues are `a₀`
/// (multiplicity P − 4) and `a₀ + λ` for the eigenvalues `λ` of the 4 × 4 matrix `V·U`. This
/// avoids an eigen-solver on the degenerate `P × P` matrix (where QR iteration stalls). `V` is
/// taken by central differences (see the module notes; `a` is a polynomial of degree 3).
pub fn spectral_radius(shape: &ParticleShape, w: &[f64]) -> f64 {
    let p = w.len();
    let a0 = collapsed(shape, w)[0];
    let mut v = DMatrix::<f64>::zeros(4, p);
    let mut x = w.to_vec();
    for j in 0..p {
        x[j] = w[j] + H;
        let plus = collapsed(shape, &x);
        x[j] = w[j] - H;
        let minus = collapsed(shape, &x);
        x[j] = w[j];
        for k in 0..4 {
            v[(k, j)] = (plus[k] - minus[k]) / (2.0 * H);
        }
    }
    let u = DMatrix::<f64>::from_fn(p, 4, |i, k| row(shape, w, i)[k]);
    let m = DMatrix::<f64>::identity(4, 4) * a0 + v * u;
    match nalgebra::Schur::try_new(m, f64::EPSILON, 10_000) {
        Some(schur) => schur.complex_eigenvalues().iter().map(|z| z.norm()).fold(a0.abs(), f64::max),
        None => f64::NAN,
    }
}

/// The degree `d` of `F(s·w) ≈ s^d·F(w)` near `s = 1`: least-squares slope of
/// `log ‖F(s·w)‖ − log ‖F(w)‖` on `log s` over `SCALES` (through the origin).
pub fn homogeneity_degree(shape: &ParticleShape, w: &[f64]) -> f64 {
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let base = norm(&self_apply_f64(shape, w)).ln();
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for s in SCALES {
        let scaled: Vec<f64> = w.iter().map(|x| s * x).collect();
        let y = norm(&self_apply_f64(shape, &scaled)).ln() - base;
        sxy += s.ln() * y;
        sxx += s.ln() * s.ln();
    }
    sxy / sxx
}

/// Runs the analysis on the PN_SR of `runs`, writing into `out` (created if needed).
pub fn analyze(runs: &[Run], out: &Path) -> Result<Analysis> {
    if runs.is_empty() {
        return Err(Error::Invalid("stability: no runs given".into()));
    }
    if let Some(r) = runs.iter().find(|r| !r.organism.particles.shape().activation().is_identity()) {
        return Err(Error::Invalid(format!(
            "{}: the stability analysis needs linear PNs (their self-application is a polynomial)",
            r.dir.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut a = Analysis { kind: "stability".into(), ..Analysis::default() };
    let names: Vec<String> = runs.iter().map(|r| shown(&r.dir).display().to_string()).collect();
    let mut rows = Vec::new();
    let mut categories = Vec::new();
    let (mut radius, mut degree) = (Vec::new(), Vec::new());
    for (run, name) in runs.iter().zip(&names) {
        let shape = run.organism.particles.shape();
        let which = self_replicators(&final_classes(run));
        if which.is_empty() {
            a.notes.push(format!("{name}: no PN_SR"));
        }
        let (mut r_run, mut d_run) = (Vec::new(), Vec::new());
        for n in which {
            let w: Vec<f64> = run.organism.particles.particle(n).iter().map(|&x| f64::from(x)).collect();
            let f = self_apply_f64(shape, &w);
            let residual = f.iter().zip(&w).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            let (rho, d) = (spectral_radius(shape, &w), homogeneity_degree(shape, &w));
            rows.push(Row { run: name, particle: n, spectral_radius: rho, homogeneity_degree: d, residual });
            r_run.push(rho);
            d_run.push(d);
        }
        categories.push(format!("seed {}", run.config.seed));
        radius.push(r_run);
        degree.push(d_run);
    }
    let csv = out.join("stability.csv");
    if rows.is_empty() {
        write_text(&csv, "run,particle,spectral_radius,homogeneity_degree,residual\n")?;
    } else {
        write_csv(&csv, &rows)?;
    }
    a.csv.push(csv);

    let title = format!("Fixpoint stability of {} PN_SR: a spectral radius > 1 is unstable", rows.len());
    let caption = format!(
        "Per run, the spectral radius of the Jacobian of self-application ∂(w◁w)/∂w at each of its {} \
         self-replicators, and the homogeneity degree d of self-application (F(s·w) = s^d·F(w)).",
        rows.len()
    );
    let chart = Chart::Boxes(Boxes {
        x_label: "run".into(),
        y_label: "spectral radius; homogeneity degree".into(),
        log_y: false,
        categories,
        groups: vec![
            BoxGroup { name: "spectral radius of the Jacobian".into(), colour: None, samples: radius.clone() },
            BoxGroup { name: "homogeneity degree d".into(), colour: None, samples: degree.clone() },
        ],
        notes: Vec::new(),
    });
    a.figures.push(figure(out, "stability", title, caption, chart));
    a.record("spectral_radius", radius.concat());
    a.record("homogeneity_degree", degree.concat());
    a.notes.push(
        "a fixpoint whose Jacobian has spectral radius ρ > 1 repels: a perturbation grows about ρ× per \
         self-application, so a clone leaves the ε-ball within a few applications whatever the noise"
            .into(),
    );
    Ok(a)
}
