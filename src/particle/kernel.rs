//! One PN's passes, written once as a [`Kernel`]: `prepare` → per-row `forward`/`backward` →
//! `finish`, implemented by the two evaluation paths.
//!
//! - [`General`] runs the net layer by layer over many input rows at once (any activation):
//!   [`general::forward`] and [`general::backward`], which the organism's PN-by-PN task pass
//!   calls too, are the one definition of a PN's passes on this path;
//! - [`Collapsed`], valid for linear PNs only: the whole net is the row vector
//!   `a = M_{L-1}···M_1·M_0`, so `PN(x) = a·x` (SPEC §2's extracted-weight identity,
//!   generalised to every input). Tests check that both paths agree.
//!
//! [`PnKernel`] is the one place that picks a path. The operations of the paper
//! ([`apply_one`], [`self_train_one`], [`row_forward`], [`row_backward`]) are written once over
//! any kernel and any [`Lanes`] type.

mod collapsed;
pub mod general;

pub use collapsed::Collapsed;
pub use general::General;

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
    /// prepare for [`Row::Aux`] rows only, the same bits for them as `prepare`: the collapsed
    /// kernel computes only the auxiliary entry of `a` (the extracted weight), a fifth of its
    /// last product, where the task pass's extraction and chain rule need nothing else.
    #[inline(always)]
    fn prepare_aux(&mut self, shape: &ParticleShape, w: &[L]) {
        self.prepare(shape, w)
    }
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
        Self::with_rows(shape, path, shape.n_weights())
    }

    /// The kernel for `path`, keeping up to `rows` rows for their backward (general path).
    pub fn with_rows(shape: &ParticleShape, path: PnPath, rows: usize) -> Self {
        match path {
            PnPath::Collapsed => PnKernel::Collapsed(Collapsed::new(shape)),
            PnPath::General => PnKernel::General(General::new(shape, rows)),
        }
    }

    /// forward (after `prepare(w)`): rows `at` (`row(r)` each) -> `out[r − at.start] = PN_w(row
    /// r)`; the general path runs them layer by layer and keeps each for
    /// [`PnKernel::backward_kept`] (the collapsed one needs nothing kept). Bitwise
    /// [`row_forward`] of each row.
    #[inline(always)]
    pub fn forward_kept(
        &mut self,
        shape: &ParticleShape,
        w: &[L],
        at: std::ops::Range<usize>,
        row: impl Fn(usize) -> Row<L>,
        out: &mut [L],
    ) {
        match self {
            PnKernel::Collapsed(k) => out.iter_mut().zip(at).for_each(|(o, r)| *o = k.forward(shape, w, row(r))),
            PnKernel::General(k) => out.copy_from_slice(k.forward_rows_at(shape, w, at, row)),
        }
    }

    /// backward of row `r`, kept by [`PnKernel::forward_kept`] as `row`: grad += dout·∂PN/∂w of
    /// this row alone; returns dout·∂PN/∂(slot 0, aux slot). Bitwise [`row_backward`] of the row.
    #[inline(always)]
    pub fn backward_kept(
        &mut self,
        shape: &ParticleShape,
        w: &[L],
        r: usize,
        row: Row<L>,
        dout: L,
        grad: &mut [L],
    ) -> (L, L) {
        match self {
            PnKernel::Collapsed(k) => k.backward_alone(shape, w, row, dout, grad),
            PnKernel::General(k) => k.backward_row(shape, w, r, row, dout, grad),
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
    fn prepare_aux(&mut self, shape: &ParticleShape, w: &[L]) {
        match self {
            PnKernel::Collapsed(k) => k.prepare_aux(shape, w),
            PnKernel::General(k) => k.prepare_aux(shape, w),
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
    prepare_for(k, shape, w, row);
    k.forward(shape, w, row)
}

// prepare for one row: w -> the kernel's state for `row` (an aux row needs less, Kernel::prepare_aux)
#[inline(always)]
fn prepare_for<L: Lanes>(k: &mut impl Kernel<L>, shape: &ParticleShape, w: &[L], row: Row<L>) {
    match row {
        Row::Aux(_) => k.prepare_aux(shape, w),
        _ => k.prepare(shape, w),
    }
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
    prepare_for(k, shape, w, row);
    k.forward(shape, w, row);
    let dx = k.backward(shape, w, row, dout, grad);
    k.finish(shape, w, grad);
    dx
}
