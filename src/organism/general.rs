//! The ON evaluated PN by PN, sample by sample (the [`super::Path::General`] layer map).

use super::dense::layer_offsets;
use super::pass::LayerMap;
use super::OrganismShape;
use crate::lanes::{gather, scatter, F32s, Lanes, LANES};
use crate::particle::{Evaluator, ParticleBatch};

/// The ON evaluated PN by PN, sample by sample, [`LANES`] edges of a cell at once.
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

impl LayerMap for General<'_> {
    fn grad_len(&self, l: usize) -> usize {
        (self.offsets[l + 1] - self.offsets[l]) * self.particles.shape().n_weights()
    }
    // forward: x (rows × in) -> y[c] = Σ_e PN_{l,c,e}(0, 0, 0, 0, x[e]) (rows × out)
    #[inline(always)]
    fn forward_kernel(&self, l: usize, inp: &[f32], out: &mut [f32]) {
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
    fn backward_kernel(&self, l: usize, inp: &[f32], dout: &[f32], mut dinp: Option<&mut [f32]>, grad: &mut [f32]) {
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
