//! cipher-test: a TLS diagnostic scanner for Envoy/Gloo upstreams.
//!
//! Data flows one way: target → plan → probes → observations → report.

pub mod app;

pub mod cert;
pub mod cli;
pub mod cmd;
pub mod color;
pub mod eliminate;
pub mod envoy;
pub mod gate;
pub mod gloo;
pub mod output;

pub mod probe;
pub mod report;
pub mod scan;
pub mod tls;

pub mod target;
pub mod testing;
pub mod util;
pub mod verdict;
