//! Reads a TLS server's first flight off the wire: the ServerHello (or HelloRetryRequest), or an alert.
//! Owns record and handshake framing only; it never decrypts and never panics on any input:
//! anything malformed or truncated is reported as such, for the caller to call inconclusive.

use std::fmt;

const CONTENT_ALERT: u8 = 21;
const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_SERVER_HELLO: u8 = 2;
/// Records may carry 2^14 bytes of plaintext plus expansion (RFC 5246 §6.2.3).
const MAX_RECORD: usize = (1 << 14) + 2048;
/// A ServerHello larger than this is not a ServerHello.
const MAX_SERVER_HELLO: usize = 1 << 16;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
const EXT_KEY_SHARE: u16 = 51;

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
    pub description: u8,
}

impl Alert {
    /// The alert's name from the TLS registry, e.g. `handshake_failure`.
    pub fn name(&self) -> &'static str {
        alert_name(self.description)
    }
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            1 => "warning ",
            2 => "",
            _ => "unknown-level ",
        };
        write!(f, "{level}alert {} ({})", self.name(), self.description)
    }
}

/// The registry name of an alert description.
pub fn alert_name(description: u8) -> &'static str {
    match description {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "unknown",
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
            CONTENT_ALERT if handshake.is_empty() => {
                if body.len() != 2 {
                    return ServerReply::Malformed(format!("alert record of {} bytes", body.len()));
                }
                let alert = Alert {
                    level: body[0],
                    description: body[1],
                };
                match alert.level {
                    // A fatal alert, or a close_notify at any level, ends the handshake: a refusal.
                    2 => return ServerReply::Alert(alert),
                    1 if alert.description == 0 => return ServerReply::Alert(alert),
                    // A warning (e.g. unrecognized_name for an SNI the server does not serve) is
                    // informational: servers send it and carry on with their ServerHello.
                    1 => continue,
                    other => {
                        return ServerReply::Malformed(format!("alert with unknown level {other}"))
                    }
                }
            }
            CONTENT_HANDSHAKE => {
                handshake.extend_from_slice(body);
                if handshake.len() >= 4 {
                    if handshake[0] != HANDSHAKE_SERVER_HELLO {
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
            match ty {
                EXT_SUPPORTED_VERSIONS => {
                    let mut d = Reader::new(data);
                    version = d.u16().ok_or("empty supported_versions in ServerHello")?;
                }
                EXT_KEY_SHARE => {
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

/// A bounds-checked cursor: every read returns `None` past the end.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.data.len() < n {
            return None;
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(content: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![content, 3, 3];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn server_hello(version: u16, cipher: u16, exts: &[u8], random: [u8; 32]) -> Vec<u8> {
        let mut body = version.to_be_bytes().to_vec();
        body.extend_from_slice(&random);
        body.push(0); // empty session id
        body.extend_from_slice(&cipher.to_be_bytes());
        body.push(0);
        if !exts.is_empty() {
            body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
            body.extend_from_slice(exts);
        }
        let mut msg = vec![2, 0, 0, body.len() as u8];
        msg.extend_from_slice(&body);
        msg
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
                description: 40
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
}
