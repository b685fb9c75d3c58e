//! Decodes the transport failure reason Envoy prints when a TLS handshake to an upstream fails
//! (`TLS error: 268436496:SSL routines:…`) into what it means and which command to run next.
//! Pure text in, text out: no network, no probing, and no Gloo YAML beyond naming the fields to check.

use std::fmt::Write as _;

/// What one Envoy/BoringSSL error code means for an upstream connection, where Envoy is the TLS client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Explanation {
    /// The packed error code as Envoy prints it, e.g. 268436496.
    pub code: u32,
    /// `ERR_GET_LIB`: `code >> 24` (16 = SSL, 11 = X509, 6 = EVP).
    pub library: u32,
    /// `ERR_GET_REASON`: `code & 0xFFF` (1040 = SSLV3_ALERT_HANDSHAKE_FAILURE).
    pub reason: u32,
    /// The reason's name: from this module's table, else from the input text, else "unknown".
    pub name: String,
    /// What the error means for an Envoy upstream connection, in one to three sentences.
    pub meaning: String,
    /// Concrete things to do next, commands first.
    pub next_steps: Vec<String>,
    /// Text Envoy appended after the reason name, e.g. "verify cert failed: verify SAN list"
    /// (newer Envoy adds the certificate-validation detail to CERTIFICATE_VERIFY_FAILED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Why nothing could be explained. Every message shows the forms that are accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error(
        "nothing to explain: the input is empty; pass Envoy's transport failure reason, e.g. \
         'TLS error: 268436496:SSL routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE', \
         or a bare code such as 268436496"
    )]
    Empty,
    #[error(
        "no Envoy TLS error code found in '{snippet}': expected e.g. \
         'TLS error: 268436496:SSL routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE' or a bare code"
    )]
    NoCode { snippet: String },
    #[error(
        "{value} is not an Envoy TLS error code: a code is a 32-bit number whose library part \
         (code >> 24) is between 1 and 64, e.g. 268436496 (library 16 = SSL, reason 1040)"
    )]
    NotACode { value: String },
}

/// BoringSSL packs `ERR_PACK(lib, reason) = lib << 24 | reason` (`include/openssl/err.h`); the
/// library numbers are its `ERR_LIB_*` enum. Above 64 no real library exists, which is how random
/// numbers followed by `:` (timestamps, ports) are told apart from error codes.
const MAX_LIBRARY: u32 = 64;
const LIB_SSL: u32 = 16;

/// `ERR_LIB_*` names, index = library number (BoringSSL `include/openssl/err.h`).
#[rustfmt::skip]
const LIBRARY_NAMES: &[&str] = &[
    "", "NONE", "SYS", "BN", "RSA", "DH", "EVP", "BUF", "OBJ", "PEM", "DSA", "X509", "ASN1", "CONF",
    "CRYPTO", "EC", "SSL", "BIO", "PKCS7", "PKCS8", "X509V3", "RAND", "ENGINE", "OCSP", "UI",
    "COMP", "ECDSA", "ECDH", "HMAC", "DIGEST", "CIPHER", "HKDF", "TRUST_TOKEN", "USER",
];

/// The library's `ERR_LIB_*` name, or "library N" for numbers BoringSSL does not define.
fn library_name(library: u32) -> String {
    match LIBRARY_NAMES.get(library as usize) {
        Some(name) if !name.is_empty() => (*name).to_string(),
        _ => format!("library {library}"),
    }
}

const SCAN: &str =
    "cipher-test HOST:PORT  (find which suites, versions and curves the upstream accepts)";
const REMEDIATE: &str =
    "cipher-test remediate HOST:PORT  (print the Gloo Upstream sslConfig.parameters patch)";
const ENVOY_1_16: &str = "cipher-test HOST:PORT --envoy 1.16  (compare with the pre-1.17 client \
     defaults, which still offered the SHA-1 CBC and RSA key-exchange suites)";
const LISTS_REPLACE: &str = "Check the Upstream's sslConfig.parameters (and \
     Settings.spec.upstreamOptions.sslParameters, used when the Upstream has none): a cipherSuites \
     or ecdhCurves list replaces Envoy's default instead of adding to it, so keep the default \
     entries and append what the upstream needs";
const S_CLIENT: &str =
    "openssl s_client -connect HOST:PORT -servername SNI -showcerts </dev/null  \
     (see the certificate chain, issuer, SANs and validity dates the upstream presents)";
const CLIENT_CERT: &str =
    "Check the Upstream's client certificate: sslConfig.secretRef must name a \
     kubernetes.io/tls Secret (or Gloo tls secret) with tls.crt and tls.key, or sslFiles must set \
     tlsCert and tlsKey, and oneWayTls must not be true";

/// BoringSSL pushes HANDSHAKE_FAILURE_ON_CLIENT_HELLO after SSLV3_ALERT_HANDSHAKE_FAILURE only when
/// the alert answered the ClientHello (`ssl_run_handshake`, crbug.com/446505). Without it the alert
/// came later, after versions and suites were agreed. `explain` drops this step when both are present.
const LATE_HANDSHAKE_FAILURE: &str = "If Envoy's message does not also contain 268435610 \
     (HANDSHAKE_FAILURE_ON_CLIENT_HELLO), the alert came after the upstream had answered the \
     ClientHello, so suites and versions were agreed: check whether the upstream requires a client \
     certificate (mutual TLS) and whether the Upstream supplies one";
const CODE_HANDSHAKE_FAILURE: u32 = (LIB_SSL << 24) | 1040;
const CODE_ON_CLIENT_HELLO: u32 = (LIB_SSL << 24) | 154;

/// One SSL-library reason this module has specific notes for. The codes of `ciphers/SOURCES.md`
/// §2.5 come first; the rest are other reasons commonly seen on Envoy upstream connections.
struct SslReason {
    reason: u32,
    name: &'static str,
    meaning: &'static str,
    next_steps: &'static [&'static str],
}

/// Reason numbers from BoringSSL `include/openssl/ssl.h` (`SSL_R_*`).
static SSL_REASONS: &[SslReason] = &[
    SslReason {
        reason: 1040,
        name: "SSLV3_ALERT_HANDSHAKE_FAILURE",
        meaning: "The upstream ended the handshake with a handshake_failure alert: nothing Envoy \
            offered was acceptable to it, most often no shared cipher suite, sometimes no shared \
            curve or signature algorithm. Envoy 1.17 and later offers only TLS 1.2 with six \
            ECDHE+AEAD suites (AES-GCM, CHACHA20-POLY1305) and the curves X25519 and P-256, so \
            upstreams limited to RSA key exchange, CBC, DHE or P-384 fail this way.",
        next_steps: &[
            SCAN,
            ENVOY_1_16,
            REMEDIATE,
            LISTS_REPLACE,
            LATE_HANDSHAKE_FAILURE,
        ],
    },
    SslReason {
        reason: 154,
        name: "HANDSHAKE_FAILURE_ON_CLIENT_HELLO",
        meaning: "BoringSSL adds this right after SSLV3_ALERT_HANDSHAKE_FAILURE when the alert was \
            the upstream's direct reply to Envoy's ClientHello: the upstream rejected the offer \
            before choosing anything, so no cipher suite, curve or protocol version it accepts was \
            in Envoy's list. Besides ciphers, a known cause is an upstream that allows only P-384 or \
            P-521 for key exchange, while Envoy offers X25519 and P-256 by default \
            (envoyproxy/envoy#21053).",
        next_steps: &[
            SCAN,
            ENVOY_1_16,
            REMEDIATE,
            "If the upstream accepts Envoy's suites but only the curves P-384 or P-521, set \
             sslConfig.parameters.ecdhCurves to [X25519, P-256, P-384] in the Upstream; the list \
             replaces the default, so keep X25519 and P-256",
        ],
    },
    SslReason {
        reason: 1070,
        name: "TLSV1_ALERT_PROTOCOL_VERSION",
        meaning: "The upstream rejected the TLS version Envoy offered. An Envoy client offers only \
            TLS 1.2 by default (minimum and maximum), so either the upstream speaks only TLS 1.0 or \
            1.1, or it speaks only TLS 1.3, which Envoy never offers unless \
            maximumProtocolVersion is TLSv1_3.",
        next_steps: &[
            "cipher-test HOST:PORT  (its protocol results show which of TLS 1.0 to 1.3 the upstream accepts)",
            "TLS 1.3-only upstream: set sslConfig.parameters.maximumProtocolVersion: TLSv1_3 in the \
             Upstream (TLS 1.3 suites are fixed; cipherSuites does not affect them)",
            "TLS 1.0/1.1-only upstream: set minimumProtocolVersion: TLSv1_0 (or TLSv1_1) and also \
             list suites usable below TLS 1.2, such as ECDHE-RSA-AES128-SHA; Envoy's defaults \
             contain none (envoyproxy/envoy#22842)",
            REMEDIATE,
        ],
    },
    SslReason {
        reason: 1071,
        name: "TLSV1_ALERT_INSUFFICIENT_SECURITY",
        meaning: "The upstream refused because it requires stronger parameters than any Envoy \
            offered; TLS defines this alert as the specific form of handshake_failure for that \
            case. Envoy's defaults are already ECDHE+AEAD, so the upstream often insists on TLS \
            1.3 or on a larger curve such as P-384.",
        next_steps: &[
            SCAN,
            "If the upstream accepts TLS 1.3, set sslConfig.parameters.maximumProtocolVersion: \
             TLSv1_3 in the Upstream",
            "If it accepts only P-384 or P-521, set sslConfig.parameters.ecdhCurves to [X25519, \
             P-256, P-384] (add P-521 if needed)",
            REMEDIATE,
        ],
    },
    SslReason {
        reason: 247,
        name: "WRONG_VERSION_NUMBER",
        meaning: "What came back was not TLS: Envoy started a TLS handshake and the upstream \
            answered with something else, most often plain HTTP because the port is not a TLS \
            port. This is not a cipher problem.",
        next_steps: &[
            "curl -sv http://HOST:PORT/  (if this gets an HTTP response, the port is plaintext)",
            "cipher-test HOST:PORT  (check whether the port speaks TLS at all)",
            "Check the port in the Upstream (static.hosts[].port, or the Kubernetes Service port) \
             and point it at the upstream's TLS port",
            "If the upstream is plaintext on purpose, remove sslConfig from the Upstream; for a \
             static Upstream on port 443 also set static.useTls: false, because Gloo turns TLS on \
             automatically for port 443",
        ],
    },
    SslReason {
        reason: 240,
        name: "UNSUPPORTED_PROTOCOL",
        meaning: "The upstream answered with a TLS version outside Envoy's configured range and \
            Envoy aborted. With Envoy's default range of TLS 1.2 only, this means the upstream \
            chose TLS 1.0 or 1.1.",
        next_steps: &[
            "cipher-test HOST:PORT  (its protocol results show which versions the upstream accepts)",
            "Preferably enable TLS 1.2 on the upstream: TLS 1.0 and 1.1 are deprecated (RFC 8996)",
            "Otherwise set sslConfig.parameters.minimumProtocolVersion: TLSv1_0 (or TLSv1_1) in the \
             Upstream and list suites usable below TLS 1.2, e.g. ECDHE-RSA-AES128-SHA; Envoy's \
             defaults contain none",
            REMEDIATE,
        ],
    },
    SslReason {
        reason: 242,
        name: "WRONG_CIPHER_RETURNED",
        meaning: "The upstream chose a cipher suite Envoy did not offer, which a correct TLS server \
            never does, and Envoy aborted. It points at a server or middlebox that picks its own \
            favourite suite regardless of the ClientHello, often a CBC or RSA suite missing from \
            Envoy's 1.17+ defaults.",
        next_steps: &[
            SCAN,
            ENVOY_1_16,
            "cipher-test remediate HOST:PORT  (print the Gloo Upstream sslConfig.parameters patch \
             that adds the suites the upstream accepts)",
            "Tell the upstream's owner: a server must choose a suite from the client's list",
        ],
    },
    SslReason {
        reason: 229,
        name: "UNKNOWN_CIPHER_RETURNED",
        meaning: "The upstream chose a cipher suite that Envoy's TLS library (BoringSSL) does not \
            implement at all, such as a DHE, CAMELLIA or ARIA suite, so Envoy cannot continue. No \
            Envoy or Gloo setting adds such suites.",
        next_steps: &[
            "cipher-test HOST:PORT  (find whether the upstream also accepts any suite BoringSSL supports)",
            "If it accepts only suites BoringSSL lacks (DHE, CAMELLIA, ARIA, CCM, ECDHE-3DES, \
             SHA-384 CBC), Envoy cannot connect with TLS 1.2: enable TLS 1.3 on the upstream and set \
             maximumProtocolVersion: TLSv1_3 in the Upstream, or put a proxy in front of it",
            REMEDIATE,
        ],
    },
    SslReason {
        reason: 243,
        name: "WRONG_CURVE",
        meaning: "The upstream chose an elliptic curve (key-exchange group) Envoy did not offer. \
            Envoy offers only X25519 and P-256 by default, so this is usually an upstream that \
            insists on P-384 or P-521.",
        next_steps: &[
            "cipher-test HOST:PORT  (its curve results show which groups the upstream accepts)",
            "Set sslConfig.parameters.ecdhCurves to [X25519, P-256, P-384] in the Upstream (add \
             P-521 if needed); the list replaces Envoy's default, so keep X25519 and P-256",
            REMEDIATE,
        ],
    },
    SslReason {
        reason: 245,
        name: "WRONG_SIGNATURE_TYPE",
        meaning: "The upstream signed the handshake with a signature algorithm Envoy did not offer. \
            Envoy verifies with BoringSSL's defaults, which exclude ecdsa_secp521r1_sha512, \
            ed25519 and ecdsa_sha1, and Gloo's sslConfig cannot change that list.",
        next_steps: &[
            S_CLIENT,
            "Check the upstream's certificate key: an ECDSA P-521 or Ed25519 key forces a \
             signature Envoy rejects; RSA (2048 bits or more), ECDSA P-256 or P-384 work with \
             Envoy's defaults",
            "Gloo's SslParameters has no signature-algorithm field, so change the upstream's \
             certificate or TLS settings rather than the Upstream",
            SCAN,
        ],
    },
    SslReason {
        reason: 125,
        name: "CERTIFICATE_VERIFY_FAILED",
        meaning: "The TLS parameters were agreed, but Envoy rejected the upstream's certificate: it \
            is not issued by the CA in the Upstream's rootCa, has expired, or does not match \
            verifySubjectAltName. This is a certificate problem, not a cipher problem.",
        next_steps: &[
            S_CLIENT,
            "Check the Upstream's rootCa (ca.crt in the sslConfig.secretRef Secret, or \
             sslFiles.rootCa): it must contain the CA that issued the upstream's certificate, and \
             the upstream must send any intermediate certificates",
            "Check sslConfig.verifySubjectAltName and sslConfig.sni against the certificate's SANs; \
             for a static Upstream Gloo sets the SNI to each host's addr unless hosts[].sniAddr is \
             set or autoSniRewrite is false",
            "Check the certificate's validity dates and the clock of the Envoy pod",
        ],
    },
    SslReason {
        reason: 184,
        name: "NO_SHARED_CIPHER",
        meaning: "A TLS server raises this when it shares no cipher suite with its client. In an \
            Envoy log it means Envoy was the server (a listener receiving a downstream \
            connection), not the upstream client; in an upstream's own log it means Envoy's \
            ClientHello contained no suite that upstream accepts.",
        next_steps: &[
            "If Envoy's listener logged it, compare the downstream client's suites with the \
             listener's cipherSuites: Envoy 1.23 and later no longer accepts SHA-1 CBC or RSA \
             key-exchange suites on listeners by default",
            "If the upstream logged it: cipher-test HOST:PORT  (find which suites the upstream accepts)",
            REMEDIATE,
        ],
    },
    SslReason {
        reason: 175,
        name: "NO_CIPHERS_AVAILABLE",
        meaning: "Envoy could not build a ClientHello: none of its configured cipher suites can be \
            used within its protocol version range, e.g. only AES-GCM suites (TLS 1.2) with \
            maximumProtocolVersion TLSv1_1, or only PSK suites. The upstream was never contacted \
            successfully; the problem is in the configuration.",
        next_steps: &[
            "Check the Upstream's sslConfig.parameters: cipherSuites must contain suites usable \
             between minimumProtocolVersion and maximumProtocolVersion (AES-GCM and CHACHA20 need \
             TLS 1.2; Envoy never offers PSK suites)",
            "Check Settings.spec.upstreamOptions.sslParameters too: it applies when the Upstream \
             has no parameters of its own",
            SCAN,
            REMEDIATE,
        ],
    },
    SslReason {
        reason: 107,
        name: "BAD_ECC_CERT",
        meaning: "The upstream's certificate has an ECDSA key on a curve Envoy did not offer; in \
            TLS 1.2 the certificate's curve must be one of the client's groups. Typically a P-384 \
            certificate against Envoy's default curves X25519 and P-256.",
        next_steps: &[
            S_CLIENT,
            "Set sslConfig.parameters.ecdhCurves to [X25519, P-256, P-384] in the Upstream; the list \
             replaces Envoy's default, so keep X25519 and P-256",
            REMEDIATE,
        ],
    },
    SslReason {
        reason: 1116,
        name: "TLSV1_ALERT_CERTIFICATE_REQUIRED",
        meaning: "The upstream requires a client certificate (mutual TLS) and Envoy sent none.",
        next_steps: &[
            CLIENT_CERT,
            "Check that the Secret is in the namespace the Upstream names and that Gloo accepted \
             the Upstream (glooctl check, or the Upstream's status)",
        ],
    },
    SslReason {
        reason: 1042,
        name: "SSLV3_ALERT_BAD_CERTIFICATE",
        meaning: "The upstream rejected the client certificate Envoy presented (mutual TLS), or, \
            with some servers, complained that Envoy sent none.",
        next_steps: &[
            CLIENT_CERT,
            "Check that the client certificate is issued by a CA the upstream trusts, is not \
             expired, and has the clientAuth extended key usage if the upstream requires it",
        ],
    },
    SslReason {
        reason: 1048,
        name: "TLSV1_ALERT_UNKNOWN_CA",
        meaning: "The upstream does not trust the CA that issued the client certificate Envoy \
            presented (mutual TLS).",
        next_steps: &[
            "Check which CA the upstream trusts for client certificates and reissue the \
             certificate in the Upstream's sslConfig.secretRef from it, including intermediates \
             in tls.crt",
            CLIENT_CERT,
        ],
    },
    SslReason {
        reason: 1045,
        name: "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        meaning: "The upstream reports that the client certificate Envoy presented (mutual TLS) has \
            expired.",
        next_steps: &[
            "Renew the client certificate in the Upstream's sslConfig.secretRef Secret (tls.crt and \
             tls.key) or sslFiles",
            "openssl x509 -noout -dates -in tls.crt  (check the certificate's validity dates)",
        ],
    },
    SslReason {
        reason: 1112,
        name: "TLSV1_ALERT_UNRECOGNIZED_NAME",
        meaning: "The upstream does not serve the host name Envoy sent as SNI.",
        next_steps: &[
            "Set sslConfig.sni in the Upstream to the name the upstream serves; for a static \
             Upstream Gloo uses each host's addr unless hosts[].sniAddr is set or autoSniRewrite \
             is false",
            "cipher-test HOST:PORT  (check which SNI the upstream accepts)",
        ],
    },
    SslReason {
        reason: 1120,
        name: "TLSV1_ALERT_NO_APPLICATION_PROTOCOL",
        meaning: "The upstream supports none of the application protocols (ALPN) Envoy offered, \
            e.g. Envoy offered only h2 to an HTTP/1.1-only server.",
        next_steps: &[
            "Check sslConfig.alpnProtocols and useHttp2 in the Upstream against what the upstream \
             speaks",
        ],
    },
];

fn ssl_reason(reason: u32) -> Option<&'static SslReason> {
    SSL_REASONS.iter().find(|r| r.reason == reason)
}

/// One code found in the input, before it is explained.
struct Found {
    code: u32,
    name_in_text: Option<String>,
    detail: Option<String>,
}

/// Finds every error code in `input` and explains each, in order of appearance.
///
/// Accepts a bare code (`268436496`, or several separated by spaces), Envoy's old format
/// (`TLS error: <code>:<lib>:<func>:<reason>`, errors separated by spaces), the new format
/// (`TLS_error:|<code>:…:<reason>:TLS_error_end`, errors separated by `|`), and either inside a
/// 503 body, an access log line or a debug log line. A code that appears again with the same
/// detail (e.g. twice in one access-log line) is explained once.
pub fn explain(input: &str) -> Result<Vec<Explanation>, ExplainError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(ExplainError::Empty);
    }
    let mut found = match bare_codes(trimmed) {
        Some(codes) => codes?,
        None => error_strings(trimmed),
    };
    if found.is_empty() {
        return Err(ExplainError::NoCode {
            snippet: snippet(trimmed),
        });
    }
    dedup(&mut found);
    let on_client_hello = found.iter().any(|f| f.code == CODE_ON_CLIENT_HELLO);
    let mut explanations: Vec<Explanation> = found.into_iter().map(explain_one).collect();
    if on_client_hello {
        for e in explanations
            .iter_mut()
            .filter(|e| e.code == CODE_HANDSHAKE_FAILURE)
        {
            e.next_steps.retain(|s| s != LATE_HANDSHAKE_FAILURE);
        }
    }
    Ok(explanations)
}

/// The input as a list of bare numbers (`268436496`, `268436496 268435610`), or `None` if it has
/// any other text. Every number must then be a valid code.
fn bare_codes(input: &str) -> Option<Result<Vec<Found>, ExplainError>> {
    let tokens: Vec<&str> = input
        .split(|c: char| c.is_whitespace() || c == ',' || c == '|')
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() || !tokens.iter().all(|t| t.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    Some(
        tokens
            .iter()
            .map(|t| {
                parse_code(t)
                    .map(|code| Found {
                        code,
                        name_in_text: None,
                        detail: None,
                    })
                    .ok_or_else(|| ExplainError::NotACode { value: snippet(t) })
            })
            .collect(),
    )
}

/// A decimal string that is an error code: fits in 32 bits, library part 1..=64.
fn parse_code(digits: &str) -> Option<u32> {
    let code: u32 = digits.parse().ok()?;
    (1..=MAX_LIBRARY).contains(&(code >> 24)).then_some(code)
}

/// Every `<code>:<lib>:<func>:<reason>[:<detail>]` in free text, in order.
fn error_strings(input: &str) -> Vec<Found> {
    let bytes = input.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        // A digit run glued to a word or a decimal point (`x509:`, `12.5:`) is not a code.
        let glued = start > 0 && {
            let before = bytes[start - 1];
            before.is_ascii_alphanumeric() || before == b'_' || before == b'.'
        };
        if glued || bytes.get(i) != Some(&b':') {
            continue;
        }
        // Slicing at ASCII digit and colon positions is always on a char boundary.
        let Some(code) = parse_code(&input[start..i]) else {
            continue;
        };
        let (name_in_text, detail) = parse_fields(&input[i + 1..]);
        found.push(Found {
            code,
            name_in_text,
            detail,
        });
    }
    found
}

/// Reads `<lib>:<func>:<REASON>[:<detail>]` after a code's colon (Envoy `SslSocket::drainErrorQueue`
/// writes `err:lib:func:reason`, and newer Envoy appends the certificate-validation detail).
/// Returns the reason name and the detail, when the text has that shape.
fn parse_fields(rest: &str) -> (Option<String>, Option<String>) {
    let field = |s: &str| -> Option<usize> {
        let end = s.find(':')?;
        let text = &s[..end];
        let plausible = text.len() <= 64 && !text.contains(['|', '\n', '\r']);
        plausible.then_some(end)
    };
    let Some(lib_end) = field(rest) else {
        return (None, None);
    };
    let after_lib = &rest[lib_end + 1..];
    let Some(func_end) = field(after_lib) else {
        return (None, None);
    };
    let after_func = &after_lib[func_end + 1..];
    let name_len = after_func
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if name_len == 0 {
        return (None, None);
    }
    let name = &after_func[..name_len];
    let detail = after_func[name_len..]
        .strip_prefix(':')
        .and_then(parse_detail);
    (Some(name.to_string()), detail)
}

/// The detail after the reason, up to the end marker or the next error.
fn parse_detail(rest: &str) -> Option<String> {
    let end = ["TLS_error_end", "|", "\n", "\r", "\"", "}"]
        .iter()
        .filter_map(|stop| rest.find(stop))
        .min()
        .unwrap_or(rest.len());
    let detail = rest[..end].trim().trim_end_matches(':').trim();
    if detail.is_empty() {
        return None;
    }
    Some(truncate(detail, 200))
}

/// Drops repeats of the same code and detail, keeping the first position and any name seen later.
fn dedup(found: &mut Vec<Found>) {
    let mut kept: Vec<Found> = Vec::with_capacity(found.len());
    for f in found.drain(..) {
        match kept
            .iter_mut()
            .find(|k| k.code == f.code && k.detail == f.detail)
        {
            Some(k) => {
                if k.name_in_text.is_none() {
                    k.name_in_text = f.name_in_text;
                }
            }
            None => kept.push(f),
        }
    }
    *found = kept;
}

fn explain_one(found: Found) -> Explanation {
    let code = found.code;
    let library = code >> 24;
    let reason = code & 0xFFF;
    let known = (library == LIB_SSL).then(|| ssl_reason(reason)).flatten();
    let name = match (known, &found.name_in_text) {
        (Some(k), _) => k.name.to_string(),
        (None, Some(text)) => text.clone(),
        (None, None) => "unknown".to_string(),
    };
    let (mut meaning, next_steps) = match known {
        Some(k) => (
            k.meaning.to_string(),
            k.next_steps.iter().map(|s| s.to_string()).collect(),
        ),
        None => generic(library, reason, &name),
    };
    if let Some(detail) = &found.detail {
        if let Some(note) = detail_note(detail) {
            meaning.push(' ');
            meaning.push_str(note);
        }
    }
    Explanation {
        code,
        library,
        reason,
        name,
        meaning,
        next_steps,
        detail: found.detail,
    }
}

/// What Envoy's certificate-validation detail adds (strings from Envoy's `DefaultCertValidator`
/// and X509 verify errors).
fn detail_note(detail: &str) -> Option<&'static str> {
    let d = detail.to_ascii_lowercase();
    let note = if d.contains("san list") || d.contains("san matcher") {
        "In this case the certificate's subject alternative names match none of the names Envoy \
         checks: the Upstream's verifySubjectAltName, or the SNI / Host name when Envoy's automatic \
         SAN validation is on."
    } else if d.contains("expired") {
        "In this case the upstream's certificate, or one in its chain, has expired."
    } else if d.contains("not yet valid") {
        "In this case the certificate is not valid yet: check the clocks on both sides."
    } else if d.contains("self signed") || d.contains("self-signed") {
        "In this case the chain ends in a self-signed certificate that is not in the Upstream's \
         rootCa."
    } else if d.contains("issuer certificate") {
        "In this case the chain does not lead to the Upstream's rootCa: the CA is wrong, or the \
         upstream does not send its intermediate certificate."
    } else if d.contains("empty cert chain") {
        "In this case the upstream sent no certificate at all."
    } else if d.contains("hash") || d.contains("spki") {
        "In this case the certificate does not match the pinned certificate hash or SPKI."
    } else {
        return None;
    };
    Some(note)
}

/// An honest explanation for codes without specific notes.
fn generic(library: u32, reason: u32, name: &str) -> (String, Vec<String>) {
    let lib = library_name(library);
    let what = if name == "unknown" {
        format!("reason {reason}")
    } else {
        format!("{name}, reason {reason}")
    };
    let inspect = "openssl s_client -connect HOST:PORT -servername SNI </dev/null  (see how the \
        upstream answers a plain TLS handshake)";
    let stats = "Check Envoy's TLS stats for the cluster (cluster.<name>.ssl.connection_error, \
        ssl.fail_verify_error, ssl.fail_verify_san) on the admin endpoint /stats";
    let steps = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match library {
        LIB_SSL if (1000..1256).contains(&reason) => (
            format!(
                "The upstream sent TLS alert {} ({what}) and ended the handshake; this tool has \
                 no specific notes for this alert. Envoy was the TLS client, so the alert says \
                 what the upstream disliked about Envoy's side of the handshake.",
                reason - 1000
            ),
            steps(&[SCAN, inspect, stats]),
        ),
        LIB_SSL => (
            format!(
                "Envoy's TLS library (BoringSSL) stopped the handshake with an SSL error ({what}) \
                 that this tool has no specific notes for. Envoy was the TLS client; the name \
                 says which step of the handshake failed."
            ),
            steps(&[SCAN, inspect, stats]),
        ),
        11 | 20 | 9 | 12 => (
            format!(
                "An error from the {lib} library ({what}): a certificate or key could not be \
                 parsed or checked, either the upstream's certificate or one configured in the \
                 Upstream's secret. This is a certificate problem, not a cipher problem."
            ),
            steps(&[
                S_CLIENT,
                "Check the PEM content of the Upstream's secret (tls.crt, tls.key, ca.crt) or \
                 sslFiles: each must be a valid certificate or key",
                stats,
            ]),
        ),
        2 | 17 => (
            format!(
                "An I/O error from the {lib} library ({what}): the connection failed or was \
                 closed while the handshake was in progress, before any TLS decision was made."
            ),
            steps(&[
                "Check the network path and the upstream's own logs for the connection",
                SCAN,
            ]),
        ),
        _ => (
            format!(
                "An error from BoringSSL's {lib} library ({what}), not from the TLS protocol \
                 itself: a cryptographic operation failed, usually while using a key or checking \
                 a signature. An unusual key type or size in a certificate is the common cause."
            ),
            steps(&[S_CLIENT, SCAN, stats]),
        ),
    }
}

/// Human-readable text (what the `explain` subcommand prints): for each code a heading line with
/// code and name, the meaning, and numbered next steps.
pub fn render_text(explanations: &[Explanation]) -> String {
    const WIDTH: usize = 100;
    let mut out = String::new();
    for (i, e) in explanations.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{} {}  ({} library {}, reason {})",
            e.code,
            e.name,
            library_name(e.library),
            e.library,
            e.reason
        );
        wrap_into(&mut out, &e.meaning, "  ", "  ", WIDTH);
        if let Some(detail) = &e.detail {
            wrap_into(
                &mut out,
                &format!("Envoy's detail: {detail}"),
                "  ",
                "  ",
                WIDTH,
            );
        }
        if !e.next_steps.is_empty() {
            out.push_str("  Next steps:\n");
            for (n, step) in e.next_steps.iter().enumerate() {
                let first = format!("    {}. ", n + 1);
                let rest = " ".repeat(first.len());
                wrap_into(&mut out, step, &first, &rest, WIDTH);
            }
        }
    }
    out
}

/// Appends `text` word-wrapped to `width`, each line ending in a newline. Splits on single spaces so
/// the double space between a command and its note survives unless a line breaks there.
fn wrap_into(out: &mut String, text: &str, first: &str, rest: &str, width: usize) {
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split(' ') {
        if empty && word.is_empty() {
            continue;
        }
        let needed = if empty { word.len() } else { word.len() + 1 };
        if !empty && !word.is_empty() && line.len() + needed > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// One line of at most 80 characters, for error messages.
fn snippet(input: &str) -> String {
    let one_line: String = input
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    truncate(one_line.trim(), 80)
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars).collect();
    cut.push('…');
    cut
}

/// `cipher-test explain`.
pub fn run(text: &str, format: crate::render::Format) -> Result<super::Status, super::CmdError> {
    let found = explain(text).map_err(|e| super::CmdError(e.to_string()))?;
    match format {
        crate::render::Format::Table => crate::output::print(&render_text(&found)),
        crate::render::Format::Json => crate::output::print_json(&found),
    }
    .map_err(super::stdout_error)?;
    Ok(super::Status::Ok)
}
