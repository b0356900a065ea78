//! Interactions between the particles of an organism: the paper's future work ("operator-based
//! interaction between particles", §VI), with the two operators of the authors' older
//! particle-soup code.
//!
//! - **attack**: `A` attacks `B` ⇒ `B ← A ◁ B` (A applied weightwise to B's weights, with B's
//!   positional encoding; Def. 2).
//! - **melt**: `B ←` a uniform crossover of `A` and `B`: a random half (⌊P/2⌋ positions, drawn
//!   without replacement) of the weight vector comes from `A`, the rest stays `B`'s.
//!
//! One interaction phase runs before every batch's self-training (SPEC §3 plus this phase):
//! each particle independently, with probability `rate`, is the target of one interaction whose
//! source is drawn uniformly among the *other* particles of its scope (its cell, its layer, or
//! the whole organism). All events of a phase are drawn first, sequentially from one random
//! stream, and then applied synchronously — every new weight vector is computed from the
//! weights before the phase — so the result depends on neither the thread count nor the order
//! in which events are applied.

use crate::organism::OrganismShape;
use crate::particle::ParticleBatch;
use crate::{Error, Result};
use rand::seq::index::sample;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Which operator particles apply to each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// No interactions: the paper's organisms.
    #[default]
    None,
    /// `B ← A ◁ B`.
    Attack,
    /// `B ←` uniform crossover of `A` and `B`.
    Melt,
}

/// Where an interaction's source is drawn from, relative to its target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The other particles of the same cell (same layer and output unit).
    #[default]
    Cell,
    /// The other particles of the same layer.
    Layer,
    /// Every other particle.
    Organism,
}

/// The `[interaction]` section of a configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionConfig {
    /// Which operator: none, attack or melt.
    pub kind: Kind,
    /// Probability, per particle and batch, of being the target of one interaction.
    pub rate: f64,
    /// Where a target's partner is drawn from: its cell, its layer or the whole organism.
    pub scope: Scope,
}

impl InteractionConfig {
    /// Range checks, each naming its key.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(Error::config("interaction.rate", format!("must be in [0, 1], got {}", self.rate)));
        }
        Ok(())
    }

    /// The default (no interactions), which configurations leave out.
    pub fn is_off_default(&self) -> bool {
        *self == InteractionConfig::default()
    }

    /// Whether a phase can change anything.
    pub fn active(&self) -> bool {
        self.kind != Kind::None && self.rate > 0.0
    }
}

/// One interaction of a phase: `source` acts on `target`; `mask` are the positions a melt takes
/// from the source (empty for an attack).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Index of the particle that acts.
    pub source: usize,
    /// Index of the particle that is replaced.
    pub target: usize,
    /// Weight positions a melt takes from the source (empty for an attack).
    pub mask: Vec<usize>,
}

/// `[start, end)` of the particles sharing `scope` with each particle, in storage order
/// (layer, cell, edge — SPEC §2), so every scope is a contiguous range.
pub fn scope_ranges(shape: &OrganismShape, scope: Scope) -> Vec<(usize, usize)> {
    let mut ranges = Vec::with_capacity(shape.n_particles());
    let mut start = 0;
    for (inp, out) in shape.layers() {
        let layer = (start, start + inp * out);
        for c in 0..out {
            let cell = (start + c * inp, start + (c + 1) * inp);
            let range = match scope {
                Scope::Cell => cell,
                Scope::Layer => layer,
                Scope::Organism => (0, shape.n_particles()),
            };
            ranges.extend(std::iter::repeat_n(range, inp));
        }
        start = layer.1;
    }
    ranges
}

/// The events of one phase. Draws, for every particle in order, one uniform number (target or
/// not) and, for a target, its source and (melt) its mask; a particle alone in its scope is
/// never a target.
pub fn draw_events(cfg: &InteractionConfig, ranges: &[(usize, usize)], p: usize, rng: &mut impl Rng) -> Vec<Event> {
    if !cfg.active() {
        return Vec::new();
    }
    let mut events = Vec::new();
    for (target, &(start, end)) in ranges.iter().enumerate() {
        let hit = rng.gen::<f64>() < cfg.rate;
        if !hit || end - start < 2 {
            continue;
        }
        // Uniform over the scope without the target itself.
        let mut source = start + rng.gen_range(0..end - start - 1);
        if source >= target {
            source += 1;
        }
        let mask = match cfg.kind {
            Kind::Melt => sample(rng, p, p / 2).into_vec(),
            _ => Vec::new(),
        };
        events.push(Event { source, target, mask });
    }
    events
}

/// Applies a phase's events synchronously (module docs): targets take their new weights, all
/// computed from the weights before the phase.
pub fn interact(particles: &mut ParticleBatch, kind: Kind, events: &[Event]) {
    if events.is_empty() {
        return;
    }
    let p = particles.shape().n_weights();
    let gather = |which: &dyn Fn(&Event) -> usize| -> Vec<f32> {
        events.iter().flat_map(|e| particles.particle(which(e)).iter().copied()).collect()
    };
    let new = match kind {
        Kind::None => return,
        Kind::Attack => {
            let shape = particles.shape().clone();
            let sources = ParticleBatch::from_weights(shape.clone(), gather(&|e| e.source)).expect("whole particles");
            let targets = ParticleBatch::from_weights(shape, gather(&|e| e.target)).expect("whole particles");
            sources.apply_pairwise(&targets).weights().to_vec()
        }
        Kind::Melt => {
            let mut out = gather(&|e| e.target);
            for (e, o) in events.iter().zip(out.chunks_mut(p)) {
                let source = particles.particle(e.source);
                for &k in &e.mask {
                    o[k] = source[k];
                }
            }
            out
        }
    };
    let w = particles.weights_mut();
    for (e, n) in events.iter().zip(new.chunks(p)) {
        w[e.target * p..(e.target + 1) * p].copy_from_slice(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::organism::LayerActivation;
    use crate::particle::ParticleShape;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn shape() -> OrganismShape {
        OrganismShape {
            inputs: 2,
            width: 3,
            depth: 3,
            outputs: 1,
            residual_skip: true,
            activation: LayerActivation::None,
            aggregation: Default::default(),
        }
    }

    #[test]
    fn scopes_are_the_cell_the_layer_and_the_organism() {
        // Layers: 2→3 (6 particles, cells of 2), 3→3 (9, cells of 3), 3→1 (3, one cell).
        let cell = scope_ranges(&shape(), Scope::Cell);
        assert_eq!(&cell[..6], &[(0, 2), (0, 2), (2, 4), (2, 4), (4, 6), (4, 6)]);
        assert_eq!(cell[6], (6, 9));
        assert_eq!(cell[17], (15, 18));
        let layer = scope_ranges(&shape(), Scope::Layer);
        assert_eq!((layer[0], layer[5], layer[6], layer[14], layer[15]), ((0, 6), (0, 6), (6, 15), (6, 15), (15, 18)));
        assert!(scope_ranges(&shape(), Scope::Organism).iter().all(|&r| r == (0, 18)));
    }

    #[test]
    fn events_stay_in_scope_and_never_target_the_source() {
        let cfg = InteractionConfig { kind: Kind::Melt, rate: 0.5, scope: Scope::Cell };
        let ranges = scope_ranges(&shape(), Scope::Cell);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut n = 0;
        for _ in 0..200 {
            for e in draw_events(&cfg, &ranges, 27, &mut rng) {
                let (s, t) = ranges[e.target];
                assert!(e.source != e.target && (s..t).contains(&e.source));
                assert_eq!(e.mask.len(), 13);
                n += 1;
            }
        }
        // 200 phases × 18 particles × 0.5: the rate is honoured (±5 sd of a binomial).
        let sd = (3600.0f64 * 0.25).sqrt();
        assert!((n as f64 - 1800.0).abs() < 5.0 * sd, "{n} events");
        let none = InteractionConfig { rate: 0.0, ..cfg };
        assert!(draw_events(&none, &ranges, 27, &mut rng).is_empty());
    }

    /// A linear `[5, 2, 2, 1]` particle computing `scale · v` (its first hidden unit passes the
    /// weight value through, the second is dead).
    fn scaler(scale: f32) -> Vec<f32> {
        let mut w = vec![0.0; 16];
        w[0] = scale; // W1[0][0]: hidden unit 0 reads the weight value
        w[10] = 1.0; // W2[0][0]
        w[14] = 1.0; // W3[0][0]
        w
    }

    #[test]
    fn attack_by_a_scaler_scales_the_target() {
        // By hand: the attacker outputs 2·v for every row, so the target becomes 2·B exactly.
        let pshape = ParticleShape::standard(2).unwrap();
        let target: Vec<f32> = (0..16).map(|k| k as f32 * 0.25 - 1.0).collect();
        let mut batch = ParticleBatch::from_weights(pshape, [scaler(2.0), target.clone()].concat()).unwrap();
        interact(&mut batch, Kind::Attack, &[Event { source: 0, target: 1, mask: vec![] }]);
        let doubled: Vec<f32> = target.iter().map(|v| 2.0 * v).collect();
        assert_eq!(batch.particle(1), &doubled[..]);
        assert_eq!(batch.particle(0), &scaler(2.0)[..]);
    }

    #[test]
    fn attack_is_weightwise_application_and_melt_a_crossover() {
        let pshape = ParticleShape::standard(2).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let before = ParticleBatch::random(pshape, 3, crate::particle::Init::Xavier, &mut rng);
        let p = before.shape().n_weights();
        // 0 attacks 1 and 1 attacks 2, synchronously: 2 is hit by 1's weights *before* the phase.
        let events = [Event { source: 0, target: 1, mask: vec![] }, Event { source: 1, target: 2, mask: vec![] }];
        let mut after = before.clone();
        interact(&mut after, Kind::Attack, &events);
        assert_eq!(after.particle(0), before.particle(0));
        assert_eq!(after.particle(1), &before.apply(0, before.particle(1))[..]);
        assert_eq!(after.particle(2), &before.apply(1, before.particle(2))[..]);

        let mask = vec![0, 3, p - 1];
        let mut melted = before.clone();
        interact(&mut melted, Kind::Melt, &[Event { source: 2, target: 0, mask: mask.clone() }]);
        for k in 0..p {
            let from = if mask.contains(&k) { 2 } else { 0 };
            assert_eq!(melted.particle(0)[k], before.particle(from)[k], "position {k}");
        }
        assert_eq!(melted.particle(1), before.particle(1));
    }
}
