//! A real Envoy process as the judge (being written).
