//! Figures and reports.

pub mod document;
pub mod plot;
