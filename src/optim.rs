//! SGD with momentum, PyTorch's convention (SPEC §1): `b = μ·b + g; w −= lr·b`.
//!
//! The state is the caller's: a fresh [`Sgd`] has zero momentum, which is how the schedule
//! restarts the self-train optimizer every batch (SPEC §3). The update is element-wise, so one
//! optimizer over a batch of particles is the same as one optimizer per particle, and the
//! particle kernels may apply it piece by piece, fused with the gradient ([`Sgd::update`]).

use crate::lanes::Lanes;

/// SGD with momentum as PyTorch's `torch.optim.SGD` (dampening 0, no Nesterov): `b ← μ·b + g`, `w ← w − lr·b`.
#[derive(Clone, Debug)]
pub struct Sgd {
    /// Learning rate.
    pub lr: f32,
    /// Momentum μ.
    pub momentum: f32,
    buf: Vec<f32>,
}

impl Sgd {
    /// An optimizer for `n_weights` weights, its momentum buffer at zero.
    pub fn new(lr: f32, momentum: f32, n_weights: usize) -> Self {
        Sgd { lr, momentum, buf: vec![0.0; n_weights] }
    }

    /// An optimizer whose momentum buffer is `buf` (one value per weight), e.g. from a
    /// checkpoint.
    pub fn with_momentum_buffer(lr: f32, momentum: f32, buf: Vec<f32>) -> Self {
        Sgd { lr, momentum, buf }
    }

    /// The momentum buffer `b`, one value per weight.
    pub fn momentum_buffer(&self) -> &[f32] {
        &self.buf
    }

    /// One step of every weight.
    pub fn step(&mut self, weights: &mut [f32], grads: &[f32]) {
        assert_eq!(weights.len(), self.buf.len(), "optimizer built for another size");
        assert_eq!(grads.len(), weights.len(), "one gradient per weight");
        for ((w, b), &g) in weights.iter_mut().zip(&mut self.buf).zip(grads) {
            Self::update(self.lr, self.momentum, w, b, g);
        }
    }

    /// The momentum buffer, one value per weight, for fused updates.
    pub fn buffer_mut(&mut self) -> &mut [f32] {
        &mut self.buf
    }

    /// The update of one weight `w` (or lanes of weights) with momentum `b` and gradient `g`.
    #[inline(always)]
    pub fn update<L: Lanes>(lr: f32, momentum: f32, w: &mut L, b: &mut L, g: L) {
        *b = L::splat(momentum) * *b + g;
        *w = *w - L::splat(lr) * *b;
    }
}
