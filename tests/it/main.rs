//! The end-to-end tests, one binary: every module is one area, against real servers on loopback
//! (and, in `real_envoy`, a real Envoy). Linking the crate once instead of once per area keeps
//! `cargo test` fast.

mod catalog;
mod cert;
mod certs;
mod check;
mod cli_docs;
mod common;
mod eliminate;
mod envoy;
mod examples;
mod explain;
mod external;
mod faults;
mod gloo_yaml;
mod hostile;
mod kubectl_plugin;
mod limits;
mod properties;
mod raw;
mod real_envoy;
mod real_envoy_driver;
mod remediate;
mod report_files;
mod sarif;
mod scan;
mod schema;
mod secret;
mod servers;
mod shard;
mod testpki;
