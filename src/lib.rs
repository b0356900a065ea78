//! `organism`: organism networks (ONs) built from self-replicating particle networks (PNs).
//!
//! The modules follow the paper ("Constructing Organism Networks from Collaborative
//! Self-Replicators") and `SPEC.md`:
//! - [`particle`]: PNs, weightwise application, self-training (paper §II, SPEC §1);
//! - [`fixpoint`]: the five particle classes and the robustness test (Def. 3, Fig. 4/7);
//! - [`organism`]: the ON, its task pass on both paths and weight extraction (§III, SPEC §2);
//! - [`optim`]: SGD with momentum;
//! - [`data`]: the addition task and the MNIST family (SPEC §4);
//! - [`analysis`]: the paper's analyses, numbers and figure specifications (SPEC §6);
//! - [`plot`]: charts drawn from plain numbers (PNG and SVG), one file per chart kind;
//! - [`report`]: the claims table and the report (HTML and Markdown);
//! - [`sweep`]: grids of configurations × seeds, run locally or as a Slurm job array.

pub mod activation;
pub mod analysis;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod experiment;
pub mod explore;
pub mod fixpoint;
pub mod interaction;
pub mod lanes;
pub mod limits;
pub mod optim;
pub mod organism;
pub mod particle;
pub mod plot;
pub mod progress;
pub mod report;
pub mod reproduce;
pub mod run;
pub mod sweep;
pub mod train;

pub use error::{Error, Result};
