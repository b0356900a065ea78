//! All particles of one shape in one contiguous buffer, and the paper's operations over all of
//! them at once.
//!
//! Every operation runs in parallel over fixed chunks of [`CHUNK`] particles (the operations with
//! a [`Workspace`]: over at most [`SPANS`] spans of whole chunks), and inside a chunk over groups
//! of [`LANES`] particles side by side (structure of arrays, so the kernels are SIMD across
//! particles); the general path's self-train step over groups of [`WIDE`]. Each particle's
//! result depends only on its own weights and is computed in the same order as alone, so results
//! are bitwise identical for any number of threads.
//! Scratch lives in a [`Workspace`]: one block per span, allocated once per operation or kept by
//! the caller across steps (llm.c style).

use super::kernel::{self, PnKernel, PnPath};
use super::shape::{Init, ParticleShape, Row};
use crate::lanes::{gather, scatter, F32s, F32x16, Group, Lanes, LANES, WIDE};
use crate::optim::Sgd;
use crate::simd;
use crate::{Error, Result};
use rand::Rng;
use rayon::prelude::*;

/// Particles per parallel work item: fixed, so chunking never depends on the thread count.
pub const CHUNK: usize = 64;

/// Most work items of an operation with a [`Workspace`], each a span of whole chunks with a
/// scratch of its own: a full-size organism's 54,912 particles make 32 spans of 27 chunks, so
/// its scratch is 32 blocks that stay in cache, not 858 streaming through memory beside the
/// weights. Fixed, so spans never depend on the thread count either; more spans than threads
/// keep the threads evenly loaded.
pub const SPANS: usize = 32;
// A span is whole groups of the general path's self-train step too.
const _: () = assert!(CHUNK.is_multiple_of(WIDE));

/// `n` particles of one shape in one contiguous `n × P` buffer, in a fixed order.
#[derive(Clone, Debug)]
pub struct ParticleBatch {
    shape: ParticleShape,
    weights: Vec<f32>,
    path: PnPath,
}

/// Scratch of one work item: the kernel and one group's weights, targets and gradients as lanes
/// (`L`: a group of particles side by side; `t` also holds the gradient back in particle order
/// for the SGD update).
#[derive(Clone, Debug)]
struct Scratch<L = F32s> {
    kernel: PnKernel<L>,
    w: Vec<L>,
    t: Vec<L>,
    g: Vec<L>,
}

impl<L: Lanes> Scratch<L> {
    /// Scratch for particles of `shape` on `path`.
    fn new(shape: &ParticleShape, path: PnPath) -> Self {
        let zero = vec![L::splat(0.0); shape.n_weights()];
        Scratch { kernel: PnKernel::new(shape, path), w: zero.clone(), t: zero.clone(), g: zero }
    }

    // sgd update: the group's gradient (s.g, lanes), its weights w and momenta b (N × P,
    // particle after particle) -> w and b updated in place by one momentum SGD step. The gradient
    // goes back to particle order (through s.t): one transpose, and w and b are read and written
    // once, in memory order, not transposed there and back.
    #[inline(always)]
    fn sgd_update<const N: usize>(&mut self, lr: f32, mu: f32, w: &mut [f32], b: &mut [f32])
    where
        L: Group<N>,
    {
        let g = &mut L::flat_mut(&mut self.t)[..w.len()];
        scatter(&self.g, self.g.len(), g);
        for ((w, b), &g) in w.iter_mut().zip(b).zip(&*g) {
            Sgd::update(lr, mu, w, b, g);
        }
    }

    // self-train step of one group: its weights w and momentum b (N × P, up to N particles) ->
    // losses (before the step) and w, b after one step of Def. 5's loss
    #[inline(always)]
    fn self_train_group<const N: usize>(
        &mut self,
        shape: &ParticleShape,
        (lr, mu): (f32, f32),
        losses: &mut [f32],
        b: &mut [f32],
        w: &mut [f32],
    ) where
        L: Group<N>,
    {
        gather(w, shape.n_weights(), &mut self.w);
        self.g.fill(L::splat(0.0));
        let loss = kernel::self_train_one(&mut self.kernel, shape, &self.w, &mut self.g);
        losses.copy_from_slice(&loss.lanes()[..losses.len()]);
        self.sgd_update(lr, mu, w, b);
    }
}

/// Asks the CPU to bring `xs` into cache: a hint, with no effect on any result. A batch too large
/// for the caches (a full-size organism's weights and momenta are 24 MB) then streams from
/// memory while the previous group computes, instead of stalling at each group's first reads.
#[inline(always)]
fn prefetch(xs: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in xs.chunks(16) {
        // SAFETY: a prefetch never faults and reads nothing into the program; the address is in `xs`.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = xs;
}

/// Scratch for the operations of one batch: one block per span of particles plus the
/// per-particle losses of a self-train step. Build it once with [`ParticleBatch::workspace`]
/// and pass it to every [`ParticleBatch::self_train_step`].
#[derive(Clone, Debug)]
pub struct Workspace {
    spans: Vec<Scratch>,
    /// Particles per span: a whole number of chunks ([`ParticleBatch::span`]).
    span: usize,
    /// The general path's self-train step: one per span, for groups of [`WIDE`] (a chunk is
    /// whole groups of them; none on the collapsed path). Each holds WIDE particles' hidden
    /// activations on all P rows (≈ 70 KB for `[5, 5, 5, 1]`).
    wide: Vec<Scratch<F32x16>>,
    losses: Vec<f32>,
}

impl ParticleBatch {
    /// `n` particles, every layer's `[out][in]` matrix drawn uniform in `±bound` of `init`
    /// (SPEC §1: the authors' Xavier-uniform, or torch's `nn.Linear` default).
    pub fn random(shape: ParticleShape, n: usize, init: Init, rng: &mut impl Rng) -> Self {
        let mut weights = Vec::with_capacity(n * shape.n_weights());
        for _ in 0..n {
            for pair in shape.widths().windows(2) {
                let bound = init.bound(pair[0], pair[1]);
                weights.extend((0..pair[0] * pair[1]).map(|_| rng.gen_range(-bound..bound)));
            }
        }
        let path = PnPath::fastest(&shape);
        ParticleBatch { shape, weights, path }
    }

    /// Particles from a flat `n × P` buffer.
    pub fn from_weights(shape: ParticleShape, weights: Vec<f32>) -> Result<Self> {
        let p = shape.n_weights();
        if !weights.len().is_multiple_of(p) {
            return Err(Error::Invalid(format!(
                "{} weights are not a whole number of particles of {p} weights",
                weights.len()
            )));
        }
        let path = PnPath::fastest(&shape);
        Ok(ParticleBatch { shape, weights, path })
    }

    /// Particles `range` of the batch, copied into a batch of their own (same shape and path).
    pub fn slice(&self, range: std::ops::Range<usize>) -> ParticleBatch {
        let p = self.shape.n_weights();
        let weights = self.weights[range.start * p..range.end * p].to_vec();
        ParticleBatch { shape: self.shape.clone(), weights, path: self.path }
    }

    /// The same particles, always evaluated on the general (layer-by-layer) path (for checks
    /// that both paths agree, and the PN-by-PN organism of re-substitution).
    pub fn with_general_path(mut self) -> Self {
        self.path = PnPath::General;
        self
    }

    /// The shape every particle of the batch has.
    pub fn shape(&self) -> &ParticleShape {
        &self.shape
    }
    /// The path this batch's PNs are evaluated on.
    pub fn path(&self) -> PnPath {
        self.path
    }
    /// Number of particles.
    pub fn len(&self) -> usize {
        self.weights.len() / self.shape.n_weights()
    }
    /// True when the batch holds no particle.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }
    /// All weights, particle after particle (`len() × n_weights`).
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }
    /// All weights, mutable.
    pub fn weights_mut(&mut self) -> &mut [f32] {
        &mut self.weights
    }
    /// Particle `i`'s weights (`n_weights`).
    pub fn particle(&self, i: usize) -> &[f32] {
        let p = self.shape.n_weights();
        &self.weights[i * p..(i + 1) * p]
    }

    /// Scratch for every operation on this batch (or another of the same shape, path and size).
    pub fn workspace(&self) -> Workspace {
        let (n, span) = (self.len(), self.span());
        let wide = if self.path == PnPath::General { n.div_ceil(span) } else { 0 };
        Workspace {
            spans: vec![self.scratch(); n.div_ceil(span)],
            span,
            wide: vec![Scratch::new(&self.shape, self.path); wide],
            losses: vec![0.0; n],
        }
    }

    /// Particles per span of the operations with a [`Workspace`]: whole chunks, as few as make
    /// at most [`SPANS`] spans.
    fn span(&self) -> usize {
        self.len().div_ceil(CHUNK).div_ceil(SPANS).max(1) * CHUNK
    }

    /// Scratch of one span (or one rayon job).
    fn scratch(&self) -> Scratch {
        Scratch::new(&self.shape, self.path)
    }

    fn check(&self, ws: &Workspace) {
        let n = self.len();
        let wide = if self.path == PnPath::General { ws.spans.len() } else { 0 };
        assert!(
            ws.losses.len() == n
                && ws.span == self.span()
                && ws.spans.len() == n.div_ceil(ws.span)
                && ws.wide.len() == wide,
            "workspace of another batch"
        );
    }

    /// `N_applier ◁ target` for one particle of the batch applied to any weight vector.
    pub fn apply(&self, applier: usize, target: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; target.len()];
        let mut k = PnKernel::<f32>::new(&self.shape, self.path);
        kernel::apply_one(&mut k, &self.shape, self.particle(applier), target, &mut out);
        out
    }

    /// Every particle applied to the matching particle of `targets`: `N_n ◁ M_n`.
    pub fn apply_pairwise(&self, targets: &ParticleBatch) -> ParticleBatch {
        assert_eq!(self.weights.len(), targets.weights.len(), "batches of different sizes");
        let p = self.shape.n_weights();
        let mut ws = self.workspace();
        let mut out = vec![0.0; self.weights.len()];
        let (shape, span) = (&self.shape, ws.span);
        ws.spans
            .par_iter_mut()
            .zip(out.par_chunks_mut(span * p))
            .zip(self.weights.par_chunks(span * p).zip(targets.weights.par_chunks(span * p)))
            .for_each(|((s, out), (w, t))| {
                for ((out, w), t) in out.chunks_mut(LANES * p).zip(w.chunks(LANES * p)).zip(t.chunks(LANES * p)) {
                    gather(w, p, &mut s.w);
                    gather(t, p, &mut s.t);
                    kernel::apply_one(&mut s.kernel, shape, &s.w, &s.t, &mut s.g);
                    scatter(&s.g, p, out);
                }
            });
        ParticleBatch { shape: self.shape.clone(), weights: out, path: self.path }
    }

    /// Self-application `N ◁ N` of every particle, into a new batch.
    pub fn self_applied(&self) -> ParticleBatch {
        self.apply_pairwise(self)
    }

    /// Self-application in place: every particle's weights become `N ◁ N`.
    pub fn self_apply(&mut self) {
        self.weights = self.self_applied().weights;
    }

    /// Auxiliary application `PN_n(0, 0, 0, 0, x)` (Def. 6) of every particle.
    pub fn aux_apply(&self, x: f32) -> Vec<f32> {
        let mut out = vec![0.0; self.len()];
        self.aux_apply_into(x, &mut out);
        out
    }

    // aux apply: x -> out (n) = PN_n(0, 0, 0, 0, x) of every particle
    fn aux_apply_into(&self, x: f32, out: &mut [f32]) {
        let p = self.shape.n_weights();
        assert_eq!(out.len(), self.len(), "aux_apply: one output per particle");
        let shape = &self.shape;
        // One scratch per rayon job, not per chunk: each group's result is its own.
        out.par_chunks_mut(CHUNK).zip(self.weights.par_chunks(CHUNK * p)).for_each_init(
            || self.scratch(),
            |s, (out, w)| {
                simd::dispatch(
                    #[inline(always)]
                    || {
                        for (out, w) in out.chunks_mut(LANES).zip(w.chunks(LANES * p)) {
                            gather(w, p, &mut s.w);
                            let y = kernel::row_forward(&mut s.kernel, shape, &s.w, Row::Aux(F32s::splat(x)));
                            out.copy_from_slice(&y.0[..out.len()]);
                        }
                    },
                )
            },
        );
    }

    /// The extracted weights `PN_n(0, 0, 0, 0, 1)` (paper §IV-B).
    pub fn extract(&self) -> Vec<f32> {
        self.aux_apply(1.0)
    }

    /// [`ParticleBatch::extract`] into `out` (one value per particle), which the caller sized.
    pub fn extract_into(&self, out: &mut [f32]) {
        self.aux_apply_into(1.0, out)
    }

    /// Self-training loss of every particle; gradients written into `grads` (`n × P`).
    pub fn self_train_grads(&self, grads: &mut [f32]) -> Vec<f32> {
        let p = self.shape.n_weights();
        assert_eq!(grads.len(), self.weights.len(), "self_train_grads: grads must be n × P");
        let mut ws = self.workspace();
        let (shape, span) = (&self.shape, ws.span);
        ws.spans
            .par_iter_mut()
            .zip(ws.losses.par_chunks_mut(span))
            .zip(grads.par_chunks_mut(span * p).zip(self.weights.par_chunks(span * p)))
            .for_each(|((s, losses), (g, w))| {
                for ((losses, g), w) in losses.chunks_mut(LANES).zip(g.chunks_mut(LANES * p)).zip(w.chunks(LANES * p)) {
                    gather(w, p, &mut s.w);
                    s.g.fill(F32s::default());
                    let loss = kernel::self_train_one(&mut s.kernel, shape, &s.w, &mut s.g);
                    scatter(&s.g, p, g);
                    losses.copy_from_slice(&loss.0[..losses.len()]);
                }
            });
        ws.losses
    }

    /// One self-training step of every particle (Def. 5) with `opt`, gradient and update fused
    /// group by group; returns each particle's loss before the step. `ws` comes from
    /// [`ParticleBatch::workspace`]; nothing is allocated.
    pub fn self_train_step<'w>(&mut self, opt: &mut Sgd, ws: &'w mut Workspace) -> &'w [f32] {
        self.check(ws);
        let lr_mu = (opt.lr, opt.momentum);
        let buf = opt.buffer_mut();
        assert_eq!(buf.len(), self.weights.len(), "optimizer built for another size");
        let (shape, span, losses, w) = (&self.shape, ws.span, &mut ws.losses[..], &mut self.weights[..]);
        match self.path {
            PnPath::Collapsed => self_train_items(shape, &mut ws.spans, span, lr_mu, losses, buf, w),
            // Groups of WIDE: the layer-by-layer kernel's multiply-adds fill an AVX-512 register.
            PnPath::General => self_train_items(shape, &mut ws.wide, span, lr_mu, losses, buf, w),
        }
        &ws.losses
    }

    /// The task step of the extracted path (SPEC §2): `dout[n]` is `∂loss/∂PN_n(0,0,0,0,1)`, the
    /// gradient of particle `n`'s extracted weight; one step of `opt` on every particle's
    /// `∂loss/∂w`, each group's gradient applied as soon as it is computed, so no `n × P`
    /// gradient is held. The same bits as [`ParticleBatch::aux_backward`] with `x = 1` followed
    /// by [`Sgd::step`]. `ws` comes from [`ParticleBatch::workspace`].
    pub fn extracted_task_step(&mut self, dout: &[f32], opt: &mut Sgd, ws: &mut Workspace) {
        let p = self.shape.n_weights();
        self.check(ws);
        assert_eq!(dout.len(), self.len(), "extracted_task_step: one dout per particle");
        let (lr, mu) = (opt.lr, opt.momentum);
        let buf = opt.buffer_mut();
        assert_eq!(buf.len(), self.weights.len(), "optimizer built for another size");
        let (shape, span) = (&self.shape, ws.span);
        ws.spans
            .par_iter_mut()
            .zip(dout.par_chunks(span))
            .zip(buf.par_chunks_mut(span * p).zip(self.weights.par_chunks_mut(span * p)))
            .for_each(|((s, dout), (b, w))| {
                for ((dout, b), w) in dout.chunks(LANES).zip(b.chunks_mut(LANES * p)).zip(w.chunks_mut(LANES * p)) {
                    gather(w, p, &mut s.w);
                    s.g.fill(F32s::default());
                    let mut ds = F32s::default();
                    ds.0[..dout.len()].copy_from_slice(dout);
                    kernel::row_backward(&mut s.kernel, shape, &s.w, Row::Aux(F32s::splat(1.0)), ds, &mut s.g);
                    s.sgd_update(lr, mu, w, b);
                }
            });
    }

    /// Task-pass support: for each particle `n`, `dout[n]` is `∂loss/∂PN_n(0,0,0,0,x[n])`;
    /// writes `∂loss/∂w` into `grads` (`n × P`) and returns `∂loss/∂x` per particle.
    pub fn aux_backward(&self, x: &[f32], dout: &[f32], grads: &mut [f32]) -> Vec<f32> {
        let p = self.shape.n_weights();
        assert_eq!(grads.len(), self.weights.len(), "aux_backward: grads must be n × P");
        assert!(x.len() == self.len() && dout.len() == self.len(), "aux_backward: one x and dout per particle");
        let mut dx = vec![0.0; self.len()];
        let shape = &self.shape;
        let chunks = dx.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK).zip(dout.par_chunks(CHUNK)));
        // One scratch per rayon job, not per chunk: each group's result is its own.
        chunks.zip(grads.par_chunks_mut(CHUNK * p).zip(self.weights.par_chunks(CHUNK * p))).for_each_init(
            || self.scratch(),
            |s, ((dx, (x, dout)), (g, w))| {
                simd::dispatch(
                    #[inline(always)]
                    || {
                        let groups = dx.chunks_mut(LANES).zip(x.chunks(LANES)).zip(dout.chunks(LANES));
                        for ((((dx, x), dout), g), w) in groups.zip(g.chunks_mut(LANES * p)).zip(w.chunks(LANES * p)) {
                            gather(w, p, &mut s.w);
                            s.g.fill(F32s::default());
                            let (mut xs, mut ds) = (F32s::default(), F32s::default());
                            xs.0[..x.len()].copy_from_slice(x);
                            ds.0[..dout.len()].copy_from_slice(dout);
                            let d = kernel::row_backward(&mut s.kernel, shape, &s.w, Row::Aux(xs), ds, &mut s.g).1;
                            scatter(&s.g, p, g);
                            dx.copy_from_slice(&d.0[..dx.len()]);
                        }
                    },
                )
            },
        );
        dx
    }
}

/// The self-train step of [`ParticleBatch::self_train_step`] in parallel work items of `item`
/// particles, one scratch each (`scratches`, one per item), in groups of `N` particles side by
/// side: `losses` (n), momentum `b` and weights `w` (n × P) updated.
fn self_train_items<const N: usize, L: Group<N>>(
    shape: &ParticleShape,
    scratches: &mut [Scratch<L>],
    item: usize,
    lr_mu: (f32, f32),
    losses: &mut [f32],
    b: &mut [f32],
    w: &mut [f32],
) {
    let p = shape.n_weights();
    scratches
        .par_iter_mut()
        .zip(losses.par_chunks_mut(item))
        .zip(b.par_chunks_mut(item * p).zip(w.par_chunks_mut(item * p)))
        .for_each(|((s, losses), (b, w))| {
            simd::dispatch(
                #[inline(always)]
                || {
                    let n = losses.len();
                    for at in (0..n).step_by(N) {
                        // this group's particles, and the next group's weights and momenta
                        // (prefetched while this group computes)
                        let (group, rows) = (at..n.min(at + N), at * p..n.min(at + N) * p);
                        let next = rows.end..(n * p).min(rows.end + N * p);
                        prefetch(&w[next.clone()]);
                        prefetch(&b[next]);
                        s.self_train_group(shape, lr_mu, &mut losses[group], &mut b[rows.clone()], &mut w[rows]);
                    }
                },
            )
        });
}

/// Evaluates single particles (`L = f32`) or groups of [`LANES`] particles side by side
/// (`L = F32s`) of a batch on the auxiliary input, with reusable scratch: the building block of
/// the organism's general task path.
pub struct Evaluator<'a, L = f32> {
    shape: &'a ParticleShape,
    kernel: PnKernel<L>,
}

impl<'a, L: Lanes> Evaluator<'a, L> {
    /// An evaluator for the particles of `batch`, on the batch's path.
    pub fn new(batch: &'a ParticleBatch) -> Self {
        Evaluator { shape: &batch.shape, kernel: PnKernel::new(&batch.shape, batch.path) }
    }

    /// forward: (w, x) -> PN_w(0, 0, 0, 0, x)
    #[inline(always)]
    pub fn aux(&mut self, w: &[L], x: L) -> L {
        kernel::row_forward(&mut self.kernel, self.shape, w, Row::Aux(x))
    }

    /// backward: (w, x, dout) -> grad += dout·∂PN/∂w; returns dout·∂PN/∂x
    #[inline(always)]
    pub fn aux_backward(&mut self, w: &[L], x: L, dout: L, grad: &mut [L]) -> L {
        kernel::row_backward(&mut self.kernel, self.shape, w, Row::Aux(x), dout, grad).1
    }
}
