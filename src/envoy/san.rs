//! Envoy's subject-alt-name matching (being written).
