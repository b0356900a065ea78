//! Data sets (SPEC §4).
