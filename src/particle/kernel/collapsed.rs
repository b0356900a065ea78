//! The collapsed path, for linear PNs only: the whole net is the row vector
//! `a = M_{L-1}···M_1·M_0`, so `PN(x) = a·x` (SPEC §2's extracted-weight identity, generalised to
//! every input).

use super::Kernel;
use crate::lanes::Lanes;
use crate::particle::shape::{ParticleShape, Row};

/// `PN(x) = a·x`: per-row work is one short dot product; the gradient with respect to `a` is
/// held back and chained through the layers once, at `finish`.
#[derive(Clone, Debug)]
pub struct Collapsed<L> {
    /// `a = M_{L-1}···M_0`, a row vector over the inputs, and `∂loss/∂a`.
    a: Vec<L>,
    g: Vec<L>,
    /// Left products `U_l` and right vectors `d_l`, one block of `max_width` per layer.
    left: Vec<L>,
    right: Vec<L>,
}

impl<L: Lanes> Collapsed<L> {
    /// Workspaces sized for `shape` (allocated once, reused per particle).
    pub fn new(shape: &ParticleShape) -> Self {
        let m = shape.max_width();
        let layers = shape.widths().len();
        let zero = L::splat(0.0);
        let n_in = shape.input_width();
        Collapsed {
            a: vec![zero; n_in],
            g: vec![zero; n_in],
            left: vec![zero; layers * m],
            right: vec![zero; layers * m],
        }
    }
}

impl<L: Lanes> Collapsed<L> {
    /// backward of one row on its own (after `prepare(w)`): grad += dout·∂PN/∂w of `row`,
    /// chained through the layers now; returns as [`Kernel::backward`]. Bitwise `prepare`,
    /// `forward`, `backward`, `finish` of that row.
    #[inline(always)]
    pub fn backward_alone(&mut self, shape: &ParticleShape, w: &[L], row: Row<L>, dout: L, grad: &mut [L]) -> (L, L) {
        self.g.fill(L::splat(0.0));
        let dx = self.backward(shape, w, row, dout, grad);
        self.finish(shape, w, grad);
        dx
    }

    // left products: w -> left[l] = U_l = M_{L-1}···M_{l+1} (a row vector over layer l's
    // outputs; U_{L-1} = [1], U_{l-1} = U_l · M_l); g = 0
    #[inline(always)]
    fn left_products(&mut self, shape: &ParticleShape, w: &[L]) {
        let m = shape.max_width();
        let n_layers = shape.n_layers();
        self.left[(n_layers - 1) * m] = L::splat(1.0);
        for l in (1..n_layers).rev() {
            let (inp, out) = (shape.widths()[l], shape.widths()[l + 1]);
            let mat = &w[shape.offset(l)..shape.offset(l + 1)];
            let (lower, upper) = self.left.split_at_mut(l * m);
            times_matrix(&upper[..out], mat, &mut lower[(l - 1) * m..(l - 1) * m + inp]);
        }
        self.g.fill(L::splat(0.0));
    }
}

// row times matrix: u (1 × out), mat (out × in) -> target (1 × in) = u · mat, each entry summed
// over the rows in order. Index loops: as iterator adapters, LLVM left a `zip` out of line in
// the self-train step, compiled for the baseline.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
fn times_matrix<L: Lanes>(u: &[L], mat: &[L], target: &mut [L]) {
    let n = target.len();
    target.fill(L::splat(0.0));
    for o in 0..u.len() {
        let (uo, row) = (u[o], &mat[o * n..(o + 1) * n]);
        for i in 0..n {
            target[i] += uo * row[i];
        }
    }
}

impl<L: Lanes> Kernel<L> for Collapsed<L> {
    // prepare: w -> a = M_{L-1}···M_0 = U_0 · M_0; g = 0
    #[inline(always)]
    fn prepare(&mut self, shape: &ParticleShape, w: &[L]) {
        self.left_products(shape, w);
        let inp = shape.widths()[0];
        times_matrix(&self.left[..shape.widths()[1]], &w[..shape.offset(1)], &mut self.a[..inp]);
    }

    // prepare for aux rows: w -> the left products and a[aux] = U_0 · M_0[·, aux] alone (the
    // extracted weight, paper §IV-B), summed as in prepare; g = 0
    #[inline(always)]
    fn prepare_aux(&mut self, shape: &ParticleShape, w: &[L]) {
        self.left_products(shape, w);
        let (inp, aux) = (shape.widths()[0], shape.aux_slot());
        let mut t = L::splat(0.0);
        for o in 0..shape.widths()[1] {
            t += self.left[o] * w[o * inp + aux];
        }
        self.a[aux] = t;
    }

    // forward: row -> a·row over the row's non-zero inputs, in input order
    #[inline(always)]
    fn forward(&mut self, shape: &ParticleShape, _: &[L], row: Row<L>) -> L {
        let a = &self.a;
        match row {
            Row::Weight { i, v } => {
                let p = shape.position(i);
                a[0] * v + a[1] * L::splat(p[0]) + a[2] * L::splat(p[1]) + a[3] * L::splat(p[2])
            }
            Row::Aux(x) => a[shape.aux_slot()] * x,
            Row::Fold { acc, pos, y } => a[0] * acc + a[3] * L::splat(pos) + a[shape.aux_slot()] * y,
        }
    }

    // backward: dout -> g += dout·row (held back); returns dout·a[slot 0] (fold rows) and
    // dout·a[aux slot]
    #[inline(always)]
    fn backward(&mut self, shape: &ParticleShape, _: &[L], row: Row<L>, dout: L, _: &mut [L]) -> (L, L) {
        let g = &mut self.g;
        match row {
            Row::Weight { i, v } => {
                let p = shape.position(i);
                g[0] += dout * v;
                g[1] += dout * L::splat(p[0]);
                g[2] += dout * L::splat(p[1]);
                g[3] += dout * L::splat(p[2]);
            }
            Row::Aux(x) => g[shape.aux_slot()] += dout * x,
            Row::Fold { acc, pos, y } => {
                g[0] += dout * acc;
                g[3] += dout * L::splat(pos);
                g[shape.aux_slot()] += dout * y;
            }
        }
        let acc = if let Row::Fold { .. } = row { dout * self.a[0] } else { L::splat(0.0) };
        (acc, dout * self.a[shape.aux_slot()])
    }

    // finish: g -> grad += outer(U_l, d_l) per layer, with d_0 = g, d_{l+1} = M_l d_l
    #[inline(always)]
    fn finish(&mut self, shape: &ParticleShape, w: &[L], grad: &mut [L]) {
        let m = shape.max_width();
        let n_layers = shape.n_layers();
        self.right[..self.g.len()].copy_from_slice(&self.g);
        for l in 0..n_layers {
            let (inp, out) = (shape.widths()[l], shape.widths()[l + 1]);
            let (off, end) = (shape.offset(l), shape.offset(l + 1));
            let u = &self.left[l * m..l * m + out];
            // d_l (in) and d_{l+1} (out) live in consecutive blocks of right
            let (lower, upper) = self.right.split_at_mut((l + 1) * m);
            let d = &lower[l * m..l * m + inp];
            let rows = w[off..end].chunks_exact(inp).zip(grad[off..end].chunks_exact_mut(inp));
            for (o, ((row, grad_row), &uo)) in rows.zip(u).enumerate() {
                // grad row o += U_l[o] · d_l; d_{l+1}[o] = M_l[o] · d_l
                let mut s = L::splat(0.0);
                for ((gr, &a), &di) in grad_row.iter_mut().zip(row).zip(d) {
                    *gr += uo * di;
                    s += a * di;
                }
                if l + 1 < n_layers {
                    upper[o] = s;
                }
            }
        }
    }
}
