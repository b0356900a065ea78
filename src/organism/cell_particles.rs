//! Cell particles: the paper's future work, particles as "learned cell aggregators or layer
//! activation function approximators" (§VI; issue 13, section 2). Two roles share this module's
//! configuration, storage, initialisation and training:
//!
//! - **Activation particles** (`organism.activation = "particle"`): every hidden cell's sum `z`
//!   (after the residual add, where SPEC §2 applies GELU) passes through an activation particle,
//!   `a = PN_act(0,0,0,0,z)` (Def. 6's auxiliary application). One per hidden layer (`per =
//!   "layer"`) or per hidden cell (`per = "cell"`); the output layer has none, as it has no
//!   activation in SPEC §2. A linear PN is linear (`PN(0,0,0,0,z) = z·PN(0,0,0,0,1)`), so
//!   activation particles are non-linear PNs (`none` is rejected), evaluated on the general path.
//! - **Aggregator particles** (`organism.aggregation = "particle"`): every cell's sum over its
//!   edges, in every layer, is replaced by a fold of an aggregator particle ([`super::aggregators`],
//!   docs/aggregators.md). One per layer or per cell.
//!
//! Both are PNs of widths `[5, hidden, hidden, 1]` and activation `activation` (sections
//! `[activation_particle]` and `[aggregator_particle]`, the same keys).
//!
//! Storage: each role's particles in one [`ParticleBatch`], in order layer, then cell (per
//! cell); named `A{l}`/`A{l}_C{c}` (activation) or `G{l}`/`G{l}_C{c}` (aggregator), apart from
//! the weight particles' `L{l}_C{c}_W{e}`. They are drawn from the run's initialisation stream
//! right after the weight particles (activation, then aggregator particles), with the same init
//! rule (SPEC §1).
//!
//! Training: the task step moves them with their own SGD-momentum optimizer of the run's `lr`
//! and `momentum` (persistent like the weight particles' task optimizer); the self-train steps
//! of SPEC §3 self-train them like every other particle (Def. 5, a fresh optimizer per batch),
//! and their self-train losses are part of the combined self-train loss.

use crate::activation::Activation;
use crate::lanes::{F32s, Lanes, LANES};
use crate::particle::{Evaluator, Init, ParticleBatch, ParticleShape};
use crate::simd;
use crate::{limits, Error, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::OrganismShape;
use crate::keyword::keywords;

/// What every hidden cell's sum passes through (SPEC §2, plus activation particles).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LayerActivation {
    /// Identity.
    #[default]
    None,
    /// Exact GELU (erf form), the paper's MNIST text.
    Gelu,
    /// An activation particle (this module).
    Particle,
}

keywords!(LayerActivation, "an activation between organism layers", { None => "none" | "identity", Gelu => "gelu", Particle => "particle" });

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

/// What a cell particle does in its cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `a = PN_act(0,0,0,0,z)` on every hidden cell's sum.
    Activation,
    /// The fold of every cell's edges ([`super::aggregators`]).
    Aggregator,
}

impl Role {
    /// The configuration section of the role.
    pub fn section(self) -> &'static str {
        match self {
            Role::Activation => "activation_particle",
            Role::Aggregator => "aggregator_particle",
        }
    }

    /// The section's `hidden` key.
    pub fn hidden_key(self) -> &'static str {
        match self {
            Role::Activation => "activation_particle.hidden",
            Role::Aggregator => "aggregator_particle.hidden",
        }
    }

    /// The role's name: `activation` or `aggregator`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Activation => "activation",
            Role::Aggregator => "aggregator",
        }
    }

    /// The key and value that switch the role on.
    pub fn switch(self) -> &'static str {
        match self {
            Role::Activation => "organism.activation = \"particle\"",
            Role::Aggregator => "organism.aggregation = \"particle\"",
        }
    }

    /// Name prefix of the role's particles.
    fn prefix(self) -> char {
        match self {
            Role::Activation => 'A',
            Role::Aggregator => 'G',
        }
    }

    /// Cells of each layer that have a particle of this role: the hidden layers' (activation)
    /// or every layer's (aggregator).
    pub fn cells(self, shape: &OrganismShape) -> Vec<usize> {
        match self {
            Role::Activation => vec![shape.width; shape.depth - 1],
            Role::Aggregator => shape.layers().iter().map(|&(_, o)| o).collect(),
        }
    }
}

/// How many cell particles a network has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    /// One per layer, shared by its cells.
    #[default]
    Layer,
    /// One per cell.
    Cell,
}

/// The `[activation_particle]` or `[aggregator_particle]` section of a configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellParticleConfig {
    /// One particle per layer or per cell.
    pub per: Per,
    /// Widths `[5, hidden, hidden, 1]`.
    pub hidden: usize,
    /// The PN's own activation (non-linear for activation particles).
    pub activation: Activation,
}

impl Default for CellParticleConfig {
    fn default() -> Self {
        CellParticleConfig { per: Per::Layer, hidden: 5, activation: Activation::Tanh }
    }
}

impl CellParticleConfig {
    /// Range checks, each naming its key; `used` says whether the organism has particles of
    /// this role (a changed section without them is a mistake worth a message).
    pub fn validate(&self, role: Role, used: bool) -> Result<()> {
        let section = role.section();
        limits::count(role.hidden_key(), self.hidden as u64, limits::MAX_HIDDEN)?;
        if role == Role::Activation && self.activation.is_identity() {
            return Err(Error::config(
                format!("{section}.activation"),
                "a linear PN is linear (PN(0,0,0,0,z) = z·PN(0,0,0,0,1)): activation particles need tanh or gelu",
            ));
        }
        if !used && !self.is_default() {
            return Err(Error::config(section, format!("is used only with {}", role.switch())));
        }
        Ok(())
    }

    /// The default section, which configurations leave out.
    pub fn is_default(&self) -> bool {
        *self == CellParticleConfig::default()
    }

    /// The particles' shape.
    pub fn shape(&self) -> Result<ParticleShape> {
        ParticleShape::new(vec![5, self.hidden, self.hidden, 1], self.activation)
    }

    /// Number of particles of `role` of an organism of `shape`.
    pub fn count(&self, role: Role, shape: &OrganismShape) -> usize {
        starts(role, self.per, shape).last().copied().unwrap_or(0)
    }
}

/// Index of the first particle of every layer of `role`, and the total at the end.
fn starts(role: Role, per: Per, shape: &OrganismShape) -> Vec<usize> {
    let mut starts = vec![0];
    for cells in role.cells(shape) {
        starts.push(starts.last().unwrap() + if per == Per::Layer { 1 } else { cells });
    }
    starts
}

/// An organism's particles of one role, in order layer, then cell.
#[derive(Clone, Debug)]
pub struct CellParticles {
    /// Activation or aggregator particles.
    pub role: Role,
    /// One per layer or per cell.
    pub per: Per,
    /// The particles, in order layer, then cell.
    pub particles: ParticleBatch,
    /// Index of each layer's first particle (and the total).
    starts: Vec<usize>,
    /// Cells of each layer of the role.
    cells: Vec<usize>,
}

impl CellParticles {
    /// Fresh particles of `role` for an organism of `shape`, drawn from `rng` with `init`.
    pub fn random(
        role: Role,
        cfg: &CellParticleConfig,
        shape: &OrganismShape,
        init: Init,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let batch = ParticleBatch::random(cfg.shape()?, cfg.count(role, shape), init, rng);
        CellParticles::new(role, cfg.per, shape, batch)
    }

    /// `particles` as the particles of `role` of an organism of `shape`. Activation particles
    /// run on the general path; aggregators on their batch's fastest path.
    pub fn new(role: Role, per: Per, shape: &OrganismShape, particles: ParticleBatch) -> Result<Self> {
        let starts = starts(role, per, shape);
        let n = *starts.last().unwrap();
        if particles.len() != n {
            return Err(Error::Invalid(format!(
                "an organism of depth {} and width {} has {n} {} particles (per {per:?}), got {}",
                shape.depth,
                shape.width,
                role.name(),
                particles.len()
            )));
        }
        let particles = match role {
            Role::Activation if particles.shape().activation().is_identity() => {
                return Err(Error::Invalid("activation particles must be non-linear PNs".into()))
            }
            Role::Activation => particles.with_general_path(),
            Role::Aggregator => particles,
        };
        Ok(CellParticles { role, per, particles, starts, cells: role.cells(shape) })
    }

    /// Index of the particle of layer `l` (of the role), cell `c`.
    pub(super) fn index(&self, l: usize, c: usize) -> usize {
        match self.per {
            Per::Layer => l,
            Per::Cell => self.starts[l] + c,
        }
    }

    /// `A{l}`, `A{l}_C{c}`, `G{l}` or `G{l}_C{c}` for every particle, in storage order.
    pub fn names(&self) -> Vec<String> {
        let x = self.role.prefix();
        let mut names = Vec::with_capacity(self.particles.len());
        for (l, &cells) in self.cells.iter().enumerate() {
            match self.per {
                Per::Layer => names.push(format!("{x}{l}")),
                Per::Cell => names.extend((0..cells).map(|c| format!("{x}{l}_C{c}"))),
            }
        }
        names
    }

    /// `z ↦ PN(0,0,0,0,z)` of particle `k` at each of `zs`.
    pub fn curve(&self, k: usize, zs: &[f32]) -> Vec<f32> {
        let mut ev = Evaluator::<f32>::new(&self.particles);
        zs.iter().map(|&z| ev.aux(self.particles.particle(k), z)).collect()
    }

    /// `(min, max)` of the finite sums `z` each particle saw in `sums` (one `B × cells` block per
    /// layer of the role, e.g. [`super::Organism::hidden_sums`]); `None` when it saw none.
    pub fn z_ranges(&self, sums: &[Vec<f32>]) -> Vec<Option<(f32, f32)>> {
        let mut ranges: Vec<Option<(f32, f32)>> = vec![None; self.particles.len()];
        for (l, (sum, &cells)) in sums.iter().zip(&self.cells).enumerate() {
            for row in sum.chunks(cells) {
                for (c, &z) in row.iter().enumerate().filter(|(_, z)| z.is_finite()) {
                    let r = &mut ranges[self.index(l, c)];
                    *r = Some(r.map_or((z, z), |(lo, hi)| (lo.min(z), hi.max(z))));
                }
            }
        }
        ranges
    }

    /// The particles' weights, each splatted across [`LANES`] (rows of a chunk side by side).
    pub(super) fn lanes(&self) -> Splatted<'_> {
        let splat = self.particles.weights().iter().map(|&w| F32s::splat(w)).collect();
        Splatted { cp: self, splat }
    }
}

/// Cell particles ready for a task pass: the same particle in every lane, lanes over the rows
/// of a chunk.
pub(super) struct Splatted<'a> {
    pub(super) cp: &'a CellParticles,
    splat: Vec<F32s>,
}

impl Splatted<'_> {
    pub(super) fn weights(&self, l: usize, c: usize) -> &[F32s] {
        let p = self.cp.particles.shape().n_weights();
        let k = self.cp.index(l, c);
        &self.splat[k * p..(k + 1) * p]
    }

    /// Length of the gradient of all the particles (`n × P`).
    pub(super) fn grad_len(&self) -> usize {
        self.cp.particles.weights().len()
    }

    // forward: z (rows × w), hidden layer l -> a[r][c] = PN_act(l,c)(0,0,0,0, z[r][c]) (rows × w)
    pub(super) fn forward(&self, l: usize, z: &[f32], a: &mut [f32]) {
        let w = self.cp.cells[l];
        let mut ev = Evaluator::<F32s>::new(&self.cp.particles);
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
        let w = self.cp.cells[l];
        let p = self.cp.particles.shape().n_weights();
        let mut ev = Evaluator::<F32s>::new(&self.cp.particles);
        let mut g = vec![F32s::default(); p];
        for c in 0..w {
            let pn = self.weights(l, c);
            g.fill(F32s::default());
            for (zs, ds) in z.chunks(LANES * w).zip(d.chunks_mut(LANES * w)) {
                // Padding lanes have z = 0 and dout = 0: they add nothing to the gradient.
                let dz = ev.aux_backward(pn, column(zs, w, c), column(ds, w, c), &mut g);
                ds.chunks_mut(w).zip(dz.0).for_each(|(row, v)| row[c] = v);
            }
            let k = self.cp.index(l, c);
            for (gk, lanes) in grad[k * p..(k + 1) * p].iter_mut().zip(&g) {
                *gk += lanes.0.iter().sum::<f32>();
            }
        }
    }
}

/// Column `c` of up to [`LANES`] rows of width `w`, as lanes (the rest zero).
pub(super) fn column(rows: &[f32], w: usize, c: usize) -> F32s {
    let mut v = F32s::default();
    rows.chunks(w).zip(v.0.iter_mut()).for_each(|(row, x)| *x = row[c]);
    v
}

/// What the hidden cells' sums pass through in one task pass.
pub(super) enum Cells<'a> {
    Fixed(Activation),
    Particles(Splatted<'a>),
}

impl<'a> Cells<'a> {
    /// The cells of an organism of `shape` with `activations` (which it must have for
    /// `organism.activation = "particle"`: [`super::Organism`] guarantees it).
    pub(super) fn new(shape: &OrganismShape, activations: Option<&'a CellParticles>) -> Self {
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

    /// True for a fixed function, whose forward keeps `f′(z)` for the backward.
    pub(super) fn is_fixed(&self) -> bool {
        matches!(self, Cells::Fixed(_))
    }

    // forward: z (rows × w), hidden layer l -> a = f(z) (rows × w); with da (a fixed function
    // whose backward follows) also da = f′(z) (rows × w). SIMD ([`simd::dispatch`]).
    pub(super) fn forward(&self, l: usize, z: &[f32], a: &mut [f32], da: Option<&mut [f32]>) {
        match self {
            Cells::Fixed(f) => simd::dispatch(
                #[inline(always)]
                || match da {
                    Some(da) => f.forward_with_derivative(z, a, da),
                    None => {
                        a.copy_from_slice(z);
                        f.forward_in_place(a)
                    }
                },
            ),
            Cells::Particles(p) => p.forward(l, z, a),
        }
    }

    // backward: z (rows × w), da = f′(z) kept by forward (fixed functions), d = ∂loss/∂a
    // (rows × w) -> d = ∂loss/∂z; grad (n_act × P) +=
    pub(super) fn backward(&self, l: usize, z: &[f32], da: Option<&[f32]>, d: &mut [f32], grad: &mut [f32]) {
        match self {
            Cells::Fixed(_) => {
                let da = da.expect("the forward of a fixed function keeps f′ for the backward");
                d.iter_mut().zip(da).for_each(|(d, &da)| *d *= da)
            }
            Cells::Particles(p) => p.backward(l, z, d, grad),
        }
    }
}
