//! The wire codec every TLS message here shares: record and handshake framing constants, the
//! extension types, a bounds-checked [`Reader`], and length-prefixed writing. Each wire constant is
//! defined here once; the message modules build on these.

use std::fmt;

/// Record content types (RFC 8446 §5.1).
pub mod content {
    pub const ALERT: u8 = 21;
    pub const HANDSHAKE: u8 = 22;
}

/// Handshake message types (RFC 8446 §4).
pub mod handshake {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    pub const SERVER_HELLO_DONE: u8 = 14;
}

/// The largest plaintext fragment of one record (RFC 5246 §6.2.1, RFC 8446 §5.1).
pub const MAX_FRAGMENT: usize = 1 << 14;

/// A TLS extension type (IANA "TLS ExtensionType Values").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtensionType(pub u16);

impl ExtensionType {
    pub const SERVER_NAME: ExtensionType = ExtensionType(0);
    pub const SUPPORTED_GROUPS: ExtensionType = ExtensionType(10);
    pub const EC_POINT_FORMATS: ExtensionType = ExtensionType(11);
    pub const SIGNATURE_ALGORITHMS: ExtensionType = ExtensionType(13);
    pub const EXTENDED_MASTER_SECRET: ExtensionType = ExtensionType(23);
    pub const SUPPORTED_VERSIONS: ExtensionType = ExtensionType(43);
    pub const PSK_KEY_EXCHANGE_MODES: ExtensionType = ExtensionType(45);
    pub const KEY_SHARE: ExtensionType = ExtensionType(51);
    pub const RENEGOTIATION_INFO: ExtensionType = ExtensionType(0xFF01);

    /// The registry name, or `unknown`.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "server_name",
            10 => "supported_groups",
            11 => "ec_point_formats",
            13 => "signature_algorithms",
            23 => "extended_master_secret",
            43 => "supported_versions",
            45 => "psk_key_exchange_modes",
            51 => "key_share",
            0xFF01 => "renegotiation_info",
            _ => "unknown",
        }
    }
}

impl fmt::Display for ExtensionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// A bounds-checked cursor: every read returns `None` past the end.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.data
    }
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.data.len() < n {
            return None;
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Some(head)
    }
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    pub fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }
    /// A vector with a one-byte length prefix.
    pub fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    /// A vector with a two-byte length prefix.
    pub fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// A length prefix that cannot hold what it prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{what} is {len} bytes, more than a 16-bit length can say")]
pub struct TooLong {
    pub what: &'static str,
    pub len: usize,
}

pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Writes what `fill` writes, prefixed with its 16-bit length.
pub fn put_vec16<T>(
    out: &mut Vec<u8>,
    what: &'static str,
    fill: impl FnOnce(&mut Vec<u8>) -> T,
) -> Result<T, TooLong> {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    let result = fill(out);
    let len = out.len() - at - 2;
    if len > usize::from(u16::MAX) {
        return Err(TooLong { what, len });
    }
    out[at..at + 2].copy_from_slice(&(len as u16).to_be_bytes());
    Ok(result)
}

/// A handshake message: type, 24-bit length, body.
pub fn handshake_message(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len();
    let mut out = vec![kind, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    out.extend_from_slice(body);
    out
}

/// One TLS 1.2-versioned record of `content` (at most [`MAX_FRAGMENT`] bytes of it).
pub fn record(content: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![content, 3, 3];
    put_u16(&mut out, body.len() as u16);
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_stops_at_the_end_and_vectors_round_trip() {
        let mut out = Vec::new();
        put_vec16(&mut out, "test", |o| o.extend_from_slice(&[1, 2, 3])).unwrap();
        out.push(9);
        let mut r = Reader::new(&out);
        assert_eq!(r.vec16(), Some(&[1u8, 2, 3][..]));
        assert_eq!(r.u8(), Some(9));
        assert!(r.is_empty());
        assert_eq!(r.u16(), None);
        let rec = record(
            content::HANDSHAKE,
            &handshake_message(handshake::SERVER_HELLO, &[0; 5]),
        );
        let mut r = Reader::new(&rec);
        assert_eq!(
            (r.u8(), r.u16(), r.u16()),
            (Some(22), Some(0x0303), Some(9))
        );
        assert_eq!((r.u8(), r.u24()), (Some(2), Some(5)));
    }
}
