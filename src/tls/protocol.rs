//! Protocol versions, as the scanner and its reports name them.
//! Owns the mapping between the wire value, the report name (`TLSv1.2`) and the flag name (`tls1.2`);
//! knows nothing about cipher suites or connections.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// A TLS (or SSL 3.0) protocol version, ordered from oldest to newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Ssl3,
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl Protocol {
    /// Every version the scanner knows, oldest first.
    pub const ALL: [Protocol; 5] = [
        Protocol::Ssl3,
        Protocol::Tls10,
        Protocol::Tls11,
        Protocol::Tls12,
        Protocol::Tls13,
    ];

    /// The name used in reports and JSON: `SSLv3`, `TLSv1.0` … `TLSv1.3`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Ssl3 => "SSLv3",
            Protocol::Tls10 => "TLSv1.0",
            Protocol::Tls11 => "TLSv1.1",
            Protocol::Tls12 => "TLSv1.2",
            Protocol::Tls13 => "TLSv1.3",
        }
    }

    /// The name used on the command line: `ssl3`, `tls1.0` … `tls1.3`.
    pub fn flag_name(self) -> &'static str {
        match self {
            Protocol::Ssl3 => "ssl3",
            Protocol::Tls10 => "tls1.0",
            Protocol::Tls11 => "tls1.1",
            Protocol::Tls12 => "tls1.2",
            Protocol::Tls13 => "tls1.3",
        }
    }

    /// The two-byte version number on the wire (0x0300 … 0x0304).
    pub fn wire(self) -> u16 {
        match self {
            Protocol::Ssl3 => 0x0300,
            Protocol::Tls10 => 0x0301,
            Protocol::Tls11 => 0x0302,
            Protocol::Tls12 => 0x0303,
            Protocol::Tls13 => 0x0304,
        }
    }

    /// The version for a wire value, if it is one the scanner knows.
    pub fn from_wire(value: u16) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.wire() == value)
    }

    /// OpenSSL's version constant, for pinning a connection to this version.
    pub fn openssl(self) -> openssl::ssl::SslVersion {
        use openssl::ssl::SslVersion;
        match self {
            Protocol::Ssl3 => SslVersion::SSL3,
            Protocol::Tls10 => SslVersion::TLS1,
            Protocol::Tls11 => SslVersion::TLS1_1,
            Protocol::Tls12 => SslVersion::TLS1_2,
            Protocol::Tls13 => SslVersion::TLS1_3,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The text was not a protocol version the scanner knows.
#[derive(Debug, thiserror::Error)]
#[error("unknown protocol version '{0}' (expected one of ssl3, tls1.0, tls1.1, tls1.2, tls1.3)")]
pub struct UnknownProtocol(pub String);

impl FromStr for Protocol {
    type Err = UnknownProtocol;

    /// Accepts the flag names (`tls1.2`), the report names (`TLSv1.2`) and a few common spellings
    /// (`tls12`, `1.2`, `TLSv1`), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .collect();
        let norm = norm
            .strip_prefix("tlsv")
            .or_else(|| norm.strip_prefix("tls"))
            .map(|v| format!("tls{v}"))
            .unwrap_or(norm.clone());
        let p = match norm.as_str() {
            "ssl3" | "sslv3" | "ssl3.0" => Protocol::Ssl3,
            "tls1" | "tls1.0" | "tls10" | "1.0" => Protocol::Tls10,
            "tls1.1" | "tls11" | "1.1" => Protocol::Tls11,
            "tls1.2" | "tls12" | "1.2" => Protocol::Tls12,
            "tls1.3" | "tls13" | "1.3" => Protocol::Tls13,
            _ => return Err(UnknownProtocol(s.to_string())),
        };
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_spellings() {
        for (text, want) in [
            ("tls1.2", Protocol::Tls12),
            ("TLSv1.2", Protocol::Tls12),
            ("tls12", Protocol::Tls12),
            ("TLSv1", Protocol::Tls10),
            ("tls1.0", Protocol::Tls10),
            ("ssl3", Protocol::Ssl3),
            ("SSLv3", Protocol::Ssl3),
            ("TLS1_3", Protocol::Tls13),
        ] {
            assert_eq!(text.parse::<Protocol>().unwrap(), want, "{text}");
        }
        assert!("tls1.4".parse::<Protocol>().is_err());
        assert!("".parse::<Protocol>().is_err());
    }

    #[test]
    fn wire_round_trips() {
        for p in Protocol::ALL {
            assert_eq!(Protocol::from_wire(p.wire()), Some(p));
        }
    }
}
