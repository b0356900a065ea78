//! The general path: a PN run layer by layer on many input rows at once (any activation).
//!
//! [`forward`] and [`backward`] are the one definition of a PN's passes on this path, over any
//! [`Lanes`] type and any source of rows (`row(r)`): the weight rows of self-training (Def. 5),
//! the auxiliary rows `(0, 0, 0, 0, x)` of the PN-by-PN task pass (Def. 6,
//! `organism::general`), an aggregator's fold rows. [`General`] holds their buffers for the
//! [`Kernel`] trait; the task pass calls them on buffers of its own.

use super::Kernel;
use crate::lanes::Lanes;
use crate::particle::shape::{ParticleShape, Row};

/// Whether the backward needs `f′(z)` of the PN's hidden units kept beside their activations
/// `a` (GELU); tanh's and none's come from `a` ([`Activation::derivative_of_output`]).
///
/// [`Activation::derivative_of_output`]: crate::activation::Activation::derivative_of_output
pub fn keeps_derivative(shape: &ParticleShape) -> bool {
    shape.activation().derivative_of_output(0.0).is_none()
}

/// Hidden units of the PN (the widths of layers 1..n_layers, summed).
fn hidden_width(shape: &ParticleShape) -> usize {
    shape.widths()[1..shape.n_layers()].iter().sum()
}

/// Length of the state [`forward`] keeps for [`backward`] for `rows` rows: every hidden
/// layer's activations `a` (`rows × width`, layer after layer), then as many `f′(z)` when
/// [`keeps_derivative`].
pub fn kept_len(shape: &ParticleShape, rows: usize) -> usize {
    rows * hidden_width(shape) * if keeps_derivative(shape) { 2 } else { 1 }
}

/// Length of the scratch [`forward`] and [`backward`] need for `n` rows at once (the deltas of
/// two layers; in the forward, GELU's pre-activations of one layer and the rows' live inputs).
pub fn scratch_len(shape: &ParticleShape, n: usize) -> usize {
    2 * n * shape.max_width()
}

/// Length of the scratch [`forward`] alone needs for `n` rows at once (GELU's pre-activations
/// of one layer, then the rows' live inputs): a forward-only pass holds no more.
pub fn forward_scratch_len(shape: &ParticleShape, n: usize) -> usize {
    pre_activations_len(shape, n) + n * shape.input_width()
}

/// Length of the start of [`forward`]'s scratch that holds a layer's pre-activations for `n`
/// rows (GELU's, kept apart from their activations; none for the others).
fn pre_activations_len(shape: &ParticleShape, n: usize) -> usize {
    if keeps_derivative(shape) {
        n * shape.max_width()
    } else {
        0
    }
}

/// The rows of `at` in runs that share their live inputs (`ParticleShape::live_inputs`): one
/// run of all of them when they do (a self-train step's weight rows, a task pass's auxiliary
/// rows), else one run per row; each with those inputs' slots.
#[inline(always)]
fn live_runs<'a, L: Lanes>(
    shape: &'a ParticleShape,
    at: std::ops::Range<usize>,
    row: impl Fn(usize) -> Row<L> + 'a,
) -> impl Iterator<Item = (std::ops::Range<usize>, std::ops::Range<usize>)> + 'a {
    let step = match shared_live_inputs(shape, at.clone(), &row) {
        Some(_) => at.len(),
        None => 1,
    };
    let end = at.end;
    at.step_by(step.max(1)).map(move |s| (s..(s + step).min(end), shape.live_inputs(row(s))))
}

/// Every row's live input values of the rows `run` (`ParticleShape::live_row`), `cols` wide,
/// one row after the other into `xs`; returns the part written.
#[inline(always)]
fn live_rows<'x, L: Lanes>(
    shape: &ParticleShape,
    run: std::ops::Range<usize>,
    cols: usize,
    row: impl Fn(usize) -> Row<L>,
    xs: &'x mut [L],
) -> &'x mut [L] {
    let xs = &mut xs[..run.len() * cols];
    for (r, x) in run.zip(xs.chunks_exact_mut(cols)) {
        shape.live_row(row(r), x);
    }
    xs
}

/// Hidden layer `l`'s block (`rows × width`) of the kept activations.
#[inline(always)]
fn block(shape: &ParticleShape, rows: usize, l: usize) -> std::ops::Range<usize> {
    let start = rows * shape.widths()[1..l].iter().sum::<usize>();
    start..start + rows * shape.widths()[l]
}

/// forward: rows `at` (`row(r)` each; `at.end ≤ rows`) -> `out[r − at.start] = PN_w(row r)`;
/// `kept` ([`kept_len`] of `rows`) gets those rows' hidden `a` (and `f′(z)`), the other rows'
/// stay as they are (an aggregator's fold keeps every step). `scratch` ([`forward_scratch_len`]
/// of `at.len()` at least) is work space. Each unit's sum runs over its row's live inputs
/// (`ParticleShape::live_inputs`, the other slots' products with +0 skipped) or the layer below
/// in input order from +0; the activation runs over a layer's block of rows at once (a long
/// slice, [`crate::simd::tanh_in_place`] for tanh).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn forward<L: Lanes>(
    shape: &ParticleShape,
    w: &[L],
    rows: usize,
    at: std::ops::Range<usize>,
    row: impl Fn(usize) -> Row<L>,
    kept: &mut [L],
    scratch: &mut [L],
    out: &mut [L],
) {
    let (act, keep, last) = (shape.activation(), keeps_derivative(shape), shape.n_layers() - 1);
    let n = at.len();
    let (a, dh) = kept.split_at_mut(rows * hidden_width(shape));
    let (pre, live) = scratch.split_at_mut(pre_activations_len(shape, n));
    for l in 0..=last {
        let (inp, width) = (shape.widths()[l], shape.widths()[l + 1]);
        let mat = &w[shape.offset(l)..shape.offset(l + 1)];
        // `below` ends with layer l's input block, `above` starts with its output block.
        let (below, above) = a.split_at_mut(if l < last { block(shape, rows, l + 1).start } else { a.len() });
        let used = at.start * width..at.end * width;
        let z = if l == last {
            &mut out[..n]
        } else if keep {
            &mut pre[..n * width]
        } else {
            &mut above[used.clone()]
        };
        if l == 0 {
            for (run, cols) in live_runs(shape, at.clone(), &row) {
                let xs = live_rows(shape, run.clone(), cols.len(), &row, live);
                let z = &mut z[(run.start - at.start) * width..(run.end - at.start) * width];
                rows_times(xs, cols.len(), |k, j| mat[k * inp + cols.start + j], z, width, |_, _, v| v);
            }
        } else {
            let prev = block(shape, rows, l);
            let xs = &below[prev.start + at.start * inp..prev.start + at.end * inp];
            rows_times(xs, inp, |k, j| mat[k * inp + j], z, width, |_, _, v| v);
        }
        if l < last {
            let a = L::flat_mut(&mut above[used.clone()]);
            if keep {
                let start = block(shape, rows, l + 1).start;
                let dh = L::flat_mut(&mut dh[start + used.start..start + used.end]);
                act.forward_with_derivative(L::flat_mut(&mut pre[..n * width]), a, dh);
            } else {
                act.forward_in_place(a);
            }
        }
    }
}

/// backward of rows `at`, forwarded by [`forward`] as `row` (their state in `kept`), with
/// `dout[r − at.start] = ∂loss/∂PN(row r)`: grad (P) += Σ_r dout_r·∂PN/∂w, rows in order.
/// Returns, when `want_dx`, every row's `∂loss/∂input` of its `ParticleShape::grad_inputs`
/// (which the rows must share: asserted; `at.len() × |grad_inputs|`, the aux slot last in each
/// row), else nothing. Layer by layer over all rows:
/// a layer's weight gradient adds its rows' terms in row order, then every row's delta of the
/// layer's input is `Σ_o m[o][i]·δ_o` (o in order) times `f′`; `scratch` ([`scratch_len`] of
/// `at.len()` at least) is work space.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn backward<'s, L: Lanes>(
    shape: &ParticleShape,
    w: &[L],
    rows: usize,
    at: std::ops::Range<usize>,
    row: impl Fn(usize) -> Row<L>,
    kept: &[L],
    dout: &[L],
    scratch: &'s mut [L],
    grad: &mut [L],
    want_dx: bool,
) -> &'s [L] {
    let (act, keep, last) = (shape.activation(), keeps_derivative(shape), shape.n_layers() - 1);
    let n = at.len();
    let (a, dh) = kept.split_at(rows * hidden_width(shape));
    let (mut delta, mut next) = scratch.split_at_mut(scratch.len() / 2);
    delta[..n].copy_from_slice(&dout[..n]);
    for l in (0..=last).rev() {
        let (inp, width) = (shape.widths()[l], shape.widths()[l + 1]);
        let off = shape.offset(l);
        let (mat, g) = (&w[off..off + width * inp], &mut grad[off..off + width * inp]);
        let d = &delta[..n * width];
        if l == 0 {
            // A run's live inputs side by side in `next` (row r's from (r − at.start)·inp), the
            // gradient summed in registers over the run as a hidden layer's; then ∂/∂input of
            // each row into its slots of `next`, over its live inputs, once they are used.
            for (run, cols) in live_runs(shape, at.clone(), &row) {
                let xs = live_rows(shape, run.clone(), cols.len(), &row, &mut next[(run.start - at.start) * inp..]);
                weight_grad(g, &d[(run.start - at.start) * width..(run.end - at.start) * width], xs, inp, cols);
            }
            if !want_dx {
                return &[];
            }
            // ∂/∂input of every row's grad_inputs at once, as rows times the matrix's columns:
            // y[r][k] = Σ_o δ[r][o]·m[o][cols.start + k], o in order from +0 (the products the
            // same bits as m·δ).
            let cols = shape.grad_inputs(row(at.start));
            // (checked in release builds too: a caller mixing fold and other rows would get
            // wrong values silently, and the check is one compare per row against the
            // backward's ≈ 100 operations per row)
            assert!(at.clone().all(|r| shape.grad_inputs(row(r)) == cols), "rows share grad_inputs");
            let dx = &mut next[..n * cols.len()];
            rows_times(d, width, |k, o| mat[o * inp + cols.start + k], dx, cols.len(), |_, _, v| v);
            let dx: &'s [L] = dx;
            return dx;
        }
        let kept_at = block(shape, rows, l).start + at.start * inp..block(shape, rows, l).start + at.end * inp;
        let xs = &a[kept_at.clone()];
        weight_grad(g, d, xs, inp, 0..inp);
        // Hidden layers carry an activation: δ_i = (Σ_o m[o][i]·δ_o)·f′ of unit i, f′ applied
        // as each sum is stored.
        let next_d = &mut next[..n * inp];
        let m = |i, o| mat[o * inp + i];
        if keep {
            let dh = &dh[kept_at];
            rows_times(d, width, m, next_d, inp, |r, i, v| v * dh[r * inp + i]);
        } else {
            let f = |a: f32| act.derivative_of_output(a).unwrap_or(f32::NAN);
            // (closures marked inline: unmarked, the self-train step's f′ stayed a call per
            // value, compiled for the baseline, and the step ran 30 % slower)
            rows_times(
                d,
                width,
                m,
                next_d,
                inp,
                #[inline(always)]
                |r, i, v: L| {
                    v.zip_map(
                        xs[r * inp + i],
                        #[inline(always)]
                        |v, a| v * f(a),
                    )
                },
            );
        }
        std::mem::swap(&mut delta, &mut next);
    }
    unreachable!("the loop returns at layer 0")
}

/// The live inputs (`ParticleShape::live_inputs`) every row of `at` has, if they are the same
/// (a self-train step's weight rows, a task pass's auxiliary rows); none for no rows.
#[inline(always)]
fn shared_live_inputs<L: Lanes>(
    shape: &ParticleShape,
    mut at: std::ops::Range<usize>,
    row: impl Fn(usize) -> Row<L>,
) -> Option<std::ops::Range<usize>> {
    let cols = shape.live_inputs(row(at.next()?));
    at.all(|r| shape.live_inputs(row(r)) == cols).then_some(cols)
}

/// Inputs (or outputs) per register block of [`weight_grad`]: the sums of a
/// block advance together ([`Lanes::mul_add_block`]), independent chains in registers; the order
/// of every sum is the one-at-a-time order.
const BLOCK: usize = 4;

/// `K` consecutive values from the start of `s`, as an array.
#[inline(always)]
fn first<L: Lanes, const K: usize>(s: &[L]) -> [L; K] {
    s[..K].try_into().expect("a slice of K values is an array of K")
}

/// Rows per register tile of [`rows_times`]: a tile's `ROWS × OUTS` sums advance together in
/// registers ([`Lanes::mul_add_block`]), each input value and each matrix value loaded once per
/// tile and step (blocks of 8 rows, one output at a time, had loaded every input again for each
/// output: the `general_task_pass_tanh` bench ran 7–10 % slower at 1 thread).
const ROWS: usize = 4;

/// Outputs per register tile of [`rows_times`] (with [`ROWS`], 16 sums in registers).
const OUTS: usize = 4;

// rows times a matrix: y[r][k] = fin(r, k, Σ_j x[r][j]·m(k, j)) for the rows r of x (n × inp)
// and y (n × width), j in order from +0; `fin` finishes each sum as it is stored (the
// backward's `· f′`, no second pass over y). Tiles of ROWS rows (then one at a time) by OUTS
// outputs (then one at a time).
#[inline(always)]
fn rows_times<L: Lanes>(
    x: &[L],
    inp: usize,
    m: impl Fn(usize, usize) -> L,
    y: &mut [L],
    width: usize,
    fin: impl Fn(usize, usize, L) -> L,
) {
    let n = y.len() / width;
    let full = n / ROWS * ROWS;
    for r in (0..full).step_by(ROWS) {
        rows_times_rows::<L, ROWS>(&x[r * inp..], inp, &m, &mut y[r * width..], width, r, &fin);
    }
    for r in full..n {
        rows_times_rows::<L, 1>(&x[r * inp..], inp, &m, &mut y[r * width..], width, r, &fin);
    }
}

// R rows (from row r0) of rows_times, OUTS outputs at a time, then one at a time
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn rows_times_rows<L: Lanes, const R: usize>(
    x: &[L],
    inp: usize,
    m: &impl Fn(usize, usize) -> L,
    y: &mut [L],
    width: usize,
    r0: usize,
    fin: &impl Fn(usize, usize, L) -> L,
) {
    let full = width / OUTS * OUTS;
    for k in (0..full).step_by(OUTS) {
        rows_times_tile::<L, R, OUTS>(x, inp, m, y, width, r0, k, fin);
    }
    for k in full..width {
        rows_times_tile::<L, R, 1>(x, inp, m, y, width, r0, k, fin);
    }
}

// outputs k..k + K of R rows of rows_times: y[q][k + i] = fin(r0 + q, k + i, Σ_j x[q][j]·m(k +
// i, j)) (each product m·x, the same bits as x·m)
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn rows_times_tile<L: Lanes, const R: usize, const K: usize>(
    x: &[L],
    inp: usize,
    m: &impl Fn(usize, usize) -> L,
    y: &mut [L],
    width: usize,
    r0: usize,
    k: usize,
    fin: &impl Fn(usize, usize, L) -> L,
) {
    // (stated once, so that the loops' indexing needs no bounds checks)
    assert!(x.len() >= R * inp && y.len() >= R * width && k + K <= width, "the tile is inside the rows");
    // (a loop, not `array::from_fn`: that stayed a call, compiled for the baseline)
    let mut xs: [&[L]; R] = [&[]; R];
    for (q, xs) in xs.iter_mut().enumerate() {
        *xs = &x[q * inp..][..inp];
    }
    let mut acc = [[L::splat(0.0); K]; R];
    for j in 0..inp {
        let mut mk = [L::splat(0.0); K];
        for (i, mk) in mk.iter_mut().enumerate() {
            *mk = m(k + i, j);
        }
        for (acc, xs) in acc.iter_mut().zip(&xs) {
            L::mul_add_block(acc, mk, xs[j]);
        }
    }
    for (q, (acc, y)) in acc.iter().zip(y.chunks_exact_mut(width)).enumerate() {
        for (i, (&v, y)) in acc.iter().zip(&mut y[k..k + K]).enumerate() {
            *y = fin(r0 + q, k + i, v);
        }
    }
}

// weight gradient: g (width × inp, `[o][i]`) += Σ_r d[r][o]·x[r][i − cols.start] over the rows
// of d (n × width) and x (n × |cols|: each row's inputs in `cols`), for the inputs i in `cols`,
// every weight's terms in row order. A pass over the rows is bound by the latency of its sums'
// adds, so each pass advances as many sums as it can in registers: blocks of BLOCK inputs of two
// outputs (2·BLOCK sums), then each input left over for blocks of BLOCK outputs (a 5 × 5 layer
// in 5 passes, not 10).
#[inline(always)]
fn weight_grad<L: Lanes>(g: &mut [L], d: &[L], xs: &[L], inp: usize, cols: std::ops::Range<usize>) {
    let (width, live) = (g.len() / inp, cols.len());
    let full = live / BLOCK * BLOCK;
    // g's index of output o, live input c
    let at = |o: usize, c: usize| o * inp + cols.start + c;
    for o in (0..width).step_by(2) {
        for c in (0..full).step_by(BLOCK) {
            let g = &mut g[at(o, c)..];
            if o + 1 < width {
                weight_grad_inputs::<L, BLOCK, 2>(g, inp, d, width, o, xs, live, c);
            } else {
                weight_grad_inputs::<L, BLOCK, 1>(g, inp, d, width, o, xs, live, c);
            }
        }
    }
    for c in full..live {
        let outs = width / BLOCK * BLOCK;
        for o in (0..outs).step_by(BLOCK) {
            weight_grad_outputs::<L, BLOCK>(&mut g[at(o, c)..], inp, d, width, o, xs, live, c);
        }
        for o in outs..width {
            weight_grad_outputs::<L, 1>(&mut g[at(o, c)..], inp, d, width, o, xs, live, c);
        }
    }
}

// weight gradient of inputs c..c + K of outputs o..o + O: g[q·inp + k] += Σ_r d[r][o + q]·x[r][c
// + k] (d: n × width, x: n × live), rows in order
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn weight_grad_inputs<L: Lanes, const K: usize, const O: usize>(
    g: &mut [L],
    inp: usize,
    d: &[L],
    width: usize,
    o: usize,
    xs: &[L],
    live: usize,
    c: usize,
) {
    // (stated once, so that the loop's slicing of every row needs no bounds checks)
    assert!(c + K <= live && o + O <= width, "the block is inside the rows");
    let mut acc = [[L::splat(0.0); K]; O];
    for (q, acc) in acc.iter_mut().enumerate() {
        *acc = first(&g[q * inp..]);
    }
    for (d, x) in d.chunks_exact(width).zip(xs.chunks_exact(live)) {
        let (x, d): ([L; K], [L; O]) = (first(&x[c..]), first(&d[o..]));
        for (acc, d) in acc.iter_mut().zip(d) {
            L::mul_add_block(acc, x, d);
        }
    }
    for (q, acc) in acc.iter().enumerate() {
        g[q * inp..][..K].copy_from_slice(acc);
    }
}

// weight gradient of input c of outputs o..o + K: g[k·inp] += Σ_r d[r][o + k]·x[r][c], rows in
// order (each product d·x, the same bits as x·d)
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn weight_grad_outputs<L: Lanes, const K: usize>(
    g: &mut [L],
    inp: usize,
    d: &[L],
    width: usize,
    o: usize,
    xs: &[L],
    live: usize,
    c: usize,
) {
    assert!(c < live && o + K <= width, "the block is inside the rows");
    let mut acc = [L::splat(0.0); K];
    for (k, acc) in acc.iter_mut().enumerate() {
        *acc = g[k * inp];
    }
    for (d, x) in d.chunks_exact(width).zip(xs.chunks_exact(live)) {
        L::mul_add_block(&mut acc, first(&d[o..]), x[c]);
    }
    for (k, acc) in acc.iter().enumerate() {
        g[k * inp] = *acc;
    }
}

/// The buffers of [`forward`] and [`backward`] for up to `rows` rows, sized once for a shape
/// and reused per particle.
#[derive(Clone, Debug)]
pub struct General<L> {
    /// Rows the buffers hold.
    rows: usize,
    /// What [`forward`] keeps for [`backward`] ([`kept_len`]).
    kept: Vec<L>,
    /// The PN's output for every row.
    out: Vec<L>,
    /// The passes' scratch ([`scratch_len`]).
    scratch: Vec<L>,
}

impl<L: Lanes> General<L> {
    /// Workspaces for `rows` input rows of `shape` (allocated once, reused per particle).
    pub fn new(shape: &ParticleShape, rows: usize) -> Self {
        let zero = L::splat(0.0);
        General {
            rows,
            kept: vec![zero; kept_len(shape, rows)],
            out: vec![zero; rows],
            scratch: vec![zero; scratch_len(shape, rows)],
        }
    }

    /// Rows the scratch holds.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// forward: rows 0..n (`row(r)` each; n ≤ rows) -> `PN_w(row r)` for each, returned; keeps
    /// what [`General::backward_row`] needs of each row ([`forward`]).
    #[inline(always)]
    pub fn forward_rows(&mut self, shape: &ParticleShape, w: &[L], n: usize, row: impl Fn(usize) -> Row<L>) -> &[L] {
        self.forward_rows_at(shape, w, 0..n, row)
    }

    /// [`General::forward_rows`] of the rows `at` (`at.end ≤ rows`), leaving the other rows'
    /// kept state as it is: a sequence of dependent steps (an aggregator's fold) keeps every
    /// step for its backward.
    #[inline(always)]
    pub fn forward_rows_at(
        &mut self,
        shape: &ParticleShape,
        w: &[L],
        at: std::ops::Range<usize>,
        row: impl Fn(usize) -> Row<L>,
    ) -> &[L] {
        let out = &mut self.out[at.clone()];
        forward(shape, w, self.rows, at, row, &mut self.kept, &mut self.scratch, out);
        out
    }

    /// backward of row r (last forwarded by [`General::forward_rows`] as `row`): dout -> grad +=
    /// dPN/dw · dout; returns dPN/dx\[slot 0, aux slot\] · dout (the input's zero slots get no
    /// gradient, and of ∂/∂input only the row's `grad_inputs`; slot 0's is zero but for fold rows)
    #[inline(always)]
    pub fn backward_row(
        &mut self,
        shape: &ParticleShape,
        w: &[L],
        r: usize,
        row: Row<L>,
        dout: L,
        grad: &mut [L],
    ) -> (L, L) {
        let (rows, kept) = (self.rows, &self.kept[..]);
        let dx = backward(shape, w, rows, r..r + 1, |_| row, kept, &[dout], &mut self.scratch, grad, true);
        // A fold row's grad_inputs start at slot 0; every row's end with the aux slot.
        let acc = if let Row::Fold { .. } = row { dx[0] } else { L::splat(0.0) };
        (acc, dx[dx.len() - 1])
    }
}

impl<L: Lanes> Kernel<L> for General<L> {
    #[inline(always)]
    fn prepare(&mut self, _: &ParticleShape, _: &[L]) {}

    // forward: one row -> scalar (row 0 of the scratch)
    #[inline(always)]
    fn forward(&mut self, shape: &ParticleShape, w: &[L], row: Row<L>) -> L {
        self.forward_rows(shape, w, 1, |_| row)[0]
    }

    #[inline(always)]
    fn backward(&mut self, shape: &ParticleShape, w: &[L], row: Row<L>, dout: L, grad: &mut [L]) -> (L, L) {
        self.backward_row(shape, w, 0, row, dout, grad)
    }

    #[inline(always)]
    fn finish(&mut self, _: &ParticleShape, _: &[L], _: &mut [L]) {}

    // The P weight rows forwarded at once, then backwarded at once, layer by layer (compiled
    // for AVX-512 or AVX2 when the CPU has it): the same sums as the row-by-row default.
    fn self_train(&mut self, shape: &ParticleShape, w: &[L], grad: &mut [L]) -> L {
        crate::simd::dispatch(
            #[inline(always)]
            || {
                let n = w.len();
                let p = L::splat(n as f32);
                let scale = L::splat(2.0 / n as f32);
                let mut loss = L::splat(0.0);
                let row = |i| Row::Weight { i, v: w[i] };
                self.forward_rows(shape, w, n, row);
                for (out, &v) in self.out.iter_mut().zip(w) {
                    let r = *out - v;
                    loss += r * r;
                    *out = scale * r;
                }
                let (kept, dout) = (&self.kept[..], &self.out[..n]);
                backward(shape, w, self.rows, 0..n, row, kept, dout, &mut self.scratch, grad, false);
                loss / p
            },
        )
    }
}
