//! Figures and reports.

pub mod plot;
