//! TODO(helper): the `trajectories` analysis.
