//! TODO(helper): the `dropout` analysis.
