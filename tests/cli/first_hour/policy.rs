//! First mistakes: policy.
