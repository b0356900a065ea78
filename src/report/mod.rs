//! Figures and reports.

pub mod claims;
pub mod document;
pub mod plot;
