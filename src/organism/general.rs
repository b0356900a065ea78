//! The ON evaluated PN by PN (the [`super::Path::General`] layer map): every PN on every sample,
//! groups of [`WIDE`] consecutive PNs of a layer (one AVX-512 register of f32 each) run layer by
//! layer over a chunk of samples: against groups of 8, half the loop control per PN, and the PN
//! kernel keeps each 16-lane sum in one register.

use super::dense::layer_offsets;
use super::pass::{LayerMap, RowScratch, TaskWorkspace};
use super::OrganismShape;
use crate::lanes::{gather, scatter, F32x16, Lanes, WIDE};
use crate::particle::kernel::general as pn;
use crate::particle::{ParticleBatch, ParticleShape, Row};
use crate::simd;
use rayon::prelude::*;

/// The ON evaluated PN by PN, [`WIDE`] consecutive particles of a layer at once (SPEC order:
/// cell by cell, edge by edge, so a group may span two cells) over all rows of a chunk.
pub(super) struct General<'a> {
    shape: &'a ParticleShape,
    dims: Vec<(usize, usize)>,
    /// Every layer's particles in groups of [`WIDE`], side by side (a layer's last group padded
    /// with zero particles): group `g` of layer `l` is the `P` lanes at `(soa_start[l] + g)·P`.
    /// Once per pass, not per chunk: every group is used by each chunk of the pass (4 chunks of
    /// 64 rows for 200 images), and gathering it in each chunk's forward and backward showed
    /// more in the profile than this.
    soa: Vec<F32x16>,
    soa_start: Vec<usize>,
}

impl<'a> General<'a> {
    pub(super) fn new(shape: &OrganismShape, particles: &'a ParticleBatch) -> Self {
        let (dims, offsets) = (shape.layers(), layer_offsets(shape));
        let p = particles.shape().n_weights();
        let mut soa_start = vec![0];
        for &(i_n, o_n) in &dims {
            soa_start.push(soa_start[soa_start.len() - 1] + (i_n * o_n).div_ceil(WIDE));
        }
        let mut soa = vec![F32x16::default(); soa_start[dims.len()] * p];
        for l in 0..dims.len() {
            let groups = particles.weights()[offsets[l] * p..offsets[l + 1] * p].chunks(WIDE * p);
            for (group, lanes) in groups.zip(soa[soa_start[l] * p..].chunks_exact_mut(p)) {
                gather(group, p, lanes);
            }
        }
        General { shape: particles.shape(), dims, soa, soa_start }
    }

    /// The lanes of group `g` of layer `l`.
    fn group(&self, l: usize, g: usize) -> &[F32x16] {
        let p = self.shape.n_weights();
        let at = (self.soa_start[l] + g) * p;
        &self.soa[at..at + p]
    }

    /// Groups of layer `l`.
    fn groups(&self, l: usize) -> usize {
        let (i_n, o_n) = self.dims[l];
        (i_n * o_n).div_ceil(WIDE)
    }
}

/// The particles of one group of a layer: how many (≤ [`WIDE`]; the other lanes are padding),
/// and each one's cell and edge.
struct Units {
    n: usize,
    cell: [usize; WIDE],
    edge: [usize; WIDE],
    /// All [`WIDE`] particles are edges of one cell (every group but the few that span two
    /// cells or hold padding, when a cell has at least [`WIDE`] edges): a row's inputs of the
    /// group are one slice of it, its `∂loss/∂output` one value.
    one_cell: bool,
}

impl Units {
    /// Group `g` of a layer of `o_n` cells of `i_n` edges.
    fn of(g: usize, (i_n, o_n): (usize, usize)) -> Self {
        let first = g * WIDE;
        let n = (i_n * o_n - first).min(WIDE);
        // Padding lanes repeat the last particle's unit; their values are never used. Index
        // loops, not `array::from_fn` (left out of line, baseline-compiled: `lanes` module docs).
        let (mut cell, mut edge) = ([0; WIDE], [0; WIDE]);
        let (mut c, mut e) = (first / i_n, first % i_n);
        for j in 0..WIDE {
            (cell[j], edge[j]) = (c, e);
            if j + 1 < n {
                e += 1;
                if e == i_n {
                    (c, e) = (c + 1, 0);
                }
            }
        }
        Units { n, cell, edge, one_cell: n == WIDE && cell[0] == cell[WIDE - 1] }
    }

    /// Every row's inputs of the group (`m`: rows × in), particle `j`'s in lane `j` (padding
    /// lanes zero).
    #[inline(always)]
    fn gather_edges(&self, m: &[f32], i_n: usize, out: &mut [F32x16]) {
        if self.one_cell {
            let e = self.edge[0];
            for (o, row) in out.iter_mut().zip(m.chunks_exact(i_n)) {
                let mut lanes = [0.0; WIDE];
                lanes.copy_from_slice(&row[e..e + WIDE]);
                *o = F32x16(lanes);
            }
        } else {
            self.gather(m, i_n, &self.edge, out);
        }
    }

    /// Every row's value of the group's cells (`m`: rows × out), particle `j`'s cell in lane `j`
    /// (padding lanes zero).
    #[inline(always)]
    fn gather_cells(&self, m: &[f32], o_n: usize, out: &mut [F32x16]) {
        if self.one_cell {
            let c = self.cell[0];
            for (o, row) in out.iter_mut().zip(m.chunks_exact(o_n)) {
                *o = F32x16::splat(row[c]);
            }
        } else {
            self.gather(m, o_n, &self.cell, out);
        }
    }

    /// Column `index[j]` of every row of `m` (`rows × width`) into lane `j` (padding lanes zero).
    #[inline(always)]
    fn gather(&self, m: &[f32], width: usize, index: &[usize; WIDE], out: &mut [F32x16]) {
        for (o, row) in out.iter_mut().zip(m.chunks_exact(width)) {
            let mut lanes = [0.0; WIDE];
            for j in 0..self.n {
                lanes[j] = row[index[j]];
            }
            *o = F32x16(lanes);
        }
    }

    /// Adds every row's lanes `ys` (`∂loss/∂input`, backward) into their edges of the row of
    /// `m` (rows × in), lane by lane.
    #[inline(always)]
    fn add_to_edges(&self, ys: &[F32x16], m: &mut [f32], i_n: usize) {
        for (y, row) in ys.iter().zip(m.chunks_exact_mut(i_n)) {
            if self.one_cell {
                let e = self.edge[0];
                row[e..e + WIDE].iter_mut().zip(&y.0).for_each(|(v, y)| *v += y);
            } else {
                for j in 0..self.n {
                    row[self.edge[j]] += y.0[j];
                }
            }
        }
    }

    /// Adds every row's lanes `ys` (outputs, forward) into their cells of the row of `m` (rows ×
    /// out), lane by lane in lane order.
    #[inline(always)]
    fn add_to_cells(&self, ys: &[F32x16], m: &mut [f32], o_n: usize) {
        for (y, row) in ys.iter().zip(m.chunks_exact_mut(o_n)) {
            if self.one_cell {
                let c = self.cell[0];
                row[c] = y.0.iter().fold(row[c], |sum, y| sum + y);
            } else {
                for j in 0..self.n {
                    row[self.cell[j]] += y.0[j];
                }
            }
        }
    }
}

/// One group's buffers, for `rows` rows; grown on first use, then reused.
#[derive(Default)]
struct GroupBuf {
    /// The group's input (its edge's value) on every row, and its output or (backward)
    /// `∂loss/∂output` on every row.
    x: Vec<F32x16>,
    y: Vec<F32x16>,
    /// The group's kept state ([`pn::kept_len`]) when the layer does not keep every group's.
    kept: Vec<F32x16>,
    /// The passes' scratch ([`pn::scratch_len`]), and the group's gradient (`P`).
    scratch: Vec<F32x16>,
    grad: Vec<F32x16>,
}

impl GroupBuf {
    fn size(&mut self, shape: &ParticleShape, rows: usize, all: bool, backward: bool) {
        let lens = [
            (&mut self.x, rows),
            (&mut self.y, rows),
            (&mut self.kept, if all { 0 } else { pn::kept_len(shape, rows) }),
            (
                &mut self.scratch,
                if backward { pn::scratch_len(shape, rows) } else { pn::forward_scratch_len(shape, rows) },
            ),
            (&mut self.grad, shape.n_weights()),
        ];
        for (v, len) in lens {
            v.resize(len, F32x16::default());
        }
    }
}

/// Bytes of PN activations a chunk's [`RowScratch`](super::pass::RowScratch) keeps per layer
/// for the backward (each of a layer's PNs' hidden `a`, for GELU also `f′(z)`, on every row of
/// the chunk); a layer with more has its forward run again in the backward instead. 8 MiB keeps
/// every layer of the `mnist` organism (1,200 PNs, 3 MB per chunk with tanh PNs), not the
/// first layer of a (784, 64, …) one (50,176 PNs, 128 MB per chunk).
pub(super) const KEEP_BYTES: usize = 8 << 20;

/// Groups of a layer run as one parallel task at most (256 PNs): a chunk's layer is split into
/// parts of about as many groups each, which other threads may take (a pass of a few chunks
/// keeps both cores busy). Every group's sums are the same whichever thread runs it, and the
/// parts' outputs and input gradients are added in group order afterwards.
const PART: usize = 16;

/// Parts of a wave ([`WAVE`]).
const PARTS: usize = 2;

/// Groups a layer's outputs (forward) or input gradients (backward) are held for at once at
/// most (512 PNs): the groups run in waves of [`PARTS`] parts, each wave's results added into the
/// layer's sums in group order before the next (the same order as one wave over all groups). A
/// (784, 64, …) organism's first layer has 3,136 groups: held at once they took 13 MB per
/// chunk. Each part of a wave has its [`GroupBuf`] in every chunk scratch: waves of 8 parts of
/// 16-wide groups had taken the full-size epoch's peak RSS from 98.8 to 107 MB, of 4 parts to
/// 101.7 MB; of 2 parts it is 96.7 MB.
const WAVE: usize = PARTS * PART;

/// The groups of a wave and of a part for a layer of `groups` groups: as few waves as [`WAVE`]
/// allows, of as even sizes as can be, each of [`PARTS`] parts as even (the `mnist` organism's
/// first layer of 71 groups: waves of 24, 24 and 23 in parts of 12, not 32, 32 and 7 with the
/// last on one core).
fn wave_and_part(groups: usize) -> (usize, usize) {
    let wave = groups.div_ceil(groups.div_ceil(WAVE).max(1));
    (wave, wave.div_ceil(PARTS).max(1))
}

/// What a chunk's forward of a layer keeps for its backward, and the buffers both work in
/// (grown on first use, then reused pass after pass in a [`TaskWorkspace`]).
#[derive(Default)]
pub(super) struct Kept {
    /// Whether the forward keeps every group's activations; else the backward runs each
    /// group's forward again.
    all: bool,
    /// Whether a backward follows the forward (else the buffers need less scratch).
    backward: bool,
    /// Every group's kept state ([`pn::kept_len`]), group after group.
    acts: Vec<F32x16>,
    /// Every group's output (forward) or `∂loss/∂input` (backward) on every row, group after group.
    ys: Vec<F32x16>,
    /// One group's buffers for each part.
    bufs: Vec<GroupBuf>,
}

impl Kept {
    /// Sizes the buffers for a wave of `groups` groups of `rows` rows; returns the length of a
    /// group's kept state.
    fn size(&mut self, shape: &ParticleShape, groups: usize, rows: usize) -> usize {
        let (wave, part) = wave_and_part(groups);
        self.bufs.resize_with(wave.div_ceil(part), GroupBuf::default);
        self.bufs.iter_mut().for_each(|b| b.size(shape, rows, self.all, self.backward));
        self.ys.resize(wave * rows, F32x16::default());
        pn::kept_len(shape, rows)
    }
}

impl LayerMap for General<'_> {
    type Kept = Kept;

    fn fit_kept(&self, l: usize, rows: usize, kept: &mut Kept) {
        let len = self.groups(l) * pn::kept_len(self.shape, rows);
        kept.all = rows > 0 && len * std::mem::size_of::<F32x16>() <= KEEP_BYTES;
        kept.backward = rows > 0;
    }

    fn scratches(ws: &mut TaskWorkspace) -> &mut Vec<RowScratch<Kept>> {
        &mut ws.general
    }

    fn grad_len(&self, l: usize) -> usize {
        let (i_n, o_n) = self.dims[l];
        i_n * o_n * self.shape.n_weights()
    }

    // forward: x (rows × in) -> y[c] = Σ_e PN_{l,c,e}(0, 0, 0, 0, x[e]) (rows × out), kept; each
    // group of WIDE PNs runs layer by layer over all rows (activations over long slices), parts
    // of up to PART groups in parallel; each row's sum over e is in edge order from Iterator::sum's
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
        let Kept { all, acts, ys, bufs, .. } = kept;
        let (wave, part_len) = wave_and_part(groups);
        // the part from group `first`: its groups' outputs, buffer and kept activations (none
        // when not kept)
        let part = |first: usize, ys: &mut [F32x16], buf: &mut GroupBuf, acts: &mut [F32x16]| {
            simd::dispatch(
                #[inline(always)]
                || {
                    for (k, y) in ys.chunks_exact_mut(rows).enumerate() {
                        let g = first + k;
                        let u = Units::of(g, self.dims[l]);
                        u.gather_edges(inp, i_n, &mut buf.x);
                        let kept = match acts.get_mut(k * stride..(k + 1) * stride) {
                            Some(kept) => kept,
                            None => &mut buf.kept[..],
                        };
                        let (x, w) = (&buf.x, self.group(l, g));
                        let row = |r: usize| Row::Aux(x[r]);
                        pn::forward(self.shape, w, rows, 0..rows, row, kept, &mut buf.scratch, y);
                    }
                },
            )
        };
        if *all && acts.len() < groups * stride {
            acts.resize(groups * stride, F32x16::default());
        }
        for first in (0..groups).step_by(wave) {
            let n = wave.min(groups - first);
            let ys = &mut ys[..n * rows];
            let work = ys.par_chunks_mut(part_len * rows).zip(bufs.par_iter_mut()).enumerate();
            if *all {
                let acts = acts[first * stride..(first + n) * stride].par_chunks_mut(part_len * stride);
                work.zip(acts).for_each(|((p, (ys, buf)), acts)| part(first + p * part_len, ys, buf, acts));
            } else {
                work.for_each(|(p, (ys, buf))| part(first + p * part_len, ys, buf, &mut []));
            }
            for (g, ys) in ys.chunks_exact(rows).enumerate() {
                Units::of(first + g, self.dims[l]).add_to_cells(ys, out, o_n);
            }
        }
    }

    // backward: x (rows × in), dy (rows × out), kept -> grad (particles × P) += Σ_rows ∂loss/∂w,
    // rows in order; dx[e] = Σ_c dy[c]·∂PN_{l,c,e}/∂x[e], c in order (groups in order, lanes in
    // order). Each group's activations are those the forward kept, or its forward run again;
    // parts of up to PART groups in parallel.
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
        let (shape, groups, rows) = (self.shape, self.groups(l), inp.len() / i_n);
        let p = shape.n_weights();
        if rows == 0 {
            return;
        }
        let stride = kept.size(shape, groups, rows);
        let Kept { all, acts, ys: dxs, bufs, .. } = kept;
        let (all, acts, want_dx, len) = (*all, &acts[..], dinp.is_some(), grad.len());
        if let Some(d) = dinp.as_deref_mut() {
            d.fill(0.0);
        }
        let (wave, part_len) = wave_and_part(groups);
        for first in (0..groups).step_by(wave) {
            let n = wave.min(groups - first);
            let grad = &mut grad[first * WIDE * p..((first + n) * WIDE * p).min(len)];
            let dxs = &mut dxs[..n * rows];
            let parts = grad
                .par_chunks_mut(part_len * WIDE * p)
                .zip(dxs.par_chunks_mut(part_len * rows))
                .zip(bufs.par_iter_mut());
            parts.enumerate().for_each(|(part, ((grad, dxs), buf))| {
                simd::dispatch(
                    #[inline(always)]
                    || {
                        for (k, (block, dx)) in grad.chunks_mut(WIDE * p).zip(dxs.chunks_exact_mut(rows)).enumerate() {
                            let g = first + part * part_len + k;
                            let u = Units::of(g, self.dims[l]);
                            let w = self.group(l, g);
                            u.gather_edges(inp, i_n, &mut buf.x);
                            let x = &buf.x;
                            let row = |r: usize| Row::Aux(x[r]);
                            if !all {
                                pn::forward(shape, w, rows, 0..rows, row, &mut buf.kept, &mut buf.scratch, &mut buf.y);
                            }
                            u.gather_cells(dout, o_n, &mut buf.y);
                            let kept = if all { &acts[g * stride..(g + 1) * stride] } else { &buf.kept[..] };
                            buf.grad.fill(F32x16::default());
                            let d = pn::backward(
                                shape,
                                w,
                                rows,
                                0..rows,
                                row,
                                kept,
                                &buf.y,
                                &mut buf.scratch,
                                &mut buf.grad,
                                want_dx,
                            );
                            // an auxiliary row's one ∂/∂input, the aux slot's (none when
                            // not wanted)
                            dx[..d.len()].copy_from_slice(d);
                            scatter(&buf.grad, p, block);
                        }
                    },
                )
            });
            if let Some(d) = dinp.as_deref_mut() {
                for (g, dx) in dxs.chunks_exact(rows).enumerate() {
                    Units::of(first + g, self.dims[l]).add_to_edges(dx, d, i_n);
                }
            }
        }
    }
}
