//! The network skeleton of the task pass shared by both paths: layer maps, chunked forward and
//! backward over fixed row chunks, residual skip, activations and the losses.

use super::aggregators::FoldSteps;
use super::cell_particles::Cells;
use super::general::Kept;
use super::{OrganismShape, TaskPass, ROWS};
use crate::activation::exp_in_place;
use crate::data::Labels;
use crate::simd;
use rayon::prelude::*;

/// One layer of the network as a map from `rows × in` to `rows × out`, with its backward.
pub(super) trait LayerMap: Sync {
    /// What a chunk's forward of a layer keeps for its backward besides the layer's input
    /// (`()` when the input is enough), one per layer in every [`RowScratch`].
    type Kept: Send + Default;
    /// Readies `kept` (new, or of an earlier pass) as layer `l`'s [`LayerMap::Kept`] for up to
    /// `rows` rows (`0`: a forward without a backward keeps nothing).
    fn fit_kept(&self, l: usize, rows: usize, kept: &mut Self::Kept);
    /// This map's chunk scratches in a [`TaskWorkspace`].
    fn scratches(ws: &mut TaskWorkspace) -> &mut Vec<RowScratch<Self::Kept>>;
    // forward kernel: inp (rows × in) -> out (rows × out), kept; `#[inline(always)]` in every
    // impl, so that [`LayerMap::forward`] compiles it for the instruction set it dispatches to
    fn forward_kernel(&self, l: usize, inp: &[f32], out: &mut [f32], kept: &mut Self::Kept);
    // backward kernel: inp (rows × in), dout (rows × out), kept (of the forward on inp) -> dinp
    // (rows × in, if wanted); grad (layer block) +=; `#[inline(always)]` in every impl, as above
    fn backward_kernel(
        &self,
        l: usize,
        inp: &[f32],
        dout: &[f32],
        dinp: Option<&mut [f32]>,
        grad: &mut [f32],
        kept: &mut Self::Kept,
    );
    /// Length of layer `l`'s gradient block.
    fn grad_len(&self, l: usize) -> usize;

    /// Layer `l` forward, on the best instruction set of the CPU ([`simd::dispatch`]).
    fn forward(&self, l: usize, inp: &[f32], out: &mut [f32], kept: &mut Self::Kept) {
        simd::dispatch(
            #[inline(always)]
            || self.forward_kernel(l, inp, out, kept),
        )
    }

    /// Layer `l` backward, on the best instruction set of the CPU ([`simd::dispatch`]).
    fn backward(
        &self,
        l: usize,
        inp: &[f32],
        dout: &[f32],
        dinp: Option<&mut [f32]>,
        grad: &mut [f32],
        kept: &mut Self::Kept,
    ) {
        simd::dispatch(
            #[inline(always)]
            || self.backward_kernel(l, inp, dout, dinp, grad, kept),
        )
    }
}

/// Scratch of one chunk of [`ROWS`] samples: every layer's input and pre-activation, the
/// gradient flowing back, what the layer map keeps for its backward, and the chunk's share of
/// the weight gradient. A pass uses [`WAVE`] of them wave after wave, from a [`TaskWorkspace`].
#[derive(Default)]
pub(super) struct RowScratch<K> {
    /// Input of layers 1.. (layer 0 reads the caller's `x`), `rows × in` each.
    inputs: Vec<Vec<f32>>,
    /// Every layer's output after the residual add, before the activation, `rows × out`.
    pre: Vec<Vec<f32>>,
    /// `f′(pre)` of the hidden layers, kept by the forward for the backward (a fixed activation
    /// with a backward to come; else empty).
    deriv: Vec<Vec<f32>>,
    residual: Vec<f32>,
    d_residual: Vec<f32>,
    /// `∂loss/∂(layer output)` and `∂loss/∂(layer input)`.
    d: Vec<f32>,
    din: Vec<f32>,
    /// The chunk's gradient, every layer's block in turn, and the activation particles'.
    grad: Vec<f32>,
    act_grad: Vec<f32>,
    /// Every layer's [`LayerMap::Kept`].
    kept: Vec<K>,
}

impl<K: Default> RowScratch<K> {
    /// Sizes the scratch (new, or of an earlier pass: a pass writes every value before it reads
    /// it, so what the buffers held never shows) for a pass of `map`, with a backward or not;
    /// buffers keep their capacity, so a workspace holds what its largest pass needed.
    fn fit(&mut self, shape: &OrganismShape, map: &impl LayerMap<Kept = K>, cells: &Cells, backward: bool) {
        let layers = shape.layers();
        // d and din hold a layer's output or the input of layers 1.. (the network input gets
        // no gradient): sizing them by p would zero ROWS·p floats per chunk and pass for nothing.
        let widest = layers.iter().enumerate().map(|(l, &(i, o))| if l > 0 { i.max(o) } else { o }).max().unwrap();
        let grad_len = if backward { (0..layers.len()).map(|l| map.grad_len(l)).sum() } else { 0 };
        let hidden = if backward && cells.is_fixed() { layers.len() - 1 } else { 0 };
        fit_blocks(&mut self.inputs, layers.iter().enumerate().map(|(l, &(i, _))| if l > 0 { ROWS * i } else { 0 }));
        fit_blocks(&mut self.pre, layers.iter().map(|&(_, o)| ROWS * o));
        fit_blocks(&mut self.deriv, (0..hidden).map(|_| ROWS * shape.width));
        fit(&mut self.residual, ROWS * shape.width);
        fit(&mut self.d_residual, ROWS * shape.width);
        fit(&mut self.d, ROWS * widest);
        fit(&mut self.din, ROWS * widest);
        fit(&mut self.grad, grad_len);
        fit(&mut self.act_grad, if backward { cells.grad_len() } else { 0 });
        self.kept.resize_with(layers.len(), K::default);
        // A forward-only pass keeps nothing.
        let rows = if backward { ROWS } else { 0 };
        self.kept.iter_mut().enumerate().for_each(|(l, k)| map.fit_kept(l, rows, k));
    }
}

/// Resizes `v` to `len` values, keeping its capacity.
fn fit(v: &mut Vec<f32>, len: usize) {
    v.resize(len, 0.0);
}

/// Resizes `vs` to one block per length of `lens`.
fn fit_blocks(vs: &mut Vec<Vec<f32>>, lens: impl ExactSizeIterator<Item = usize>) {
    vs.resize_with(lens.len(), Vec::new);
    vs.iter_mut().zip(lens).for_each(|(v, len)| fit(v, len));
}

/// The chunk scratches of task passes (`RowScratch`es with each layer map's kept state), owned
/// by the caller and reused pass after pass, as [`crate::particle::ParticleBatch::workspace`]
/// for self-training: a chunk's scratch is MBs with tanh PNs, and allocating and zero-filling
/// it every pass took ≈ 8 % of a task pass. Holds at most `WAVE` (8) scratches per layer map,
/// each as large as the largest pass it served needed.
#[derive(Default)]
pub struct TaskWorkspace {
    pub(super) dense: Vec<RowScratch<()>>,
    pub(super) general: Vec<RowScratch<Kept>>,
    pub(super) folded: Vec<RowScratch<Vec<FoldSteps>>>,
    /// The rows' cross-entropy terms, kept from pass to pass.
    terms: Vec<f32>,
    /// What the next pass hands back in its [`TaskPass`] (output, weight and activation
    /// particle gradients), when [`TaskWorkspace::reserve`] allocated it ahead.
    output: Vec<f32>,
    grads: Vec<f32>,
    activation_grads: Vec<f32>,
}

impl TaskWorkspace {
    /// An empty workspace; a pass grows it to what it needs.
    pub fn new() -> Self {
        TaskWorkspace::default()
    }

    /// Allocates, on the calling thread, the buffers of the next pass (`b` samples, `q`
    /// outputs, `grads` gradients of its layer map, `activation_grads` of its activation
    /// particles; 0 for a pass without a backward), so that the pass, run on rayon's pool,
    /// allocates nothing large on a worker ([`crate::pool::on_pool`]).
    pub(super) fn reserve(&mut self, b: usize, q: usize, grads: usize, activation_grads: usize) {
        fit(&mut self.terms, b);
        for (v, len) in
            [(&mut self.output, b * q), (&mut self.grads, grads), (&mut self.activation_grads, activation_grads)]
        {
            v.reserve_exact(len.saturating_sub(v.len()));
        }
    }
}

/// `len` zeros in the buffer taken from `v` when [`TaskWorkspace::reserve`] sized it, else in
/// a new one (`vec!`, which takes large blocks zeroed from the system without writing them).
fn zeros_from(v: &mut Vec<f32>, len: usize) -> Vec<f32> {
    let mut v = std::mem::take(v);
    if v.capacity() < len {
        return vec![0.0; len];
    }
    v.clear();
    v.resize(len, 0.0);
    v
}

/// The loss of the chunk of outputs being passed back, and where its per-row terms go.
pub(super) struct LossRows<'a> {
    targets: Targets<'a>,
    /// Rows of the whole batch (`B`), for the mean.
    batch: usize,
    terms: &'a mut [f32],
}

// forward: x (rows × p) -> y (rows × q), keeping what backward needs in s; SPEC §2's residual
// skip and the cells' activation
pub(super) fn chunk_forward<M: LayerMap>(
    shape: &OrganismShape,
    map: &M,
    cells: &Cells,
    x: &[f32],
    y: &mut [f32],
    s: &mut RowScratch<M::Kept>,
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
        map.forward(l, t, pre, &mut s.kept[l]);
        if skip && l % 2 == 0 && residual {
            pre.iter_mut().zip(&s.residual).for_each(|(v, r)| *v += r);
        }
        let next = if l + 1 < layers.len() { &mut after[0][..rows * o_n] } else { &mut *y };
        if l + 1 < layers.len() {
            cells.forward(l, pre, next, s.deriv.get_mut(l).map(|da| &mut da[..rows * o_n]));
        } else {
            next.copy_from_slice(pre);
        }
    }
}

// backward: x (rows × p), y (rows × q), targets -> s.grad = this chunk's ∂loss/∂weights,
// s.act_grad = its ∂loss/∂(activation particles) (s filled by chunk_forward on x)
pub(super) fn chunk_backward<M: LayerMap>(
    shape: &OrganismShape,
    map: &M,
    cells: &Cells,
    x: &[f32],
    y: &[f32],
    loss: LossRows,
    s: &mut RowScratch<M::Kept>,
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
            let da = s.deriv.get(l).map(|da| &da[..rows * o_n]);
            cells.backward(l, &s.pre[l][..rows * o_n], da, d, &mut s.act_grad);
        }
        if skip && l % 2 == 0 {
            s.d_residual[..d.len()].copy_from_slice(d);
            d_residual = true;
        }
        let start = end - map.grad_len(l);
        let inp = if l == 0 { x } else { &s.inputs[l][..rows * i_n] };
        // The network input needs no gradient.
        let din = if l > 0 { Some(&mut s.din[..rows * i_n]) } else { None };
        map.backward(l, inp, d, din, &mut s.grad[start..end], &mut s.kept[l]);
        end = start;
        if l > 0 {
            if skip && l % 2 == 1 && std::mem::take(&mut d_residual) {
                s.din[..rows * i_n].iter_mut().zip(&s.d_residual).for_each(|(a, b)| *a += b);
            }
            std::mem::swap(&mut s.d, &mut s.din);
        }
    }
}

/// Chunks of [`ROWS`] samples run at once: a pass holds this many [`RowScratch`]es, whatever the
/// batch size. A constant, never the thread count, so that the result does not depend on it.
const WAVE: usize = 8;

/// Output and (with targets; else loss NaN and no gradients) loss and gradients of one pass
/// over the batch `x` (`B × p`):
/// chunks of [`ROWS`] samples run forward and backward in parallel while their rows are in
/// cache, [`WAVE`] chunks at a time; after each wave its chunks' gradients are added to the total
/// in chunk order, so the result does not depend on threads.
/// The chunk scratches come from `ws`, sized for this pass, and so do the buffers it returns
/// when [`TaskWorkspace::reserve`] allocated them ahead.
pub(super) fn network_pass<M: LayerMap>(
    shape: &OrganismShape,
    map: &M,
    cells: &Cells,
    x: &[f32],
    targets: Option<Targets>,
    ws: &mut TaskWorkspace,
) -> TaskPass {
    let (p, q) = (shape.inputs, shape.outputs);
    let b = x.len() / p;
    let backward = targets.is_some();
    let mut y = zeros_from(&mut ws.output, b * q);
    let grad_len = if backward { (0..shape.depth).map(|l| map.grad_len(l)).sum() } else { 0 };
    let mut grads = zeros_from(&mut ws.grads, grad_len);
    let mut activation_grads = zeros_from(&mut ws.activation_grads, if backward { cells.grad_len() } else { 0 });
    let mut terms = std::mem::take(&mut ws.terms);
    fit(&mut terms, b);
    let scratch = M::scratches(ws);
    let chunks = b.div_ceil(ROWS).min(WAVE);
    if scratch.len() < chunks {
        scratch.resize_with(chunks, RowScratch::default);
    }
    let scratch = &mut scratch[..chunks];
    scratch.iter_mut().for_each(|s| s.fit(shape, map, cells, backward));
    let waves = x.chunks(WAVE * ROWS * p).zip(y.chunks_mut(WAVE * ROWS * q)).zip(terms.chunks_mut(WAVE * ROWS));
    for (wave, ((x, y), terms)) in waves.enumerate() {
        let chunks = x.par_chunks(ROWS * p).zip(y.par_chunks_mut(ROWS * q)).zip(scratch.par_iter_mut());
        chunks.zip(terms.par_chunks_mut(ROWS)).enumerate().for_each(|(c, (((x, y), s), terms))| {
            chunk_forward(shape, map, cells, x, y, s);
            if let Some(t) = targets {
                let start = (wave * WAVE + c) * ROWS;
                let rows = start..start + terms.len();
                chunk_backward(shape, map, cells, x, y, LossRows { targets: t.rows(rows, q), batch: b, terms }, s);
            }
        });
        for s in &scratch[..x.len().div_ceil(ROWS * p)] {
            grads.iter_mut().zip(&s.grad).for_each(|(a, b)| *a += b);
            activation_grads.iter_mut().zip(&s.act_grad).for_each(|(a, b)| *a += b);
        }
    }
    let loss = targets.map_or(f32::NAN, |t| loss_total(&y, t, &terms));
    ws.terms = terms;
    TaskPass { loss, output: y, grads, activation_grads, aggregator_grads: Vec::new() }
}

// hidden sums: x (B × p) -> every hidden layer's pre-activation (B × w each), chunk by chunk
pub(super) fn hidden_sums(shape: &OrganismShape, map: &impl LayerMap, cells: &Cells, x: &[f32]) -> Vec<Vec<f32>> {
    let (p, q, w) = (shape.inputs, shape.outputs, shape.width);
    let mut sums = vec![Vec::new(); shape.depth - 1];
    let mut s = RowScratch::default();
    s.fit(shape, map, cells, false);
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
pub(super) fn loss_rows_backward(y: &[f32], q: usize, loss: LossRows, dout: &mut [f32]) {
    match loss.targets {
        Targets::Values(t) => {
            let n = (loss.batch * q) as f32;
            dout.iter_mut().zip(y.iter().zip(t)).for_each(|(d, (a, b))| *d = 2.0 * (a - b) / n);
        }
        Targets::Classes(t) => {
            let b = loss.batch as f32;
            // e^(logit - max) once per logit, all rows' at once, kept in dout for the
            // probabilities; each row's max waits in its loss term
            for ((logits, g), max) in y.chunks(q).zip(dout.chunks_mut(q)).zip(loss.terms.iter_mut()) {
                *max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                g.iter_mut().zip(logits).for_each(|(g, v)| *g = v - *max);
            }
            exp_in_place(dout);
            for (((logits, g), &k), term) in y.chunks(q).zip(dout.chunks_mut(q)).zip(t).zip(loss.terms.iter_mut()) {
                let sum: f32 = g.iter().sum();
                *term = sum.ln() + *term - logits[k as usize];
                for (j, gj) in g.iter_mut().enumerate() {
                    let p = *gj / sum;
                    *gj = (p - if j == k as usize { 1.0 } else { 0.0 }) / b;
                }
            }
        }
    }
}

/// The batch's loss from its outputs `y` and the rows' cross-entropy terms.
pub(super) fn loss_total(y: &[f32], targets: Targets, terms: &[f32]) -> f32 {
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

pub(super) fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}
