//! cipher-test: a TLS diagnostic scanner for Envoy/Gloo upstreams.
//!
//! Data flows one way: target → plan → probes → observations → report.

pub mod app;

pub mod cert;
pub mod check;
pub mod cli;
pub mod color;
pub mod demo;
pub mod eliminate;
pub mod envoy;
pub mod explain;
pub mod gate;
pub mod gloo;

pub mod probe;
pub mod remediate;
pub mod report;
pub mod scan;
pub mod secret;
pub mod tls;

pub mod target;
pub mod testing;
pub mod util;
pub mod verdict;
