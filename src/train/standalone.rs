//! Standalone particle self-training: the paper's baseline of individually trained SRNNs
//! (Fig. 4's comparison), each particle with its own element-wise optimizer state (SPEC §1).

use crate::fixpoint::{classify, ClassCounts};
use crate::optim::Sgd;
use crate::particle::ParticleBatch;

/// Settings of a standalone self-training run.
#[derive(Clone, Debug)]
pub struct StandaloneConfig {
    /// Self-training steps.
    pub steps: usize,
    /// Classify and record every this many steps.
    pub every: usize,
    /// SGD learning rate.
    pub lr: f32,
    /// SGD momentum.
    pub momentum: f32,
    /// Fixpoint tolerance ε for the classification (Def. 3).
    pub epsilon: f32,
}

/// Self-trains `particles` for `cfg.steps` steps with one persistent optimizer. Returns the
/// class counts every `every` steps (and at the end) as `(step, counts)`.
pub fn self_train_particles(
    particles: &mut ParticleBatch,
    cfg: &StandaloneConfig,
    progress: &mut dyn FnMut(usize),
) -> Vec<(usize, ClassCounts)> {
    let n = particles.weights().len();
    let mut opt = Sgd::new(cfg.lr, cfg.momentum, n);
    let mut workspace = particles.workspace();
    let mut history = vec![(0, ClassCounts::of(&classify(particles, cfg.epsilon)))];
    for step in 1..=cfg.steps {
        particles.self_train_step(&mut opt, &mut workspace);
        if step % cfg.every == 0 || step == cfg.steps {
            history.push((step, ClassCounts::of(&classify(particles, cfg.epsilon))));
        }
        progress(step);
    }
    history
}
