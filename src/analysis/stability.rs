//! Fixpoint stability of the self-replicators (no figure of the paper; SPEC §6, issue 10): for
//! every PN_SR `w` of a run, with `F(w) = w ◁ w` its self-application,
//!
//! - the spectral radius of the Jacobian `∂F/∂w` at `w`: a fixpoint with radius > 1 is unstable,
//!   a deviation grows by about that factor per self-application;
//! - the homogeneity degree `d` of `F` at `w`: the slope of `log ‖F(s·w)‖` against `log s` near
//!   `s = 1` (for linear `[5, h, h, 1]` PNs, `F_i(w) = a(w)·[w_i, L', C', E', 0]` with `a` the
//!   product of the three layers, degree 3, so `d` = 4 when the position terms are small).
//!
//! Both are computed in f64 from the f32 weights, for linear and non-linear (tanh, GELU) PNs.
//!
//! - Linear PNs: the derivative of the collapsed PN `a(w)` (a polynomial of degree 3 in `w`) is
//!   taken by central differences, whose error is then exactly `h²/6·∂³a` (higher derivatives
//!   vanish), ≈ 1e-10 relative for `h = 1e-5`; f64 rounding adds ≈ 1e-16/h ≈ 1e-11: far below
//!   the three digits reported. The eigenvalues come from a 4 × 4 matrix (see
//!   [`spectral_radius`]).
//! - Non-linear PNs (issue 13): `F_i(w) = PN_w(w_i, L'_i, C'_i, E'_i, 0)` through the hidden
//!   activations; the whole `P × P` Jacobian is taken by central differences of `F` in f64 (the
//!   activations are smooth, so the error is `h²/6` times a third derivative of order one
//!   for weights of order one, ≈ 1e-10, plus rounding ≈ 1e-11), and its eigenvalues by a real
//!   Schur decomposition: there is no low-rank structure to exploit.
//!
//! Writes `stability.csv` (`run, particle, spectral_radius, homogeneity_degree, residual`) and
//! `stability.png`/`.svg` (per run, box plots of both). Findings, the particle as unit:
//! `spectral_radius`, `homogeneity_degree`.

use super::{figure, final_classes, Analysis};
use crate::activation::Activation;
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
/// Convergence threshold of the Schur iteration on a Jacobian taken by differences: its entries
/// carry ≈ 1e-10 of difference error (module notes), so asking for f64 precision would stall on
/// clusters of near-equal eigenvalues; 1e-12 is below that error.
const SCHUR_EPS: f64 = 1e-12;
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

/// `f(z)` in f64 (the f32 [`Activation::forward`] in double precision).
fn activate(act: Activation, z: f64) -> f64 {
    match act {
        Activation::None => z,
        Activation::Tanh => z.tanh(),
        Activation::Gelu => 0.5 * z * (1.0 + libm::erf(z * std::f64::consts::FRAC_1_SQRT_2)),
    }
}

// forward: x (5) -> PN_w(x), in f64; every hidden layer through the activation, the output linear
fn pn_f64(shape: &ParticleShape, w: &[f64], x: &[f64]) -> f64 {
    let widths = shape.widths();
    let last = widths.len() - 2;
    let mut a = x.to_vec();
    let mut off = 0;
    for l in 0..=last {
        let (inp, out) = (widths[l], widths[l + 1]);
        let m = &w[off..off + inp * out];
        off += inp * out;
        a = (0..out)
            .map(|o| {
                let z: f64 = (0..inp).map(|i| m[o * inp + i] * a[i]).sum();
                if l == last {
                    z
                } else {
                    activate(shape.activation(), z)
                }
            })
            .collect();
    }
    a[0]
}

/// Self-application `F(w) = w ◁ w` in f64: `F_i = PN_w(w_i, L'_i, C'_i, E'_i, 0)`; for a linear
/// PN through the collapsed `a(w)`: `F_i = a(w)·[w_i, L'_i, C'_i, E'_i, 0]`.
pub fn self_apply_f64(shape: &ParticleShape, w: &[f64]) -> Vec<f64> {
    if shape.activation().is_identity() {
        let a = collapsed(shape, w);
        return (0..w.len()).map(|i| row(shape, w, i).iter().zip(&a).map(|(x, a)| x * a).sum()).collect();
    }
    (0..w.len())
        .map(|i| {
            let mut x = vec![0.0; shape.widths()[0]];
            x[..4].copy_from_slice(&row(shape, w, i));
            pn_f64(shape, w, &x)
        })
        .collect()
}

/// The largest eigenvalue modulus of `m` (at least `at_least`), NaN when the Schur iteration does
/// not converge to `eps` (relative to the neighbouring diagonal entries).
fn largest_modulus(m: DMatrix<f64>, eps: f64, at_least: f64) -> f64 {
    match nalgebra::Schur::try_new(m, eps, 10_000) {
        Some(schur) => schur.complex_eigenvalues().iter().map(|z| z.norm()).fold(at_least, f64::max),
        None => f64::NAN,
    }
}

/// `J = ∂F/∂w` at `w` for any PN, by central differences of [`self_apply_f64`]: column `j` is
/// `(F(w + h·e_j) − F(w − h·e_j)) / 2h`.
pub fn jacobian(shape: &ParticleShape, w: &[f64]) -> DMatrix<f64> {
    central_differences(w, w.len(), |x| self_apply_f64(shape, x))
}

/// The first `rows` outputs of `f` differentiated at `w` by central differences with step `H`:
/// entry `(r, c)` is `(f(w + H·e_c)[r] − f(w − H·e_c)[r]) / 2H`.
fn central_differences(w: &[f64], rows: usize, f: impl Fn(&[f64]) -> Vec<f64>) -> DMatrix<f64> {
    let mut d = DMatrix::<f64>::zeros(rows, w.len());
    let mut x = w.to_vec();
    for c in 0..w.len() {
        x[c] = w[c] + H;
        let plus = f(&x);
        x[c] = w[c] - H;
        let minus = f(&x);
        x[c] = w[c];
        for r in 0..rows {
            d[(r, c)] = (plus[r] - minus[r]) / (2.0 * H);
        }
    }
    d
}

/// Spectral radius of `J = ∂F/∂w` at `w`. With `U` the `P × 4` matrix of rows and `V = ∂a/∂w`
/// (`4 × P`, the first four entries of `a`), `J = a₀·I + U·V`: its eigenvalues are `a₀`
/// (multiplicity P − 4) and `a₀ + λ` for the eigenvalues `λ` of the 4 × 4 matrix `V·U`. This
/// avoids an eigen-solver on the degenerate `P × P` matrix (where QR iteration stalls). `V` is
/// taken by central differences (see the module notes; `a` is a polynomial of degree 3).
/// For a non-linear PN, the eigenvalues of the whole [`jacobian`].
pub fn spectral_radius(shape: &ParticleShape, w: &[f64]) -> f64 {
    if !shape.activation().is_identity() {
        return largest_modulus(jacobian(shape, w), SCHUR_EPS, 0.0);
    }
    let p = w.len();
    let a0 = collapsed(shape, w)[0];
    let v = central_differences(w, 4, |x| collapsed(shape, x));
    let u = DMatrix::<f64>::from_fn(p, 4, |i, k| row(shape, w, i)[k]);
    let m = DMatrix::<f64>::identity(4, 4) * a0 + v * u;
    largest_modulus(m, f64::EPSILON, a0.abs())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::particle::{Init, ParticleBatch};
    use rand::SeedableRng;

    fn particle(activation: Activation, seed: u64) -> (ParticleShape, Vec<f32>) {
        let shape = ParticleShape::new(vec![5, 3, 3, 1], activation).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let batch = ParticleBatch::random(shape.clone(), 1, Init::Xavier, &mut rng);
        (shape, batch.particle(0).to_vec())
    }

    /// The f64 self-application through tanh/GELU is the f32 kernel's `w ◁ w` up to f32 rounding
    /// (a few ulps of values of order one: 1e-5 would catch a wrong layer order or a missing
    /// activation, which change the result at order one).
    #[test]
    fn nonlinear_self_application_matches_the_kernel() {
        for act in [Activation::Tanh, Activation::Gelu] {
            let (shape, w32) = particle(act, 3);
            let batch = ParticleBatch::from_weights(shape.clone(), w32.clone()).unwrap();
            let kernel = batch.apply(0, &w32);
            let w: Vec<f64> = w32.iter().map(|&x| f64::from(x)).collect();
            for (a, b) in self_apply_f64(&shape, &w).iter().zip(&kernel) {
                assert!((a - f64::from(*b)).abs() < 1e-5, "{act}: {a} vs {b}");
            }
        }
    }

    /// The general Jacobian (P × P central differences of `F`) is the linear PN's
    /// `a₀·I + U·V` on the same linear particle: two independent routes to one matrix, equal to
    /// the differences' error (≈ 1e-10, module notes).
    #[test]
    fn general_jacobian_matches_the_linear_formula() {
        for seed in 0..3 {
            let (shape, w32) = particle(Activation::None, seed);
            let w: Vec<f64> = w32.iter().map(|&x| f64::from(x)).collect();
            let a = collapsed(&shape, &w);
            let j = jacobian(&shape, &w);
            let mut x = w.clone();
            for c in 0..w.len() {
                // ∂a/∂w_c by differences of the collapsed product (exact to h²).
                x[c] = w[c] + H;
                let plus = collapsed(&shape, &x);
                x[c] = w[c] - H;
                let minus = collapsed(&shape, &x);
                x[c] = w[c];
                for r in 0..w.len() {
                    let uv: f64 = (0..4).map(|k| row(&shape, &w, r)[k] * (plus[k] - minus[k]) / (2.0 * H)).sum();
                    let want = if r == c { a[0] + uv } else { uv };
                    assert!((j[(r, c)] - want).abs() < 1e-8, "seed {seed} ({r}, {c}): {} vs {want}", j[(r, c)]);
                }
            }
        }
    }

    /// The eigen-solve of a non-linear PN's Jacobian agrees with power iteration:
    /// `‖Jᵏv‖^(1/k)` → ρ, with an error ≈ ln(condition)/k, below 1 % at k = 2000.
    #[test]
    fn nonlinear_radius_matches_power_iteration() {
        for act in [Activation::Tanh, Activation::Gelu] {
            let (shape, w32) = particle(act, 7);
            let w: Vec<f64> = w32.iter().map(|&x| f64::from(x)).collect();
            let rho = spectral_radius(&shape, &w);
            let j = jacobian(&shape, &w);
            let mut v = nalgebra::DVector::<f64>::from_fn(w.len(), |i, _| 1.0 + 0.1 * i as f64);
            let k = 2000;
            let mut log_growth = 0.0;
            for _ in 0..k {
                v = &j * v;
                let n = v.norm();
                log_growth += n.ln();
                v /= n;
            }
            let power = (log_growth / k as f64).exp();
            assert!((rho - power).abs() < 1e-2 * rho, "{act}: eigen-solve {rho}, power iteration {power}");
        }
    }

    /// A tanh PN scaled small behaves like its linearisation: tanh(z) = z − z³/3, so at scale
    /// s the self-application is the linear one up to a relative O(s²) term.
    #[test]
    fn nonlinear_radius_tends_to_the_linear_one_for_small_weights() {
        let (_, w32) = particle(Activation::None, 5);
        let s = 1e-2;
        let w: Vec<f64> = w32.iter().map(|&x| s * f64::from(x)).collect();
        let lin = ParticleShape::new(vec![5, 3, 3, 1], Activation::None).unwrap();
        let tanh = ParticleShape::new(vec![5, 3, 3, 1], Activation::Tanh).unwrap();
        let (a, b) = (spectral_radius(&lin, &w), spectral_radius(&tanh, &w));
        assert!((a - b).abs() < 1e-3 * a.abs().max(1e-6) + 1e-9, "{a} vs {b}");
    }
}
