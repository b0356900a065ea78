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

use crate::activation::Activation;
use crate::particle::{Evaluator, Init, ParticleBatch, ParticleShape};
use crate::{Error, Result};
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Samples per parallel work item of the task pass: fixed, so sums never depend on threads.
const ROWS: usize = 64;

/// `(inputs p, width w, depth d, outputs q)` plus the residual skip and activation (SPEC §2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganismShape {
    pub inputs: usize,
    pub width: usize,
    /// Number of particle layers, ≥ 2.
    pub depth: usize,
    pub outputs: usize,
    pub residual_skip: bool,
    /// Between layers: `none` or `gelu`.
    pub activation: Activation,
}

impl OrganismShape {
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
        if self.activation == Activation::Tanh {
            return Err(Error::config("organism.activation", "must be `none` or `gelu`"));
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
    Extracted,
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
    pub fn new(shape: &'a OrganismShape, weights: &'a [f32]) -> Self {
        assert_eq!(weights.len(), shape.n_particles(), "dense weights of the wrong size");
        Dense { shape, weights, dims: shape.layers(), offsets: layer_offsets(shape) }
    }

    /// The network's output, `B × q`.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        network_forward(self.shape, self, x).output
    }

    /// Loss, output and `∂loss/∂weight` (one per dense weight, SPEC order) on `(x, targets)`:
    /// the task pass of the dense network, and the first half of the organism's extracted path.
    pub fn task_pass(&self, x: &[f32], targets: Targets) -> TaskPass {
        let tape = network_forward(self.shape, self, x);
        let (loss, dout) = loss_forward_backward(&tape.output, self.shape.outputs, targets);
        let grads = network_backward(self.shape, self, &tape, &dout).concat();
        TaskPass { loss, output: tape.output, grads }
    }
}

/// Lanes of the split accumulator in [`dot`].
const LANES: usize = 8;

// dot: a (n), b (n) -> Σ a·b, summed in LANES interleaved partial sums (vectorisable; the
// order is fixed, so the result does not depend on threads)
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ac.zip(bc) {
        for k in 0..LANES {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

impl LayerMap for Dense<'_> {
    // forward: x (rows × in), A (out × in) -> y = x Aᵀ (rows × out)
    fn forward(&self, l: usize, inp: &[f32], out: &mut [f32]) {
        let (i_n, o_n) = self.dims[l];
        let a = &self.weights[self.offsets[l]..self.offsets[l + 1]];
        for (x, y) in inp.chunks_exact(i_n).zip(out.chunks_exact_mut(o_n)) {
            for (yc, row) in y.iter_mut().zip(a.chunks_exact(i_n)) {
                *yc = dot(row, x);
            }
        }
    }

    // backward: x (rows × in), dy (rows × out) -> grad (out × in) += dyᵀ x; dx = dy A (rows × in)
    fn backward(&self, l: usize, inp: &[f32], dout: &[f32], mut dinp: Option<&mut [f32]>, grad: &mut [f32]) {
        let (i_n, o_n) = self.dims[l];
        let a = &self.weights[self.offsets[l]..self.offsets[l + 1]];
        for (r, (x, dy)) in inp.chunks_exact(i_n).zip(dout.chunks_exact(o_n)).enumerate() {
            for (&d, g) in dy.iter().zip(grad.chunks_exact_mut(i_n)) {
                g.iter_mut().zip(x).for_each(|(g, &x)| *g += d * x);
            }
            if let Some(dinp) = dinp.as_deref_mut() {
                let dx = &mut dinp[r * i_n..(r + 1) * i_n];
                dx.fill(0.0);
                for (&d, row) in dy.iter().zip(a.chunks_exact(i_n)) {
                    dx.iter_mut().zip(row).for_each(|(dx, &w)| *dx += d * w);
                }
            }
        }
    }

    fn grad_len(&self, l: usize) -> usize {
        self.offsets[l + 1] - self.offsets[l]
    }
}

/// The ON evaluated PN by PN, sample by sample.
struct General<'a> {
    particles: &'a ParticleBatch,
    dims: Vec<(usize, usize)>,
    offsets: Vec<usize>,
}

impl LayerMap for General<'_> {
    fn forward(&self, l: usize, inp: &[f32], out: &mut [f32]) {
        let (i_n, o_n) = self.dims[l];
        let mut ev = Evaluator::new(self.particles.shape());
        for (x, y) in inp.chunks(i_n).zip(out.chunks_mut(o_n)) {
            for (c, yc) in y.iter_mut().enumerate() {
                let first = self.offsets[l] + c * i_n;
                *yc = (0..i_n).map(|e| ev.aux(self.particles.particle(first + e), x[e])).sum();
            }
        }
    }

    fn backward(&self, l: usize, inp: &[f32], dout: &[f32], mut dinp: Option<&mut [f32]>, grad: &mut [f32]) {
        let (i_n, o_n) = self.dims[l];
        let p = self.particles.shape().n_weights();
        let mut ev = Evaluator::new(self.particles.shape());
        let mut dx = vec![0.0; i_n];
        for (r, (x, dy)) in inp.chunks(i_n).zip(dout.chunks(o_n)).enumerate() {
            dx.fill(0.0);
            for (c, &d) in dy.iter().enumerate() {
                for e in 0..i_n {
                    let k = c * i_n + e;
                    let w = self.particles.particle(self.offsets[l] + k);
                    dx[e] += ev.aux_backward(w, x[e], d, &mut grad[k * p..(k + 1) * p]);
                }
            }
            if let Some(dinp) = dinp.as_deref_mut() {
                dinp[r * i_n..(r + 1) * i_n].copy_from_slice(&dx);
            }
        }
    }

    fn grad_len(&self, l: usize) -> usize {
        (self.offsets[l + 1] - self.offsets[l]) * self.particles.shape().n_weights()
    }
}

/// What the backward pass needs from the forward pass.
struct Tape<'x> {
    /// Input of every layer, `B × in` (the first one is the caller's `x`, borrowed).
    inputs: Vec<Cow<'x, [f32]>>,
    /// Every layer's output after the residual add, before the activation, `B × out`.
    pre: Vec<Vec<f32>>,
    output: Vec<f32>,
}

/// Rows of `a` (each `width` long) in fixed chunks of [`ROWS`], in parallel.
fn rows_par<'x>(a: &'x [f32], width: usize) -> rayon::slice::Chunks<'x, f32> {
    a.par_chunks(ROWS * width)
}

// forward: x (B × p) -> Tape with output (B × q); SPEC §2's residual skip and activation
fn network_forward<'x>(shape: &OrganismShape, map: &impl LayerMap, x: &'x [f32]) -> Tape<'x> {
    let layers = shape.layers();
    let b = x.len() / shape.inputs;
    let mut t = Cow::Borrowed(x);
    let mut residual: Option<Vec<f32>> = None;
    let (mut inputs, mut pre) = (Vec::new(), Vec::new());
    for (l, &(i_n, o_n)) in layers.iter().enumerate() {
        let skip = shape.residual_skip && shape.is_hidden(l);
        if skip && l % 2 == 1 {
            residual = Some(t.to_vec());
        }
        let mut y = vec![0.0; b * o_n];
        y.par_chunks_mut(ROWS * o_n).zip(rows_par(&t, i_n)).for_each(|(out, inp)| map.forward(l, inp, out));
        if skip && l % 2 == 0 {
            if let Some(r) = &residual {
                y.iter_mut().zip(r).for_each(|(v, r)| *v += r);
            }
        }
        inputs.push(std::mem::take(&mut t));
        t = Cow::Owned(if l + 1 < layers.len() {
            y.iter().map(|&v| shape.activation.forward(v)).collect()
        } else {
            y.clone()
        });
        pre.push(y);
    }
    Tape { inputs, pre, output: t.into_owned() }
}

// backward: tape, dout (B × q) -> one gradient block per layer (LayerMap::grad_len each)
fn network_backward(shape: &OrganismShape, map: &impl LayerMap, tape: &Tape, dout: &[f32]) -> Vec<Vec<f32>> {
    let layers = shape.layers();
    let mut grads = vec![Vec::new(); layers.len()];
    let mut dt = dout.to_vec();
    let mut d_residual: Option<Vec<f32>> = None;
    for (l, &(i_n, o_n)) in layers.iter().enumerate().rev() {
        let skip = shape.residual_skip && shape.is_hidden(l);
        if l + 1 < layers.len() {
            dt.iter_mut().zip(&tape.pre[l]).for_each(|(d, &z)| *d *= shape.activation.derivative(z));
        }
        if skip && l % 2 == 0 {
            d_residual = Some(dt.clone());
        }
        // The network input needs no gradient.
        let mut din = if l > 0 { vec![0.0; tape.inputs[l].len()] } else { Vec::new() };
        let grad_block = |(inp, dy): (&[f32], &[f32]), dx: Option<&mut [f32]>| {
            let mut g = vec![0.0; map.grad_len(l)];
            map.backward(l, inp, dy, dx, &mut g);
            g
        };
        // Each chunk of rows sums its own gradient block; blocks are added in chunk order.
        let rows = rows_par(&tape.inputs[l], i_n).zip(rows_par(&dt, o_n));
        let partial: Vec<Vec<f32>> = if l > 0 {
            din.par_chunks_mut(ROWS * i_n).zip(rows).map(|(dx, r)| grad_block(r, Some(dx))).collect()
        } else {
            rows.map(|r| grad_block(r, None)).collect()
        };
        let mut g = vec![0.0; map.grad_len(l)];
        for part in &partial {
            g.iter_mut().zip(part).for_each(|(a, b)| *a += b);
        }
        grads[l] = g;
        if skip && l % 2 == 1 {
            if let Some(dr) = d_residual.take() {
                din.iter_mut().zip(&dr).for_each(|(a, b)| *a += b);
            }
        }
        dt = din;
    }
    grads
}

/// Task targets: `B × q` values (regression) or `B` class indices (classification).
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    Values(&'a [f32]),
    Classes(&'a [u8]),
}

/// Loss and `∂loss/∂output` of outputs `y` (`B × q`), SPEC §2.
pub fn loss_forward_backward(y: &[f32], q: usize, targets: Targets) -> (f32, Vec<f32>) {
    match targets {
        Targets::Values(t) => {
            let n = y.len() as f32;
            let loss = y.iter().zip(t).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / n;
            (loss, y.iter().zip(t).map(|(a, b)| 2.0 * (a - b) / n).collect())
        }
        Targets::Classes(t) => {
            let b = t.len() as f32;
            let mut grad = vec![0.0; y.len()];
            let mut loss = 0.0;
            for ((logits, g), &k) in y.chunks(q).zip(grad.chunks_mut(q)).zip(t) {
                let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let sum: f32 = logits.iter().map(|v| (v - max).exp()).sum();
                loss += sum.ln() + max - logits[k as usize];
                for (j, gj) in g.iter_mut().enumerate() {
                    let p = (logits[j] - max).exp() / sum;
                    *gj = (p - if j == k as usize { 1.0 } else { 0.0 }) / b;
                }
            }
            (loss / b, grad)
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

/// An organism network: its shape and its particles in SPEC order.
#[derive(Clone, Debug)]
pub struct Organism {
    pub shape: OrganismShape,
    pub particles: ParticleBatch,
}

/// Result of one task forward/backward pass.
pub struct TaskPass {
    pub loss: f32,
    /// The network's output, `B × q`.
    pub output: Vec<f32>,
    /// `∂loss/∂w`: of every particle (`n × P`) for an organism, of every weight for [`Dense`].
    pub grads: Vec<f32>,
}

impl Organism {
    /// A new organism with freshly initialised particles.
    pub fn new(shape: OrganismShape, particle: ParticleShape, init: Init, rng: &mut impl Rng) -> Result<Self> {
        shape.validate()?;
        let particles = ParticleBatch::random(particle, shape.n_particles(), init, rng);
        Ok(Organism { shape, particles })
    }

    pub fn from_particles(shape: OrganismShape, particles: ParticleBatch) -> Result<Self> {
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
        Ok(Organism { shape, particles })
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
            Path::Extracted => Dense::new(&self.shape, &self.extracted_weights()).forward(x),
            Path::General => network_forward(&self.shape, &self.general(), x).output,
        }
    }

    fn general(&self) -> General<'_> {
        General { particles: &self.particles, dims: self.shape.layers(), offsets: layer_offsets(&self.shape) }
    }

    /// Loss, output and particle gradients of the task on `(x, targets)`. [`Path::Extracted`]
    /// is exact for linear PNs only; [`Organism::default_path`] picks the right one.
    pub fn task_pass(&self, x: &[f32], targets: Targets, path: Path) -> TaskPass {
        let q = self.shape.outputs;
        match path {
            Path::Extracted => {
                let weights = self.extracted_weights();
                let dense = Dense::new(&self.shape, &weights).task_pass(x, targets);
                let mut grads = vec![0.0; self.particles.weights().len()];
                let ones = vec![1.0; weights.len()];
                self.particles.aux_backward(&ones, &dense.grads, &mut grads);
                TaskPass { loss: dense.loss, output: dense.output, grads }
            }
            Path::General => {
                let general = self.general();
                let tape = network_forward(&self.shape, &general, x);
                let (loss, dout) = loss_forward_backward(&tape.output, q, targets);
                let grads = network_backward(&self.shape, &general, &tape, &dout).concat();
                TaskPass { loss, output: tape.output, grads }
            }
        }
    }

    /// Combined self-train loss (SPEC §2: the sum over particles) and every particle's gradient.
    pub fn self_train_grads(&self, grads: &mut [f32]) -> f32 {
        self.particles.self_train_grads(grads).iter().sum()
    }
}
