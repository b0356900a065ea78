//! The dense network of extracted weights (the [`super::Path::Extracted`] layer map): blocked
//! dot products and weight gradients, dispatched to AVX-512 or AVX2 at run time
//! ([`crate::simd::dispatch`]).

use super::cell_particles::Cells;
use super::pass::{network_pass, LayerMap, RowScratch, Targets, TaskWorkspace};
use super::{CellParticles, OrganismShape, TaskPass};
use crate::lanes::LANES;
use std::ops::Range;

/// A dense network of the ON's shape with weights `[l][c][e]` (extracted or not).
pub struct Dense<'a> {
    shape: &'a OrganismShape,
    weights: &'a [f32],
    /// The activation particles, when the shape has them.
    activations: Option<&'a CellParticles>,
    /// `(in, out)` and start of every layer's block (hoisted out of the hot loops).
    dims: Vec<(usize, usize)>,
    offsets: Vec<usize>,
    /// The weight rows of layers 1.. in whole blocks of [`LANES`], zero-padded, and the start
    /// of every layer's (`∂loss/∂input` reads them; layer 0's input needs none).
    padded: Vec<[f32; LANES]>,
    padded_offsets: Vec<usize>,
    /// The columns of the layers narrower than [`LANES`] inputs (`Aᵀ`, in × out), in padded
    /// blocks as `padded`, and the start of every layer's (their forward reads them).
    transposed: Vec<[f32; LANES]>,
    transposed_offsets: Vec<usize>,
}

/// The rows of `m` (`width` values each) appended to `out` in zero-padded blocks of [`LANES`].
fn push_padded(m: &[f32], width: usize, out: &mut Vec<[f32; LANES]>) {
    for row in m.chunks_exact(width) {
        out.extend(row.chunks(LANES).map(|c| std::array::from_fn(|k| c.get(k).copied().unwrap_or(0.0))));
    }
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
        let (dims, offsets) = (shape.layers(), layer_offsets(shape));
        let (mut padded, mut padded_offsets) = (Vec::new(), vec![0]);
        let (mut transposed, mut transposed_offsets) = (Vec::new(), vec![0]);
        for (l, &(i_n, o_n)) in dims.iter().enumerate() {
            let a = &weights[offsets[l]..offsets[l + 1]];
            if l > 0 {
                push_padded(a, i_n, &mut padded);
            }
            padded_offsets.push(padded.len());
            if i_n < LANES {
                let columns: Vec<f32> = (0..i_n).flat_map(|k| a.iter().skip(k).step_by(i_n).copied()).collect();
                push_padded(&columns, o_n, &mut transposed);
            }
            transposed_offsets.push(transposed.len());
        }
        Dense {
            shape,
            weights,
            activations: None,
            dims,
            offsets,
            padded,
            padded_offsets,
            transposed,
            transposed_offsets,
        }
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
        network_pass(self.shape, self, &self.cells(), x, None, &mut TaskWorkspace::new()).output
    }

    /// Loss, output and `∂loss/∂weight` (one per dense weight, SPEC order) on `(x, targets)`:
    /// the task pass of the dense network, and the first half of the organism's extracted path.
    /// Its chunk scratches come from a new [`TaskWorkspace`] (a dense network's are small).
    pub fn task_pass(&self, x: &[f32], targets: Targets) -> TaskPass {
        network_pass(self.shape, self, &self.cells(), x, Some(targets), &mut TaskWorkspace::new())
    }
}

// dots: a (NB rows of n), x (R rows of n) -> [[a_j · x_r]] for every (row r, output j), each
// summed in LANES interleaved partial sums then the tail (the order of a one-row dot; R·NB
// independent sums in registers share the loads of x and a). Written on whole `[f32; LANES]`
// values: LLVM keeps them in vector registers (indexing lanes of a nested array in place, it
// kept them in memory, one lane at a time). Every row is first cut to exactly the same number
// of whole blocks, so the loop indexes them without a bounds check (checking each load had
// doubled the loop's instructions and spilled a sum to the stack).
#[inline(always)]
fn dots<const NB: usize>(a: [&[f32]; NB], x: [&[f32]; R]) -> [[f32; NB]; R] {
    let m = x[0].len() / LANES;
    let n = m * LANES;
    let mut xb: [&[[f32; LANES]]; R] = [&[]; R];
    for (xb, x) in xb.iter_mut().zip(x) {
        *xb = &x.as_chunks::<LANES>().0[..m];
    }
    let mut ab: [&[[f32; LANES]]; NB] = [&[]; NB];
    for (ab, a) in ab.iter_mut().zip(a) {
        *ab = &a.as_chunks::<LANES>().0[..m];
    }
    let mut acc = [[[0f32; LANES]; NB]; R];
    for k in 0..m {
        for (acc, xb) in acc.iter_mut().zip(&xb) {
            let xk = xb[k];
            for (acc, ab) in acc.iter_mut().zip(&ab) {
                let ak = ab[k];
                let mut v = *acc;
                for l in 0..LANES {
                    v[l] += ak[l] * xk[l];
                }
                *acc = v;
            }
        }
    }
    let mut all = [[0f32; LANES]; SUMS];
    for (i, all) in all.iter_mut().enumerate().take(R * NB) {
        *all = acc[i / NB][i % NB];
    }
    let sums = lane_sums(&all);
    // Plain loops: as nested `from_fn` closures, LLVM left these sums out of line (not AVX2).
    let mut dot = [[0f32; NB]; R];
    for (r, (dot, x)) in dot.iter_mut().zip(x).enumerate() {
        for (j, (dot, a)) in dot.iter_mut().zip(a).enumerate() {
            let tail: f32 = a[n..].iter().zip(&x[n..]).map(|(a, x)| a * x).sum();
            *dot = sums[r * NB + j] + tail;
        }
    }
    dot
}

/// Sums finished together by [`lane_sums`]: at least `R · BLOCK`.
const SUMS: usize = 2 * LANES;
const _: () = assert!(R * BLOCK <= SUMS);

// lane sums: v (SUMS vectors of LANES partial sums) -> Σ_l v[i][l] for every i, added from
// lane 0 up (the bits of `v[i].iter().sum()`, whose -0.0 start leaves v[i][0] as it is), for
// LANES vectors at once: their lanes transposed, then whole vectors added (adding the lanes
// of each vector one by one was ≈ 15 % of the dense forward kernel)
//
// Out of line, on purpose: inlined into `dots`, whether LLVM kept the dot products' sums in
// vector registers depended on how it split the crate into codegen units (a `zip` here left
// out of line, or its lanes split into scalars, ran the dense forward 3× slower, in builds
// that differed only elsewhere). Called once per R·NB dot products, compiled for the baseline.
#[inline(never)]
#[allow(clippy::needless_range_loop)]
fn lane_sums(v: &[[f32; LANES]; SUMS]) -> [f32; SUMS] {
    let mut sums = [0f32; SUMS];
    for c in 0..SUMS / LANES {
        let v = &v[c * LANES..(c + 1) * LANES];
        // lane l of every v[i], added as whole vectors
        let mut s = [0f32; LANES];
        for i in 0..LANES {
            s[i] = v[i][0];
        }
        for l in 1..LANES {
            for i in 0..LANES {
                s[i] += v[i][l];
            }
        }
        sums[c * LANES..(c + 1) * LANES].copy_from_slice(&s);
    }
    sums
}

// forward rows: x (RN rows × in, RN ≤ R), A (out × in) -> y (RN rows × out) = x Aᵀ, outputs
// in blocks of BLOCK (the last block narrower)
#[inline(always)]
fn forward_rows<const RN: usize>(a: &[f32], i_n: usize, x: &[f32], y: &mut [f32]) {
    // [`dots`] takes R rows: a single row goes in twice (its second result is dropped). Plain
    // loops, not `array::from_fn` (which LLVM left out of line, compiled for the baseline).
    let mut rows: [&[f32]; R] = [&[]; R];
    for (r, row) in rows.iter_mut().enumerate() {
        let r = r.min(RN - 1);
        *row = &x[r * i_n..(r + 1) * i_n];
    }
    let o_n = y.len() / RN;
    let full = o_n / BLOCK * BLOCK;
    for o in (0..full).step_by(BLOCK) {
        forward_block::<BLOCK>(a, o, rows, y);
    }
    match o_n - full {
        0 => {}
        1 => forward_block::<1>(a, full, rows, y),
        2 => forward_block::<2>(a, full, rows, y),
        3 => forward_block::<3>(a, full, rows, y),
        _ => forward_block::<4>(a, full, rows, y),
    }
}

// forward block: x (R rows × in), A (out × in) -> outputs o.. o+NB of y (the first y.len() / out
// of the R rows)
#[inline(always)]
fn forward_block<const NB: usize>(a: &[f32], o: usize, x: [&[f32]; R], y: &mut [f32]) {
    let i_n = x[0].len();
    let o_n = a.len() / i_n;
    let mut rows: [&[f32]; NB] = [&[]; NB];
    for (j, row) in rows.iter_mut().enumerate() {
        *row = &a[(o + j) * i_n..(o + j + 1) * i_n];
    }
    let v = dots::<NB>(rows, x);
    for (y, v) in y.chunks_exact_mut(o_n).zip(v) {
        y[o..o + NB].copy_from_slice(&v);
    }
}

// grad_rows: dy (rows × out), x (rows × in), outputs o.. o+NB, columns `band` -> grad rows o..
// (NB × in) += Σ_r dy[r][o+j]·x[r] on those columns, row after row (the order of one row at a
// time), COLS columns at a time in registers; the last columns of a row go through zero-padded
// blocks of LANES
#[inline(always)]
fn grad_rows<const NB: usize>(g: &mut [f32], o: usize, o_n: usize, dy: &[f32], x: &[f32], band: Range<usize>) {
    let i_n = g.len() / NB;
    let full = i_n / COLS * COLS;
    for i0 in (band.start..band.end.min(full)).step_by(COLS) {
        let mut acc = [[0f32; COLS]; NB];
        for (j, acc) in acc.iter_mut().enumerate() {
            acc.copy_from_slice(&g[j * i_n + i0..j * i_n + i0 + COLS]);
        }
        for (xr, dr) in x.chunks_exact(i_n).zip(dy.chunks_exact(o_n)) {
            let xr = &xr[i0..i0 + COLS];
            for (j, acc) in acc.iter_mut().enumerate() {
                let d = dr[o + j];
                for l in 0..COLS {
                    acc[l] += d * xr[l];
                }
            }
        }
        for (j, acc) in acc.iter().enumerate() {
            g[j * i_n + i0..j * i_n + i0 + COLS].copy_from_slice(acc);
        }
    }
    for i0 in (band.start.max(full)..band.end).step_by(LANES) {
        let w = LANES.min(i_n - i0);
        let mut acc = [[0f32; LANES]; NB];
        for (j, acc) in acc.iter_mut().enumerate() {
            acc[..w].copy_from_slice(&g[j * i_n + i0..j * i_n + i0 + w]);
        }
        for (xr, dr) in x.chunks_exact(i_n).zip(dy.chunks_exact(o_n)) {
            // (a copy of w values here was a call to memcpy per row)
            let xs: [f32; LANES] = std::array::from_fn(|l| xr.get(i0 + l).copied().unwrap_or(0.0));
            for (j, acc) in acc.iter_mut().enumerate() {
                let d = dr[o + j];
                for l in 0..LANES {
                    acc[l] += d * xs[l];
                }
            }
        }
        for (j, acc) in acc.iter().enumerate() {
            g[j * i_n + i0..j * i_n + i0 + w].copy_from_slice(&acc[..w]);
        }
    }
}

// row times matrix: v (k), B (k × m, rows in nb zero-padded blocks of LANES) -> row r of out
// (rows × m) = v B, each element summed from 0 over k in order, LANES outputs at a time (for
// narrow layers the elementwise loop over one row was mostly loop overhead). The input
// gradient dy A of a layer, and the forward x Aᵀ of a layer narrower than LANES inputs (the
// bits of [`dots`]: its sum of products in input order, with no whole block, as the first
// non-zero product makes the sign of the starting zero irrelevant). A row's last, narrower
// block is stored whole while out has room: its extra lanes land on the next row, which the
// caller writes after this one (a store of fewer lanes was a call to memcpy per row).
#[inline(always)]
fn row_times(dx: &mut [f32], (r, i_n): (usize, usize), dy: &[f32], a: &[[f32; LANES]], nb: usize) {
    let (start, end) = (r * i_n, (r + 1) * i_n);
    for b in 0..nb {
        let mut acc = [0f32; LANES];
        for (&d, a) in dy.iter().zip(a[b..].iter().step_by(nb)) {
            for l in 0..LANES {
                acc[l] += d * a[l];
            }
        }
        let at = start + b * LANES;
        if let Some(dx) = dx.get_mut(at..at + LANES) {
            dx.copy_from_slice(&acc);
        } else {
            dx[at..end].iter_mut().zip(acc).for_each(|(dx, v)| *dx = v);
        }
    }
}

/// Output rows of a layer handled together by the dense kernels (5: the mnist organism's
/// hidden width, and R·BLOCK and BLOCK·COLS/LANES sums fit the 16 AVX2 registers). The
/// narrower last block takes 1 to 4 outputs.
const BLOCK: usize = 5;
const _: () = assert!(BLOCK <= 5);
/// Image rows of the forward pass handled together (they share the loads of the weights).
const R: usize = 2;
/// Columns of the weight gradient held in registers at once.
const COLS: usize = 2 * LANES;

impl LayerMap for Dense<'_> {
    type Kept = ();
    fn fit_kept(&self, _: usize, _: usize, _: &mut ()) {}
    fn scratches(ws: &mut TaskWorkspace) -> &mut Vec<RowScratch<()>> {
        &mut ws.dense
    }
    fn grad_len(&self, l: usize) -> usize {
        self.offsets[l + 1] - self.offsets[l]
    }
    // forward: x (rows × in), A (out × in) -> y = x Aᵀ (rows × out), R rows at a time
    #[inline(always)]
    fn forward_kernel(&self, l: usize, inp: &[f32], out: &mut [f32], _: &mut ()) {
        let (i_n, o_n) = self.dims[l];
        if i_n < LANES {
            // no whole block of inputs: a row at a time, as x_r Aᵀ (rows in order: see row_times)
            let columns = &self.transposed[self.transposed_offsets[l]..self.transposed_offsets[l + 1]];
            for (r, x) in inp.chunks_exact(i_n).enumerate() {
                row_times(out, (r, o_n), x, columns, o_n.div_ceil(LANES));
            }
            return;
        }
        let a = &self.weights[self.offsets[l]..self.offsets[l + 1]];
        let (x, x_rest) = inp.split_at(inp.len() / (R * i_n) * (R * i_n));
        let (y, y_rest) = out.split_at_mut(x.len() / i_n * o_n);
        for (x, y) in x.chunks_exact(R * i_n).zip(y.chunks_exact_mut(R * o_n)) {
            forward_rows::<R>(a, i_n, x, y);
        }
        for (x, y) in x_rest.chunks_exact(i_n).zip(y_rest.chunks_exact_mut(o_n)) {
            forward_rows::<1>(a, i_n, x, y);
        }
    }

    // backward: x (rows × in), dy (rows × out) -> grad (out × in) += dyᵀ x; dx = dy A (rows × in)
    #[inline(always)]
    fn backward_kernel(
        &self,
        l: usize,
        inp: &[f32],
        dout: &[f32],
        dinp: Option<&mut [f32]>,
        grad: &mut [f32],
        _: &mut (),
    ) {
        let (i_n, o_n) = self.dims[l];
        let full = o_n / BLOCK * BLOCK;
        // A band of COLS columns of x (rows × COLS: 4 KB for 64 rows) for every output in turn,
        // while it is in L1: band by band, x comes from L2 once, not once per output block
        // (its rows are further apart than the hardware prefetches).
        for b in (0..i_n).step_by(COLS) {
            let band = b..(b + COLS).min(i_n);
            for (k, g) in grad[..full * i_n].chunks_exact_mut(BLOCK * i_n).enumerate() {
                grad_rows::<BLOCK>(g, k * BLOCK, o_n, dout, inp, band.clone());
            }
            let g = &mut grad[full * i_n..];
            match o_n - full {
                0 => {}
                1 => grad_rows::<1>(g, full, o_n, dout, inp, band),
                2 => grad_rows::<2>(g, full, o_n, dout, inp, band),
                3 => grad_rows::<3>(g, full, o_n, dout, inp, band),
                _ => grad_rows::<4>(g, full, o_n, dout, inp, band),
            }
        }
        if let Some(dinp) = dinp {
            let nb = i_n.div_ceil(LANES);
            let padded = &self.padded[self.padded_offsets[l]..self.padded_offsets[l + 1]];
            // rows in order: see row_times
            for (r, dy) in dout.chunks_exact(o_n).enumerate() {
                row_times(dinp, (r, i_n), dy, padded, nb);
            }
        }
    }
}
