//! Organism networks (ONs): paper §III, Def. 7, SPEC §2.
//!
//! An ON is a dense network whose every edge is a particle: layer `l`, cell `c` sums
//! `PN_{l,c,e}(0, 0, 0, 0, in_e)` over its input units `e`. Particles are stored in one
//! [`ParticleBatch`] in SPEC order (layer, cell, edge), which is also the order of the weights of
//! the equivalent dense network, so particle `n` *is* dense weight `n`.
//!
//! The task pass has one network skeleton (residual skip, activation, loss) over two layer maps:
//! - [`Path::Extracted`]: every particle's weight `PN(0,0,0,0,1)` is extracted at once, the
//!   dense network runs, and the dense gradient is chained back through the extraction. Exact
//!   for linear PNs, where `PN(0,0,0,0,x) = x·PN(0,0,0,0,1)` (paper §IV-B).
//! - [`Path::General`]: each PN is evaluated on each sample; needed for non-linear PNs.
//!
//! Hidden cells' sums pass through a fixed function or through activation particles
//! ([`activation_particles`]), on either path.

pub mod activation_particles;

pub use activation_particles::{ActivationParticleConfig, ActivationParticles, LayerActivation, Per};

use crate::data::task::Labels;
use crate::lanes::{gather, scatter, F32s, Lanes, LANES};
use crate::particle::{Evaluator, Init, ParticleBatch, ParticleShape};
use crate::{simd, Error, Result};
use activation_particles::Cells;
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Samples per parallel work item of the task pass: fixed, so sums never depend on threads.
const ROWS: usize = 64;

/// `(inputs p, width w, depth d, outputs q)` plus the residual skip and activation (SPEC §2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganismShape {
    /// Input width `p`.
    pub inputs: usize,
    /// Cells per hidden layer `w`.
    pub width: usize,
    /// Number of particle layers, ≥ 2.
    pub depth: usize,
    /// Output width `q`.
    pub outputs: usize,
    /// Adds each hidden layer's input to its output (layers 1..d−2, SPEC §2).
    pub residual_skip: bool,
    /// Between layers: `none`, `gelu` or `particle`.
    pub activation: LayerActivation,
}

impl OrganismShape {
    /// Checks the sizes (every width ≥ 1, depth ≥ 2) and the activation.
    pub fn validate(&self) -> Result<()> {
        let positive = [("inputs", self.inputs), ("width", self.width), ("outputs", self.outputs)];
        for (key, v) in positive {
            if v == 0 {
                return Err(Error::config(format!("organism.{key}"), "must be at least 1"));
            }
        }
        if self.depth < 2 {
            return Err(Error::config("organism.depth", format!("must be at least 2, got {}", self.depth)));
        }
        Ok(())
    }

    /// `(in, out)` of every layer: p→w, w→w …, w→q.
    pub fn layers(&self) -> Vec<(usize, usize)> {
        (0..self.depth)
            .map(|l| {
                let inp = if l == 0 { self.inputs } else { self.width };
                let out = if l + 1 == self.depth { self.outputs } else { self.width };
                (inp, out)
            })
            .collect()
    }

    /// Number of particles: one per edge.
    pub fn n_particles(&self) -> usize {
        self.layers().iter().map(|(i, o)| i * o).sum()
    }

    /// `(layer, cell, edge)` of every particle, in storage order.
    pub fn positions(&self) -> Vec<(usize, usize, usize)> {
        let mut v = Vec::with_capacity(self.n_particles());
        for (l, (inp, out)) in self.layers().into_iter().enumerate() {
            for c in 0..out {
                for e in 0..inp {
                    v.push((l, c, e));
                }
            }
        }
        v
    }

    /// `L{l}_C{c}_W{e}` for every particle, in storage order.
    pub fn particle_names(&self) -> Vec<String> {
        self.positions().into_iter().map(|(l, c, e)| format!("L{l}_C{c}_W{e}")).collect()
    }

    /// Hidden layers (1..d−2) carry the residual skip.
    fn is_hidden(&self, l: usize) -> bool {
        l >= 1 && l + 1 < self.depth
    }
}

/// The task's loss (SPEC §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Mean squared error; targets are `B × q` values.
    Regression,
    /// Mean cross-entropy on logits; targets are `B` class indices.
    Classification,
}

/// How the task pass evaluates particles (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Extract every particle's weight `PN(0,0,0,0,1)` once and run a dense network (linear PNs, SPEC §2).
    Extracted,
    /// Evaluate every particle on every sample (any PN).
    General,
}

/// One layer of the network as a map from `rows × in` to `rows × out`, with its backward.
trait LayerMap: Sync {
    // forward: inp (rows × in) -> out (rows × out)
    fn forward(&self, l: usize, inp: &[f32], out: &mut [f32]);
    // backward: inp (rows × in), dout (rows × out) -> dinp (rows × in, if wanted); grad (layer block) +=
    fn backward(&self, l: usize, inp: &[f32], dout: &[f32], dinp: Option<&mut [f32]>, grad: &mut [f32]);
    /// Length of layer `l`'s gradient block.
    fn grad_len(&self, l: usize) -> usize;
}

/// A dense network of the ON's shape with weights `[l][c][e]` (extracted or not).
pub struct Dense<'a> {
    shape: &'a OrganismShape,
    weights: &'a [f32],
    /// The activation particles, when the shape has them.
    activations: Option<&'a ActivationParticles>,
    /// `(in, out)` and start of every layer's block (hoisted out of the hot loops).
    dims: Vec<(usize, usize)>,
    offsets: Vec<usize>,
}

fn layer_offsets(shape: &OrganismShape) -> Vec<usize> {
    let mut offsets = vec![0];
    for (i, o) in shape.layers() {
        offsets.push(offsets.last().unwrap() + i * o);
    }
    offsets
}

impl<'a> Dense<'a> {
    /// The dense network of `shape` with its weights (SPEC order).
    pub fn new(shape: &'a OrganismShape, weights: &'a [f32]) -> Self {
        assert_eq!(weights.len(), shape.n_particles(), "dense weights of the wrong size");
        Dense { shape, weights, activations: None, dims: shape.layers(), offsets: layer_offsets(shape) }
    }

    /// The same network with the activation particles of its cells (`organism.activation =
    /// "particle"` needs them).
    pub fn with_activations(mut self, activations: Option<&'a ActivationParticles>) -> Self {
        self.activations = activations;
        self
    }

    fn cells(&self) -> Cells<'a> {
        Cells::new(self.shape, self.activations)
    }

    /// The network's output, `B × q`.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        network_pass(self.shape, self, &self.cells(), x, None).output
    }

    /// Loss, output and `∂loss/∂weight` (one per dense weight, SPEC order) on `(x, targets)`:
    /// the task pass of the dense network, and the first half of the organism's extracted path.
    pub fn task_pass(&self, x: &[f32], targets: Targets) -> TaskPass {
        network_pass(self.shape, self, &self.cells(), x, Some(targets))
    }
}

// dots: a (NB rows of n), x (n) -> [a_j · x] for every row j, each summed in LANES interleaved
// partial sums then the tail (the order of a one-row dot; NB rows at once share the loads of x
// and keep NB·LANES independent sums in flight)
#[inline(always)]
fn dots<const NB: usize>(a: [&[f32]; NB], x: &[f32]) -> [f32; NB] {
    let mut acc = [[0f32; LANES]; NB];
    let n = x.len() / LANES * LANES;
    for k in (0..n).step_by(LANES) {
        let xk = &x[k..k + LANES];
        for (acc, a) in acc.iter_mut().zip(&a) {
            let ak = &a[k..k + LANES];
            for l in 0..LANES {
                acc[l] += ak[l] * xk[l];
            }
        }
    }
    std::array::from_fn(|j| {
        let tail: f32 = a[j][n..].iter().zip(&x[n..]).map(|(a, x)| a * x).sum();
        acc[j].iter().sum::<f32>() + tail
    })
}

// grad_rows: dy (rows × out), x (rows × in), column o.. o+NB -> grad rows o.. (NB × in) += Σ_r
// dy[r][o]·x[r], row after row (the order of one row at a time, NB·LANES sums in registers)
#[inline(always)]
fn grad_rows<const NB: usize>(g: &mut [f32], o: usize, o_n: usize, dy: &[f32], x: &[f32]) {
    let i_n = g.len() / NB;
    for i0 in (0..i_n).step_by(LANES) {
        let w = LANES.min(i_n - i0);
        let mut acc = [[0f32; LANES]; NB];
        for (j, acc) in acc.iter_mut().enumerate() {
            acc[..w].copy_from_slice(&g[j * i_n + i0..j * i_n + i0 + w]);
        }
        for (xr, dr) in x.chunks_exact(i_n).zip(dy.chunks_exact(o_n)) {
            let xr = &xr[i0..i0 + w];
            for (j, acc) in acc.iter_mut().enumerate() {
                let d = dr[o + j];
                for l in 0..w {
                    acc[l] += d * xr[l];
                }
            }
        }
        for (j, acc) in acc.iter().enumerate() {
            g[j * i_n + i0..j * i_n + i0 + w].copy_from_slice(&acc[..w]);
        }
    }
}

/// Output rows of a layer handled together by the dense kernels.
const BLOCK: usize = 4;

impl LayerMap for Dense<'_> {
    fn forward(&self, l: usize, inp: &[f32], out: &mut [f32]) {
        simd::dispatch(
            #[inline(always)]
            || self.dense_forward(l, inp, out),
        )
    }

    fn backward(&self, l: usize, inp: &[f32], dout: &[f32], dinp: Option<&mut [f32]>, grad: &mut [f32]) {
        simd::dispatch(
            #[inline(always)]
            || self.dense_backward(l, inp, dout, dinp, grad),
        )
    }

    fn grad_len(&self, l: usize) -> usize {
        self.offsets[l + 1] - self.offsets[l]
    }
}

/// The dense kernels, inlined into [`simd::dispatch`]'s choice of instructions.
impl Dense<'_> {
    // forward: x (rows × in), A (out × in) -> y = x Aᵀ (rows × out)
    #[inline(always)]
    fn dense_forward(&self, l: usize, inp: &[f32], out: &mut [f32]) {
        let (i_n, o_n) = self.dims[l];
        let a = &self.weights[self.offsets[l]..self.offsets[l + 1]];
        let full = o_n / BLOCK * BLOCK;
        for (x, y) in inp.chunks_exact(i_n).zip(out.chunks_exact_mut(o_n)) {
            for (yb, ab) in y[..full].chunks_exact_mut(BLOCK).zip(a.chunks_exact(BLOCK * i_n)) {
                yb.copy_from_slice(&dots::<BLOCK>(std::array::from_fn(|j| &ab[j * i_n..(j + 1) * i_n]), x));
            }
            for (yc, row) in y[full..].iter_mut().zip(a[full * i_n..].chunks_exact(i_n)) {
                *yc = dots::<1>([row], x)[0];
            }
        }
    }

    // backward: x (rows × in), dy (rows × out) -> grad (out × in) += dyᵀ x; dx = dy A (rows × in)
    #[inline(always)]
    fn dense_backward(&self, l: usize, inp: &[f32], dout: &[f32], dinp: Option<&mut [f32]>, grad: &mut [f32]) {
        let (i_n, o_n) = self.dims[l];
        let a = &self.weights[self.offsets[l]..self.offsets[l + 1]];
        let full = o_n / BLOCK * BLOCK;
        for (k, g) in grad[..full * i_n].chunks_exact_mut(BLOCK * i_n).enumerate() {
            grad_rows::<BLOCK>(g, k * BLOCK, o_n, dout, inp);
        }
        for (o, g) in (full..).zip(grad[full * i_n..].chunks_exact_mut(i_n)) {
            grad_rows::<1>(g, o, o_n, dout, inp);
        }
        if let Some(dinp) = dinp {
            for (dx, dy) in dinp.chunks_exact_mut(i_n).zip(dout.chunks_exact(o_n)) {
                dx.fill(0.0);
                for (&d, row) in dy.iter().zip(a.chunks_exact(i_n)) {
                    dx.iter_mut().zip(row).for_each(|(dx, &w)| *dx += d * w);
                }
            }
        }
    }
}

/// The ON evaluated PN by PN, sample by sample, [`LANES`] edges of a cell at once.
struct General<'a> {
    particles: &'a ParticleBatch,
    dims: Vec<(usize, usize)>,
    offsets: Vec<usize>,
    /// Every cell's particles in groups of [`LANES`] edges, side by side: layer `l`, cell `c`,
    /// group `k` is the `P` lanes at `(soa_start[l] + c·groups + k)·P`.
    soa: Vec<F32s>,
    soa_start: Vec<usize>,
}

impl<'a> General<'a> {
    fn new(shape: &OrganismShape, particles: &'a ParticleBatch) -> Self {
        let (dims, offsets) = (shape.layers(), layer_offsets(shape));
        let p = particles.shape().n_weights();
        let (mut soa, mut soa_start) = (Vec::new(), Vec::new());
        for (l, &(i_n, o_n)) in dims.iter().enumerate() {
            soa_start.push(soa.len() / p);
            for c in 0..o_n {
                let cell = &particles.weights()[(offsets[l] + c * i_n) * p..(offsets[l] + (c + 1) * i_n) * p];
                for group in cell.chunks(LANES * p) {
                    let start = soa.len();
                    soa.resize(start + p, F32s::default());
                    gather(group, p, &mut soa[start..]);
                }
            }
        }
        General { particles, dims, offsets, soa, soa_start }
    }

    /// The lanes of group `k` of cell `c` of layer `l`, with `groups` groups per cell.
    fn group(&self, l: usize, c: usize, groups: usize, k: usize) -> &[F32s] {
        let p = self.particles.shape().n_weights();
        let g = self.soa_start[l] + c * groups + k;
        &self.soa[g * p..(g + 1) * p]
    }
}

/// Up to [`LANES`] values into lanes (the rest zero).
fn lanes_of(x: &[f32]) -> F32s {
    let mut v = F32s::default();
    v.0[..x.len()].copy_from_slice(x);
    v
}

impl LayerMap for General<'_> {
    fn forward(&self, l: usize, inp: &[f32], out: &mut [f32]) {
        simd::dispatch(
            #[inline(always)]
            || self.general_forward(l, inp, out),
        )
    }

    fn backward(&self, l: usize, inp: &[f32], dout: &[f32], dinp: Option<&mut [f32]>, grad: &mut [f32]) {
        simd::dispatch(
            #[inline(always)]
            || self.general_backward(l, inp, dout, dinp, grad),
        )
    }

    fn grad_len(&self, l: usize) -> usize {
        (self.offsets[l + 1] - self.offsets[l]) * self.particles.shape().n_weights()
    }
}

/// The PN-by-PN kernels, inlined into [`simd::dispatch`]'s choice of instructions.
impl General<'_> {
    // forward: x (rows × in) -> y[c] = Σ_e PN_{l,c,e}(0, 0, 0, 0, x[e]) (rows × out)
    #[inline(always)]
    fn general_forward(&self, l: usize, inp: &[f32], out: &mut [f32]) {
        let (i_n, o_n) = self.dims[l];
        let groups = i_n.div_ceil(LANES);
        let mut ev = Evaluator::<F32s>::new(self.particles);
        let mut each = vec![0.0; i_n];
        for (x, y) in inp.chunks(i_n).zip(out.chunks_mut(o_n)) {
            for (c, yc) in y.iter_mut().enumerate() {
                for (k, (xe, ye)) in x.chunks(LANES).zip(each.chunks_mut(LANES)).enumerate() {
                    let v = ev.aux(self.group(l, c, groups, k), lanes_of(xe));
                    ye.copy_from_slice(&v.0[..ye.len()]);
                }
                *yc = each.iter().sum();
            }
        }
    }

    // backward: x (rows × in), dy (rows × out) -> grad (particles × P) += Σ_rows ∂loss/∂w;
    // dx[e] = Σ_c dy[c]·∂PN_{l,c,e}/∂x[e]
    #[inline(always)]
    fn general_backward(&self, l: usize, inp: &[f32], dout: &[f32], mut dinp: Option<&mut [f32]>, grad: &mut [f32]) {
        let (i_n, o_n) = self.dims[l];
        let p = self.particles.shape().n_weights();
        let groups = i_n.div_ceil(LANES);
        let mut ev = Evaluator::<F32s>::new(self.particles);
        // The layer's gradient as lanes, group by group, then back to particles.
        let mut g = vec![F32s::default(); o_n * groups * p];
        let mut dx = vec![0.0; i_n];
        for (r, (x, dy)) in inp.chunks(i_n).zip(dout.chunks(o_n)).enumerate() {
            dx.fill(0.0);
            for (c, &d) in dy.iter().enumerate() {
                for (k, (xe, dxe)) in x.chunks(LANES).zip(dx.chunks_mut(LANES)).enumerate() {
                    let gk = &mut g[(c * groups + k) * p..(c * groups + k + 1) * p];
                    let v = ev.aux_backward(self.group(l, c, groups, k), lanes_of(xe), F32s::splat(d), gk);
                    dxe.iter_mut().zip(v.0).for_each(|(a, b)| *a += b);
                }
            }
            if let Some(dinp) = dinp.as_deref_mut() {
                dinp[r * i_n..(r + 1) * i_n].copy_from_slice(&dx);
            }
        }
        for (c, cell) in grad.chunks_mut(i_n * p).enumerate() {
            for (k, block) in cell.chunks_mut(LANES * p).enumerate() {
                scatter(&g[(c * groups + k) * p..(c * groups + k + 1) * p], p, block);
            }
        }
    }
}

/// Scratch of one chunk of [`ROWS`] samples: every layer's input and pre-activation, the
/// gradient flowing back, and the chunk's share of the weight gradient. Allocated once per pass.
struct RowScratch {
    /// Input of layers 1.. (layer 0 reads the caller's `x`), `rows × in` each.
    inputs: Vec<Vec<f32>>,
    /// Every layer's output after the residual add, before the activation, `rows × out`.
    pre: Vec<Vec<f32>>,
    residual: Vec<f32>,
    d_residual: Vec<f32>,
    /// `∂loss/∂(layer output)` and `∂loss/∂(layer input)`.
    d: Vec<f32>,
    din: Vec<f32>,
    /// The chunk's gradient, every layer's block in turn, and the activation particles'.
    grad: Vec<f32>,
    act_grad: Vec<f32>,
}

impl RowScratch {
    fn new(shape: &OrganismShape, map: &impl LayerMap, cells: &Cells, backward: bool) -> Self {
        let layers = shape.layers();
        let widest = layers.iter().map(|&(i, o)| i.max(o)).max().unwrap();
        let block = |w: usize| vec![0.0; ROWS * w];
        let grad_len = if backward { (0..layers.len()).map(|l| map.grad_len(l)).sum() } else { 0 };
        RowScratch {
            inputs: layers.iter().enumerate().map(|(l, &(i, _))| if l > 0 { block(i) } else { Vec::new() }).collect(),
            pre: layers.iter().map(|&(_, o)| block(o)).collect(),
            residual: block(shape.width),
            d_residual: block(shape.width),
            d: block(widest),
            din: block(widest),
            grad: vec![0.0; grad_len],
            act_grad: vec![0.0; if backward { cells.grad_len() } else { 0 }],
        }
    }
}

/// The loss of the chunk of outputs being passed back, and where its per-row terms go.
struct LossRows<'a> {
    targets: Targets<'a>,
    /// Rows of the whole batch (`B`), for the mean.
    batch: usize,
    terms: &'a mut [f32],
}

// forward: x (rows × p) -> y (rows × q), keeping what backward needs in s; SPEC §2's residual
// skip and the cells' activation
fn chunk_forward(
    shape: &OrganismShape,
    map: &impl LayerMap,
    cells: &Cells,
    x: &[f32],
    y: &mut [f32],
    s: &mut RowScratch,
) {
    let layers = shape.layers();
    let rows = x.len() / shape.inputs;
    let mut residual = false;
    for (l, &(i_n, o_n)) in layers.iter().enumerate() {
        let skip = shape.residual_skip && shape.is_hidden(l);
        let (before, after) = s.inputs.split_at_mut(l + 1);
        let t = if l == 0 { x } else { &before[l][..rows * i_n] };
        if skip && l % 2 == 1 {
            s.residual[..t.len()].copy_from_slice(t);
            residual = true;
        }
        let pre = &mut s.pre[l][..rows * o_n];
        map.forward(l, t, pre);
        if skip && l % 2 == 0 && residual {
            pre.iter_mut().zip(&s.residual).for_each(|(v, r)| *v += r);
        }
        let next = if l + 1 < layers.len() { &mut after[0][..rows * o_n] } else { &mut *y };
        if l + 1 < layers.len() {
            cells.forward(l, pre, next);
        } else {
            next.copy_from_slice(pre);
        }
    }
}

// backward: x (rows × p), y (rows × q), targets -> s.grad = this chunk's ∂loss/∂weights,
// s.act_grad = its ∂loss/∂(activation particles) (s filled by chunk_forward on x)
fn chunk_backward(
    shape: &OrganismShape,
    map: &impl LayerMap,
    cells: &Cells,
    x: &[f32],
    y: &[f32],
    loss: LossRows,
    s: &mut RowScratch,
) {
    let layers = shape.layers();
    let (rows, q) = (x.len() / shape.inputs, shape.outputs);
    loss_rows_backward(y, q, loss, &mut s.d[..rows * q]);
    s.grad.fill(0.0);
    s.act_grad.fill(0.0);
    let mut end = s.grad.len();
    let mut d_residual = false;
    for (l, &(i_n, o_n)) in layers.iter().enumerate().rev() {
        let skip = shape.residual_skip && shape.is_hidden(l);
        let d = &mut s.d[..rows * o_n];
        if l + 1 < layers.len() {
            cells.backward(l, &s.pre[l][..rows * o_n], d, &mut s.act_grad);
        }
        if skip && l % 2 == 0 {
            s.d_residual[..d.len()].copy_from_slice(d);
            d_residual = true;
        }
        let start = end - map.grad_len(l);
        let inp = if l == 0 { x } else { &s.inputs[l][..rows * i_n] };
        // The network input needs no gradient.
        let din = if l > 0 { Some(&mut s.din[..rows * i_n]) } else { None };
        map.backward(l, inp, d, din, &mut s.grad[start..end]);
        end = start;
        if l > 0 {
            if skip && l % 2 == 1 && std::mem::take(&mut d_residual) {
                s.din[..rows * i_n].iter_mut().zip(&s.d_residual).for_each(|(a, b)| *a += b);
            }
            std::mem::swap(&mut s.d, &mut s.din);
        }
    }
}

/// Output and (with targets; else loss NaN and no gradients) loss and gradients of one pass
/// over the batch `x` (`B × p`):
/// chunks of [`ROWS`] samples run forward and backward in parallel while their rows are in
/// cache; the chunks' gradients are added in chunk order, so the result does not depend on
/// threads.
fn network_pass(
    shape: &OrganismShape,
    map: &impl LayerMap,
    cells: &Cells,
    x: &[f32],
    targets: Option<Targets>,
) -> TaskPass {
    let (p, q) = (shape.inputs, shape.outputs);
    let b = x.len() / p;
    let mut y = vec![0.0; b * q];
    let mut scratch: Vec<RowScratch> =
        (0..b.div_ceil(ROWS)).map(|_| RowScratch::new(shape, map, cells, targets.is_some())).collect();
    let mut terms = vec![0.0; b];
    let chunks = x.par_chunks(ROWS * p).zip(y.par_chunks_mut(ROWS * q)).zip(scratch.par_iter_mut());
    chunks.zip(terms.par_chunks_mut(ROWS)).enumerate().for_each(|(c, (((x, y), s), terms))| {
        chunk_forward(shape, map, cells, x, y, s);
        if let Some(t) = targets {
            let rows = c * ROWS..c * ROWS + terms.len();
            chunk_backward(shape, map, cells, x, y, LossRows { targets: t.rows(rows, q), batch: b, terms }, s);
        }
    });
    let sum = |part: fn(&RowScratch) -> &[f32]| {
        let mut g = vec![0.0; scratch.first().map_or(0, |s| part(s).len())];
        for s in &scratch {
            g.iter_mut().zip(part(s)).for_each(|(a, b)| *a += b);
        }
        g
    };
    let (grads, activation_grads) = (sum(|s| &s.grad), sum(|s| &s.act_grad));
    let loss = targets.map_or(f32::NAN, |t| loss_total(&y, t, &terms));
    TaskPass { loss, output: y, grads, activation_grads }
}

// hidden sums: x (B × p) -> every hidden layer's pre-activation (B × w each), chunk by chunk
fn hidden_sums(shape: &OrganismShape, map: &impl LayerMap, cells: &Cells, x: &[f32]) -> Vec<Vec<f32>> {
    let (p, q, w) = (shape.inputs, shape.outputs, shape.width);
    let mut sums = vec![Vec::new(); shape.depth - 1];
    let mut s = RowScratch::new(shape, map, cells, false);
    let mut y = vec![0.0; ROWS * q];
    for x in x.chunks(ROWS * p) {
        let rows = x.len() / p;
        chunk_forward(shape, map, cells, x, &mut y[..rows * q], &mut s);
        for (sum, pre) in sums.iter_mut().zip(&s.pre) {
            sum.extend_from_slice(&pre[..rows * w]);
        }
    }
    sums
}

/// Task targets: `B × q` values (regression) or `B` class indices (classification).
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// `B × q` regression targets.
    Values(&'a [f32]),
    /// `B` class indices.
    Classes(&'a [u8]),
}

impl<'a> Targets<'a> {
    /// The targets of samples `rows`.
    fn rows(self, rows: std::ops::Range<usize>, q: usize) -> Targets<'a> {
        match self {
            Targets::Values(t) => Targets::Values(&t[rows.start * q..rows.end * q]),
            Targets::Classes(t) => Targets::Classes(&t[rows]),
        }
    }
}

impl<'a> From<&'a Labels> for Targets<'a> {
    fn from(labels: &'a Labels) -> Self {
        match labels {
            Labels::Values(v) => Targets::Values(v),
            Labels::Classes(c) => Targets::Classes(c),
        }
    }
}

// loss backward: y (rows × q) -> dout (rows × q) = ∂loss/∂y of the batch's mean loss (SPEC §2);
// cross-entropy keeps each row's loss term in loss.terms
fn loss_rows_backward(y: &[f32], q: usize, loss: LossRows, dout: &mut [f32]) {
    match loss.targets {
        Targets::Values(t) => {
            let n = (loss.batch * q) as f32;
            dout.iter_mut().zip(y.iter().zip(t)).for_each(|(d, (a, b))| *d = 2.0 * (a - b) / n);
        }
        Targets::Classes(t) => {
            let b = loss.batch as f32;
            for (((logits, g), &k), term) in y.chunks(q).zip(dout.chunks_mut(q)).zip(t).zip(loss.terms.iter_mut()) {
                let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let sum: f32 = logits.iter().map(|v| (v - max).exp()).sum();
                *term = sum.ln() + max - logits[k as usize];
                for (j, gj) in g.iter_mut().enumerate() {
                    let p = (logits[j] - max).exp() / sum;
                    *gj = (p - if j == k as usize { 1.0 } else { 0.0 }) / b;
                }
            }
        }
    }
}

/// The batch's loss from its outputs `y` and the rows' cross-entropy terms.
fn loss_total(y: &[f32], targets: Targets, terms: &[f32]) -> f32 {
    match targets {
        Targets::Values(t) => y.iter().zip(t).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / y.len() as f32,
        Targets::Classes(t) => {
            let mut loss = 0.0;
            for term in terms {
                loss += term;
            }
            loss / t.len() as f32
        }
    }
}

/// The task metric: mean absolute error (regression) or accuracy (classification).
pub fn metric(y: &[f32], q: usize, targets: Targets) -> f32 {
    match targets {
        Targets::Values(t) => y.iter().zip(t).map(|(a, b)| (a - b).abs()).sum::<f32>() / y.len() as f32,
        Targets::Classes(t) => {
            let hits = y.chunks(q).zip(t).filter(|(logits, &k)| argmax(logits) == k as usize).count();
            hits as f32 / t.len() as f32
        }
    }
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// An organism network: its shape, its particles in SPEC order, and its activation particles
/// when `shape.activation` is `particle`.
#[derive(Clone, Debug)]
pub struct Organism {
    /// The ON's layer sizes.
    pub shape: OrganismShape,
    /// One particle per edge, in SPEC order.
    pub particles: ParticleBatch,
    /// `Some` exactly when `shape.activation` is [`LayerActivation::Particle`].
    pub activations: Option<ActivationParticles>,
}

/// Result of one task forward/backward pass.
pub struct TaskPass {
    /// Mean task loss over the batch.
    pub loss: f32,
    /// The network's output, `B × q`.
    pub output: Vec<f32>,
    /// `∂loss/∂w`: of every particle (`n × P`) for an organism, of every weight for [`Dense`].
    pub grads: Vec<f32>,
    /// `∂loss/∂w` of every activation particle (`n_act × P_act`; empty without them).
    pub activation_grads: Vec<f32>,
}

impl Organism {
    /// A new organism with freshly initialised particles, then (for `organism.activation =
    /// "particle"`) activation particles of `act`, all drawn from `rng` in that order.
    pub fn random(
        shape: OrganismShape,
        particle: ParticleShape,
        init: Init,
        act: &ActivationParticleConfig,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        shape.validate()?;
        let particles = ParticleBatch::random(particle, shape.n_particles(), init, rng);
        let activations = match shape.activation {
            LayerActivation::Particle => Some(ActivationParticles::random(act, &shape, init, rng)?),
            _ => None,
        };
        Organism::with_activations(shape, particles, activations)
    }

    /// [`Organism::random`] with the default `[activation_particle]` section.
    pub fn new(shape: OrganismShape, particle: ParticleShape, init: Init, rng: &mut impl Rng) -> Result<Self> {
        Organism::random(shape, particle, init, &ActivationParticleConfig::default(), rng)
    }

    /// An organism from trained particles (e.g. read from a file); their number must match the
    /// shape. One with activation particles needs [`Organism::with_activations`].
    pub fn from_particles(shape: OrganismShape, particles: ParticleBatch) -> Result<Self> {
        Organism::with_activations(shape, particles, None)
    }

    /// An organism of these particles and activation particles.
    pub fn with_activations(
        shape: OrganismShape,
        particles: ParticleBatch,
        activations: Option<ActivationParticles>,
    ) -> Result<Self> {
        shape.validate()?;
        if particles.len() != shape.n_particles() {
            return Err(Error::Invalid(format!(
                "an organism of shape ({}, {}, {}, {}) has {} particles, got {}",
                shape.inputs,
                shape.width,
                shape.depth,
                shape.outputs,
                shape.n_particles(),
                particles.len()
            )));
        }
        if activations.is_some() != (shape.activation == LayerActivation::Particle) {
            return Err(Error::Invalid(
                "an organism has activation particles exactly when organism.activation = \"particle\"".into(),
            ));
        }
        Ok(Organism { shape, particles, activations })
    }

    /// The path a task pass takes by default: extracted for linear PNs.
    pub fn default_path(&self) -> Path {
        if self.particles.shape().activation().is_identity() {
            Path::Extracted
        } else {
            Path::General
        }
    }

    /// Every particle's weight `PN(0,0,0,0,1)`: the dense network's weights (paper §IV-B).
    pub fn extracted_weights(&self) -> Vec<f32> {
        self.particles.extract()
    }

    /// The organism's output on `x` (`B × p`), `B × q`.
    pub fn forward(&self, x: &[f32], path: Path) -> Vec<f32> {
        match path {
            Path::Extracted => self.dense(&self.extracted_weights()).forward(x),
            Path::General => network_pass(&self.shape, &self.general(), &self.cells(), x, None).output,
        }
    }

    fn general(&self) -> General<'_> {
        General::new(&self.shape, &self.particles)
    }

    fn cells(&self) -> Cells<'_> {
        Cells::new(&self.shape, self.activations.as_ref())
    }

    /// The dense network of `weights` with this organism's activation particles.
    fn dense<'a>(&'a self, weights: &'a [f32]) -> Dense<'a> {
        Dense::new(&self.shape, weights).with_activations(self.activations.as_ref())
    }

    /// Loss, output and particle gradients of the task on `(x, targets)`. [`Path::Extracted`]
    /// is exact for linear PNs only; [`Organism::default_path`] picks the right one.
    pub fn task_pass(&self, x: &[f32], targets: Targets, path: Path) -> TaskPass {
        match path {
            Path::Extracted => {
                let weights = self.extracted_weights();
                let dense = self.dense(&weights).task_pass(x, targets);
                let mut grads = vec![0.0; self.particles.weights().len()];
                let ones = vec![1.0; weights.len()];
                self.particles.aux_backward(&ones, &dense.grads, &mut grads);
                TaskPass { grads, ..dense }
            }
            Path::General => network_pass(&self.shape, &self.general(), &self.cells(), x, Some(targets)),
        }
    }

    /// The sums `z` the hidden cells saw on `x` (`B × p`), before their activation: one `B × w`
    /// block per hidden layer, on the default path.
    pub fn hidden_sums(&self, x: &[f32]) -> Vec<Vec<f32>> {
        match self.default_path() {
            Path::Extracted => hidden_sums(&self.shape, &self.dense(&self.extracted_weights()), &self.cells(), x),
            Path::General => hidden_sums(&self.shape, &self.general(), &self.cells(), x),
        }
    }

    /// Combined self-train loss (SPEC §2: the sum over particles) and every particle's gradient.
    pub fn self_train_grads(&self, grads: &mut [f32]) -> f32 {
        self.particles.self_train_grads(grads).iter().sum()
    }
}

/// Weight re-substitution (paper §IV-B, Fig. 5): the absolute difference, per output, between
/// the organism evaluated PN by PN and the dense network of its extracted weights.
pub fn resubstitution_errors(organism: &Organism, x: &[f32]) -> Vec<f32> {
    let mut pn_by_pn = organism.clone();
    pn_by_pn.particles = pn_by_pn.particles.with_general_path();
    let a = pn_by_pn.forward(x, Path::General);
    let b = organism.forward(x, Path::Extracted);
    a.iter().zip(&b).map(|(a, b)| (a - b).abs()).collect()
}
