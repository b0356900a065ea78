//! Training: the organism's alternating schedule (paper §IV/V, SPEC §3) in [`schedule`], and the
//! paper's baseline of standalone self-trained particles in [`standalone`].

pub mod fine_tune;
pub mod schedule;
pub mod standalone;

pub use fine_tune::{fine_tune, Pruned};
pub use schedule::{evaluate, train, train_until, EpochRecord, TrainState, Trained, Trainer, Trajectory};
pub use standalone::{self_train_particles, StandaloneConfig};
