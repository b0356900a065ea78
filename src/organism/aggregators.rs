//! Aggregator particles: the paper's "particles as learned cell aggregators" (§VI; issue 13,
//! section 2). With `organism.aggregation = "particle"` a cell's sum over its edges (SPEC §2) is
//! replaced by a fold of an aggregator particle over the edges' values, in edge order:
//!
//! ```text
//! y_e     = PN_{l,c,e}(0, 0, 0, 0, x_e)       (= w_e·x_e on the extracted path)
//! acc_0   = 0
//! acc_e+1 = PN_agg(acc_e, 0, 0, E'_e, y_e)    (SPEC §1's input layout: value, L', C', E', aux)
//! cell    = acc_n
//! ```
//!
//! `E'_e = e / (n − 1 + 1e-8) + 1e-8` is the edge's position normalised as SPEC §1 normalises a
//! weight's position. A linear aggregator `acc' = α·acc + γ·E' + β·y` folds to
//! `Σ_e α^(n−1−e)·(β·y_e + γ·E'_e)`: a geometrically weighted sum of the edges plus a learned
//! constant; only α = β = 1, γ = 0 is the sum. The presets use tanh aggregators (docs/aggregators.md).
//!
//! The fold is sequential in the edges, so it is vectorised across samples: [`LANES`] rows side by
//! side, and each step on all groups of a chunk at once, layer by layer. Cost: one aggregator
//! evaluation per edge per sample forward (the number of weight particles), every step kept
//! (`FoldSteps`), then one aggregator backward per edge.

use super::cell_particles::{column, CellParticles, Cells, Splatted};
use super::dense::layer_offsets;
use super::general::KEEP_BYTES;
use super::pass::{network_pass, LayerMap, RowScratch, Targets, TaskWorkspace};
use super::{OrganismShape, TaskPass};
use crate::keyword::keywords;
use crate::lanes::{F32s, Lanes, LANES};
use crate::particle::kernel::{Kernel, PnKernel};
use crate::particle::shape::normalised;
use crate::particle::{Evaluator, ParticleBatch, Row};

/// How a cell combines the values of its edges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Aggregation {
    /// The sum (SPEC §2).
    #[default]
    Sum,
    /// The fold of an aggregator particle (this module).
    Particle,
}

keywords!(Aggregation, "a cell aggregation", { Sum => "sum", Particle => "particle" });

impl Aggregation {
    /// The sum, which configurations leave out.
    pub fn is_sum(&self) -> bool {
        *self == Aggregation::Sum
    }
}

/// The values `y_e` of the edges.
pub(super) enum Edges<'a> {
    /// The dense weights `[l][c][e]` (extracted, linear PNs): `y_e = w_e·x_e`.
    Extracted(&'a [f32]),
    /// The weight particles, evaluated per sample: `y_e = PN_{l,c,e}(0,0,0,0,x_e)`; their
    /// weights splatted across lanes.
    General(&'a ParticleBatch, Vec<F32s>),
}

impl<'a> Edges<'a> {
    /// The weight particles evaluated per sample.
    pub(super) fn general(particles: &'a ParticleBatch) -> Self {
        Edges::General(particles, particles.weights().iter().map(|&w| F32s::splat(w)).collect())
    }

    /// Gradient entries per edge: 1 (a dense weight) or `P` (a particle).
    fn per_edge(&self) -> usize {
        match self {
            Edges::Extracted(_) => 1,
            Edges::General(p, _) => p.shape().n_weights(),
        }
    }

    /// The edges ready to evaluate (one per kernel call: the evaluator holds scratch).
    fn eval(&self) -> EdgeEval<'_> {
        match self {
            Edges::Extracted(w) => EdgeEval::Extracted(w),
            Edges::General(p, splat) => {
                EdgeEval::General(Box::new(Evaluator::new(p)), splat, vec![F32s::default(); p.shape().n_weights()])
            }
        }
    }
}

/// [`Edges`] with the scratch of an evaluation.
enum EdgeEval<'a> {
    Extracted(&'a [f32]),
    General(Box<Evaluator<'a, F32s>>, &'a [F32s], Vec<F32s>),
}

impl EdgeEval<'_> {
    // forward: x (lanes) -> y_k (lanes) of edge k (SPEC order)
    #[inline(always)]
    fn value(&mut self, k: usize, x: F32s) -> F32s {
        match self {
            EdgeEval::Extracted(w) => F32s::splat(w[k]) * x,
            EdgeEval::General(ev, splat, g) => ev.aux(&splat[k * g.len()..(k + 1) * g.len()], x),
        }
    }

    // backward: x, dy (lanes) -> grad (per_edge) += Σ_lanes ∂loss/∂w of edge k; returns ∂loss/∂x
    #[inline(always)]
    fn backward(&mut self, k: usize, x: F32s, dy: F32s, grad: &mut [f32]) -> F32s {
        match self {
            EdgeEval::Extracted(w) => {
                grad[0] += (dy * x).0.iter().sum::<f32>();
                dy * F32s::splat(w[k])
            }
            EdgeEval::General(ev, splat, g) => {
                let p = g.len();
                g.fill(F32s::default());
                let dx = ev.aux_backward(&splat[k * p..(k + 1) * p], x, dy, g);
                add_lanes(grad, g);
                dx
            }
        }
    }
}

/// grad += the sum of each entry's lanes, lane by lane in order.
fn add_lanes(grad: &mut [f32], lanes: &[F32s]) {
    for (g, v) in grad.iter_mut().zip(lanes) {
        *g += v.0.iter().sum::<f32>();
    }
}

/// A layer map whose cells fold their edges with aggregator particles.
pub(super) struct Folded<'a> {
    edges: Edges<'a>,
    agg: Splatted<'a>,
    dims: Vec<(usize, usize)>,
    offsets: Vec<usize>,
}

/// `E'_e` of the `n` edges of a cell (SPEC §1's position normalisation).
fn positions(n: usize) -> Vec<f32> {
    let max = n.saturating_sub(1) as f32;
    (0..n).map(|e| normalised(e as f32, max)).collect()
}

impl<'a> Folded<'a> {
    pub(super) fn new(shape: &OrganismShape, edges: Edges<'a>, aggregators: &'a CellParticles) -> Self {
        Folded { edges, agg: aggregators.lanes(), dims: shape.layers(), offsets: layer_offsets(shape) }
    }

    /// Length of layer `l`'s edge gradients; its aggregators' follow in the layer's block.
    fn edge_grad_len(&self, l: usize) -> usize {
        (self.offsets[l + 1] - self.offsets[l]) * self.edges.per_edge()
    }

    /// `(edge gradients, aggregator gradients)` of a pass's per-layer blocks.
    fn split(&self, grads: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (mut edges, mut agg) = (Vec::new(), Vec::new());
        let mut rest = grads;
        for l in 0..self.dims.len() {
            let (block, tail) = rest.split_at(self.grad_len(l));
            let (e, a) = block.split_at(self.edge_grad_len(l));
            edges.extend_from_slice(e);
            agg.extend_from_slice(a);
            rest = tail;
        }
        (edges, agg)
    }
}

/// Output, loss and gradients of the organism of `shape` with aggregator particles: the edges'
/// gradients in `grads` (dense weights or particles, SPEC order), the aggregators' in
/// `aggregator_grads`.
pub(super) fn folded_pass(
    shape: &OrganismShape,
    edges: Edges,
    aggregators: &CellParticles,
    cells: &Cells,
    x: &[f32],
    targets: Option<Targets>,
    ws: &mut TaskWorkspace,
) -> TaskPass {
    let map = Folded::new(shape, edges, aggregators);
    let pass = network_pass(shape, &map, cells, x, targets, ws);
    let (grads, aggregator_grads) = if targets.is_some() { map.split(&pass.grads) } else { Default::default() };
    TaskPass { grads, aggregator_grads, ..pass }
}

/// A chunk's inputs by groups of [`LANES`] rows, column by column: `xt[g·width + e]` = input
/// `e` of the rows of group `g`.
fn transpose(rows: &[f32], width: usize) -> Vec<F32s> {
    rows.chunks(LANES * width).flat_map(|xs| (0..width).map(move |e| column(xs, width, e))).collect()
}

/// One cell's fold over a chunk with every step kept: step `e` of group `g` is row
/// `e·groups + g` of the kernel (the aggregator's hidden values), of `accs` (`acc_e`; `n + 1`
/// steps) and of `ys` (`y_e`).
pub(super) struct FoldSteps {
    pn: PnKernel<F32s>,
    accs: Vec<F32s>,
    ys: Vec<F32s>,
}

impl Folded<'_> {
    /// Room for the steps of a fold over `n` edges of `groups` groups of rows.
    fn steps(&self, n: usize, groups: usize) -> FoldSteps {
        let agg = &self.agg.cp.particles;
        FoldSteps {
            pn: PnKernel::with_rows(agg.shape(), agg.path(), n * groups),
            accs: vec![F32s::default(); (n + 1) * groups],
            ys: vec![F32s::default(); n * groups],
        }
    }

    // fold: xt (groups × in, lanes) -> s = cell c's fold over its edges' y_e, every step kept,
    // acc_n at step n; each step runs on all groups at once, layer by layer
    #[inline(always)]
    fn fold(&self, l: usize, c: usize, xt: &[F32s], pos: &[f32], edges: &mut EdgeEval, s: &mut FoldSteps) {
        let i_n = pos.len();
        let (shape, groups) = (self.agg.cp.particles.shape(), xt.len() / i_n);
        let (w, first) = (self.agg.weights(l, c), self.offsets[l] + c * i_n);
        let FoldSteps { pn, accs, ys } = s;
        pn.prepare(shape, w);
        accs[..groups].fill(F32s::default());
        for (e, &p) in pos.iter().enumerate() {
            let step = e * groups..(e + 1) * groups;
            ys[step.clone()].iter_mut().enumerate().for_each(|(g, y)| *y = edges.value(first + e, xt[g * i_n + e]));
            let (done, rest) = accs.split_at_mut(step.end);
            let ys = &*ys;
            pn.forward_kept(shape, w, step, |r| Row::Fold { acc: done[r], pos: p, y: ys[r] }, &mut rest[..groups]);
        }
    }
}

impl LayerMap for Folded<'_> {
    /// Every cell's [`FoldSteps`] over the chunk; empty for a forward without a backward, or
    /// beyond [`KEEP_BYTES`], when the backward runs each cell's fold again.
    type Kept = Vec<FoldSteps>;

    fn fit_kept(&self, l: usize, rows: usize, kept: &mut Self::Kept) {
        let (i_n, o_n) = self.dims[l];
        let shape = self.agg.cp.particles.shape();
        let groups = rows.div_ceil(LANES);
        let hidden: usize = shape.widths()[1..shape.n_layers()].iter().sum();
        let bytes = o_n * i_n * groups * 2 * (hidden + 1) * std::mem::size_of::<F32s>();
        *kept = if rows == 0 || bytes > KEEP_BYTES {
            Vec::new()
        } else {
            (0..o_n).map(|_| self.steps(i_n, groups)).collect()
        };
    }

    fn scratches(ws: &mut TaskWorkspace) -> &mut Vec<RowScratch<Self::Kept>> {
        &mut ws.folded
    }

    fn grad_len(&self, l: usize) -> usize {
        let cp = self.agg.cp;
        let (first, last) = (cp.index(l, 0), cp.index(l, self.dims[l].1 - 1));
        self.edge_grad_len(l) + (last + 1 - first) * cp.particles.shape().n_weights()
    }

    // forward: x (rows × in) -> y[c] = acc_n of PN_agg(l,c)'s fold over y_e (rows × out), kept
    #[inline(always)]
    fn forward_kernel(&self, l: usize, inp: &[f32], out: &mut [f32], kept: &mut Self::Kept) {
        let (i_n, o_n) = self.dims[l];
        let (pos, xt) = (positions(i_n), transpose(inp, i_n));
        let groups = xt.len() / i_n;
        let mut edges = self.edges.eval();
        // Without kept steps, room for one cell's in turn.
        let mut each_cell = kept.is_empty().then(|| self.steps(i_n, groups));
        for c in 0..o_n {
            let s = each_cell.as_mut().unwrap_or_else(|| &mut kept[c]);
            self.fold(l, c, &xt, &pos, &mut edges, s);
            for (rows, a) in out.chunks_mut(LANES * o_n).zip(&s.accs[i_n * groups..(i_n + 1) * groups]) {
                rows.chunks_mut(o_n).zip(a.0).for_each(|(row, v)| row[c] = v);
            }
        }
    }

    // backward: x (rows × in), dy (rows × out), kept -> dx (rows × in); grad (layer block) +=
    // edges' ∂loss/∂w, then the layer's aggregators'. Each cell's fold steps are those the
    // forward kept (or, without, its fold is run again), run back from e = n−1 to 0. Every
    // gradient slot receives its terms in the order of the one-group loop: groups, then cells,
    // then edges from the last.
    #[inline(always)]
    fn backward_kernel(
        &self,
        l: usize,
        inp: &[f32],
        dout: &[f32],
        dinp: Option<&mut [f32]>,
        grad: &mut [f32],
        kept: &mut Self::Kept,
    ) {
        let (i_n, o_n) = self.dims[l];
        let (pos, xt) = (positions(i_n), transpose(inp, i_n));
        let groups = xt.len() / i_n;
        let cp = self.agg.cp;
        let (shape, pa) = (cp.particles.shape(), cp.particles.shape().n_weights());
        let per_edge = self.edges.per_edge();
        let (edge_grad, agg_grad) = grad.split_at_mut(self.edge_grad_len(l));
        let mut edges = self.edges.eval();
        let mut each_cell = kept.is_empty().then(|| self.steps(i_n, groups));
        // ∂loss/∂acc_e of every group; ∂loss/∂x (groups × in); cell c's aggregator gradient from
        // group g (lanes) at (c·groups + g)·P
        let mut dacc = vec![F32s::default(); groups];
        let mut dx = vec![F32s::default(); groups * i_n];
        let mut ga = vec![F32s::default(); o_n * groups * pa];
        for c in 0..o_n {
            let (w, first) = (self.agg.weights(l, c), self.offsets[l] + c * i_n);
            let s = match each_cell.as_mut() {
                Some(s) => {
                    self.fold(l, c, &xt, &pos, &mut edges, s);
                    s
                }
                None => &mut kept[c],
            };
            // Padding lanes have dy = 0: they add nothing to any gradient.
            dacc.iter_mut().zip(dout.chunks(LANES * o_n)).for_each(|(d, ds)| *d = column(ds, o_n, c));
            for e in (0..i_n).rev() {
                let at = (c * i_n + e) * per_edge;
                for (g, d) in dacc.iter_mut().enumerate() {
                    let r = e * groups + g;
                    let row = Row::Fold { acc: s.accs[r], pos: pos[e], y: s.ys[r] };
                    let (da, dy) = s.pn.backward_kept(shape, w, r, row, *d, &mut ga[(c * groups + g) * pa..][..pa]);
                    *d = da;
                    dx[g * i_n + e] +=
                        edges.backward(first + e, xt[g * i_n + e], dy, &mut edge_grad[at..at + per_edge]);
                }
            }
        }
        for g in 0..groups {
            for c in 0..o_n {
                let a = (cp.index(l, c) - cp.index(l, 0)) * pa;
                add_lanes(&mut agg_grad[a..a + pa], &ga[(c * groups + g) * pa..][..pa]);
            }
        }
        if let Some(dinp) = dinp {
            for (rows, d) in dinp.chunks_mut(LANES * i_n).zip(dx.chunks(i_n)) {
                for (r, row) in rows.chunks_mut(i_n).enumerate() {
                    row.iter_mut().zip(d).for_each(|(v, d)| *v = d.0[r]);
                }
            }
        }
    }
}
