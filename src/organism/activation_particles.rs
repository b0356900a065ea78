//! Activation particles: the paper's future work, particles as "layer activation function
//! approximators" (§VI; issue 13, section 2).
//!
//! With `organism.activation = "particle"` every hidden cell's sum `z` (after the residual add,
//! where SPEC §2 applies GELU) passes through an activation particle: `a = PN_act(0,0,0,0,z)`
//! (Def. 6's auxiliary application). There is one activation particle per hidden layer
//! (`per = "layer"`) or one per hidden cell (`per = "cell"`); the output layer has none, as it
//! has no activation in SPEC §2. A linear PN is linear (`PN(0,0,0,0,z) = z·PN(0,0,0,0,1)`), so
//! activation particles are non-linear PNs (`[activation_particle] activation`, `tanh` by
//! default; `none` is rejected) of widths `[5, hidden, hidden, 1]`, evaluated on the general
//! per-sample path.
//!
//! Storage: all activation particles in one [`ParticleBatch`], in order layer, then cell (per
//! cell); named `A{l}` (per layer) or `A{l}_C{c}` (per cell), apart from the weight particles'
//! `L{l}_C{c}_W{e}`. They are drawn from the run's initialisation stream right after the weight
//! particles, with the same init rule (SPEC §1), in that order.
//!
//! Training: the task step moves them with their own SGD-momentum optimizer of the run's `lr`
//! and `momentum` (persistent like the weight particles' task optimizer); the self-train steps
//! of SPEC §3 self-train them like every other particle (Def. 5, a fresh optimizer per batch),
//! and their self-train losses are part of the combined self-train loss.

use crate::activation::Activation;
use crate::lanes::{F32s, Lanes, LANES};
use crate::particle::{Evaluator, Init, ParticleBatch, ParticleShape};
use crate::{limits, Error, Result};
use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::str::FromStr;

use super::OrganismShape;

/// What every hidden cell's sum passes through (SPEC §2, plus activation particles).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerActivation {
    /// Identity.
    #[default]
    None,
    /// Exact GELU (erf form), the paper's MNIST text.
    Gelu,
    /// An activation particle (this module).
    Particle,
}

impl LayerActivation {
    /// The fixed function, or `None` for activation particles.
    pub fn fixed(self) -> Option<Activation> {
        match self {
            LayerActivation::None => Some(Activation::None),
            LayerActivation::Gelu => Some(Activation::Gelu),
            LayerActivation::Particle => None,
        }
    }
}

impl fmt::Display for LayerActivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LayerActivation::None => "none",
            LayerActivation::Gelu => "gelu",
            LayerActivation::Particle => "particle",
        })
    }
}

impl FromStr for LayerActivation {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "none" | "identity" => Ok(LayerActivation::None),
            "gelu" => Ok(LayerActivation::Gelu),
            "particle" => Ok(LayerActivation::Particle),
            _ => Err(format!("`{s}` is not an activation between organism layers (expected none, gelu or particle)")),
        }
    }
}

impl<'de> Deserialize<'de> for LayerActivation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// How many activation particles a network has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    /// One per hidden layer, shared by its cells.
    #[default]
    Layer,
    /// One per hidden cell.
    Cell,
}

/// The `[activation_particle]` section of a configuration (used when `organism.activation =
/// "particle"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationParticleConfig {
    /// One activation particle per hidden layer or per hidden cell.
    pub per: Per,
    /// Widths `[5, hidden, hidden, 1]`.
    pub hidden: usize,
    /// The PN's own activation; must be non-linear.
    pub activation: Activation,
}

impl Default for ActivationParticleConfig {
    fn default() -> Self {
        ActivationParticleConfig { per: Per::Layer, hidden: 5, activation: Activation::Tanh }
    }
}

impl ActivationParticleConfig {
    /// Range checks, each naming its key; `used` says whether the organism has activation
    /// particles (a changed section without them is a mistake worth a message).
    pub fn validate(&self, used: bool) -> Result<()> {
        limits::count("activation_particle.hidden", self.hidden as u64, limits::MAX_HIDDEN)?;
        if self.activation.is_identity() {
            return Err(Error::config(
                "activation_particle.activation",
                "a linear PN is linear (PN(0,0,0,0,z) = z·PN(0,0,0,0,1)): activation particles need tanh or gelu",
            ));
        }
        if !used && !self.is_default() {
            return Err(Error::config("activation_particle", "is used only with organism.activation = \"particle\""));
        }
        Ok(())
    }

    /// The default section, which configurations leave out.
    pub fn is_default(&self) -> bool {
        *self == ActivationParticleConfig::default()
    }

    /// The activation particles' shape.
    pub fn shape(&self) -> Result<ParticleShape> {
        ParticleShape::new(vec![5, self.hidden, self.hidden, 1], self.activation)
    }

    /// Number of activation particles of an organism of `shape`.
    pub fn count(&self, shape: &OrganismShape) -> usize {
        count(self.per, shape)
    }
}

fn count(per: Per, shape: &OrganismShape) -> usize {
    let hidden_layers = shape.depth - 1;
    match per {
        Per::Layer => hidden_layers,
        Per::Cell => hidden_layers * shape.width,
    }
}

/// An organism's activation particles, in order layer, then cell.
#[derive(Clone, Debug)]
pub struct ActivationParticles {
    /// One per hidden layer or per hidden cell.
    pub per: Per,
    /// The particles, in order layer, then cell; always on the general path.
    pub particles: ParticleBatch,
    /// Cells per hidden layer (`organism.width`).
    width: usize,
}

impl ActivationParticles {
    /// Fresh activation particles for an organism of `shape`, drawn from `rng` with `init`.
    pub fn random(
        cfg: &ActivationParticleConfig,
        shape: &OrganismShape,
        init: Init,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let batch = ParticleBatch::random(cfg.shape()?, cfg.count(shape), init, rng);
        ActivationParticles::new(cfg.per, shape, batch)
    }

    /// `particles` as the activation particles of an organism of `shape`.
    pub fn new(per: Per, shape: &OrganismShape, particles: ParticleBatch) -> Result<Self> {
        let n = count(per, shape);
        if particles.len() != n {
            return Err(Error::Invalid(format!(
                "an organism of depth {} and width {} has {n} activation particles (per {per:?}), got {}",
                shape.depth,
                shape.width,
                particles.len()
            )));
        }
        if particles.shape().activation().is_identity() {
            return Err(Error::Invalid("activation particles must be non-linear PNs".into()));
        }
        Ok(ActivationParticles { per, particles: particles.with_general_path(), width: shape.width })
    }

    /// Index of the activation particle of hidden layer `l`, cell `c`.
    fn index(&self, l: usize, c: usize) -> usize {
        match self.per {
            Per::Layer => l,
            Per::Cell => l * self.width + c,
        }
    }

    /// `A{l}` or `A{l}_C{c}` for every activation particle, in storage order.
    pub fn names(&self) -> Vec<String> {
        (0..self.particles.len())
            .map(|i| match self.per {
                Per::Layer => format!("A{i}"),
                Per::Cell => format!("A{}_C{}", i / self.width, i % self.width),
            })
            .collect()
    }

    /// `z ↦ PN_act(0,0,0,0,z)` of activation particle `k` at each of `zs`.
    pub fn curve(&self, k: usize, zs: &[f32]) -> Vec<f32> {
        let mut ev = Evaluator::<f32>::new(&self.particles);
        zs.iter().map(|&z| ev.aux(self.particles.particle(k), z)).collect()
    }

    /// `(min, max)` of the finite sums `z` each activation particle saw in `sums` (from
    /// [`super::Organism::hidden_sums`]); `None` when it saw none.
    pub fn z_ranges(&self, sums: &[Vec<f32>]) -> Vec<Option<(f32, f32)>> {
        let mut ranges: Vec<Option<(f32, f32)>> = vec![None; self.particles.len()];
        for (l, sum) in sums.iter().enumerate() {
            for row in sum.chunks(self.width) {
                for (c, &z) in row.iter().enumerate().filter(|(_, z)| z.is_finite()) {
                    let r = &mut ranges[self.index(l, c)];
                    *r = Some(r.map_or((z, z), |(lo, hi)| (lo.min(z), hi.max(z))));
                }
            }
        }
        ranges
    }

    /// The particles' weights, each splatted across [`LANES`] (rows of a chunk side by side).
    pub(super) fn lanes(&self) -> CellParticles<'_> {
        let splat = self.particles.weights().iter().map(|&w| F32s::splat(w)).collect();
        CellParticles { act: self, splat }
    }
}

/// The activation particles ready for a task pass: the same particle in every lane, lanes over
/// the rows of a chunk.
pub(super) struct CellParticles<'a> {
    act: &'a ActivationParticles,
    splat: Vec<F32s>,
}

impl CellParticles<'_> {
    fn weights(&self, l: usize, c: usize) -> &[F32s] {
        let p = self.act.particles.shape().n_weights();
        let k = self.act.index(l, c);
        &self.splat[k * p..(k + 1) * p]
    }

    /// Length of the gradient of all activation particles (`n × P`).
    pub(super) fn grad_len(&self) -> usize {
        self.act.particles.weights().len()
    }

    // forward: z (rows × w), hidden layer l -> a[r][c] = PN_act(l,c)(0,0,0,0, z[r][c]) (rows × w)
    pub(super) fn forward(&self, l: usize, z: &[f32], a: &mut [f32]) {
        let w = self.act.width;
        let mut ev = Evaluator::<F32s>::new(&self.act.particles);
        for c in 0..w {
            let pn = self.weights(l, c);
            for (zs, as_) in z.chunks(LANES * w).zip(a.chunks_mut(LANES * w)) {
                let x = column(zs, w, c);
                let y = ev.aux(pn, x);
                as_.chunks_mut(w).zip(y.0).for_each(|(row, v)| row[c] = v);
            }
        }
    }

    // backward: z (rows × w), d (rows × w) = ∂loss/∂a -> d = ∂loss/∂z (in place);
    // grad (n × P) += ∂loss/∂w of layer l's activation particles, summed over rows in order
    pub(super) fn backward(&self, l: usize, z: &[f32], d: &mut [f32], grad: &mut [f32]) {
        let w = self.act.width;
        let p = self.act.particles.shape().n_weights();
        let mut ev = Evaluator::<F32s>::new(&self.act.particles);
        let mut g = vec![F32s::default(); p];
        for c in 0..w {
            let pn = self.weights(l, c);
            g.fill(F32s::default());
            for (zs, ds) in z.chunks(LANES * w).zip(d.chunks_mut(LANES * w)) {
                // Padding lanes have z = 0 and dout = 0: they add nothing to the gradient.
                let dz = ev.aux_backward(pn, column(zs, w, c), column(ds, w, c), &mut g);
                ds.chunks_mut(w).zip(dz.0).for_each(|(row, v)| row[c] = v);
            }
            let k = self.act.index(l, c);
            for (gk, lanes) in grad[k * p..(k + 1) * p].iter_mut().zip(&g) {
                *gk += lanes.0.iter().sum::<f32>();
            }
        }
    }
}

/// Column `c` of up to [`LANES`] rows of width `w`, as lanes (the rest zero).
fn column(rows: &[f32], w: usize, c: usize) -> F32s {
    let mut v = F32s::default();
    rows.chunks(w).zip(v.0.iter_mut()).for_each(|(row, x)| *x = row[c]);
    v
}

/// What the hidden cells' sums pass through in one task pass.
pub(super) enum Cells<'a> {
    Fixed(Activation),
    Particles(CellParticles<'a>),
}

impl<'a> Cells<'a> {
    /// The cells of an organism of `shape` with `activations` (which it must have for
    /// `organism.activation = "particle"`: [`super::Organism`] guarantees it).
    pub(super) fn new(shape: &OrganismShape, activations: Option<&'a ActivationParticles>) -> Self {
        match (shape.activation.fixed(), activations) {
            (Some(f), _) => Cells::Fixed(f),
            (None, Some(a)) => Cells::Particles(a.lanes()),
            (None, None) => panic!("organism.activation = \"particle\" without activation particles"),
        }
    }

    /// Length of the activation particles' gradient (0 for a fixed function).
    pub(super) fn grad_len(&self) -> usize {
        match self {
            Cells::Fixed(_) => 0,
            Cells::Particles(p) => p.grad_len(),
        }
    }

    // forward: z (rows × w), hidden layer l -> a = f(z) (rows × w)
    pub(super) fn forward(&self, l: usize, z: &[f32], a: &mut [f32]) {
        match self {
            Cells::Fixed(f) => a.iter_mut().zip(z).for_each(|(a, &z)| *a = f.forward(z)),
            Cells::Particles(p) => p.forward(l, z, a),
        }
    }

    // backward: z (rows × w), d = ∂loss/∂a (rows × w) -> d = ∂loss/∂z; grad (n_act × P) +=
    pub(super) fn backward(&self, l: usize, z: &[f32], d: &mut [f32], grad: &mut [f32]) {
        match self {
            Cells::Fixed(f) => d.iter_mut().zip(z).for_each(|(d, &z)| *d *= f.derivative(z)),
            Cells::Particles(p) => p.backward(l, z, d, grad),
        }
    }
}
