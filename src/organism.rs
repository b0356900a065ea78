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
//!
//! Hidden cells' sums pass through a fixed function or through activation particles, and a
//! cell's edges are summed or folded by aggregator particles ([`cell_particles`],
//! [`aggregators`]), on either path.

pub mod aggregators;
pub mod cell_particles;
mod dense;
mod general;
mod pass;

pub use aggregators::Aggregation;
use aggregators::{folded_pass, Edges, Folded};
pub use cell_particles::{CellParticleConfig, CellParticles, LayerActivation, Per, Role};
pub use dense::Dense;
use general::General;
use pass::*;
pub use pass::{metric, Targets, TaskWorkspace};

use crate::optim::Sgd;
use crate::particle::{Init, ParticleBatch, ParticleShape, Workspace};
use crate::pool::on_pool;
use crate::{Error, Result};
use cell_particles::Cells;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Samples per parallel work item of the task pass: fixed, so sums never depend on threads.
const ROWS: usize = 64;

/// `(inputs p, width w, depth d, outputs q)` plus the residual skip and activation (SPEC §2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganismShape {
    /// Input width `p`.
    pub inputs: usize,
    /// Cells per hidden layer `w`.
    pub width: usize,
    /// Number of particle layers, ≥ 2.
    pub depth: usize,
    /// Output width `q`.
    pub outputs: usize,
    /// Adds each hidden layer's input to its output (layers 1..d−2, SPEC §2).
    pub residual_skip: bool,
    /// Between layers: `none`, `gelu` or `particle`.
    pub activation: LayerActivation,
    /// How a cell combines its edges: `sum` (SPEC §2) or `particle` ([`aggregators`]); left
    /// out when `sum`, so configurations and files read as before.
    #[serde(default, skip_serializing_if = "Aggregation::is_sum")]
    pub aggregation: Aggregation,
}

impl OrganismShape {
    /// Checks the sizes (every width ≥ 1, depth ≥ 2) and the activation.
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

    /// Number of particles: one per edge.
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
    /// Extract every particle's weight `PN(0,0,0,0,1)` once and run a dense network (linear PNs, SPEC §2).
    Extracted,
    /// Evaluate every particle on every sample (any PN).
    General,
}

/// An organism network: its shape, its particles in SPEC order, and its activation and
/// aggregator particles when `shape.activation` or `shape.aggregation` is `particle`.
#[derive(Clone, Debug)]
pub struct Organism {
    /// The ON's layer sizes.
    pub shape: OrganismShape,
    /// One particle per edge, in SPEC order.
    pub particles: ParticleBatch,
    /// `Some` exactly when `shape.activation` is [`LayerActivation::Particle`].
    pub activations: Option<CellParticles>,
    /// `Some` exactly when `shape.aggregation` is [`Aggregation::Particle`].
    pub aggregators: Option<CellParticles>,
}

/// Result of one task forward/backward pass.
pub struct TaskPass {
    /// Mean task loss over the batch.
    pub loss: f32,
    /// The network's output, `B × q`.
    pub output: Vec<f32>,
    /// `∂loss/∂w`: of every particle (`n × P`) for an organism, of every weight for [`Dense`].
    pub grads: Vec<f32>,
    /// `∂loss/∂w` of every activation particle (`n_act × P_act`; empty without them).
    pub activation_grads: Vec<f32>,
    /// `∂loss/∂w` of every aggregator particle (`n_agg × P_agg`; empty without them).
    pub aggregator_grads: Vec<f32>,
}

impl TaskPass {
    /// The gradients of [`Organism::cell_particles`], in the same order.
    pub fn cell_grads(&self) -> impl Iterator<Item = &[f32]> {
        [&self.activation_grads, &self.aggregator_grads].into_iter().filter(|g| !g.is_empty()).map(|g| g.as_slice())
    }
}

impl Organism {
    /// A new organism with freshly initialised particles, then (for `organism.activation =
    /// "particle"`) activation particles of `act`, then (for `organism.aggregation =
    /// "particle"`) aggregator particles of `agg`, all drawn from `rng` in that order.
    pub fn random(
        shape: OrganismShape,
        particle: ParticleShape,
        init: Init,
        [act, agg]: [&CellParticleConfig; 2],
        rng: &mut impl Rng,
    ) -> Result<Self> {
        shape.validate()?;
        let particles = ParticleBatch::random(particle, shape.n_particles(), init, rng);
        let activations = match shape.activation {
            LayerActivation::Particle => Some(CellParticles::random(Role::Activation, act, &shape, init, rng)?),
            _ => None,
        };
        let aggregators = match shape.aggregation {
            Aggregation::Particle => Some(CellParticles::random(Role::Aggregator, agg, &shape, init, rng)?),
            Aggregation::Sum => None,
        };
        Organism::with_cell_particles(shape, particles, activations, aggregators)
    }

    /// [`Organism::random`] with the default cell particle sections.
    pub fn new(shape: OrganismShape, particle: ParticleShape, init: Init, rng: &mut impl Rng) -> Result<Self> {
        let default = CellParticleConfig::default();
        Organism::random(shape, particle, init, [&default, &default], rng)
    }

    /// An organism from trained particles (e.g. read from a file); their number must match the
    /// shape. One with cell particles needs [`Organism::with_cell_particles`].
    pub fn from_particles(shape: OrganismShape, particles: ParticleBatch) -> Result<Self> {
        Organism::with_cell_particles(shape, particles, None, None)
    }

    /// An organism of these particles, activation particles and aggregator particles.
    pub fn with_cell_particles(
        shape: OrganismShape,
        particles: ParticleBatch,
        activations: Option<CellParticles>,
        aggregators: Option<CellParticles>,
    ) -> Result<Self> {
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
        let roles = [
            (Role::Activation, &activations, shape.activation == LayerActivation::Particle),
            (Role::Aggregator, &aggregators, shape.aggregation == Aggregation::Particle),
        ];
        for (role, cp, used) in roles {
            if cp.is_some() != used || cp.as_ref().is_some_and(|cp| cp.role != role) {
                return Err(Error::Invalid(format!(
                    "an organism has {} particles exactly when {}",
                    role.name(),
                    role.switch()
                )));
            }
        }
        Ok(Organism { shape, particles, activations, aggregators })
    }

    /// Its activation, then its aggregator particles (those it has).
    pub fn cell_particles(&self) -> impl Iterator<Item = &CellParticles> {
        self.activations.iter().chain(&self.aggregators)
    }

    /// [`Organism::cell_particles`], mutable.
    pub fn cell_particles_mut(&mut self) -> impl Iterator<Item = &mut CellParticles> {
        self.activations.iter_mut().chain(&mut self.aggregators)
    }

    /// The path a task pass takes by default: extracted for linear PNs.
    pub fn default_path(&self) -> Path {
        if self.particles.shape().activation().is_identity() {
            Path::Extracted
        } else {
            Path::General
        }
    }

    /// The activation particles' weights, `n_act × P_act` (empty without them).
    pub fn activation_weights(&self) -> &[f32] {
        self.activations.as_ref().map_or(&[], |a| a.particles.weights())
    }

    /// The aggregator particles' weights (`n_agg × P_agg`; empty without).
    pub fn aggregator_weights(&self) -> &[f32] {
        self.aggregators.as_ref().map_or(&[], |a| a.particles.weights())
    }

    /// One row of the trajectory: the weight, activation and aggregator particles' weights.
    pub fn trajectory_row(&self) -> [&[f32]; 3] {
        [self.particles.weights(), self.activation_weights(), self.aggregator_weights()]
    }

    /// Every particle's weight `PN(0,0,0,0,1)`: the dense network's weights (paper §IV-B).
    pub fn extracted_weights(&self) -> Vec<f32> {
        self.particles.extract()
    }

    /// The organism's output on `x` (`B × p`), `B × q`.
    pub fn forward(&self, x: &[f32], path: Path) -> Vec<f32> {
        self.forward_in(x, path, &mut TaskWorkspace::new())
    }

    /// [`Organism::forward`] in the chunk scratches of `ws` (a training run's, kept from pass to
    /// pass).
    pub fn forward_in(&self, x: &[f32], path: Path, ws: &mut TaskWorkspace) -> Vec<f32> {
        on_path(self, path, x.len() / self.shape.inputs, false, ws, |org, weights, ws| {
            org.pass(weights, x, None, ws).output
        })
    }

    /// The extracted weights on [`Path::Extracted`], none on [`Path::General`].
    fn path_weights(&self, path: Path) -> Option<Vec<f32>> {
        (path == Path::Extracted).then(|| self.extracted_weights())
    }

    /// The edges of a pass: the dense network of `weights` when given, else the particles.
    fn edges<'a>(&'a self, weights: Option<&'a [f32]>) -> Edges<'a> {
        weights.map_or_else(|| Edges::general(&self.particles), Edges::Extracted)
    }

    /// One task pass over the edges: the dense network of `weights`, or the particles; its
    /// chunk scratches from `ws`.
    fn pass(&self, weights: Option<&[f32]>, x: &[f32], targets: Option<Targets>, ws: &mut TaskWorkspace) -> TaskPass {
        let cells = self.cells();
        match (&self.aggregators, weights) {
            (Some(agg), _) => folded_pass(&self.shape, self.edges(weights), agg, &cells, x, targets, ws),
            (None, Some(w)) => network_pass(&self.shape, &self.dense(w), &cells, x, targets, ws),
            (None, None) => network_pass(&self.shape, &self.general(), &cells, x, targets, ws),
        }
    }

    fn general(&self) -> General<'_> {
        General::new(&self.shape, &self.particles)
    }

    fn cells(&self) -> Cells<'_> {
        Cells::new(&self.shape, self.activations.as_ref())
    }

    /// The dense network of `weights` with this organism's activation particles.
    fn dense<'a>(&'a self, weights: &'a [f32]) -> Dense<'a> {
        Dense::new(&self.shape, weights).with_activations(self.activations.as_ref())
    }

    /// Loss, output and particle gradients of the task on `(x, targets)`. [`Path::Extracted`]
    /// is exact for linear PNs only; [`Organism::default_path`] picks the right one. The pass's
    /// chunk scratches come from `ws` (the caller's, reused pass after pass).
    pub fn task_pass(&self, x: &[f32], targets: Targets, path: Path, ws: &mut TaskWorkspace) -> TaskPass {
        // the chain rule's buffers, allocated before the pass enters the pool (on_path)
        let (mut grads, ones) = match path {
            Path::Extracted => (vec![0.0; self.particles.weights().len()], vec![1.0; self.particles.len()]),
            Path::General => (Vec::new(), Vec::new()),
        };
        on_path(self, path, x.len() / self.shape.inputs, true, ws, |org, weights, ws| {
            let pass = org.pass(weights, x, Some(targets), ws);
            match weights {
                Some(_) => {
                    org.particles.aux_backward(&ones, &pass.grads, &mut grads);
                    TaskPass { grads, ..pass }
                }
                None => pass,
            }
        })
    }

    /// One task step of the weight particles on `(x, targets)` with `opt` on the default path:
    /// [`Organism::task_pass`] then [`Sgd::step`], the same bits, but on the extracted path
    /// each group's gradient is applied as it is chained back through the extraction
    /// ([`ParticleBatch::extracted_task_step`]), so no `n × P` gradient is held. Returns the
    /// pass without `grads` (the cell particles' gradients are left for their own optimizers).
    /// `ws` comes from [`ParticleBatch::workspace`]; the pass's chunk scratches from `pass_ws`.
    pub fn task_step(
        &mut self,
        x: &[f32],
        targets: Targets,
        opt: &mut Sgd,
        ws: &mut Workspace,
        pass_ws: &mut TaskWorkspace,
    ) -> TaskPass {
        let (path, b) = (self.default_path(), x.len() / self.shape.inputs);
        on_path(self, path, b, true, pass_ws, |org, weights, pass_ws| {
            let pass = org.pass(weights, x, Some(targets), pass_ws);
            match weights {
                Some(_) => org.particles.extracted_task_step(&pass.grads, opt, ws),
                None => opt.step(org.particles.weights_mut(), &pass.grads),
            }
            TaskPass { grads: Vec::new(), ..pass }
        })
    }

    /// The sums `z` the hidden cells saw on `x` (`B × p`), before their activation: one `B × w`
    /// block per hidden layer, on the default path.
    pub fn hidden_sums(&self, x: &[f32]) -> Vec<Vec<f32>> {
        let weights = self.path_weights(self.default_path());
        let cells = self.cells();
        match (&self.aggregators, weights.as_deref()) {
            (Some(agg), w) => hidden_sums(&self.shape, &Folded::new(&self.shape, self.edges(w), agg), &cells, x),
            (None, Some(w)) => hidden_sums(&self.shape, &self.dense(w), &cells, x),
            (None, None) => hidden_sums(&self.shape, &self.general(), &cells, x),
        }
    }

    /// Every layer's cells on `x` (`B × p`) with aggregator particles, as `(sum, fold)` blocks of
    /// `B × out`: `fold` is each cell's value (its aggregator's fold over the edges,
    /// [`aggregators`]), `sum` the plain sum `Σ_e y_e` (SPEC §2) of the same edge values, on the
    /// inputs the organism gives the layer; on the default path. `None` without aggregators.
    pub fn aggregated_cells(&self, x: &[f32]) -> Option<Vec<(Vec<f32>, Vec<f32>)>> {
        let agg = self.aggregators.as_ref()?;
        let weights = self.path_weights(self.default_path());
        let folded = Folded::new(&self.shape, self.edges(weights.as_deref()), agg);
        let cells = self.cells();
        let mut hidden = self.hidden_sums(x).into_iter();
        let mut input = x.to_vec();
        let mut out = Vec::new();
        for (l, &dims) in self.shape.layers().iter().enumerate() {
            let sum = match weights.as_deref() {
                Some(w) => layer_forward(&self.dense(w), l, dims, &input),
                None => layer_forward(&self.general(), l, dims, &input),
            };
            out.push((sum, layer_forward(&folded, l, dims, &input)));
            // The next layer's input: this layer's value after the residual add, activated.
            if let Some(z) = hidden.next() {
                let rows = ROWS * dims.1;
                input = vec![0.0; z.len()];
                z.chunks(rows).zip(input.chunks_mut(rows)).for_each(|(z, a)| cells.forward(l, z, a, None));
            }
        }
        Some(out)
    }

    /// Combined self-train loss (SPEC §2: the sum over particles) and every particle's gradient.
    pub fn self_train_grads(&self, grads: &mut [f32]) -> f32 {
        self.particles.self_train_grads(grads).iter().sum()
    }
}

/// `run` on the edges of a pass of `org` on `path` over `b` samples (with a backward or not):
/// the extracted weights, or none. On the extracted path without aggregator particles the pass
/// enters rayon's pool once ([`on_pool`]): its extraction, waves of chunks and what `run` does
/// after (the chain rule back through the extraction) then start from a worker, without a
/// hand-over each; the extracted weights and the pass's buffers
/// ([`TaskWorkspace::reserve`]) are allocated before, on the calling thread.
fn on_path<O, R>(
    org: O,
    path: Path,
    b: usize,
    backward: bool,
    ws: &mut TaskWorkspace,
    run: impl FnOnce(O, Option<&[f32]>, &mut TaskWorkspace) -> R + Send,
) -> R
where
    O: std::ops::Deref<Target = Organism> + Send,
    R: Send,
{
    if path == Path::Extracted && org.aggregators.is_none() {
        let n = org.particles.len();
        let (grads, activation_grads) = if backward { (n, org.cells().grad_len()) } else { (0, 0) };
        ws.reserve(b, org.shape.outputs, grads, activation_grads);
        let mut weights = vec![0.0; n];
        on_pool(|| {
            org.particles.extract_into(&mut weights);
            run(org, Some(&weights), ws)
        })
    } else {
        let weights = org.path_weights(path);
        run(org, weights.as_deref(), ws)
    }
}

/// Layer `l` (`dims = (in, out)`) of `map` on `input` (`B × in`), chunk by chunk: `B × out`.
fn layer_forward(map: &impl LayerMap, l: usize, (i_n, o_n): (usize, usize), input: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; input.len() / i_n * o_n];
    // A forward without a backward keeps nothing.
    let mut kept = Default::default();
    map.fit_kept(l, 0, &mut kept);
    input.chunks(ROWS * i_n).zip(out.chunks_mut(ROWS * o_n)).for_each(|(x, y)| map.forward(l, x, y, &mut kept));
    out
}

/// Weight re-substitution (paper §IV-B, Fig. 5): the absolute difference, per output, between
/// the organism evaluated PN by PN and the dense network of its extracted weights.
pub fn resubstitution_errors(organism: &Organism, x: &[f32]) -> Vec<f32> {
    let mut pn_by_pn = organism.clone();
    pn_by_pn.particles = pn_by_pn.particles.with_general_path();
    let a = pn_by_pn.forward(x, Path::General);
    let b = organism.forward(x, Path::Extracted);
    a.iter().zip(&b).map(|(a, b)| (a - b).abs()).collect()
}
