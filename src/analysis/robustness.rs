//! TODO(helper): the `robustness` analysis.
