//! Particle networks (PNs): paper §II, SPEC §1.
//!
//! A PN is a bias-free dense net, by default `5 → h → h → 1`. Its weight vector is laid out
//! layer by layer, each layer row-major `[out][in]` (a torch `nn.Linear` weight). Fed one of its
//! weights with that weight's position (layer, cell, edge) it should output the same weight:
//! self-replication.
//!
//! All particles of one shape live in one [`ParticleBatch`]: a single contiguous buffer of
//! `n × P` weights. Every operation runs over the whole batch, in parallel over fixed chunks of
//! particles; each particle's result depends only on its own weights, so the results are
//! bitwise identical for any number of threads.
//!
//! Two evaluation paths exist for one PN:
//! - the *general* path runs the net layer by layer on each input row (any activation);
//! - the *collapsed* path, valid for linear PNs only: the whole net is the row vector
//!   `a = M_{L-1}···M_1·M_0`, so `PN(x) = a·x` (SPEC §2's extracted-weight identity,
//!   generalised to every input). Linear PNs always take it; tests check both paths agree.

use crate::activation::Activation;
use crate::optim::Sgd;
use crate::{Error, Result};
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Particles per parallel work item: fixed, so chunking never depends on the thread count.
pub const CHUNK: usize = 64;

/// Input slot of the auxiliary application `PN(0, 0, 0, 0, x)` (Def. 6): the last input.
fn aux_slot(widths: &[usize]) -> usize {
    widths[0] - 1
}

/// The architecture shared by all particles of a batch, and its positional encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct ParticleShape {
    widths: Vec<usize>,
    /// Applied after every hidden layer; the output layer stays linear.
    activation: Activation,
    /// Start of each layer's `[out][in]` block in the weight vector.
    offsets: Vec<usize>,
    /// Normalised `(L', C', E')` of every weight, SPEC §1.
    positions: Vec<[f32; 3]>,
    /// Take the general path even when linear (for tests that both paths agree).
    general_path: bool,
}

impl ParticleShape {
    /// A PN with layer widths `widths` (input first). The input must hold the weight value,
    /// three position columns and the auxiliary slot (≥ 5); the output is one number.
    pub fn new(widths: Vec<usize>, activation: Activation) -> Result<Self> {
        if widths.len() < 2 || widths[0] < 5 || *widths.last().unwrap() != 1 {
            return Err(Error::Invalid(format!(
                "particle widths {widths:?}: need at least two layers, input ≥ 5, output 1"
            )));
        }
        if widths.contains(&0) {
            return Err(Error::Invalid(format!("particle widths {widths:?}: a layer of width 0")));
        }
        let mut offsets = vec![0];
        let mut raw = Vec::new();
        for (l, pair) in widths.windows(2).enumerate() {
            let (inp, out) = (pair[0], pair[1]);
            for c in 0..out {
                for e in 0..inp {
                    raw.push([l as f32, c as f32, e as f32]);
                }
            }
            offsets.push(offsets[l] + inp * out);
        }
        // Each column divided by (its maximum + 1e-8), then + 1e-8, in f32 as the reference.
        let mut max = [0f32; 3];
        for p in &raw {
            for k in 0..3 {
                max[k] = max[k].max(p[k]);
            }
        }
        let positions = raw.iter().map(|p| std::array::from_fn(|k| p[k] / (max[k] + 1e-8) + 1e-8)).collect();
        Ok(ParticleShape { widths, activation, offsets, positions, general_path: false })
    }

    /// The paper's PN: `[5, h, h, 1]`, linear.
    pub fn standard(hidden: usize) -> Result<Self> {
        Self::new(vec![5, hidden, hidden, 1], Activation::None)
    }

    /// The same shape, always evaluated on the general (layer-by-layer) path.
    pub fn with_general_path(mut self) -> Self {
        self.general_path = true;
        self
    }

    /// Whether the collapsed path applies: a linear PN not forced onto the general path.
    fn collapsible(&self) -> bool {
        self.activation.is_identity() && !self.general_path
    }

    pub fn widths(&self) -> &[usize] {
        &self.widths
    }
    pub fn activation(&self) -> Activation {
        self.activation
    }
    /// P, the number of weights of one particle.
    pub fn n_weights(&self) -> usize {
        *self.offsets.last().unwrap()
    }
    fn input_width(&self) -> usize {
        self.widths[0]
    }
    fn max_width(&self) -> usize {
        *self.widths.iter().max().unwrap()
    }
    /// `(L', C', E')` of weight `i`.
    pub fn position(&self, i: usize) -> [f32; 3] {
        self.positions[i]
    }

    /// The weightwise input row of weight `i` with value `v`: `[v, L', C', E', 0…]`.
    fn input_row(&self, i: usize, v: f32, row: &mut [f32]) {
        row.fill(0.0);
        row[0] = v;
        row[1..4].copy_from_slice(&self.positions[i]);
    }

    /// The `P × input` matrix of weightwise input rows of the weight vector `w`.
    pub fn input_matrix(&self, w: &[f32]) -> Vec<f32> {
        let width = self.input_width();
        let mut m = vec![0.0; w.len() * width];
        for (i, row) in m.chunks_mut(width).enumerate() {
            self.input_row(i, w[i], row);
        }
        m
    }

    /// The layers of `w` as `(matrix, in, out)`.
    fn layers<'a>(&'a self, w: &'a [f32]) -> impl Iterator<Item = (&'a [f32], usize, usize)> + 'a {
        self.widths.windows(2).enumerate().map(move |(l, p)| (&w[self.offsets[l]..self.offsets[l + 1]], p[0], p[1]))
    }
}

/// Scratch buffers for one particle's passes, reused across a chunk of particles.
struct Workspace {
    /// Pre-activations of every layer (general path), one block of `max_width` per layer.
    z: Vec<f32>,
    /// Activations, layer input first.
    a: Vec<f32>,
    delta: Vec<f32>,
    delta_next: Vec<f32>,
    row: Vec<f32>,
    /// Collapsed path: `a` and the gradient with respect to it.
    collapsed: Vec<f32>,
    g_collapsed: Vec<f32>,
    /// Collapsed path: left products `U_l` and right vectors `d_l`, one block per layer.
    left: Vec<f32>,
    right: Vec<f32>,
}

impl Workspace {
    fn new(shape: &ParticleShape) -> Self {
        let layers = shape.widths.len();
        let m = shape.max_width();
        Workspace {
            z: vec![0.0; layers * m],
            a: vec![0.0; layers * m],
            delta: vec![0.0; m],
            delta_next: vec![0.0; m],
            row: vec![0.0; shape.input_width()],
            collapsed: vec![0.0; shape.input_width()],
            g_collapsed: vec![0.0; shape.input_width()],
            left: vec![0.0; layers * m],
            right: vec![0.0; layers * m],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One particle, general path.

// forward: x (input width) -> scalar; keeps every layer's pre-activation in ws.z, activation in ws.a
fn pn_forward(shape: &ParticleShape, w: &[f32], x: &[f32], ws: &mut Workspace) -> f32 {
    let m = shape.max_width();
    let last = shape.widths.len() - 2;
    ws.a[..x.len()].copy_from_slice(x);
    for (l, (mat, inp, out)) in shape.layers(w).enumerate() {
        for o in 0..out {
            let mut s = 0.0;
            for i in 0..inp {
                s += mat[o * inp + i] * ws.a[l * m + i];
            }
            ws.z[(l + 1) * m + o] = s;
            ws.a[(l + 1) * m + o] = if l == last { s } else { shape.activation.forward(s) };
        }
    }
    ws.a[(last + 1) * m]
}

// backward: dout (scalar) -> grad_w += dPN/dw · dout; returns dPN/dx[slot] · dout for `slot`.
// Needs ws filled by pn_forward on the same input.
fn pn_backward(
    shape: &ParticleShape,
    w: &[f32],
    dout: f32,
    grad_w: &mut [f32],
    slot: usize,
    ws: &mut Workspace,
) -> f32 {
    let m = shape.max_width();
    let n_layers = shape.widths.len() - 1;
    ws.delta[0] = dout;
    for l in (0..n_layers).rev() {
        let (inp, out) = (shape.widths[l], shape.widths[l + 1]);
        let off = shape.offsets[l];
        for o in 0..out {
            let d = ws.delta[o];
            for i in 0..inp {
                grad_w[off + o * inp + i] += d * ws.a[l * m + i];
            }
        }
        for i in 0..inp {
            let mut s = 0.0;
            for o in 0..out {
                s += w[off + o * inp + i] * ws.delta[o];
            }
            // Hidden layers carry an activation; the network input does not.
            ws.delta_next[i] = if l > 0 { s * shape.activation.derivative(ws.z[l * m + i]) } else { s };
        }
        std::mem::swap(&mut ws.delta, &mut ws.delta_next);
    }
    ws.delta[slot]
}

// ---------------------------------------------------------------------------------------------
// One particle, collapsed path (linear PNs).

// forward: w -> ws.collapsed = M_{L-1}···M_0 (a row vector over the inputs)
fn collapse(shape: &ParticleShape, w: &[f32], ws: &mut Workspace) {
    let m = shape.max_width();
    let n_layers = shape.widths.len() - 1;
    // left[l] = U_l = M_{L-1}···M_{l+1}, a row vector over layer l's outputs; U_{L-1} = [1].
    ws.left[(n_layers - 1) * m] = 1.0;
    for l in (0..n_layers).rev() {
        let (inp, out) = (shape.widths[l], shape.widths[l + 1]);
        let mat = &w[shape.offsets[l]..shape.offsets[l + 1]];
        // U_{l-1} = U_l · M_l (1 × in), written into left[l-1], or the result for l = 0
        let (lower, upper) = ws.left.split_at_mut(l * m);
        let u = &upper[..out];
        let target = if l == 0 { &mut ws.collapsed[..inp] } else { &mut lower[(l - 1) * m..(l - 1) * m + inp] };
        target.fill(0.0);
        for (&uo, row) in u.iter().zip(mat.chunks_exact(inp)) {
            target.iter_mut().zip(row).for_each(|(t, &a)| *t += uo * a);
        }
    }
}

// backward: g (gradient w.r.t. the collapsed row vector) -> grad_w += outer(U_l, d_l) per layer,
// with d_0 = g, d_{l+1} = M_l d_l. Needs ws.left filled by `collapse` on the same w.
fn collapsed_backward(shape: &ParticleShape, w: &[f32], g: &[f32], grad_w: &mut [f32], ws: &mut Workspace) {
    let m = shape.max_width();
    let n_layers = shape.widths.len() - 1;
    ws.right[..g.len()].copy_from_slice(g);
    for l in 0..n_layers {
        let (inp, out) = (shape.widths[l], shape.widths[l + 1]);
        let (off, end) = (shape.offsets[l], shape.offsets[l + 1]);
        let u = &ws.left[l * m..l * m + out];
        // d_l (in) and d_{l+1} (out) live in consecutive blocks of ws.right
        let (lower, upper) = ws.right.split_at_mut((l + 1) * m);
        let d = &lower[l * m..l * m + inp];
        let rows = w[off..end].chunks_exact(inp).zip(grad_w[off..end].chunks_exact_mut(inp));
        for (o, ((row, grad_row), &uo)) in rows.zip(u).enumerate() {
            // grad row o += U_l[o] · d_l; d_{l+1}[o] = M_l[o] · d_l
            let mut s = 0.0;
            for ((gr, &a), &di) in grad_row.iter_mut().zip(row).zip(d) {
                *gr += uo * di;
                s += a * di;
            }
            if l + 1 < n_layers {
                upper[o] = s;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One particle, the operations of the paper.

/// `out = N ◁ M` (Def. 2/6): `N(row_i(M))` for every weight `i` of `target`.
fn apply_one(shape: &ParticleShape, applier: &[f32], target: &[f32], out: &mut [f32], ws: &mut Workspace) {
    if shape.collapsible() {
        collapse(shape, applier, ws);
        let a = &ws.collapsed;
        for (i, o) in out.iter_mut().enumerate() {
            let p = shape.positions[i];
            *o = a[0] * target[i] + a[1] * p[0] + a[2] * p[1] + a[3] * p[2];
        }
    } else {
        let mut row = std::mem::take(&mut ws.row);
        for (i, o) in out.iter_mut().enumerate() {
            shape.input_row(i, target[i], &mut row);
            *o = pn_forward(shape, applier, &row, ws);
        }
        ws.row = row;
    }
}

/// Self-training loss (Def. 5) of one particle, and its gradient added into `grad`:
/// `mean_i (N(row_i) − v_i)²` with rows and targets held constant.
fn self_train_one(shape: &ParticleShape, w: &[f32], grad: &mut [f32], ws: &mut Workspace) -> f32 {
    let p = w.len();
    let scale = 2.0 / p as f32;
    let mut loss = 0.0;
    if shape.collapsible() {
        collapse(shape, w, ws);
        let a: [f32; 4] = ws.collapsed[..4].try_into().unwrap();
        // residuals r_i = a·row_i − v_i; g = ∂loss/∂a over the four non-zero inputs
        let mut g4 = [0f32; 4];
        for (&v, pos) in w.iter().zip(&shape.positions) {
            let r = a[0] * v + a[1] * pos[0] + a[2] * pos[1] + a[3] * pos[2] - v;
            loss += r * r;
            let d = scale * r;
            g4[0] += d * v;
            g4[1] += d * pos[0];
            g4[2] += d * pos[1];
            g4[3] += d * pos[2];
        }
        let mut g = std::mem::take(&mut ws.g_collapsed);
        g.fill(0.0);
        g[..4].copy_from_slice(&g4);
        collapsed_backward(shape, w, &g, grad, ws);
        ws.g_collapsed = g;
    } else {
        let mut row = std::mem::take(&mut ws.row);
        for (i, &v) in w.iter().enumerate() {
            shape.input_row(i, v, &mut row);
            let r = pn_forward(shape, w, &row, ws) - v;
            loss += r * r;
            pn_backward(shape, w, scale * r, grad, 0, ws);
        }
        ws.row = row;
    }
    loss / p as f32
}

/// `PN(0, 0, 0, 0, x)` (Def. 6) of one particle; on the general path `ws` keeps its activations.
fn aux_forward(shape: &ParticleShape, w: &[f32], x: f32, ws: &mut Workspace) -> f32 {
    let slot = aux_slot(&shape.widths);
    if shape.collapsible() {
        collapse(shape, w, ws);
        ws.collapsed[slot] * x
    } else {
        let mut row = std::mem::take(&mut ws.row);
        row.fill(0.0);
        row[slot] = x;
        let y = pn_forward(shape, w, &row, ws);
        ws.row = row;
        y
    }
}

// ---------------------------------------------------------------------------------------------
// The batch.

/// How a particle's weights are drawn (SPEC §1), the `particle.init` configuration key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// `xavier_uniform_`, as the authors' code: uniform in `±sqrt(6 / (fan_in + fan_out))`.
    #[default]
    Xavier,
    /// torch's `nn.Linear(bias=False)` default: uniform in `±1/sqrt(fan_in)`.
    TorchLinear,
}

impl Init {
    /// The half-width of the uniform draw for a layer mapping `fan_in` to `fan_out` units.
    pub fn bound(self, fan_in: usize, fan_out: usize) -> f32 {
        match self {
            Init::Xavier => (6.0 / (fan_in + fan_out) as f32).sqrt(),
            Init::TorchLinear => 1.0 / (fan_in as f32).sqrt(),
        }
    }
}

impl std::str::FromStr for Init {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "xavier" => Ok(Init::Xavier),
            "torch_linear" => Ok(Init::TorchLinear),
            _ => Err(format!("unknown particle init `{s}` (expected xavier or torch_linear)")),
        }
    }
}

/// `n` particles of one shape in one contiguous `n × P` buffer, in a fixed order.
#[derive(Clone, Debug)]
pub struct ParticleBatch {
    shape: ParticleShape,
    weights: Vec<f32>,
}

impl ParticleBatch {
    /// `n` particles, every layer's `[out][in]` matrix drawn uniform in `±bound` of `init`
    /// (SPEC §1: the authors' Xavier-uniform, or torch's `nn.Linear` default).
    pub fn random(shape: ParticleShape, n: usize, init: Init, rng: &mut impl Rng) -> Self {
        let mut weights = Vec::with_capacity(n * shape.n_weights());
        for _ in 0..n {
            for pair in shape.widths.windows(2) {
                let bound = init.bound(pair[0], pair[1]);
                weights.extend((0..pair[0] * pair[1]).map(|_| rng.gen_range(-bound..bound)));
            }
        }
        ParticleBatch { shape, weights }
    }

    /// Particles from a flat `n × P` buffer.
    pub fn from_weights(shape: ParticleShape, weights: Vec<f32>) -> Result<Self> {
        let p = shape.n_weights();
        if !weights.len().is_multiple_of(p) {
            return Err(Error::Invalid(format!(
                "{} weights are not a whole number of particles of {p} weights",
                weights.len()
            )));
        }
        Ok(ParticleBatch { shape, weights })
    }

    pub fn shape(&self) -> &ParticleShape {
        &self.shape
    }
    pub fn len(&self) -> usize {
        self.weights.len() / self.shape.n_weights()
    }
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }
    pub fn weights_mut(&mut self) -> &mut [f32] {
        &mut self.weights
    }
    pub fn particle(&self, i: usize) -> &[f32] {
        let p = self.shape.n_weights();
        &self.weights[i * p..(i + 1) * p]
    }
    /// Runs `f(particle_weights, out_block, ws)` for every particle in parallel over fixed
    /// chunks; `out` holds `width` values per particle.
    fn par_map<F>(&self, out: &mut [f32], width: usize, f: F)
    where
        F: Fn(&[f32], &mut [f32], &mut Workspace) + Sync,
    {
        let p = self.shape.n_weights();
        out.par_chunks_mut(CHUNK * width).zip(self.weights.par_chunks(CHUNK * p)).for_each(|(out, w)| {
            let mut ws = Workspace::new(&self.shape);
            for (o, wi) in out.chunks_mut(width).zip(w.chunks(p)) {
                f(wi, o, &mut ws);
            }
        });
    }

    /// `N_applier ◁ target` for one particle of the batch applied to any weight vector.
    pub fn apply(&self, applier: usize, target: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; target.len()];
        let mut ws = Workspace::new(&self.shape);
        apply_one(&self.shape, self.particle(applier), target, &mut out, &mut ws);
        out
    }

    /// Every particle applied to the matching particle of `targets`: `N_n ◁ M_n`.
    pub fn apply_pairwise(&self, targets: &ParticleBatch) -> ParticleBatch {
        assert_eq!(self.weights.len(), targets.weights.len(), "batches of different sizes");
        let p = self.shape.n_weights();
        let mut out = vec![0.0; self.weights.len()];
        out.par_chunks_mut(CHUNK * p)
            .zip(self.weights.par_chunks(CHUNK * p).zip(targets.weights.par_chunks(CHUNK * p)))
            .for_each(|(out, (w, t))| {
                let mut ws = Workspace::new(&self.shape);
                for ((o, wi), ti) in out.chunks_mut(p).zip(w.chunks(p)).zip(t.chunks(p)) {
                    apply_one(&self.shape, wi, ti, o, &mut ws);
                }
            });
        ParticleBatch { shape: self.shape.clone(), weights: out }
    }

    /// Self-application `N ◁ N` of every particle, into a new batch.
    pub fn self_applied(&self) -> ParticleBatch {
        self.apply_pairwise(self)
    }

    /// Self-application in place: every particle's weights become `N ◁ N`.
    pub fn self_apply(&mut self) {
        self.weights = self.self_applied().weights;
    }

    /// Auxiliary application `PN_n(0, 0, 0, 0, x)` (Def. 6) of every particle.
    pub fn aux_apply(&self, x: f32) -> Vec<f32> {
        let mut out = vec![0.0; self.len()];
        self.par_map(&mut out, 1, |w, o, ws| o[0] = aux_forward(&self.shape, w, x, ws));
        out
    }

    /// The extracted weights `PN_n(0, 0, 0, 0, 1)` (paper §IV-B).
    pub fn extract(&self) -> Vec<f32> {
        self.aux_apply(1.0)
    }

    /// Self-training loss of every particle; gradients written into `grads` (`n × P`).
    pub fn self_train_grads(&self, grads: &mut [f32]) -> Vec<f32> {
        let p = self.shape.n_weights();
        assert_eq!(grads.len(), self.weights.len());
        let mut losses = vec![0.0; self.len()];
        losses
            .par_chunks_mut(CHUNK)
            .zip(grads.par_chunks_mut(CHUNK * p).zip(self.weights.par_chunks(CHUNK * p)))
            .for_each(|(losses, (g, w))| {
                let mut ws = Workspace::new(&self.shape);
                for ((l, gi), wi) in losses.iter_mut().zip(g.chunks_mut(p)).zip(w.chunks(p)) {
                    gi.fill(0.0);
                    *l = self_train_one(&self.shape, wi, gi, &mut ws);
                }
            });
        losses
    }

    /// One self-training step of every particle (Def. 5) with `opt`; returns each particle's
    /// loss before the step. `grads` is caller-owned scratch of `n × P`.
    pub fn self_train_step(&mut self, opt: &mut Sgd, grads: &mut [f32]) -> Vec<f32> {
        let losses = self.self_train_grads(grads);
        opt.step(&mut self.weights, grads);
        losses
    }

    /// Task-pass support: for each particle `n`, `dout[n]` is `∂loss/∂PN_n(0,0,0,0,x[n])`;
    /// adds `∂loss/∂w` into `grads` (`n × P`) and returns `∂loss/∂x` per particle.
    pub fn aux_backward(&self, x: &[f32], dout: &[f32], grads: &mut [f32]) -> Vec<f32> {
        let p = self.shape.n_weights();
        assert_eq!(grads.len(), self.weights.len(), "aux_backward: grads must be n × P");
        assert!(x.len() == self.len() && dout.len() == self.len(), "aux_backward: one x and dout per particle");
        let mut dx = vec![0.0; self.len()];
        dx.par_chunks_mut(CHUNK)
            .zip(grads.par_chunks_mut(CHUNK * p).zip(self.weights.par_chunks(CHUNK * p)))
            .enumerate()
            .for_each(|(chunk, (dx, (g, w)))| {
                let mut ev = Evaluator::new(&self.shape);
                for (k, ((dxi, gi), wi)) in dx.iter_mut().zip(g.chunks_mut(p)).zip(w.chunks(p)).enumerate() {
                    let n = chunk * CHUNK + k;
                    *dxi = ev.aux_backward(wi, x[n], dout[n], gi);
                }
            });
        dx
    }
}

/// Evaluates single particles of one shape on the auxiliary input, with reusable scratch:
/// the building block of the organism's general task path.
pub struct Evaluator<'a> {
    shape: &'a ParticleShape,
    ws: Workspace,
}

impl<'a> Evaluator<'a> {
    pub fn new(shape: &'a ParticleShape) -> Self {
        Evaluator { shape, ws: Workspace::new(shape) }
    }

    // forward: (w, x) -> PN_w(0, 0, 0, 0, x)
    pub fn aux(&mut self, w: &[f32], x: f32) -> f32 {
        aux_forward(self.shape, w, x, &mut self.ws)
    }

    // backward: (w, x, dout) -> grad += dout·∂PN/∂w; returns dout·∂PN/∂x
    pub fn aux_backward(&mut self, w: &[f32], x: f32, dout: f32, grad: &mut [f32]) -> f32 {
        let (shape, ws) = (self.shape, &mut self.ws);
        let slot = aux_slot(&shape.widths);
        if shape.collapsible() {
            collapse(shape, w, ws);
            let mut g = std::mem::take(&mut ws.g_collapsed);
            g.fill(0.0);
            g[slot] = dout * x;
            collapsed_backward(shape, w, &g, grad, ws);
            ws.g_collapsed = g;
            dout * ws.collapsed[slot]
        } else {
            aux_forward(shape, w, x, ws);
            pn_backward(shape, w, dout, grad, slot, ws)
        }
    }
}
