//! Fixpoint classes of particles (Def. 3, SPEC §1) and the robustness test (Fig. 4/7, SPEC §6).

use crate::keyword::keywords;
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
    /// None of the above.
    Other,
}

impl Class {
    /// The classes in the order of [`ClassCounts`] and of every table.
    pub const ALL: [Class; 5] =
        [Class::Divergent, Class::Zero, Class::SelfReplicator, Class::SecondOrder, Class::Other];

    /// The name used in CSV headers and summaries.
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

/// Particles classified at once by [`classify`]: it holds the self-applications of one block,
/// not two copies of the whole batch.
const BLOCK: usize = 4096;

/// The class of every particle of `batch`, tested in SPEC §1's order. Each particle's class
/// depends on its weights alone, so the batch is classified block by block.
pub fn classify(batch: &ParticleBatch, eps: f32) -> Vec<Class> {
    let mut classes = Vec::with_capacity(batch.len());
    for start in (0..batch.len()).step_by(BLOCK) {
        let block = batch.slice(start..(start + BLOCK).min(batch.len()));
        let once = block.self_applied();
        let twice = block.apply_pairwise(&once);
        classes.extend((0..block.len()).map(|n| {
            let w = block.particle(n);
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
        }));
    }
    classes
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
    /// The fixpoint tolerance ε (Def. 3).
    pub eps: f32,
    /// How the records are counted: per clone, or as the authors' tester does.
    pub counting: Counting,
}

impl Default for Robustness {
    fn default() -> Self {
        Robustness { levels: 10, seeds: 10, max_steps: 10_000, eps: EPSILON, counting: Counting::Clone }
    }
}

/// How robustness times are counted (SPEC §6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Counting {
    /// Each clone's own times (SPEC §6's definition).
    #[default]
    Clone,
    /// As the authors' `robustness_tester.py`: the final (collapsed) state also counts as a
    /// fixpoint step, and the counters of a particle and level run on over the noise seeds, so
    /// seed `s` reports the sum over seeds `0..=s`.
    Authors,
}

keywords!(Counting, "a way of counting", { Clone => "clone", Authors => "authors" });

/// `records` (one test, per clone) recounted the authors' way ([`Counting::Authors`]): the final
/// state adds one fixpoint step when it is itself an ε-fixpoint, and both times are running sums
/// over the seeds of the same particle and noise level, in seed order.
pub fn authors_counting(records: &[RobustnessRecord]) -> Vec<RobustnessRecord> {
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&records[a], &records[b]);
        (x.particle, x.noise.to_bits(), x.seed).cmp(&(y.particle, y.noise.to_bits(), y.seed))
    });
    let mut out = records.to_vec();
    let mut sums = (usize::MAX, 0u32, 0usize, 0usize);
    for k in order {
        let r = &records[k];
        if (sums.0, sums.1) != (r.particle, r.noise.to_bits()) {
            sums = (r.particle, r.noise.to_bits(), 0, 0);
        }
        sums.2 += r.time_to_vergence;
        sums.3 += r.time_as_fixpoint + usize::from(r.final_fixpoint);
        out[k].time_to_vergence = sums.2;
        out[k].time_as_fixpoint = sums.3;
    }
    out
}

/// One clone's fate in the robustness test.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RobustnessRecord {
    /// Index of the particle in the batch tested.
    pub particle: usize,
    /// Noise seed of this repetition.
    pub seed: u64,
    /// Standard deviation of the noise added to the clone.
    pub noise: f32,
    /// Self-applications until the clone was `zero` or `divergent` (or the cap).
    pub time_to_vergence: usize,
    /// Self-applications after which the clone was still a self-replicator.
    pub time_as_fixpoint: usize,
    /// The clone reached the cap without becoming `zero` or `divergent`.
    pub capped: bool,
    /// The clone's final state is itself an ε-fixpoint (a collapse to zero is; the authors'
    /// tester counts it as one more step).
    pub final_fixpoint: bool,
}

impl Robustness {
    /// Bounds on the sizes (named by their command-line flags), see [`crate::limits`].
    pub fn validate(&self) -> crate::Result<()> {
        use crate::limits;
        limits::count("--levels", self.levels as u64, limits::MAX_LEVELS)?;
        limits::count("--seeds", self.seeds, limits::MAX_NOISE_SEEDS)?;
        limits::count("--max-steps", self.max_steps as u64, limits::MAX_STEPS)?;
        limits::optimizer(["lr", "momentum", "--epsilon"], 1.0, 0.0, self.eps)
    }

    /// Memory of a test of `tested` particles of `n_weights` weights each: every clone twice
    /// (current and next application) and its record.
    pub fn memory(&self, n_weights: usize, tested: usize) -> crate::limits::Estimate {
        let clones = crate::limits::product(&[self.seeds, self.levels as u64, tested as u64]);
        let mut e = crate::limits::Estimate::default();
        e.add("--seeds", "clones", clones.saturating_mul(8 * n_weights as u128 + 64));
        e
    }

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
                        final_fixpoint: false,
                    });
                }
            }
        }
        let mut clones = ParticleBatch::from_weights(batch.shape().clone(), weights).expect("whole particles");
        let mut active = vec![true; records.len()];
        // Clones that became zero or divergent this step: their final state is tested once.
        let mut ended = vec![false; records.len()];
        loop {
            for ((a, e), k) in active.iter_mut().zip(ended.iter_mut()).zip(0..) {
                let w = clones.particle(k);
                *e = *a && (is_divergent(w) || is_zero(w, self.eps));
                *a &= !*e;
            }
            if !active.iter().chain(&ended).any(|&a| a) {
                break;
            }
            // The next application also tells whether the current clone is a fixpoint.
            let next = clones.self_applied();
            for (k, rec) in records.iter_mut().enumerate() {
                if ended[k] {
                    rec.final_fixpoint = within(next.particle(k), clones.particle(k), self.eps);
                }
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
        match self.counting {
            Counting::Clone => records,
            Counting::Authors => authors_counting(&records),
        }
    }
}
