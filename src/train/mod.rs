//! Training: the organism's alternating schedule (paper §IV/V, SPEC §3) in [`schedule`], and the
//! paper's baseline of standalone self-trained particles in [`standalone`].

pub mod schedule;
pub mod standalone;

pub use schedule::{evaluate, train, EpochRecord, TrainState, Trained, Trainer};
pub use standalone::{self_train_particles, StandaloneConfig};
