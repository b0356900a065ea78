//! `organism`: organism networks (ONs) built from self-replicating particle networks (PNs).
//!
//! The modules follow the paper ("Constructing Organism Networks from Collaborative
//! Self-Replicators") and `SPEC.md`, from the bottom up:
//! - [`particle`]: PNs, weightwise application, self-training (paper §II, SPEC §1), over
//!   [`lanes`] (particles side by side) and [`activation`]; [`simd`]: the kernels' instruction set;
//! - [`fixpoint`]: the five particle classes and the robustness test (Def. 3, Fig. 4/7);
//! - [`organism`]: the ON, its task pass on both paths and weight extraction (§III, SPEC §2);
//! - [`interaction`]: attack and melt between particles (the paper's future work, §VI);
//! - [`optim`]: SGD with momentum;
//! - [`data`]: the image data sets (SPEC §4); [`task`]: a task's data as the organism sees it;
//! - [`config`]: presets, TOML files and `--set` overrides; [`limits`]: bounds on every size;
//! - [`train`]: the alternating schedule (SPEC §3) and standalone self-training;
//! - [`run`]: run directories and the output rule; [`checkpoint`]: streamed files and resume;
//! - [`experiment`]: one configuration end to end (one seed or several), writing run directories;
//! - [`analysis`]: the paper's analyses, numbers and figure specifications (SPEC §6);
//! - [`plot`]: charts drawn from plain numbers (PNG and SVG), one file per chart kind;
//! - [`report`]: the claims table and the report (HTML and Markdown);
//! - [`reproduce`]: the whole paper in one command;
//! - [`sweep`]: grids of configurations × seeds, run locally or as a Slurm job array;
//! - [`progress`]: progress bars; [`error`]: the crate's error type; [`keyword`]: enums named by
//!   keywords.

#![warn(missing_docs)]

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
pub mod keyword;
pub mod lanes;
pub mod limits;
pub mod optim;
pub mod organism;
pub mod particle;
pub mod plot;
pub mod pool;
pub mod progress;
pub mod report;
pub mod reproduce;
pub mod run;
pub mod simd;
pub mod sweep;
pub mod task;
pub mod train;

pub use error::{Error, Result};
