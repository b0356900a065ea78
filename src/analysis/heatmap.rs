//! TODO(helper): the `heatmap` analysis.
