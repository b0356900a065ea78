//! One PN's passes, written once as a [`Kernel`]: `prepare` → per-row `forward`/`backward` →
//! `finish`, implemented by the two evaluation paths.
//!
//! - [`General`] runs the net layer by layer on each input row (any activation);
//! - [`Collapsed`], valid for linear PNs only: the whole net is the row vector
//!   `a = M_{L-1}···M_1·M_0`, so `PN(x) = a·x` (SPEC §2's extracted-weight identity,
//!   generalised to every input). Tests check that both paths agree.
//!
//! [`PnKernel`] is the one place that picks a path. The operations of the paper
//! ([`apply_one`], [`self_train_one`], [`row_forward`], [`row_backward`]) are written once over
//! any kernel and any [`Lanes`] type.

use super::shape::{ParticleShape, Row};
use crate::lanes::Lanes;

/// How a batch evaluates its PNs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PnPath {
    /// `PN(x) = a·x` with `a` the product of the layers; linear PNs only.
    Collapsed,
    /// Layer by layer; any activation.
    General,
}

impl PnPath {
    /// The fastest exact path for `shape`: collapsed for linear PNs.
    pub fn fastest(shape: &ParticleShape) -> PnPath {
        if shape.activation().is_identity() {
            PnPath::Collapsed
        } else {
            PnPath::General
        }
    }
}

/// One PN's forward and backward passes on a sequence of rows, for lanes of type `L`.
/// `w` is the PN's weight vector (`P` lanes) and stays the same from `prepare` to `finish`.
pub trait Kernel<L: Lanes> {
    /// prepare: w -> state for the rows to come (clears any held-back gradient)
    fn prepare(&mut self, shape: &ParticleShape, w: &[L]);
    /// forward: row -> PN_w(row); keeps what `backward` needs for this row
    fn forward(&mut self, shape: &ParticleShape, w: &[L], row: Row<L>) -> L;
    /// backward: dout (∂loss/∂PN(row), row last forwarded) -> grad (P) += ∂loss/∂w, now or at
    /// `finish`; returns `∂loss/∂x` of the weight slot (fold rows only; zero otherwise) and of
    /// the auxiliary slot
    fn backward(&mut self, shape: &ParticleShape, w: &[L], row: Row<L>, dout: L, grad: &mut [L]) -> (L, L);
    /// finish: grad (P) += the gradient held back since `prepare`
    fn finish(&mut self, shape: &ParticleShape, w: &[L], grad: &mut [L]);

    /// Self-training loss (Def. 5) of the PN `w`, and its gradient added into `grad`:
    /// `mean_i (N(row_i) − v_i)²` with rows and targets held constant; row by row.
    #[inline(always)]
    fn self_train(&mut self, shape: &ParticleShape, w: &[L], grad: &mut [L]) -> L {
        let p = L::splat(w.len() as f32);
        let scale = L::splat(2.0 / w.len() as f32);
        let mut loss = L::splat(0.0);
        self.prepare(shape, w);
        for (i, &v) in w.iter().enumerate() {
            let row = Row::Weight { i, v };
            let r = self.forward(shape, w, row) - v;
            loss += r * r;
            self.backward(shape, w, row, scale * r, grad);
        }
        self.finish(shape, w, grad);
        loss / p
    }
}

// ---------------------------------------------------------------------------------------------
// General path.

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
        let last = shape.n_layers() - 1;
        for l in 0..=last {
            let (inp, out) = (shape.widths()[l], shape.widths()[l + 1]);
            let mat = &w[shape.offset(l)..shape.offset(l + 1)];
            let zs = if l == last { 0..n } else { self.block(shape, l + 1) };
            let prev = if l > 0 { self.block(shape, l) } else { 0..0 };
            for r in 0..n {
                let (x, cols) = if l == 0 {
                    let row = row(r);
                    shape.input_row(row, &mut self.input);
                    (&self.input[..], shape.live_inputs(row))
                } else {
                    (&self.a[prev.start + r * inp..prev.start + (r + 1) * inp], 0..inp)
                };
                let z = if l == last { &mut self.out[r..r + 1] } else { &mut self.z[zs.start + r * out..][..out] };
                for (o, z) in z.iter_mut().enumerate() {
                    let mut s = L::splat(0.0);
                    for i in cols.clone() {
                        s += mat[o * inp + i] * x[i];
                    }
                    *z = s;
                }
            }
            if l < last {
                let used = zs.start..zs.start + n * out;
                self.a[used.clone()].copy_from_slice(&self.z[used.clone()]);
                shape.activation().forward_in_place(L::flat_mut(&mut self.a[used]));
            }
        }
        &self.out[..n]
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

    // The P weight rows forwarded at once, layer by layer (compiled for AVX2 when the CPU has
    // it), then each row's backward in order: the same sums as the row-by-row default.
    fn self_train(&mut self, shape: &ParticleShape, w: &[L], grad: &mut [L]) -> L {
        crate::simd::dispatch(
            #[inline(always)]
            || {
                let p = L::splat(w.len() as f32);
                let scale = L::splat(2.0 / w.len() as f32);
                let mut loss = L::splat(0.0);
                self.forward_rows(shape, w, w.len(), |i| Row::Weight { i, v: w[i] });
                for (i, &v) in w.iter().enumerate() {
                    let r = self.out[i] - v;
                    loss += r * r;
                    self.backward_row(shape, w, i, Row::Weight { i, v }, scale * r, grad);
                }
                loss / p
            },
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Collapsed path (linear PNs).

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

impl<L: Lanes> Kernel<L> for Collapsed<L> {
    // prepare: w -> a = M_{L-1}···M_0; g = 0
    #[inline(always)]
    fn prepare(&mut self, shape: &ParticleShape, w: &[L]) {
        let m = shape.max_width();
        let n_layers = shape.n_layers();
        // left[l] = U_l = M_{L-1}···M_{l+1}, a row vector over layer l's outputs; U_{L-1} = [1].
        self.left[(n_layers - 1) * m] = L::splat(1.0);
        for l in (0..n_layers).rev() {
            let (inp, out) = (shape.widths()[l], shape.widths()[l + 1]);
            let mat = &w[shape.offset(l)..shape.offset(l + 1)];
            // U_{l-1} = U_l · M_l (1 × in), written into left[l-1], or into a for l = 0
            let (lower, upper) = self.left.split_at_mut(l * m);
            let u = &upper[..out];
            let target = if l == 0 { &mut self.a[..inp] } else { &mut lower[(l - 1) * m..(l - 1) * m + inp] };
            target.fill(L::splat(0.0));
            for (&uo, row) in u.iter().zip(mat.chunks_exact(inp)) {
                target.iter_mut().zip(row).for_each(|(t, &a)| *t += uo * a);
            }
        }
        self.g.fill(L::splat(0.0));
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

// ---------------------------------------------------------------------------------------------
// The path chosen once.

/// The kernel of a path: the one place that branches on collapsibility.
#[derive(Clone, Debug)]
pub enum PnKernel<L> {
    /// Linear PNs collapsed to `a = W3·W2·W1` (SPEC §2).
    Collapsed(Collapsed<L>),
    /// Any PN, layer by layer (non-linear activations).
    General(General<L>),
}

impl<L: Lanes> PnKernel<L> {
    /// The kernel for `path`, with workspaces sized for `shape`.
    pub fn new(shape: &ParticleShape, path: PnPath) -> Self {
        match path {
            PnPath::Collapsed => PnKernel::Collapsed(Collapsed::new(shape)),
            PnPath::General => PnKernel::General(General::new(shape, shape.n_weights())),
        }
    }
}

impl<L: Lanes> Kernel<L> for PnKernel<L> {
    #[inline(always)]
    fn prepare(&mut self, shape: &ParticleShape, w: &[L]) {
        match self {
            PnKernel::Collapsed(k) => k.prepare(shape, w),
            PnKernel::General(k) => k.prepare(shape, w),
        }
    }
    #[inline(always)]
    fn forward(&mut self, shape: &ParticleShape, w: &[L], row: Row<L>) -> L {
        match self {
            PnKernel::Collapsed(k) => k.forward(shape, w, row),
            PnKernel::General(k) => k.forward(shape, w, row),
        }
    }
    #[inline(always)]
    fn backward(&mut self, shape: &ParticleShape, w: &[L], row: Row<L>, dout: L, grad: &mut [L]) -> (L, L) {
        match self {
            PnKernel::Collapsed(k) => k.backward(shape, w, row, dout, grad),
            PnKernel::General(k) => k.backward(shape, w, row, dout, grad),
        }
    }
    #[inline(always)]
    fn finish(&mut self, shape: &ParticleShape, w: &[L], grad: &mut [L]) {
        match self {
            PnKernel::Collapsed(k) => k.finish(shape, w, grad),
            PnKernel::General(k) => k.finish(shape, w, grad),
        }
    }
    #[inline(always)]
    fn self_train(&mut self, shape: &ParticleShape, w: &[L], grad: &mut [L]) -> L {
        match self {
            PnKernel::Collapsed(k) => k.self_train(shape, w, grad),
            PnKernel::General(k) => k.self_train(shape, w, grad),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The operations of the paper, for one particle (or one group of lanes).

/// `out = N ◁ M` (Def. 2/6): `N(row_i(M))` for every weight `i` of `target`.
pub fn apply_one<L: Lanes>(k: &mut impl Kernel<L>, shape: &ParticleShape, applier: &[L], target: &[L], out: &mut [L]) {
    k.prepare(shape, applier);
    for (i, (o, &v)) in out.iter_mut().zip(target).enumerate() {
        *o = k.forward(shape, applier, Row::Weight { i, v });
    }
}

/// Self-training loss (Def. 5) of one particle, and its gradient added into `grad`:
/// `mean_i (N(row_i) − v_i)²` with rows and targets held constant ([`Kernel::self_train`]).
#[inline(always)]
pub fn self_train_one<L: Lanes>(k: &mut impl Kernel<L>, shape: &ParticleShape, w: &[L], grad: &mut [L]) -> L {
    k.self_train(shape, w, grad)
}

/// `PN(row)` of one particle on one row (`PN(0, 0, 0, 0, x)` for [`Row::Aux`], Def. 6).
#[inline(always)]
pub fn row_forward<L: Lanes>(k: &mut impl Kernel<L>, shape: &ParticleShape, w: &[L], row: Row<L>) -> L {
    k.prepare(shape, w);
    k.forward(shape, w, row)
}

/// Backward of [`row_forward`]: `grad += dout·∂PN/∂w`; returns `dout·∂PN/∂(slot 0, aux slot)`.
#[inline(always)]
pub fn row_backward<L: Lanes>(
    k: &mut impl Kernel<L>,
    shape: &ParticleShape,
    w: &[L],
    row: Row<L>,
    dout: L,
    grad: &mut [L],
) -> (L, L) {
    k.prepare(shape, w);
    k.forward(shape, w, row);
    let dx = k.backward(shape, w, row, dout, grad);
    k.finish(shape, w, grad);
    dx
}
