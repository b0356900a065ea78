//! The reproduction report: the claims table and the document (HTML and Markdown).

pub mod claims;
pub mod document;
