//! First mistakes: graph.
