//! cipher-test: a TLS diagnostic scanner for Envoy/Gloo upstreams.
//!
//! Imports run one way, from the command line down to the wire:
//! `app → cli → cmd → {scan, gloo, render} → {envoy, probe, cert} → tls`, with `output`, `target`
//! and `util` as leaves any layer may use and `testing` beside the rest for `demo` and the tests.

pub mod app;
pub mod cert;
pub mod cli;
pub mod cmd;
pub mod envoy;
pub mod gloo;
pub mod output;
pub mod probe;
pub mod render;
pub mod scan;
pub mod target;
pub mod testing;
pub mod tls;
pub mod util;
