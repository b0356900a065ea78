//! The ON evaluated PN by PN (the [`super::Path::General`] layer map): every PN on every sample,
//! groups of [`LANES`] consecutive PNs of a layer run layer by layer over a chunk of samples.

use super::dense::layer_offsets;
use super::pass::LayerMap;
use super::OrganismShape;
use crate::lanes::{gather, scatter, F32s, Lanes, LANES};
use crate::particle::{ParticleBatch, ParticleShape};
use crate::simd;
use rayon::prelude::*;

/// The ON evaluated PN by PN, [`LANES`] consecutive particles of a layer at once (SPEC order:
/// cell by cell, edge by edge, so a group may span two cells) over all rows of a chunk.
pub(super) struct General<'a> {
    shape: &'a ParticleShape,
    dims: Vec<(usize, usize)>,
    /// Every layer's particles in groups of [`LANES`], side by side (a layer's last group padded
    /// with zero particles): group `g` of layer `l` is the `P` lanes at `(soa_start[l] + g)·P`.
    soa: Vec<F32s>,
    soa_start: Vec<usize>,
}

impl<'a> General<'a> {
    pub(super) fn new(shape: &OrganismShape, particles: &'a ParticleBatch) -> Self {
        let (dims, offsets) = (shape.layers(), layer_offsets(shape));
        let p = particles.shape().n_weights();
        let (mut soa, mut soa_start) = (Vec::new(), Vec::new());
        for l in 0..dims.len() {
            soa_start.push(soa.len() / p);
            for group in particles.weights()[offsets[l] * p..offsets[l + 1] * p].chunks(LANES * p) {
                let start = soa.len();
                soa.resize(start + p, F32s::default());
                gather(group, p, &mut soa[start..]);
            }
        }
        General { shape: particles.shape(), dims, soa, soa_start }
    }

    /// The lanes of group `g` of layer `l`.
    fn group(&self, l: usize, g: usize) -> &[F32s] {
        let p = self.shape.n_weights();
        let at = (self.soa_start[l] + g) * p;
        &self.soa[at..at + p]
    }

    /// Groups of layer `l`.
    fn groups(&self, l: usize) -> usize {
        let (i_n, o_n) = self.dims[l];
        (i_n * o_n).div_ceil(LANES)
    }
}

/// The particles of one group of a layer: how many (≤ [`LANES`]; the other lanes are padding),
/// and each one's cell and edge.
struct Units {
    n: usize,
    cell: [usize; LANES],
    edge: [usize; LANES],
}

impl Units {
    /// Group `g` of a layer of `o_n` cells of `i_n` edges.
    fn of(g: usize, (i_n, o_n): (usize, usize)) -> Self {
        let first = g * LANES;
        let n = (i_n * o_n - first).min(LANES);
        // Padding lanes repeat the last particle's unit; their values are never used.
        let unit = |j: usize| first + j.min(n - 1);
        Units { n, cell: std::array::from_fn(|j| unit(j) / i_n), edge: std::array::from_fn(|j| unit(j) % i_n) }
    }

    /// Column `index[j]` of every row of `m` (`rows × width`) into lane `j` (padding lanes zero).
    #[inline(always)]
    fn gather(&self, m: &[f32], width: usize, index: &[usize; LANES], out: &mut [F32s]) {
        for (o, row) in out.iter_mut().zip(m.chunks_exact(width)) {
            *o = F32s(std::array::from_fn(|j| if j < self.n { row[index[j]] } else { 0.0 }));
        }
    }
}

/// Whether the backward needs `f′(z)` of the PNs' hidden units kept beside their activations
/// `a` (GELU); tanh's and none's come from `a` ([`Activation::derivative_of_output`]).
///
/// [`Activation::derivative_of_output`]: crate::activation::Activation::derivative_of_output
fn keeps_derivative(shape: &ParticleShape) -> bool {
    shape.activation().derivative_of_output(0.0).is_none()
}

/// One group's buffers, for `rows` rows; grown on first use, then reused.
#[derive(Default)]
struct GroupBuf {
    /// The group's input (its edge's value) on every row, and its output or (backward)
    /// `∂loss/∂output` on every row.
    x: Vec<F32s>,
    y: Vec<F32s>,
    /// Every hidden layer's activations `a`, layer after layer (`rows × width` each), and their
    /// `f′(z)` likewise when [`keeps_derivative`] (else empty).
    h: Vec<F32s>,
    dh: Vec<F32s>,
    /// One hidden layer's pre-activations when [`keeps_derivative`], `rows × width`.
    z: Vec<F32s>,
    /// The gradient flowing back through one row (two of the widest layer), and the group's
    /// gradient (`P`).
    delta: Vec<F32s>,
    grad: Vec<F32s>,
}

impl GroupBuf {
    fn size(&mut self, shape: &ParticleShape, rows: usize) {
        let hidden: usize = shape.widths()[1..shape.n_layers()].iter().sum();
        let keep = keeps_derivative(shape);
        let lens = [
            (&mut self.x, rows),
            (&mut self.y, rows),
            (&mut self.h, rows * hidden),
            (&mut self.dh, if keep { rows * hidden } else { 0 }),
            (&mut self.z, if keep { rows * shape.max_width() } else { 0 }),
            (&mut self.delta, 2 * shape.max_width()),
            (&mut self.grad, shape.n_weights()),
        ];
        for (v, len) in lens {
            v.resize(len, F32s::default());
        }
    }

    // forward: x (rows) -> y (rows) = PN(0, 0, 0, 0, x) lane by lane, h (and dh) = every hidden
    // layer's a (and f′(z)); each row's sums those of `kernel::General::forward_rows` on the
    // aux row, in the same order; the activation over a whole layer's block at once
    #[inline(always)]
    fn forward(&mut self, shape: &ParticleShape, w: &[F32s]) {
        let (act, keep) = (shape.activation(), keeps_derivative(shape));
        let (rows, last, aux) = (self.x.len(), shape.n_layers() - 1, shape.aux_slot());
        // The previous hidden layer's block of h.
        let mut prev = 0..0;
        for l in 0..=last {
            let (inp, out) = (shape.widths()[l], shape.widths()[l + 1]);
            let mat = &w[shape.offset(l)..shape.offset(l + 1)];
            let next = prev.end..prev.end + rows * out;
            let (done, rest) = self.h.split_at_mut(prev.end);
            let z = if l == last {
                &mut self.y[..]
            } else if keep {
                &mut self.z[..rows * out]
            } else {
                &mut rest[..rows * out]
            };
            if l == 0 {
                // The aux row's one live input (`ParticleShape::live_inputs`).
                for (z, &x) in z.chunks_exact_mut(out).zip(&self.x) {
                    for (z, m) in z.iter_mut().zip(mat.chunks_exact(inp)) {
                        let mut s = F32s::splat(0.0);
                        s += m[aux] * x;
                        *z = s;
                    }
                }
            } else {
                for (z, a) in z.chunks_exact_mut(out).zip(done[prev].chunks_exact(inp)) {
                    for (z, m) in z.iter_mut().zip(mat.chunks_exact(inp)) {
                        let mut s = F32s::splat(0.0);
                        for (&m, &a) in m.iter().zip(a) {
                            s += m * a;
                        }
                        *z = s;
                    }
                }
            }
            if l < last {
                let a = F32s::flat_mut(&mut rest[..rows * out]);
                if keep {
                    let dh = F32s::flat_mut(&mut self.dh[next.clone()]);
                    act.forward_with_derivative(F32s::flat_mut(&mut self.z[..rows * out]), a, dh);
                } else {
                    act.forward_in_place(a);
                }
            }
            prev = next;
        }
    }
}

// backward: x (rows), h and dh (as the forward left them), dy (rows) -> grad (P) += Σ_rows
// dy·∂PN/∂w, rows in order; dx (rows; empty: not wanted) = dy·∂PN/∂x. Each row's sums those of
// `kernel::General::backward_row` on the aux row, in the same order.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn group_backward(
    shape: &ParticleShape,
    w: &[F32s],
    x: &[F32s],
    h: &[F32s],
    dh: &[F32s],
    dy: &[F32s],
    delta: &mut [F32s],
    dx: &mut [F32s],
    grad: &mut [F32s],
) {
    let (act, rows, aux) = (shape.activation(), x.len(), shape.aux_slot());
    let (mut delta, mut next) = delta.split_at_mut(delta.len() / 2);
    for r in 0..rows {
        delta[0] = dy[r];
        // End of the block of hidden layer l, the input of layer l.
        let mut end = h.len();
        for l in (0..shape.n_layers()).rev() {
            let (inp, out) = (shape.widths()[l], shape.widths()[l + 1]);
            let (mat, g) = (&w[shape.offset(l)..shape.offset(l + 1)], &mut grad[shape.offset(l)..shape.offset(l + 1)]);
            if l == 0 {
                for (g, &d) in g.chunks_exact_mut(inp).zip(&delta[..out]) {
                    g[aux] += d * x[r];
                }
                if let Some(dx) = dx.get_mut(r) {
                    let mut s = F32s::splat(0.0);
                    for (m, &d) in mat.chunks_exact(inp).zip(&delta[..out]) {
                        s += m[aux] * d;
                    }
                    *dx = s;
                }
            } else {
                let at = end - rows * inp + r * inp;
                let a = &h[at..at + inp];
                for (g, &d) in g.chunks_exact_mut(inp).zip(&delta[..out]) {
                    for (g, &a) in g.iter_mut().zip(a) {
                        *g += d * a;
                    }
                }
                for (i, n) in next[..inp].iter_mut().enumerate() {
                    let mut s = F32s::splat(0.0);
                    for (m, &d) in mat.chunks_exact(inp).zip(&delta[..out]) {
                        s += m[i] * d;
                    }
                    let f = match dh.get(at + i) {
                        Some(&f) => f,
                        None => a[i].map(|a| act.derivative_of_output(a).unwrap_or(f32::NAN)),
                    };
                    *n = s * f;
                }
                std::mem::swap(&mut delta, &mut next);
                end -= rows * inp;
            }
        }
    }
}

/// Bytes of PN activations a chunk's [`RowScratch`](super::pass::RowScratch) keeps per layer
/// for the backward (each of a layer's PNs' hidden `a`, for GELU also `f′(z)`, on every row of
/// the chunk); a layer with more has its forward run again in the backward instead. 8 MiB keeps
/// every layer of the `mnist` organism (1,200 PNs, 3 MB per chunk with tanh PNs), not the
/// first layer of a (784, 64, …) one (50,176 PNs, 128 MB per chunk).
pub(super) const KEEP_BYTES: usize = 8 << 20;

/// Groups of a layer run as one parallel task: a chunk's layer is split into parts of this
/// many groups, which other threads may take (a pass of a few chunks keeps both cores busy).
/// Every group's sums are the same whichever thread runs it, and the parts' outputs and input
/// gradients are added in group order afterwards.
const PART: usize = 16;

/// Groups a layer's outputs (forward) or input gradients (backward) are held for at once: the
/// groups run in waves of this many parts, each wave's results added into the layer's sums in
/// group order before the next (the same order as one wave over all groups). A (784, 64, …)
/// organism's first layer has 6,272 groups: held at once they took 13 MB per chunk.
const WAVE: usize = 8 * PART;

/// What a chunk's forward of a layer keeps for its backward, and the buffers both work in
/// (grown on first use, then reused).
#[derive(Default)]
pub(super) struct Kept {
    /// Whether the forward keeps every group's activations; else the backward runs each
    /// group's forward again.
    all: bool,
    /// Every group's `h` then `dh`, group after group.
    acts: Vec<F32s>,
    /// Every group's output (forward) or `∂loss/∂input` (backward) on every row, group after group.
    ys: Vec<F32s>,
    /// One group's buffers for each part.
    bufs: Vec<GroupBuf>,
}

impl Kept {
    /// Sizes the buffers for a wave of `groups` groups of `rows` rows; returns the length of a
    /// group's `h` and `dh`.
    fn size(&mut self, shape: &ParticleShape, groups: usize, rows: usize) -> usize {
        let wave = groups.min(WAVE);
        self.bufs.resize_with(wave.div_ceil(PART), GroupBuf::default);
        self.bufs.iter_mut().for_each(|b| b.size(shape, rows));
        self.ys.resize(wave * rows, F32s::default());
        self.bufs[0].h.len() + self.bufs[0].dh.len()
    }
}

impl LayerMap for General<'_> {
    type Kept = Kept;

    fn kept(&self, l: usize, rows: usize) -> Self::Kept {
        let shape = self.shape;
        let hidden: usize = shape.widths()[1..shape.n_layers()].iter().sum();
        let per_row = hidden * if keeps_derivative(shape) { 2 } else { 1 };
        let bytes = self.groups(l) * rows * per_row * std::mem::size_of::<F32s>();
        Kept { all: rows > 0 && bytes <= KEEP_BYTES, ..Kept::default() }
    }

    fn grad_len(&self, l: usize) -> usize {
        let (i_n, o_n) = self.dims[l];
        i_n * o_n * self.shape.n_weights()
    }

    // forward: x (rows × in) -> y[c] = Σ_e PN_{l,c,e}(0, 0, 0, 0, x[e]) (rows × out), kept; each
    // group of LANES PNs runs layer by layer over all rows (activations over long slices), parts
    // of PART groups in parallel; each row's sum over e is in edge order from Iterator::sum's
    // -0.0, as PN by PN
    #[inline(always)]
    fn forward_kernel(&self, l: usize, inp: &[f32], out: &mut [f32], kept: &mut Kept) {
        let (i_n, o_n) = self.dims[l];
        let (groups, rows) = (self.groups(l), inp.len() / i_n);
        out.fill(-0.0);
        if rows == 0 {
            return;
        }
        let stride = kept.size(self.shape, groups, rows);
        let Kept { all, acts, ys, bufs } = kept;
        // part p (from the layer's first group): its groups' outputs, buffer and kept
        // activations (none when not kept)
        let part = |p: usize, ys: &mut [F32s], buf: &mut GroupBuf, acts: &mut [F32s]| {
            simd::dispatch(
                #[inline(always)]
                || {
                    for (k, y) in ys.chunks_exact_mut(rows).enumerate() {
                        let g = p * PART + k;
                        let u = Units::of(g, self.dims[l]);
                        u.gather(inp, i_n, &u.edge, &mut buf.x);
                        buf.forward(self.shape, self.group(l, g));
                        y.copy_from_slice(&buf.y);
                        if let Some(a) = acts.get_mut(k * stride..(k + 1) * stride) {
                            let (h, dh) = a.split_at_mut(buf.h.len());
                            h.copy_from_slice(&buf.h);
                            dh.copy_from_slice(&buf.dh);
                        }
                    }
                },
            )
        };
        if *all {
            acts.resize(groups * stride, F32s::default());
        }
        for first in (0..groups).step_by(WAVE) {
            let n = WAVE.min(groups - first);
            let ys = &mut ys[..n * rows];
            let work = ys.par_chunks_mut(PART * rows).zip(bufs.par_iter_mut()).enumerate();
            if *all {
                let acts = acts[first * stride..(first + n) * stride].par_chunks_mut(PART * stride);
                work.zip(acts).for_each(|((p, (ys, buf)), acts)| part(first / PART + p, ys, buf, acts));
            } else {
                work.for_each(|(p, (ys, buf))| part(first / PART + p, ys, buf, &mut []));
            }
            for (g, ys) in ys.chunks_exact(rows).enumerate() {
                let u = Units::of(first + g, self.dims[l]);
                for (y, o) in ys.iter().zip(out.chunks_exact_mut(o_n)) {
                    for j in 0..u.n {
                        o[u.cell[j]] += y.0[j];
                    }
                }
            }
        }
    }

    // backward: x (rows × in), dy (rows × out), kept -> grad (particles × P) += Σ_rows ∂loss/∂w,
    // rows in order; dx[e] = Σ_c dy[c]·∂PN_{l,c,e}/∂x[e], c in order (groups in order, lanes in
    // order). Each group's activations are those the forward kept, or its forward run again;
    // parts of PART groups in parallel.
    #[inline(always)]
    fn backward_kernel(
        &self,
        l: usize,
        inp: &[f32],
        dout: &[f32],
        mut dinp: Option<&mut [f32]>,
        grad: &mut [f32],
        kept: &mut Kept,
    ) {
        let (i_n, o_n) = self.dims[l];
        let (p, groups, rows) = (self.shape.n_weights(), self.groups(l), inp.len() / i_n);
        if rows == 0 {
            return;
        }
        let stride = kept.size(self.shape, groups, rows);
        let Kept { all, acts, ys: dxs, bufs } = kept;
        let (all, acts, want_dx, len) = (*all, &acts[..], dinp.is_some(), grad.len());
        if let Some(d) = dinp.as_deref_mut() {
            d.fill(0.0);
        }
        for first in (0..groups).step_by(WAVE) {
            let n = WAVE.min(groups - first);
            let grad = &mut grad[first * LANES * p..((first + n) * LANES * p).min(len)];
            let dxs = &mut dxs[..n * rows];
            let parts =
                grad.par_chunks_mut(PART * LANES * p).zip(dxs.par_chunks_mut(PART * rows)).zip(bufs.par_iter_mut());
            parts.enumerate().for_each(|(part, ((grad, dxs), buf))| {
                simd::dispatch(
                    #[inline(always)]
                    || {
                        for (k, (block, dx)) in grad.chunks_mut(LANES * p).zip(dxs.chunks_exact_mut(rows)).enumerate() {
                            let g = first + part * PART + k;
                            let u = Units::of(g, self.dims[l]);
                            let w = self.group(l, g);
                            u.gather(inp, i_n, &u.edge, &mut buf.x);
                            if !all {
                                buf.forward(self.shape, w);
                            }
                            u.gather(dout, o_n, &u.cell, &mut buf.y);
                            let (h, dh) = if all {
                                acts[g * stride..(g + 1) * stride].split_at(buf.h.len())
                            } else {
                                (&buf.h[..], &buf.dh[..])
                            };
                            buf.grad.fill(F32s::default());
                            let dx = if want_dx { dx } else { &mut [] };
                            group_backward(self.shape, w, &buf.x, h, dh, &buf.y, &mut buf.delta, dx, &mut buf.grad);
                            scatter(&buf.grad, p, block);
                        }
                    },
                )
            });
            if let Some(d) = dinp.as_deref_mut() {
                for (g, dx) in dxs.chunks_exact(rows).enumerate() {
                    let u = Units::of(first + g, self.dims[l]);
                    for (v, row) in dx.iter().zip(d.chunks_exact_mut(i_n)) {
                        for j in 0..u.n {
                            row[u.edge[j]] += v.0[j];
                        }
                    }
                }
            }
        }
    }
}
