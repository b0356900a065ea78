//! Training: the organism's alternating schedule (paper §IV/V, SPEC §3) in [`schedule`], and the
//! paper's baseline of standalone self-trained particles in [`standalone`].

pub mod schedule;
pub mod standalone;

pub use schedule::{
    evaluate, fine_tune, train, train_until, EpochRecord, Pruned, TrainState, Trained, Trainer, Trajectory,
};
pub use standalone::{self_train_particles, StandaloneConfig};
