//! First mistakes: setup.
