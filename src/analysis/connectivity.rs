//! TODO(helper): the `connectivity` analysis.
