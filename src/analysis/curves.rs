//! TODO(helper): the `curves` analysis.
