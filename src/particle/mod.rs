//! Particle networks (PNs): paper §II, SPEC §1.
//!
//! A PN is a bias-free dense net, by default `5 → h → h → 1`. Fed one of its weights with that
//! weight's position (layer, cell, edge) it should output the same weight: self-replication.
//!
//! - [`shape`]: the architecture and the positional encoding of its weights;
//! - [`kernel`]: one PN's passes, written once for the two evaluation paths (collapsed for
//!   linear PNs, general for any);
//! - [`batch`]: all particles of one shape in one buffer, every operation over all of them in
//!   parallel.

pub mod batch;
pub mod kernel;
pub mod shape;

pub use batch::{Evaluator, ParticleBatch, Workspace, CHUNK};
pub use kernel::PnPath;
pub use shape::{Init, ParticleShape, Row};
