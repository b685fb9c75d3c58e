//! Named TLS code points: alert descriptions, named groups and signature schemes, each a newtype
//! with its registry name, so code compares names rather than bare numbers and unknown values are
//! kept and printed in full.

use std::fmt;

/// A TLS alert description (IANA "TLS Alerts").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertDescription(pub u8);

impl AlertDescription {
    pub const CLOSE_NOTIFY: AlertDescription = AlertDescription(0);
    pub const HANDSHAKE_FAILURE: AlertDescription = AlertDescription(40);
    pub const ILLEGAL_PARAMETER: AlertDescription = AlertDescription(47);
    pub const DECODE_ERROR: AlertDescription = AlertDescription(50);
    pub const PROTOCOL_VERSION: AlertDescription = AlertDescription(70);
    pub const INSUFFICIENT_SECURITY: AlertDescription = AlertDescription(71);
    pub const INTERNAL_ERROR: AlertDescription = AlertDescription(80);
    pub const UNRECOGNIZED_NAME: AlertDescription = AlertDescription(112);

    /// The registry name, e.g. `handshake_failure`, or `unknown`.
    pub const fn name(self) -> &'static str {
        match self.0 {
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
}

impl fmt::Display for AlertDescription {
    /// `handshake_failure (40)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// A key-exchange group (IANA "TLS Supported Groups").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamedGroup(pub u16);

impl NamedGroup {
    /// secp256r1 (RFC 8422).
    pub const P256: NamedGroup = NamedGroup(0x0017);
    /// secp384r1 (RFC 8422).
    pub const P384: NamedGroup = NamedGroup(0x0018);
    /// secp521r1 (RFC 8422).
    pub const P521: NamedGroup = NamedGroup(0x0019);
    /// X25519 (RFC 8422, RFC 7748).
    pub const X25519: NamedGroup = NamedGroup(0x001D);
    /// X448 (RFC 8422, RFC 7748).
    pub const X448: NamedGroup = NamedGroup(0x001E);
    /// ffdhe2048 … ffdhe8192 (RFC 7919).
    pub const FFDHE2048: NamedGroup = NamedGroup(0x0100);
    pub const FFDHE3072: NamedGroup = NamedGroup(0x0101);
    pub const FFDHE4096: NamedGroup = NamedGroup(0x0102);
    pub const FFDHE6144: NamedGroup = NamedGroup(0x0103);
    pub const FFDHE8192: NamedGroup = NamedGroup(0x0104);

    /// The name Envoy's `ecdh_curves`, Gloo's `ecdhCurves` and OpenSSL's group lists use
    /// (`X25519`, `P-256`, …), or `unknown`.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0x0017 => "P-256",
            0x0018 => "P-384",
            0x0019 => "P-521",
            0x001D => "X25519",
            0x001E => "X448",
            0x0100 => "ffdhe2048",
            0x0101 => "ffdhe3072",
            0x0102 => "ffdhe4096",
            0x0103 => "ffdhe6144",
            0x0104 => "ffdhe8192",
            _ => "unknown",
        }
    }

    /// The group a name stands for: Envoy's names and OpenSSL's aliases (`prime256v1`,
    /// `secp384r1`, `x25519`).
    pub fn from_name(name: &str) -> Option<NamedGroup> {
        Some(match name {
            "X25519" | "x25519" => Self::X25519,
            "P-256" | "prime256v1" | "secp256r1" => Self::P256,
            "P-384" | "secp384r1" => Self::P384,
            "P-521" | "secp521r1" => Self::P521,
            "X448" | "x448" => Self::X448,
            "ffdhe2048" => Self::FFDHE2048,
            "ffdhe3072" => Self::FFDHE3072,
            "ffdhe4096" => Self::FFDHE4096,
            "ffdhe6144" => Self::FFDHE6144,
            "ffdhe8192" => Self::FFDHE8192,
            _ => return None,
        })
    }
}

impl fmt::Display for NamedGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            "unknown" => write!(f, "0x{:04x}", self.0),
            name => f.write_str(name),
        }
    }
}

/// A signature scheme (RFC 8446 §4.2.3; the 0xHHSS values are RFC 5246 hash/signature pairs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignatureScheme(pub u16);

impl SignatureScheme {
    pub const ECDSA_SECP256R1_SHA256: SignatureScheme = SignatureScheme(0x0403);
    pub const ECDSA_SECP384R1_SHA384: SignatureScheme = SignatureScheme(0x0503);
    pub const ECDSA_SECP521R1_SHA512: SignatureScheme = SignatureScheme(0x0603);
    pub const ED25519: SignatureScheme = SignatureScheme(0x0807);
    pub const ED448: SignatureScheme = SignatureScheme(0x0808);
    pub const RSA_PSS_RSAE_SHA256: SignatureScheme = SignatureScheme(0x0804);
    pub const RSA_PSS_RSAE_SHA384: SignatureScheme = SignatureScheme(0x0805);
    pub const RSA_PSS_RSAE_SHA512: SignatureScheme = SignatureScheme(0x0806);
    pub const RSA_PSS_PSS_SHA256: SignatureScheme = SignatureScheme(0x0809);
    pub const RSA_PSS_PSS_SHA384: SignatureScheme = SignatureScheme(0x080A);
    pub const RSA_PSS_PSS_SHA512: SignatureScheme = SignatureScheme(0x080B);
    pub const RSA_PKCS1_SHA256: SignatureScheme = SignatureScheme(0x0401);
    pub const RSA_PKCS1_SHA384: SignatureScheme = SignatureScheme(0x0501);
    pub const RSA_PKCS1_SHA512: SignatureScheme = SignatureScheme(0x0601);
    /// RFC 5246 pairs kept for old servers: SHA-224 and DSA.
    pub const ECDSA_SHA224: SignatureScheme = SignatureScheme(0x0303);
    pub const RSA_PKCS1_SHA224: SignatureScheme = SignatureScheme(0x0301);
    pub const DSA_SHA224: SignatureScheme = SignatureScheme(0x0302);
    pub const DSA_SHA256: SignatureScheme = SignatureScheme(0x0402);
    pub const DSA_SHA384: SignatureScheme = SignatureScheme(0x0502);
    pub const DSA_SHA512: SignatureScheme = SignatureScheme(0x0602);
    pub const ECDSA_SHA1: SignatureScheme = SignatureScheme(0x0203);
    pub const RSA_PKCS1_SHA1: SignatureScheme = SignatureScheme(0x0201);
    pub const DSA_SHA1: SignatureScheme = SignatureScheme(0x0202);

    /// The scheme an IANA name (`rsa_pss_rsae_sha256`) stands for, among those above.
    pub fn from_name(name: &str) -> Option<SignatureScheme> {
        Some(match name {
            "ecdsa_secp256r1_sha256" => Self::ECDSA_SECP256R1_SHA256,
            "ecdsa_secp384r1_sha384" => Self::ECDSA_SECP384R1_SHA384,
            "ecdsa_secp521r1_sha512" => Self::ECDSA_SECP521R1_SHA512,
            "ed25519" => Self::ED25519,
            "ed448" => Self::ED448,
            "rsa_pss_rsae_sha256" => Self::RSA_PSS_RSAE_SHA256,
            "rsa_pss_rsae_sha384" => Self::RSA_PSS_RSAE_SHA384,
            "rsa_pss_rsae_sha512" => Self::RSA_PSS_RSAE_SHA512,
            "rsa_pss_pss_sha256" => Self::RSA_PSS_PSS_SHA256,
            "rsa_pss_pss_sha384" => Self::RSA_PSS_PSS_SHA384,
            "rsa_pss_pss_sha512" => Self::RSA_PSS_PSS_SHA512,
            "rsa_pkcs1_sha256" => Self::RSA_PKCS1_SHA256,
            "rsa_pkcs1_sha384" => Self::RSA_PKCS1_SHA384,
            "rsa_pkcs1_sha512" => Self::RSA_PKCS1_SHA512,
            "rsa_pkcs1_sha1" => Self::RSA_PKCS1_SHA1,
            "ecdsa_sha1" => Self::ECDSA_SHA1,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for g in [
            NamedGroup::X25519,
            NamedGroup::P256,
            NamedGroup::P384,
            NamedGroup::P521,
            NamedGroup::X448,
        ] {
            assert_eq!(NamedGroup::from_name(g.name()), Some(g));
        }
        assert_eq!(NamedGroup(0x11EC).to_string(), "0x11ec");
        assert_eq!(
            AlertDescription::UNRECOGNIZED_NAME.to_string(),
            "unrecognized_name (112)"
        );
        assert_eq!(
            SignatureScheme::from_name("rsa_pss_rsae_sha256"),
            Some(SignatureScheme::RSA_PSS_RSAE_SHA256)
        );
    }
}
