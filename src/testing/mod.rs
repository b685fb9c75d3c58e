//! In-process TLS servers on loopback and the throwaway PKI they serve, for `demo` and the tests.
//! Nothing here is used by a scan of a real upstream.

pub mod pki;
pub mod server;
