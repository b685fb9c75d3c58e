//! `explain`: Envoy's TLS failure strings decode to the right codes, names and next steps.

use crate::common;

use common::Rng;

use cipher_test::cmd::explain::{explain, render_text, ExplainError, Explanation};

/// The error codes of `ciphers/SOURCES.md` §2.5: code, BoringSSL reason name, reason number.
const FACTS_TABLE: &[(u32, &str, u32)] = &[
    (268436496, "SSLV3_ALERT_HANDSHAKE_FAILURE", 1040),
    (268435610, "HANDSHAKE_FAILURE_ON_CLIENT_HELLO", 154),
    (268436526, "TLSV1_ALERT_PROTOCOL_VERSION", 1070),
    (268436527, "TLSV1_ALERT_INSUFFICIENT_SECURITY", 1071),
    (268435703, "WRONG_VERSION_NUMBER", 247),
    (268435696, "UNSUPPORTED_PROTOCOL", 240),
    (268435698, "WRONG_CIPHER_RETURNED", 242),
    (268435685, "UNKNOWN_CIPHER_RETURNED", 229),
    (268435699, "WRONG_CURVE", 243),
    (268435701, "WRONG_SIGNATURE_TYPE", 245),
    (268435581, "CERTIFICATE_VERIFY_FAILED", 125),
    (268435640, "NO_SHARED_CIPHER", 184),
    (268435631, "NO_CIPHERS_AVAILABLE", 175),
];

/// Other SSL reasons the module has specific notes for (reason numbers from BoringSSL ssl.h).
const EXTRA_TABLE: &[(&str, u32)] = &[
    ("BAD_ECC_CERT", 107),
    ("TLSV1_ALERT_CERTIFICATE_REQUIRED", 1116),
    ("SSLV3_ALERT_BAD_CERTIFICATE", 1042),
    ("TLSV1_ALERT_UNKNOWN_CA", 1048),
    ("SSLV3_ALERT_CERTIFICATE_EXPIRED", 1045),
    ("TLSV1_ALERT_UNRECOGNIZED_NAME", 1112),
    ("TLSV1_ALERT_NO_APPLICATION_PROTOCOL", 1120),
];

const OLD_ONE: &str =
    "TLS error: 268436496:SSL routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE";
const NEW_ONE: &str =
    "TLS_error:|268436496:SSL routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE:TLS_error_end";
const OLD_TWO: &str = "TLS error: 268436496:SSL routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE 268435610:SSL routines:OPENSSL_internal:HANDSHAKE_FAILURE_ON_CLIENT_HELLO";
const NEW_TWO: &str = "TLS_error:|268436496:SSL routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE|268435610:SSL routines:OPENSSL_internal:HANDSHAKE_FAILURE_ON_CLIENT_HELLO:TLS_error_end";
const BODY_503: &str = "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS error: 268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED";

fn only(input: &str) -> Explanation {
    let mut all = explain(input).unwrap_or_else(|e| panic!("{input:?} should explain: {e}"));
    assert_eq!(
        all.len(),
        1,
        "{input:?} should give one explanation: {all:?}"
    );
    all.remove(0)
}

fn codes(input: &str) -> Vec<u32> {
    explain(input)
        .unwrap_or_else(|e| panic!("{input:?} should explain: {e}"))
        .iter()
        .map(|e| e.code)
        .collect()
}

#[test]
fn every_facts_table_code_has_a_name_reason_meaning_and_next_steps() {
    for &(code, name, reason) in FACTS_TABLE {
        assert_eq!(code, (16 << 24) + reason, "table arithmetic for {name}");
        let e = only(&code.to_string());
        assert_eq!((e.code, e.library, e.reason), (code, 16, reason), "{name}");
        assert_eq!(e.name, name);
        assert!(!e.meaning.is_empty(), "{name} has a meaning");
        assert!(
            !e.meaning.contains("no specific notes"),
            "{name}: {}",
            e.meaning
        );
        assert!(!e.next_steps.is_empty(), "{name} has next steps");
        assert!(e.next_steps.iter().all(|s| !s.trim().is_empty()));
    }
}

#[test]
fn extra_ssl_reasons_are_specific_too() {
    for &(name, reason) in EXTRA_TABLE {
        let e = only(&((16u32 << 24) + reason).to_string());
        assert_eq!((e.name.as_str(), e.reason), (name, reason));
        assert!(!e.meaning.contains("no specific notes"), "{name}");
        assert!(!e.next_steps.is_empty(), "{name}");
    }
}

#[test]
fn meanings_point_at_the_right_cause() {
    let e = only("268436496");
    assert!(e.meaning.contains("X25519") && e.meaning.contains("P-256"));
    assert!(e
        .next_steps
        .iter()
        .any(|s| s.starts_with("cipher-test HOST:PORT  (")));
    assert!(e
        .next_steps
        .iter()
        .any(|s| s.starts_with("cipher-test remediate HOST:PORT")));
    assert!(e
        .next_steps
        .iter()
        .any(|s| s.starts_with("cipher-test HOST:PORT --envoy 1.16")));
    assert!(e.next_steps.iter().any(|s| s.contains("replaces")));

    let e = only("268436526");
    assert!(e.meaning.contains("TLS 1.3") && e.meaning.contains("1.0"));
    assert!(e
        .next_steps
        .iter()
        .any(|s| s.contains("maximumProtocolVersion: TLSv1_3")));
    assert!(e
        .next_steps
        .iter()
        .any(|s| s.contains("minimumProtocolVersion")));

    let e = only("268435703");
    assert!(e.meaning.contains("plain HTTP") && e.meaning.contains("not a cipher problem"));
    assert!(e.next_steps.iter().any(|s| s.contains("useTls")));

    let e = only("268435581");
    assert!(e.meaning.contains("not a cipher problem"));
    assert!(e.next_steps.iter().any(|s| s.contains("rootCa")));
    assert!(e
        .next_steps
        .iter()
        .any(|s| s.contains("verifySubjectAltName")));

    let e = only("268435699");
    assert!(e.next_steps.iter().any(|s| s.contains("ecdhCurves")));
}

#[test]
fn bare_code_with_whitespace() {
    let e = only("  \n268436496\n\t ");
    assert_eq!(e.name, "SSLV3_ALERT_HANDSHAKE_FAILURE");
    assert_eq!(e.detail, None);
}

#[test]
fn several_bare_codes() {
    assert_eq!(codes("268436496 268435610"), vec![268436496, 268435610]);
}

#[test]
fn old_format() {
    let e = only(OLD_ONE);
    assert_eq!((e.code, e.reason), (268436496, 1040));
    assert_eq!(e.name, "SSLV3_ALERT_HANDSHAKE_FAILURE");
}

#[test]
fn new_format() {
    let e = only(NEW_ONE);
    assert_eq!((e.code, e.reason), (268436496, 1040));
    assert_eq!(e.detail, None, "TLS_error_end is not a detail");
}

#[test]
fn two_errors_in_order_old_and_new_format() {
    for input in [OLD_TWO, NEW_TWO] {
        let all = explain(input).unwrap();
        let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "SSLV3_ALERT_HANDSHAKE_FAILURE",
                "HANDSHAKE_FAILURE_ON_CLIENT_HELLO"
            ],
            "{input}"
        );
        assert!(all.iter().all(|e| e.detail.is_none()), "{all:?}");
    }
}

#[test]
fn client_certificate_hint_only_when_the_alert_came_after_the_client_hello() {
    let mentions_late = |e: &Explanation| e.next_steps.iter().any(|s| s.contains("268435610"));
    assert!(
        mentions_late(&only(NEW_ONE)),
        "alone: the alert may have come later"
    );
    for input in [OLD_TWO, NEW_TWO] {
        let all = explain(input).unwrap();
        assert!(
            !mentions_late(&all[0]),
            "{input}: the pair means it answered the ClientHello"
        );
        assert!(all[0].next_steps.len() >= 3);
    }
}

#[test]
fn whole_503_body() {
    let e = only(BODY_503);
    assert_eq!((e.code, e.library, e.reason), (268435581, 16, 125));
    assert_eq!(e.name, "CERTIFICATE_VERIFY_FAILED");
}

#[test]
fn log_line_prefix_and_surrounding_whitespace() {
    let line = format!(
        "\n  [2024-06-01 10:11:12.345][17][debug][connection] [source/common/tls/ssl_socket.cc:250] \
         [C42] remote address:10.0.0.5:8443,{NEW_TWO}\n\n"
    );
    assert_eq!(codes(&line), vec![268436496, 268435610]);
}

#[test]
fn access_log_line_with_the_reason_twice_is_explained_once() {
    // %RESPONSE_FLAGS% details and %UPSTREAM_TRANSPORT_FAILURE_REASON% both carry the reason, and
    // access logs replace spaces with underscores.
    let line = "[2026-10-08T22:54:14.312Z] \"GET /get HTTP/1.1\" 503 URX,UF \
        upstream_reset_before_response_started{remote_connection_failure|TLS_error:|268435703:SSL_routines:OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end} \
        - \"TLS_error:|268435703:SSL_routines:OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end\" 0 121 798 \"32.194.118.12:80\"";
    let e = only(line);
    assert_eq!(e.name, "WRONG_VERSION_NUMBER");
}

#[test]
fn certificate_detail_is_kept_and_interpreted() {
    let body = "upstream connect error or disconnect/reset before headers. reset reason: remote \
        connection failure, transport failure reason: TLS_error:|268435581:SSL \
        routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: verify SAN list:TLS_error_end";
    let e = only(body);
    assert_eq!(
        e.detail.as_deref(),
        Some("verify cert failed: verify SAN list")
    );
    assert!(e.meaning.contains("verifySubjectAltName"), "{}", e.meaning);

    let expired = "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: X509_verify_cert: certificate verification error at depth 0: certificate has expired:TLS_error_end";
    let e = only(expired);
    assert!(e
        .detail
        .as_deref()
        .unwrap()
        .ends_with("certificate has expired"));
    assert!(e.meaning.contains("expired"));
}

#[test]
fn unknown_ssl_reason_decodes_arithmetically_with_the_name_from_the_text() {
    let e = only("TLS_error:|268435470:SSL routines:OPENSSL_internal:SOMETHING_NEW:TLS_error_end");
    assert_eq!((e.library, e.reason), (16, 14));
    assert_eq!(e.name, "SOMETHING_NEW");
    assert!(e.meaning.contains("no specific notes"));
    assert!(!e.next_steps.is_empty());

    let e = only(&((16u32 << 24) + 999).to_string());
    assert_eq!((e.library, e.reason, e.name.as_str()), (16, 999, "unknown"));

    // An alert reason (1000 + alert number) says which alert the upstream sent.
    let e = only(&((16u32 << 24) + 1080).to_string());
    assert!(e.meaning.contains("alert 80"), "{}", e.meaning);
}

#[test]
fn other_libraries_get_an_honest_generic_explanation() {
    let x509 = (11u32 << 24) + 100;
    let e = only(&format!(
        "TLS error: {x509}:X.509 certificate routines:OPENSSL_internal:SOME_X509_PROBLEM"
    ));
    assert_eq!((e.library, e.reason), (11, 100));
    assert_eq!(e.name, "SOME_X509_PROBLEM");
    assert!(e.meaning.contains("X509") && e.meaning.contains("certificate"));
    assert!(!e.next_steps.is_empty());

    let evp = (6u32 << 24) + 42;
    let e = only(&evp.to_string());
    assert_eq!((e.library, e.reason, e.name.as_str()), (6, 42, "unknown"));
    assert!(e.meaning.contains("EVP"));
    assert!(!e.next_steps.is_empty());
}

#[test]
fn garbage_is_an_error_with_a_clear_message() {
    for input in [
        "hello",
        "port 8443 failed",
        "connect to 10.0.0.5:8443 timed out",
    ] {
        let err = explain(input).unwrap_err();
        assert!(
            matches!(err, ExplainError::NoCode { .. }),
            "{input}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(input), "{msg}");
        assert!(
            msg.contains("268436496") && msg.contains("bare code"),
            "{msg}"
        );
    }
    for input in ["", "   \n\t"] {
        let err = explain(input).unwrap_err();
        assert_eq!(err, ExplainError::Empty);
        assert!(err.to_string().contains("268436496"));
    }
}

#[test]
fn numbers_that_are_not_codes_are_rejected() {
    // A bare number must be a code: 8443 has library 0, the others overflow 32 bits or library 64.
    for input in [
        "8443",
        "0",
        "99999999999",
        "4294967295",
        "123456789012345678901234567890",
    ] {
        let err = explain(input).unwrap_err();
        assert!(
            matches!(err, ExplainError::NotACode { .. }),
            "{input}: {err:?}"
        );
        assert!(err.to_string().contains("code >> 24"), "{err}");
    }
    // Numbers followed by ':' that are not codes (times, ports, line numbers) are skipped.
    assert!(explain("at 10:11:12 port 8443: 1700000000: done").is_err());
    // A digit run glued to a word is not a code.
    assert!(explain("x268436496:SSL routines:OPENSSL_internal:X").is_err());
    // A number in running text without ':' is not a code, even if it would decode.
    assert!(explain("retry 268436496 times").is_err());
}

#[test]
fn render_text_shows_heading_meaning_and_numbered_steps() {
    let all = explain(NEW_TWO).unwrap();
    let text = render_text(&all);
    assert!(text
        .starts_with("268436496 SSLV3_ALERT_HANDSHAKE_FAILURE  (SSL library 16, reason 1040)\n"));
    assert!(text
        .contains("\n268435610 HANDSHAKE_FAILURE_ON_CLIENT_HELLO  (SSL library 16, reason 154)\n"));
    assert!(text.contains("  Next steps:\n    1. cipher-test HOST:PORT  (find which suites"));
    assert!(text.contains("\n    2. "));
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    assert!(text.ends_with('\n'));
    // The meaning is there, word-wrapped but complete.
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let meaning = all[0]
        .meaning
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(flat.contains(&meaning));

    let with_detail = render_text(&explain("TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: verify SAN list:TLS_error_end").unwrap());
    assert!(with_detail.contains("Envoy's detail: verify cert failed: verify SAN list"));
    assert_eq!(render_text(&[]), "");
}

#[test]
fn explanations_serialize_to_json() {
    let json = serde_json::to_value(explain(OLD_ONE).unwrap()).unwrap();
    assert_eq!(json[0]["code"], 268436496);
    assert_eq!(json[0]["library"], 16);
    assert_eq!(json[0]["reason"], 1040);
    assert_eq!(json[0]["name"], "SSLV3_ALERT_HANDSHAKE_FAILURE");
    assert!(json[0]["next_steps"].as_array().unwrap().len() >= 3);
    assert!(json[0].get("detail").is_none(), "absent detail is omitted");
}

#[test]
fn no_panic_on_arbitrary_strings() {
    let pieces = [
        "268436496",
        "268435581",
        "4294967295",
        "16777216",
        "1",
        "0",
        "99999999999999999999",
        ":",
        "|",
        " ",
        "\n",
        "TLS error: ",
        "TLS_error:|",
        ":TLS_error_end",
        "SSL routines",
        "OPENSSL_internal",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "é",
        "日本",
        "🦀",
        "\u{0}",
        "x",
        "_",
        ".",
        "\"",
        "}",
        "verify cert failed: ",
        "TLS_error_end",
    ];
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3000 {
        let len = (rng.next() % 12) as usize;
        let input: String = (0..len).map(|_| rng.pick(&pieces)).collect();
        match explain(&input) {
            Ok(all) => {
                assert!(!all.is_empty());
                for e in &all {
                    assert_eq!(e.library, e.code >> 24);
                    assert_eq!(e.reason, e.code & 0xFFF);
                    assert!((1..=64).contains(&e.library));
                    assert!(!e.name.is_empty() && !e.next_steps.is_empty());
                }
                let _ = render_text(&all);
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    // Random bytes turned into (lossy) UTF-8.
    for _ in 0..1000 {
        let len = (rng.next() % 64) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = explain(&String::from_utf8_lossy(&bytes));
    }
}
