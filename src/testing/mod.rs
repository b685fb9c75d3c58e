//! In-process TLS servers on loopback, the throwaway PKI they serve, and connection-limiting fronts
//! to put before them, for `demo`, the tests and the benches. Nothing here is used by a scan of a
//! real upstream.

pub mod front;
pub mod pki;
pub mod server;
