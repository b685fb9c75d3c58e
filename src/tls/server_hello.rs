//! Reads a TLS server's first flight off the wire: the ServerHello (or HelloRetryRequest), or an alert,
//! and before TLS 1.3 the curve its ServerKeyExchange names.
//! Owns record and handshake framing only; it never decrypts and never panics on any input:
//! anything malformed or truncated is reported as such, for the caller to call inconclusive.

use std::fmt;

use super::codec::{
    content, handshake, handshake_message, put_u16, put_vec16, record, ExtensionType, Reader,
};
use super::enums::AlertDescription;

/// Records may carry 2^14 bytes of plaintext plus expansion (RFC 5246 §6.2.3).
const MAX_RECORD: usize = (1 << 14) + 2048;
/// A ServerHello larger than this is not a ServerHello.
const MAX_SERVER_HELLO: usize = 1 << 16;

/// SHA-256("HelloRetryRequest"): the random of a TLS 1.3 HelloRetryRequest (RFC 8446 §4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// The server's answer to a ClientHello, as far as the bytes received so far tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerReply {
    /// A complete ServerHello or HelloRetryRequest.
    Hello(ServerHello),
    /// A TLS alert record, sent before any ServerHello.
    Alert(Alert),
    /// The first bytes are not a TLS record: a plaintext service, most likely.
    NotTls(String),
    /// TLS framing that makes no sense (what is wrong is said).
    Malformed(String),
    /// Nothing complete yet: more bytes are needed.
    Incomplete,
}

/// The fields of a ServerHello the scanner needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The negotiated version: `supported_versions` when present, else `legacy_version`.
    pub version: u16,
    pub cipher: u16,
    /// A TLS 1.3 HelloRetryRequest: the suite is chosen, the key share is not.
    pub hello_retry: bool,
    /// The key-share group (TLS 1.3 ServerHello or HelloRetryRequest).
    pub group: Option<u16>,
}

/// A TLS alert (RFC 8446 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    pub level: u8,
    pub description: AlertDescription,
}

impl Alert {
    /// The alert's name from the TLS registry, e.g. `handshake_failure`.
    pub fn name(&self) -> &'static str {
        self.description.name()
    }
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            1 => "warning ",
            2 => "",
            _ => "unknown-level ",
        };
        write!(f, "{level}alert {}", self.description)
    }
}

/// Reads the server's first flight from `bytes` (everything received so far, from the first byte).
pub fn parse_server_reply(bytes: &[u8]) -> ServerReply {
    if bytes.is_empty() {
        return ServerReply::Incomplete;
    }
    // The first byte alone tells a plaintext service from TLS.
    if !matches!(bytes[0], 20..=23) {
        return ServerReply::NotTls(excerpt(bytes));
    }
    if bytes.len() >= 2 && bytes[1] != 3 {
        return ServerReply::NotTls(excerpt(bytes));
    }
    let mut handshake: Vec<u8> = Vec::new();
    let mut rest = bytes;
    loop {
        if rest.len() < 5 {
            return ServerReply::Incomplete;
        }
        let content = rest[0];
        let major = rest[1];
        let len = u16::from_be_bytes([rest[3], rest[4]]) as usize;
        if major != 3 {
            return ServerReply::Malformed(format!("record version {}.{}", rest[1], rest[2]));
        }
        if len > MAX_RECORD {
            return ServerReply::Malformed(format!("record of {len} bytes exceeds the TLS limit"));
        }
        if len == 0 {
            return ServerReply::Malformed("empty record".into());
        }
        if rest.len() < 5 + len {
            return ServerReply::Incomplete;
        }
        let body = &rest[5..5 + len];
        rest = &rest[5 + len..];
        match content {
            content::ALERT if handshake.is_empty() => {
                if body.len() != 2 {
                    return ServerReply::Malformed(format!("alert record of {} bytes", body.len()));
                }
                let alert = Alert {
                    level: body[0],
                    description: AlertDescription(body[1]),
                };
                match alert.level {
                    // A fatal alert, or a close_notify at any level, ends the handshake: a refusal.
                    2 => return ServerReply::Alert(alert),
                    1 if alert.description == AlertDescription::CLOSE_NOTIFY => {
                        return ServerReply::Alert(alert)
                    }
                    // A warning (e.g. unrecognized_name for an SNI the server does not serve) is
                    // informational: servers send it and carry on with their ServerHello.
                    1 => continue,
                    other => {
                        return ServerReply::Malformed(format!("alert with unknown level {other}"))
                    }
                }
            }
            content::HANDSHAKE => {
                handshake.extend_from_slice(body);
                if handshake.len() >= 4 {
                    if handshake[0] != handshake::SERVER_HELLO {
                        return ServerReply::Malformed(format!(
                            "first handshake message has type {}, not ServerHello",
                            handshake[0]
                        ));
                    }
                    let msg_len =
                        u32::from_be_bytes([0, handshake[1], handshake[2], handshake[3]]) as usize;
                    if msg_len > MAX_SERVER_HELLO {
                        return ServerReply::Malformed(format!("ServerHello of {msg_len} bytes"));
                    }
                    if handshake.len() >= 4 + msg_len {
                        return match parse_server_hello(&handshake[4..4 + msg_len]) {
                            Ok(hello) => ServerReply::Hello(hello),
                            Err(why) => ServerReply::Malformed(why),
                        };
                    }
                }
            }
            other => {
                return ServerReply::Malformed(format!(
                    "record type {other} before the ServerHello"
                ));
            }
        }
    }
}

/// What the rest of a TLS <= 1.2 first flight says about the key exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyExchange {
    /// The ServerKeyExchange names this curve (ECDHE, `named_curve`).
    Curve(u16),
    /// The flight has no named curve: another key exchange, an explicit curve, or framing this
    /// reader does not follow.
    Unnamed,
    /// Neither a ServerKeyExchange nor the end of the flight yet.
    Incomplete,
}

/// The curve the ServerKeyExchange of a TLS <= 1.2 first flight names, reading the handshake
/// messages after the ServerHello in `bytes` (everything received, from the first byte).
pub fn key_exchange(bytes: &[u8]) -> KeyExchange {
    let mut handshake: Vec<u8> = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 5 {
        let len = u16::from_be_bytes([rest[3], rest[4]]) as usize;
        if rest.len() < 5 + len {
            break;
        }
        match rest[0] {
            content::HANDSHAKE => handshake.extend_from_slice(&rest[5..5 + len]),
            // A warning alert before the ServerHello; anything else ends the plaintext flight.
            content::ALERT if handshake.is_empty() => {}
            _ => return KeyExchange::Unnamed,
        }
        rest = &rest[5 + len..];
    }
    let mut messages = handshake.as_slice();
    while messages.len() >= 4 {
        let kind = messages[0];
        let len = u32::from_be_bytes([0, messages[1], messages[2], messages[3]]) as usize;
        if messages.len() < 4 + len {
            return KeyExchange::Incomplete;
        }
        let body = &messages[4..4 + len];
        match kind {
            handshake::SERVER_KEY_EXCHANGE => {
                // ECParameters: curve_type 3 (named_curve), then the curve (RFC 8422 §5.4).
                return match body {
                    [3, hi, lo, ..] => KeyExchange::Curve(u16::from_be_bytes([*hi, *lo])),
                    _ => KeyExchange::Unnamed,
                };
            }
            handshake::SERVER_HELLO_DONE => return KeyExchange::Unnamed,
            _ => messages = &messages[4 + len..],
        }
    }
    KeyExchange::Incomplete
}

/// Parses a ServerHello body (after the 4-byte handshake header).
fn parse_server_hello(body: &[u8]) -> Result<ServerHello, String> {
    let mut r = Reader::new(body);
    let legacy_version = r.u16().ok_or("ServerHello too short for its version")?;
    let random = r.take(32).ok_or("ServerHello too short for its random")?;
    let sid_len = r.u8().ok_or("ServerHello ends before the session id")? as usize;
    if sid_len > 32 {
        return Err(format!("ServerHello session id of {sid_len} bytes"));
    }
    r.take(sid_len)
        .ok_or("ServerHello session id is truncated")?;
    let cipher = r.u16().ok_or("ServerHello ends before the cipher suite")?;
    r.u8()
        .ok_or("ServerHello ends before the compression method")?;
    let hello_retry = random == HRR_RANDOM;
    let mut version = legacy_version;
    let mut group = None;
    if !r.is_empty() {
        let ext_len = r
            .u16()
            .ok_or("ServerHello extensions length is truncated")? as usize;
        let mut exts = Reader::new(
            r.take(ext_len)
                .ok_or("ServerHello extensions are truncated")?,
        );
        while !exts.is_empty() {
            let ty = exts.u16().ok_or("truncated extension type")?;
            let len = exts.u16().ok_or("truncated extension length")? as usize;
            let data = exts.take(len).ok_or("truncated extension")?;
            match ExtensionType(ty) {
                ExtensionType::SUPPORTED_VERSIONS => {
                    let mut d = Reader::new(data);
                    version = d.u16().ok_or("empty supported_versions in ServerHello")?;
                }
                ExtensionType::KEY_SHARE => {
                    let mut d = Reader::new(data);
                    group = Some(d.u16().ok_or("empty key_share in ServerHello")?);
                }
                _ => {}
            }
        }
    }
    Ok(ServerHello {
        version,
        cipher,
        hello_retry,
        group,
    })
}

/// A printable excerpt of the first bytes of a non-TLS reply, e.g. `"HTTP/1.1 400 Bad Request"`.
fn excerpt(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(40)];
    let first_line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or(head);
    if !first_line.is_empty()
        && first_line
            .iter()
            .all(|b| b.is_ascii_graphic() || *b == b' ')
    {
        format!("\"{}\"", String::from_utf8_lossy(first_line))
    } else {
        let hex: Vec<String> = head.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("bytes {}", hex.join(" "))
    }
}

impl ServerHello {
    /// This ServerHello as one handshake record, the counterpart of [`parse_server_reply`] (for
    /// scripted servers and round trips): a TLS 1.3 version goes into `supported_versions` with
    /// 0x0303 as the legacy version, a group into `key_share` (with a throwaway 32-byte share unless
    /// it is a HelloRetryRequest), and `extra_extensions` (raw extension bytes) after them.
    pub fn to_record(&self, session_id: &[u8], extra_extensions: &[u8]) -> Vec<u8> {
        let tls13 = self.version == 0x0304;
        let mut body = Vec::with_capacity(128);
        put_u16(&mut body, if tls13 { 0x0303 } else { self.version });
        body.extend_from_slice(if self.hello_retry {
            &HRR_RANDOM
        } else {
            &[7; 32]
        });
        body.push(session_id.len() as u8);
        body.extend_from_slice(session_id);
        put_u16(&mut body, self.cipher);
        body.push(0);
        let mut exts = Vec::new();
        if tls13 {
            put_u16(&mut exts, ExtensionType::SUPPORTED_VERSIONS.0);
            put_u16(&mut exts, 2);
            put_u16(&mut exts, self.version);
        }
        if let Some(group) = self.group {
            put_u16(&mut exts, ExtensionType::KEY_SHARE.0);
            // Lengths of at most a few dozen bytes always fit.
            let _ = put_vec16(&mut exts, "key_share", |d| {
                put_u16(d, group);
                if !self.hello_retry {
                    let _ = put_vec16(d, "key_exchange", |k| k.extend_from_slice(&[9; 32]));
                }
            });
        }
        exts.extend_from_slice(extra_extensions);
        if !exts.is_empty() {
            let _ = put_vec16(&mut body, "extensions", |b| b.extend_from_slice(&exts));
        }
        record(
            content::HANDSHAKE,
            &handshake_message(handshake::SERVER_HELLO, &body),
        )
    }
}

/// An alert record.
pub fn alert_record(level: u8, description: AlertDescription) -> Vec<u8> {
    record(content::ALERT, &[level, description.0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::codec::record;

    /// The handshake message of a ServerHello (the record header dropped), raw extensions after.
    fn server_hello(version: u16, cipher: u16, exts: &[u8], random: [u8; 32]) -> Vec<u8> {
        let hello = ServerHello {
            version,
            cipher,
            hello_retry: random == HRR_RANDOM,
            group: None,
        };
        hello.to_record(&[], exts)[5..].to_vec()
    }

    #[test]
    fn what_is_written_reads_back() {
        for hello in [
            ServerHello {
                version: 0x0303,
                cipher: 0xC02F,
                hello_retry: false,
                group: None,
            },
            ServerHello {
                version: 0x0304,
                cipher: 0x1302,
                hello_retry: false,
                group: Some(0x001D),
            },
            ServerHello {
                version: 0x0304,
                cipher: 0x1301,
                hello_retry: true,
                group: Some(0x0017),
            },
        ] {
            let bytes = hello.to_record(&[0x42; 32], &[0xFF, 0x01, 0, 1, 0]);
            assert_eq!(parse_server_reply(&bytes), ServerReply::Hello(hello));
        }
    }

    #[test]
    fn reads_a_tls12_server_hello() {
        let bytes = record(22, &server_hello(0x0303, 0xC014, &[], [7; 32]));
        assert_eq!(
            parse_server_reply(&bytes),
            ServerReply::Hello(ServerHello {
                version: 0x0303,
                cipher: 0xC014,
                hello_retry: false,
                group: None
            })
        );
    }

    #[test]
    fn reads_tls13_version_group_and_hrr() {
        // supported_versions = 0x0304, key_share group = 0x0017 (P-256) as in an HRR.
        let exts = [0, 43, 0, 2, 3, 4, 0, 51, 0, 2, 0, 0x17];
        let bytes = record(22, &server_hello(0x0303, 0x1301, &exts, HRR_RANDOM));
        let ServerReply::Hello(h) = parse_server_reply(&bytes) else {
            panic!("not a hello")
        };
        assert_eq!(
            (h.version, h.cipher, h.hello_retry, h.group),
            (0x0304, 0x1301, true, Some(0x17))
        );
    }

    #[test]
    fn reassembles_a_hello_split_across_records() {
        let msg = server_hello(0x0303, 0x009C, &[], [1; 32]);
        let mut bytes = record(22, &msg[..10]);
        bytes.extend(record(22, &msg[10..]));
        assert!(matches!(parse_server_reply(&bytes), ServerReply::Hello(h) if h.cipher == 0x009C));
        assert_eq!(
            parse_server_reply(&bytes[..bytes.len() - 1]),
            ServerReply::Incomplete
        );
    }

    #[test]
    fn warning_alerts_are_not_refusals() {
        // warning unrecognized_name, then the ServerHello: the suite was chosen.
        let mut bytes = record(21, &[1, 112]);
        bytes.extend(record(22, &server_hello(0x0303, 0xC02F, &[], [3; 32])));
        assert!(matches!(parse_server_reply(&bytes), ServerReply::Hello(h) if h.cipher == 0xC02F));
        assert_eq!(
            parse_server_reply(&record(21, &[1, 112])),
            ServerReply::Incomplete
        );
        assert!(matches!(
            parse_server_reply(&record(21, &[1, 0])),
            ServerReply::Alert(_)
        ));
        assert!(matches!(
            parse_server_reply(&record(21, &[7, 40])),
            ServerReply::Malformed(_)
        ));
    }

    #[test]
    fn reads_alerts_and_plaintext() {
        assert_eq!(
            parse_server_reply(&record(21, &[2, 40])),
            ServerReply::Alert(Alert {
                level: 2,
                description: AlertDescription::HANDSHAKE_FAILURE
            })
        );
        assert_eq!(
            parse_server_reply(b"HTTP/1.1 400 Bad Request\r\n\r\n"),
            ServerReply::NotTls("\"HTTP/1.1 400 Bad Request\"".into())
        );
        assert!(matches!(
            parse_server_reply(&[0x16, 0x05, 0, 0]),
            ServerReply::NotTls(_)
        ));
        assert!(
            matches!(parse_server_reply(&[0xff, 0x00]), ServerReply::NotTls(s) if s.starts_with("bytes"))
        );
    }

    #[test]
    fn never_panics_on_truncations_of_a_valid_reply() {
        let exts = [0, 43, 0, 2, 3, 4, 0, 51, 0, 2, 0, 0x1d];
        let bytes = record(22, &server_hello(0x0303, 0x1302, &exts, [9; 32]));
        for n in 0..bytes.len() {
            let r = parse_server_reply(&bytes[..n]);
            assert!(
                !matches!(r, ServerReply::Hello(_)),
                "prefix {n} parsed as complete"
            );
        }
        // A lying inner length must not read past the record.
        let mut bad = bytes.clone();
        bad[8] = 0xff;
        assert!(matches!(
            parse_server_reply(&bad),
            ServerReply::Incomplete | ServerReply::Malformed(_)
        ));
    }

    #[test]
    fn never_panics_on_pseudo_random_bytes() {
        let mut rng = crate::util::Xorshift::new(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let x = rng.next_u64();
            let len = (x % 96) as usize;
            let mut buf: Vec<u8> = (0..len)
                .map(|i| (x >> (i % 8 * 8)) as u8 ^ i as u8)
                .collect();
            if len > 0 {
                buf[0] = [20, 21, 22, 23][(x as usize >> 3) % 4];
            }
            if len > 1 {
                buf[1] = 3;
            }
            let _ = parse_server_reply(&buf);
        }
    }

    /// A TLS 1.2 first flight: ServerHello, a Certificate, then `key_exchange` as the
    /// ServerKeyExchange body (none: no such message) and a ServerHelloDone, the handshake messages
    /// cut into records of `record_size` bytes.
    fn tls12_flight(key_exchange: Option<&[u8]>, record_size: usize) -> Vec<u8> {
        let hello = ServerHello {
            version: 0x0303,
            cipher: 0xC030,
            hello_retry: false,
            group: None,
        }
        .to_record(&[], &[]);
        let mut messages = handshake_message(11, &[0u8; 900]);
        if let Some(body) = key_exchange {
            messages.extend(handshake_message(handshake::SERVER_KEY_EXCHANGE, body));
        }
        messages.extend(handshake_message(handshake::SERVER_HELLO_DONE, &[]));
        let mut flight = hello;
        for part in messages.chunks(record_size) {
            flight.extend(record(content::HANDSHAKE, part));
        }
        flight
    }

    #[test]
    fn the_server_key_exchange_names_the_curve_across_records() {
        // named_curve (3), secp384r1 (0x0018), then the public key and signature.
        let ske = [3, 0x00, 0x18, 65, 4, 4, 4];
        for size in [7, 100, 4096] {
            let flight = tls12_flight(Some(&ske), size);
            assert_eq!(
                key_exchange(&flight),
                KeyExchange::Curve(0x0018),
                "records of {size}"
            );
            // Read in any two parts, the first part never misleads: not yet, or the curve.
            for end in 0..flight.len() {
                let partial = key_exchange(&flight[..end]);
                assert!(
                    matches!(
                        partial,
                        KeyExchange::Incomplete | KeyExchange::Curve(0x0018)
                    ),
                    "records of {size}, cut at {end}: {partial:?}"
                );
            }
        }
        // An explicit curve (1) names none; a flight without a ServerKeyExchange (RSA key
        // transport) ends with ServerHelloDone.
        assert_eq!(
            key_exchange(&tls12_flight(Some(&[1, 0, 0]), 100)),
            KeyExchange::Unnamed
        );
        assert_eq!(key_exchange(&tls12_flight(None, 100)), KeyExchange::Unnamed);
        let flight = tls12_flight(None, 100);
        assert_eq!(
            key_exchange(&flight[..flight.len() - 9]),
            KeyExchange::Incomplete
        );
    }
}
