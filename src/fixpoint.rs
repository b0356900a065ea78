//! Fixpoint classes of particles (Def. 3, SPEC §1) and the robustness test (Fig. 4/7, SPEC §6).

use crate::particle::ParticleBatch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The ε of the ε-fixpoint (Def. 3), SPEC's default.
pub const EPSILON: f32 = 1e-5;

/// The five classes, in the order they are tested (the discriminant indexes [`ClassCounts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Any weight NaN or ±inf.
    Divergent,
    /// Every |w| ≤ ε: a trivial fixpoint, not counted as a replicator (paper §V).
    Zero,
    /// ε-fixpoint of self-application; the paper's PN_SR.
    SelfReplicator,
    /// `N ◁ (N ◁ N)` returns N's weights, with N applying both times.
    SecondOrder,
    Other,
}

impl Class {
    pub const ALL: [Class; 5] =
        [Class::Divergent, Class::Zero, Class::SelfReplicator, Class::SecondOrder, Class::Other];

    pub fn name(self) -> &'static str {
        match self {
            Class::Divergent => "divergent",
            Class::Zero => "zero",
            Class::SelfReplicator => "self_replicator",
            Class::SecondOrder => "second_order",
            Class::Other => "other",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn within(a: &[f32], b: &[f32], eps: f32) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= eps)
}

fn is_divergent(w: &[f32]) -> bool {
    w.iter().any(|x| !x.is_finite())
}

fn is_zero(w: &[f32], eps: f32) -> bool {
    w.iter().all(|x| x.abs() <= eps)
}

/// The class of every particle of `batch`, tested in SPEC §1's order.
pub fn classify(batch: &ParticleBatch, eps: f32) -> Vec<Class> {
    let once = batch.self_applied();
    let twice = batch.apply_pairwise(&once);
    (0..batch.len())
        .map(|n| {
            let w = batch.particle(n);
            if is_divergent(w) {
                Class::Divergent
            } else if is_zero(w, eps) {
                Class::Zero
            } else if within(once.particle(n), w, eps) {
                Class::SelfReplicator
            } else if within(twice.particle(n), w, eps) {
                Class::SecondOrder
            } else {
                Class::Other
            }
        })
        .collect()
}

/// Indices of the particles that are self-replicators (the paper's PN_SR).
pub fn self_replicators(classes: &[Class]) -> Vec<usize> {
    (0..classes.len()).filter(|&n| classes[n] == Class::SelfReplicator).collect()
}

/// How many particles fall in each class, read by class: `counts[Class::SelfReplicator]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassCounts([usize; 5]);

impl ClassCounts {
    /// The counts of `classes`.
    pub fn of(classes: &[Class]) -> ClassCounts {
        let mut counts = ClassCounts::default();
        for &c in classes {
            counts[c] += 1;
        }
        counts
    }

    /// `(class, count)` in [`Class::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Class, usize)> + '_ {
        Class::ALL.into_iter().map(|c| (c, self[c]))
    }

    /// Number of particles counted.
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

impl std::ops::Index<Class> for ClassCounts {
    type Output = usize;
    fn index(&self, c: Class) -> &usize {
        &self.0[c as usize]
    }
}

impl std::ops::IndexMut<Class> for ClassCounts {
    fn index_mut(&mut self, c: Class) -> &mut usize {
        &mut self.0[c as usize]
    }
}

/// Settings of the robustness test.
#[derive(Clone, Debug)]
pub struct Robustness {
    /// Noise levels `10^0 … 10^-(levels-1)`.
    pub levels: u32,
    /// Repetitions per particle and level; repetition `s` draws its noise from seed `s`.
    pub seeds: u64,
    /// Cap on the self-applications of one clone.
    pub max_steps: usize,
    pub eps: f32,
}

impl Default for Robustness {
    fn default() -> Self {
        Robustness { levels: 10, seeds: 10, max_steps: 10_000, eps: EPSILON }
    }
}

/// One clone's fate in the robustness test.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RobustnessRecord {
    /// Index of the particle in the batch tested.
    pub particle: usize,
    pub seed: u64,
    pub noise: f32,
    /// Self-applications until the clone was `zero` or `divergent` (or the cap).
    pub time_to_vergence: usize,
    /// Self-applications after which the clone was still a self-replicator.
    pub time_as_fixpoint: usize,
    /// The clone reached the cap without becoming `zero` or `divergent`.
    pub capped: bool,
}

impl Robustness {
    /// Runs the test (SPEC §6) on the particles `which` of `batch`: each clone gets `±noise·u`
    /// on every weight (u uniform in [0,1), fair sign), then is self-applied until it is `zero`
    /// or `divergent`. All clones advance together as one batch.
    pub fn run(&self, batch: &ParticleBatch, which: &[usize]) -> Vec<RobustnessRecord> {
        let p = batch.shape().n_weights();
        let mut records = Vec::new();
        let mut weights = Vec::new();
        for seed in 0..self.seeds {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for &n in which {
                for level in 0..self.levels {
                    let noise = 10f32.powi(-(level as i32));
                    weights.extend(batch.particle(n).iter().map(|&w| {
                        let u: f32 = rng.gen();
                        if rng.gen::<bool>() {
                            w + noise * u
                        } else {
                            w - noise * u
                        }
                    }));
                    records.push(RobustnessRecord {
                        particle: n,
                        seed,
                        noise,
                        time_to_vergence: 0,
                        time_as_fixpoint: 0,
                        capped: false,
                    });
                }
            }
        }
        let mut clones = ParticleBatch::from_weights(batch.shape().clone(), weights).expect("whole particles");
        let mut active = vec![true; records.len()];
        loop {
            for (k, a) in active.iter_mut().enumerate() {
                let w = clones.particle(k);
                if *a && (is_divergent(w) || is_zero(w, self.eps)) {
                    *a = false;
                }
            }
            if !active.iter().any(|&a| a) {
                break;
            }
            // The next application also tells whether the current clone is a fixpoint.
            let next = clones.self_applied();
            for (k, rec) in records.iter_mut().enumerate() {
                if !active[k] {
                    continue;
                }
                let (cur, nxt) = (clones.particle(k), next.particle(k));
                if rec.time_to_vergence > 0 && within(nxt, cur, self.eps) {
                    rec.time_as_fixpoint += 1;
                }
                if rec.time_to_vergence == self.max_steps {
                    rec.capped = true;
                    active[k] = false;
                } else {
                    rec.time_to_vergence += 1;
                }
            }
            // Active clones take the new weights; finished ones keep theirs.
            let dst = clones.weights_mut();
            for (k, _) in active.iter().enumerate().filter(|(_, &a)| a) {
                dst[k * p..(k + 1) * p].copy_from_slice(next.particle(k));
            }
        }
        records
    }
}
