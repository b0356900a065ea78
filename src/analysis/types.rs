//! TODO(helper): the `types` analysis.
