//! The ON evaluated PN by PN (the [`super::Path::General`] layer map): every PN on every sample,
//! groups of [`LANES`] PNs layer by layer over a chunk of samples.

use super::dense::layer_offsets;
use super::pass::LayerMap;
use super::OrganismShape;
use crate::lanes::{gather, scatter, F32s, Lanes, LANES};
use crate::particle::kernel;
use crate::particle::{ParticleBatch, Row};

/// The ON evaluated PN by PN, [`LANES`] edges of a cell at once over all rows of a chunk.
pub(super) struct General<'a> {
    particles: &'a ParticleBatch,
    dims: Vec<(usize, usize)>,
    offsets: Vec<usize>,
    /// Every cell's particles in groups of [`LANES`] edges, side by side: layer `l`, cell `c`,
    /// group `k` is the `P` lanes at `(soa_start[l] + c·groups + k)·P`.
    soa: Vec<F32s>,
    soa_start: Vec<usize>,
}

impl<'a> General<'a> {
    pub(super) fn new(shape: &OrganismShape, particles: &'a ParticleBatch) -> Self {
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
pub(super) fn lanes_of(x: &[f32]) -> F32s {
    let mut v = F32s::default();
    v.0[..x.len()].copy_from_slice(x);
    v
}

impl General<'_> {
    /// Group `k` of `x` (`rows × in`) as lanes, row by row: edges `k·LANES..` of every sample
    /// (missing edges zero), and how many edges the group has.
    fn group_inputs(x: &[f32], i_n: usize, k: usize, xs: &mut [F32s]) -> usize {
        let edges = k * LANES..((k + 1) * LANES).min(i_n);
        for (row, v) in x.chunks(i_n).zip(xs.iter_mut()) {
            *v = lanes_of(&row[edges.clone()]);
        }
        edges.len()
    }
}

/// Bytes of PN activations a chunk's [`RowScratch`](super::pass::RowScratch) keeps per layer
/// for the backward (each of a layer's PNs' hidden `z` and `a` on every row of the chunk); a
/// layer with more has its forward run again in the backward instead. 8 MiB keeps every layer
/// of the `mnist` organism (1,225 PNs, 6 MB per chunk), not the first layer of a (784, 64, …)
/// one (50,176 PNs, 257 MB per chunk).
const KEEP_BYTES: usize = 8 << 20;

impl LayerMap for General<'_> {
    /// The PN kernels of every group of the layer (cell by cell, [`LANES`] edges each), holding
    /// the forward's activations; empty when the layer's forward is run again in the backward.
    type Kept = Vec<kernel::General<F32s>>;

    fn kept(&self, l: usize, rows: usize) -> Self::Kept {
        let (i_n, o_n) = self.dims[l];
        let shape = self.particles.shape();
        let groups = o_n * i_n.div_ceil(LANES);
        let hidden: usize = shape.widths()[1..shape.n_layers()].iter().sum();
        let bytes = groups * 2 * rows * hidden * std::mem::size_of::<F32s>();
        if rows == 0 || bytes > KEEP_BYTES {
            return Vec::new();
        }
        (0..groups).map(|_| kernel::General::new(shape, rows)).collect()
    }

    fn grad_len(&self, l: usize) -> usize {
        (self.offsets[l + 1] - self.offsets[l]) * self.particles.shape().n_weights()
    }
    // forward: x (rows × in) -> y[c] = Σ_e PN_{l,c,e}(0, 0, 0, 0, x[e]) (rows × out), kept; every
    // group of LANES PNs runs layer by layer over all rows (activations over long slices), and
    // each row's sum over e is in edge order, as PN by PN
    #[inline(always)]
    fn forward_kernel(&self, l: usize, inp: &[f32], out: &mut [f32], kept: &mut Self::Kept) {
        let (i_n, o_n) = self.dims[l];
        let (shape, rows) = (self.particles.shape(), inp.len() / i_n);
        let groups = i_n.div_ceil(LANES);
        // Without kept kernels, one for every group in turn.
        let mut each_group = kept.is_empty().then(|| kernel::General::<F32s>::new(shape, rows));
        let mut xs = vec![F32s::default(); rows];
        // PN outputs of one cell, rows × in
        let mut each = vec![0.0; rows * i_n];
        for c in 0..o_n {
            for k in 0..groups {
                let n = Self::group_inputs(inp, i_n, k, &mut xs);
                let pn = each_group.as_mut().unwrap_or_else(|| &mut kept[c * groups + k]);
                let ys = pn.forward_rows(shape, self.group(l, c, groups, k), rows, |r| Row::Aux(xs[r]));
                for (row, y) in each.chunks_mut(i_n).zip(ys) {
                    row[k * LANES..k * LANES + n].copy_from_slice(&y.0[..n]);
                }
            }
            for (row, y) in each.chunks(i_n).zip(out.chunks_mut(o_n)) {
                y[c] = row.iter().sum();
            }
        }
    }

    // backward: x (rows × in), dy (rows × out), kept -> grad (particles × P) += Σ_rows ∂loss/∂w,
    // rows in order; dx[e] = Σ_c dy[c]·∂PN_{l,c,e}/∂x[e], c in order. Each group's activations
    // are those the forward kept, or (without kept kernels) its forward is run again.
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
        let (shape, rows) = (self.particles.shape(), inp.len() / i_n);
        let p = shape.n_weights();
        let groups = i_n.div_ceil(LANES);
        let mut each_group = kept.is_empty().then(|| kernel::General::<F32s>::new(shape, rows));
        let mut xs = vec![F32s::default(); rows];
        // The layer's gradient as lanes, group by group, then back to particles.
        let mut g = vec![F32s::default(); o_n * groups * p];
        let mut dx = vec![0.0; rows * i_n];
        for c in 0..o_n {
            for k in 0..groups {
                let n = Self::group_inputs(inp, i_n, k, &mut xs);
                let w = self.group(l, c, groups, k);
                let pn = match each_group.as_mut() {
                    Some(pn) => {
                        pn.forward_rows(shape, w, rows, |r| Row::Aux(xs[r]));
                        pn
                    }
                    None => &mut kept[c * groups + k],
                };
                let gk = &mut g[(c * groups + k) * p..(c * groups + k + 1) * p];
                for (r, (dxr, dy)) in dx.chunks_mut(i_n).zip(dout.chunks(o_n)).enumerate() {
                    let v = pn.backward_row(shape, w, r, Row::Aux(xs[r]), F32s::splat(dy[c]), gk).1;
                    dxr[k * LANES..k * LANES + n].iter_mut().zip(v.0).for_each(|(a, b)| *a += b);
                }
            }
        }
        if let Some(dinp) = dinp {
            dinp.copy_from_slice(&dx);
        }
        for (c, cell) in grad.chunks_mut(i_n * p).enumerate() {
            for (k, block) in cell.chunks_mut(LANES * p).enumerate() {
                scatter(&g[(c * groups + k) * p..(c * groups + k + 1) * p], p, block);
            }
        }
    }
}
