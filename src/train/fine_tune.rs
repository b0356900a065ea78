//! Fine-tuning of pruned networks (the pruning study, `analysis::pruning`): an organism trained
//! on with the full schedule, or its dense network of extracted weights with task steps only,
//! pruned weights held at zero throughout.

use super::schedule::{hold_at_zero, organism_step, Steppers};
use crate::config::Config;
use crate::optim::Sgd;
use crate::organism::{Dense, Organism, OrganismShape};
use crate::task::{Samples, TaskData};
use rand_chacha::ChaCha8Rng;

/// One task step of the dense network `weights` on `batch` with `opt`, pruned weights
/// (`keep[i] == false`) held at zero: their gradient is masked and their value re-zeroed.
fn dense_step(shape: &OrganismShape, weights: &mut [f32], batch: &Samples, opt: &mut Sgd, keep: &[bool]) {
    let mut pass = Dense::new(shape, weights).task_pass(&batch.x, (&batch.y).into());
    hold_at_zero(&mut pass.grads, 1, keep);
    opt.step(weights, &pass.grads);
    hold_at_zero(weights, 1, keep);
}

/// A pruned network to fine-tune: an organism (trained on with the full schedule, its pruned
/// particles frozen at zero) or the dense network of extracted weights (task steps only).
pub enum Pruned<'a> {
    /// An organism, trained on with self-training and task steps.
    Organism(&'a mut Organism),
    /// A plain dense network of extracted weights, task steps only.
    Dense {
        /// Its shape.
        shape: &'a OrganismShape,
        /// Its weights in SPEC order, pruned ones at zero.
        weights: &'a mut [f32],
    },
}

/// Trains a pruned network on for `epochs` epochs of `data` with `cfg`'s batch size and SGD,
/// a fresh task optimizer, and pruned weights (`keep[i] == false`, one per particle = dense
/// weight) held at zero. Batch order and noise are drawn from `rng`.
pub fn fine_tune(net: Pruned, keep: &[bool], cfg: &Config, data: &TaskData, epochs: usize, rng: &mut ChaCha8Rng) {
    match net {
        Pruned::Organism(organism) => {
            let mut steppers = Steppers::new(cfg, organism);
            let p = organism.particles.shape().n_weights();
            hold_at_zero(organism.particles.weights_mut(), p, keep);
            for _ in 0..epochs {
                for batch in data.epoch(cfg.batch_size, rng) {
                    organism_step(organism, &batch, cfg, cfg.self_train_steps, &mut steppers, Some(keep));
                }
            }
        }
        Pruned::Dense { shape, weights } => {
            let mut opt = Sgd::new(cfg.lr, cfg.momentum, weights.len());
            hold_at_zero(weights, 1, keep);
            for _ in 0..epochs {
                for batch in data.epoch(cfg.batch_size, rng) {
                    dense_step(shape, weights, &batch, &mut opt, keep);
                }
            }
        }
    }
}
