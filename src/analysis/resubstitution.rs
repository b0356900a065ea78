//! TODO(helper): the `resubstitution` analysis.
