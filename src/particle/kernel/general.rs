//! The general path: a PN run layer by layer on many input rows at once (any activation).

use super::Kernel;
use crate::lanes::Lanes;
use crate::particle::shape::{ParticleShape, Row};

/// Layer-by-layer evaluation of many input rows at once: each layer's pre-activations for all
/// rows, then the activation over that whole block (a long slice, [`crate::simd::tanh_in_place`]
/// for tanh), then the next layer. Every row's activations are kept for its backward. Scratch
/// is sized once for a shape and a number of rows.
#[derive(Clone, Debug)]
pub struct General<L> {
    /// Rows the scratch holds.
    rows: usize,
    /// Pre-activations `z` and activations `a` of hidden layer `l` (1..n_layers), `rows × width`
    /// each, starting at `hidden[l - 1]`.
    z: Vec<L>,
    a: Vec<L>,
    hidden: Vec<usize>,
    /// The PN's output for every row.
    out: Vec<L>,
    /// One row's dense input, and the gradient flowing back through one row.
    input: Vec<L>,
    delta: Vec<L>,
    delta_next: Vec<L>,
}

impl<L: Lanes> General<L> {
    /// Workspaces for `rows` input rows of `shape` (allocated once, reused per particle).
    pub fn new(shape: &ParticleShape, rows: usize) -> Self {
        let m = shape.max_width();
        let zero = L::splat(0.0);
        let inner = &shape.widths()[1..shape.n_layers()];
        let hidden = inner.iter().scan(0, |at, &w| Some(std::mem::replace(at, *at + rows * w))).collect();
        let len = rows * inner.iter().sum::<usize>();
        General {
            rows,
            z: vec![zero; len],
            a: vec![zero; len],
            hidden,
            out: vec![zero; rows],
            input: vec![zero; shape.input_width()],
            delta: vec![zero; m],
            delta_next: vec![zero; m],
        }
    }

    /// Rows the scratch holds.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Hidden layer `l`'s block (`rows × width`) of `v` (`z` or `a`).
    #[inline(always)]
    fn block(&self, shape: &ParticleShape, l: usize) -> std::ops::Range<usize> {
        self.hidden[l - 1]..self.hidden[l - 1] + self.rows * shape.widths()[l]
    }

    /// forward: rows 0..n (`row(r)` each; n ≤ rows) -> `PN_w(row r)` for each, returned; keeps
    /// every hidden layer's z and a per row. Each row's sums are those of the one-row loop, in
    /// the same order.
    #[inline(always)]
    pub fn forward_rows(&mut self, shape: &ParticleShape, w: &[L], n: usize, row: impl Fn(usize) -> Row<L>) -> &[L] {
        self.forward_rows_at(shape, w, 0..n, row)
    }

    /// [`General::forward_rows`] into the scratch rows `at` (`row(r)` for r in `at`; `at.end ≤
    /// rows`), leaving the other rows' z and a as they are: a sequence of dependent steps (an
    /// aggregator's fold) keeps every step for its backward.
    #[inline(always)]
    pub fn forward_rows_at(
        &mut self,
        shape: &ParticleShape,
        w: &[L],
        at: std::ops::Range<usize>,
        row: impl Fn(usize) -> Row<L>,
    ) -> &[L] {
        let last = shape.n_layers() - 1;
        for l in 0..=last {
            let (inp, out) = (shape.widths()[l], shape.widths()[l + 1]);
            let mat = &w[shape.offset(l)..shape.offset(l + 1)];
            let zs = if l == last { 0..self.rows } else { self.block(shape, l + 1) };
            let prev = if l > 0 { self.block(shape, l) } else { 0..0 };
            for r in at.clone() {
                let (x, cols) = if l == 0 {
                    let row = row(r);
                    shape.input_row(row, &mut self.input);
                    (&self.input[..], shape.live_inputs(row))
                } else {
                    (&self.a[prev.start + r * inp..prev.start + (r + 1) * inp], 0..inp)
                };
                let z = if l == last { &mut self.out[r..r + 1] } else { &mut self.z[zs.start + r * out..][..out] };
                for (z, m) in z.iter_mut().zip(mat.chunks_exact(inp)) {
                    let mut s = L::splat(0.0);
                    for (&m, &x) in m[cols.clone()].iter().zip(&x[cols.clone()]) {
                        s += m * x;
                    }
                    *z = s;
                }
            }
            if l < last {
                let used = zs.start + at.start * out..zs.start + at.end * out;
                self.a[used.clone()].copy_from_slice(&self.z[used.clone()]);
                shape.activation().forward_in_place(L::flat_mut(&mut self.a[used]));
            }
        }
        &self.out[at]
    }

    /// backward of row r (last forwarded by [`General::forward_rows`] as `row`): dout -> grad +=
    /// dPN/dw · dout; returns dPN/dx\[slot 0, aux slot\] · dout (the input's zero slots get no
    /// gradient, and of ∂/∂input only the row's `grad_inputs`; slot 0's is zero but for fold rows)
    #[inline(always)]
    pub fn backward_row(
        &mut self,
        shape: &ParticleShape,
        w: &[L],
        r: usize,
        row: Row<L>,
        dout: L,
        grad: &mut [L],
    ) -> (L, L) {
        let act = shape.activation();
        let aux = shape.aux_slot();
        shape.input_row(row, &mut self.input);
        self.delta[0] = dout;
        for l in (0..shape.n_layers()).rev() {
            let (inp, out) = (shape.widths()[l], shape.widths()[l + 1]);
            let off = shape.offset(l);
            let (x, cols) = if l == 0 {
                (&self.input[..], shape.live_inputs(row))
            } else {
                let at = self.hidden[l - 1] + r * inp;
                (&self.a[at..at + inp], 0..inp)
            };
            for o in 0..out {
                let d = self.delta[o];
                for i in cols.clone() {
                    grad[off + o * inp + i] += d * x[i];
                }
            }
            for i in if l == 0 { shape.grad_inputs(row) } else { 0..inp } {
                let mut s = L::splat(0.0);
                for o in 0..out {
                    s += w[off + o * inp + i] * self.delta[o];
                }
                // Hidden layers carry an activation; the network input does not.
                self.delta_next[i] = if l > 0 {
                    let at = self.hidden[l - 1] + r * inp + i;
                    s * self.z[at].zip_map(self.a[at], |z, a| act.derivative_at(z, a))
                } else {
                    s
                };
            }
            std::mem::swap(&mut self.delta, &mut self.delta_next);
        }
        let acc = if let Row::Fold { .. } = row { self.delta[0] } else { L::splat(0.0) };
        (acc, self.delta[aux])
    }
}

impl<L: Lanes> Kernel<L> for General<L> {
    #[inline(always)]
    fn prepare(&mut self, _: &ParticleShape, _: &[L]) {}

    // forward: one row -> scalar (row 0 of the scratch)
    #[inline(always)]
    fn forward(&mut self, shape: &ParticleShape, w: &[L], row: Row<L>) -> L {
        self.forward_rows(shape, w, 1, |_| row)[0]
    }

    #[inline(always)]
    fn backward(&mut self, shape: &ParticleShape, w: &[L], row: Row<L>, dout: L, grad: &mut [L]) -> (L, L) {
        self.backward_row(shape, w, 0, row, dout, grad)
    }

    #[inline(always)]
    fn finish(&mut self, _: &ParticleShape, _: &[L], _: &mut [L]) {}

    // The P weight rows forwarded at once, then backwarded at once, layer by layer (compiled
    // for AVX-512 or AVX2 when the CPU has it): the same sums as the row-by-row default.
    fn self_train(&mut self, shape: &ParticleShape, w: &[L], grad: &mut [L]) -> L {
        crate::simd::dispatch(
            #[inline(always)]
            || {
                let p = L::splat(w.len() as f32);
                let scale = L::splat(2.0 / w.len() as f32);
                let mut loss = L::splat(0.0);
                self.forward_rows(shape, w, w.len(), |i| Row::Weight { i, v: w[i] });
                for (out, &v) in self.out.iter_mut().zip(w) {
                    let r = *out - v;
                    loss += r * r;
                    *out = scale * r;
                }
                self.backward_weight_rows(shape, w, grad);
                loss / p
            },
        )
    }
}

impl<L: Lanes> General<L> {
    /// backward of the P weight rows of `w` (self-training), forwarded by
    /// [`General::forward_rows`], `dout` of row r in `out[r]`: grad (P) += Σ_r dout_r·∂PN/∂w
    /// (row r), layer by layer over all rows at once. Every weight's gradient adds its rows'
    /// terms in row order and every row's delta is that of [`General::backward_row`], so the
    /// sums are the same. The rows' deltas overwrite their kept `z`: they are backwarded once.
    #[inline(always)]
    fn backward_weight_rows(&mut self, shape: &ParticleShape, w: &[L], grad: &mut [L]) {
        let (n, act, last) = (w.len(), shape.activation(), shape.n_layers() - 1);
        for l in (0..=last).rev() {
            let (inp, out) = (shape.widths()[l], shape.widths()[l + 1]);
            let off = shape.offset(l);
            let (mat, g) = (&w[off..off + out * inp], &mut grad[off..off + out * inp]);
            // The deltas of layer l's outputs (rows × out): `dout`, or those written into z.
            let split = if l == last { self.z.len() } else { self.hidden[l] };
            let (below, above) = self.z.split_at_mut(split);
            let delta: &[L] = if l == last { &self.out[..n] } else { &above[..n * out] };
            if l == 0 {
                for (r, d) in delta.chunks_exact(out).enumerate() {
                    let row = Row::Weight { i: r, v: w[r] };
                    shape.input_row(row, &mut self.input);
                    for (g, &d) in g.chunks_exact_mut(inp).zip(d) {
                        for i in shape.live_inputs(row) {
                            g[i] += d * self.input[i];
                        }
                    }
                }
                continue;
            }
            let at = self.hidden[l - 1]..self.hidden[l - 1] + n * inp;
            let rows = delta.chunks_exact(out).zip(self.a[at.clone()].chunks_exact(inp));
            for ((d, x), z) in rows.zip(below[at].chunks_exact_mut(inp)) {
                for (g, &d) in g.chunks_exact_mut(inp).zip(d) {
                    for (g, &x) in g.iter_mut().zip(x) {
                        *g += d * x;
                    }
                }
                // Hidden layers carry an activation.
                for (i, (z, &a)) in z.iter_mut().zip(x).enumerate() {
                    let mut s = L::splat(0.0);
                    for (o, &d) in d.iter().enumerate() {
                        s += mat[o * inp + i] * d;
                    }
                    *z = s * z.zip_map(a, |z, a| act.derivative_at(z, a));
                }
            }
        }
    }
}
