//! The dense network of extracted weights (the [`super::Path::Extracted`] layer map): blocked
//! dot products and weight gradients, dispatched to AVX2 at run time.

use super::cell_particles::Cells;
use super::pass::{network_pass, LayerMap, Targets};
use super::{CellParticles, OrganismShape, TaskPass};
use crate::lanes::LANES;

/// A dense network of the ON's shape with weights `[l][c][e]` (extracted or not).
pub struct Dense<'a> {
    shape: &'a OrganismShape,
    weights: &'a [f32],
    /// The activation particles, when the shape has them.
    activations: Option<&'a CellParticles>,
    /// `(in, out)` and start of every layer's block (hoisted out of the hot loops).
    dims: Vec<(usize, usize)>,
    offsets: Vec<usize>,
}

pub(super) fn layer_offsets(shape: &OrganismShape) -> Vec<usize> {
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
    pub fn with_activations(mut self, activations: Option<&'a CellParticles>) -> Self {
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
pub(super) fn dots<const NB: usize>(a: [&[f32]; NB], x: &[f32]) -> [f32; NB] {
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
pub(super) fn grad_rows<const NB: usize>(g: &mut [f32], o: usize, o_n: usize, dy: &[f32], x: &[f32]) {
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
pub(super) const BLOCK: usize = 4;

impl LayerMap for Dense<'_> {
    fn grad_len(&self, l: usize) -> usize {
        self.offsets[l + 1] - self.offsets[l]
    }
    // forward: x (rows × in), A (out × in) -> y = x Aᵀ (rows × out)
    #[inline(always)]
    fn forward_kernel(&self, l: usize, inp: &[f32], out: &mut [f32]) {
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
    fn backward_kernel(&self, l: usize, inp: &[f32], dout: &[f32], dinp: Option<&mut [f32]>, grad: &mut [f32]) {
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
