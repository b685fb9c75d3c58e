//! The wire: protocol versions, the cipher-suite catalogue, and the ClientHello and ServerHello
//! codecs. Bytes and names only; nothing here opens a connection or knows about Envoy.

pub mod catalog;
pub mod client_hello;
pub mod codec;
pub mod enums;
pub mod protocol;
pub mod server_hello;
