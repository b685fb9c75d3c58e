//! Property tests for every parser that reads user or network input: target strings, Envoy cipher
//! strings, the ServerHello parser and probe classification, Upstream and Secret YAML, PEM, and
//! Envoy error strings. Each must answer every input with a value or an error: never a panic, and
//! never a `rejected` verdict without a TLS refusal in the bytes. Failing cases that proptest finds
//! are kept in `tests/properties.proptest-regressions` and replayed first on every run.

use std::time::Duration;

use cipher_test::envoy::parse_cipher_string;
use cipher_test::probe::{classify, Offer, ProbeOutcome, Termination};
use cipher_test::target::parse_host_port;
use cipher_test::tls::catalog::catalog;
use cipher_test::tls::protocol::Protocol;
use cipher_test::tls::server_hello::{parse_server_reply, ServerReply};
use proptest::prelude::*;

fn server_hello_record(version: u16, cipher: u16, sid: &[u8], exts: &[u8]) -> Vec<u8> {
    cipher_test::tls::server_hello::ServerHello {
        version,
        cipher,
        hello_retry: false,
        group: None,
    }
    .to_record(sid, exts)
}

fn network_end() -> impl Strategy<Value = Termination> {
    (0u8..5).prop_map(|i| match i {
        0 => Termination::TimedOut(Duration::from_secs(1)),
        1 => Termination::Io(std::io::ErrorKind::ConnectionReset.into()),
        2 => Termination::Io(std::io::ErrorKind::UnexpectedEof.into()),
        3 => Termination::Tls("unexpected eof".into()),
        _ => Termination::Answered,
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
            "tests/it/properties.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn target_strings_never_panic(s in "\\PC{0,80}") {
        let _ = parse_host_port(&s);
    }

    #[test]
    fn valid_targets_round_trip(host in "[a-z][a-z0-9-]{0,20}(\\.[a-z][a-z0-9-]{0,20}){0,3}", port in 1u16..) {
        let hp = parse_host_port(&format!("{host}:{port}")).unwrap();
        prop_assert_eq!(&hp.host, &host);
        prop_assert_eq!(hp.port, port);
        prop_assert_eq!(parse_host_port(&hp.display()).unwrap(), hp);
    }

    #[test]
    fn cipher_strings_never_panic(s in "[\\[\\]|:A-Z0-9_!+@ ,-]{0,120}") {
        let _ = parse_cipher_string(&s);
    }

    #[test]
    fn parsed_cipher_strings_render_back_to_the_same_list(
        picks in prop::collection::vec((0usize..14, 0usize..14, any::<bool>()), 1..6)
    ) {
        let names = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305",
            "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA",
            "AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA", "AES256-SHA"];
        let text: Vec<String> = picks.iter().map(|(a, b, group)| {
            if *group { format!("[{}|{}]", names[*a], names[*b]) } else { names[*a].to_string() }
        }).collect();
        let text = text.join(":");
        let entries = parse_cipher_string(&text).unwrap();
        let back: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        prop_assert_eq!(back.join(":"), text);
    }

    #[test]
    fn the_server_hello_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_server_reply(&bytes);
    }

    #[test]
    fn tls_looking_garbage_never_panics(len in 0usize..300, seed in any::<u64>(), content in 20u8..24) {
        let mut bytes = cipher_test::util::Xorshift::new(seed | 1).bytes(len);
        if len > 2 { bytes[0] = content; bytes[1] = 3; }
        let _ = parse_server_reply(&bytes);
    }

    #[test]
    fn valid_server_hellos_parse_and_their_truncations_do_not(
        tls13 in any::<bool>(),
        cipher in any::<u16>(),
        sid in prop::collection::vec(any::<u8>(), 0..33),
        cut in any::<prop::sample::Index>(),
    ) {
        let version = if tls13 { 0x0304 } else { 0x0303 };
        let rec = server_hello_record(version, cipher, &sid, &[]);
        match parse_server_reply(&rec) {
            ServerReply::Hello(h) => {
                prop_assert_eq!(h.cipher, cipher);
                prop_assert_eq!(h.version, version);
            }
            other => prop_assert!(false, "{other:?}"),
        }
        let n = cut.index(rec.len());
        prop_assert!(!matches!(parse_server_reply(&rec[..n]), ServerReply::Hello(_)));
    }

    #[test]
    fn network_errors_are_never_rejections(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        end in network_end(),
    ) {
        // Whatever arrived, unless it holds a TLS alert or a ServerHello, the probe is inconclusive.
        let offer = Offer { min: Protocol::Tls12, max: Protocol::Tls12, suites: vec![0xC02F] };
        let reply = parse_server_reply(&bytes);
        let outcome = classify(&offer, &bytes, end);
        if let ProbeOutcome::Rejected(_) = outcome {
            prop_assert!(matches!(reply, ServerReply::Alert(_) | ServerReply::Hello(_)), "{reply:?}");
        }
    }

    #[test]
    fn upstream_and_secret_yaml_never_panic(s in "[a-zA-Z0-9:{}\\[\\],&*!|>\\-#'\" \\n]{0,300}") {
        let _ = cipher_test::gloo::read_upstreams(&s);
        let _ = cipher_test::cmd::secret::from_manifest(&s, "prop.yaml");
    }

    #[test]
    fn pem_never_panics(s in "(-----(BEGIN|END) [A-Z ]{0,20}-----|[A-Za-z0-9+/=\\n]{0,80}){0,6}") {
        let _ = cipher_test::cert::pem_blocks(s.as_bytes());
    }

    #[test]
    fn envoy_error_strings_never_panic(s in "(TLS_error:\\|?|TLS error: )?[0-9:|A-Z_a-z ]{0,120}") {
        let _ = cipher_test::cmd::explain::explain(&s);
    }
}

#[test]
fn a_yaml_alias_bomb_is_refused_quickly() {
    let mut doc = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut prev = 'a';
    for name in ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'] {
        doc.push_str(&format!("{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        prev = name;
    }
    let t = std::time::Instant::now();
    assert!(
        cipher_test::gloo::read_upstreams(&doc).is_err() || t.elapsed() < Duration::from_secs(2)
    );
    assert!(cipher_test::cmd::secret::from_manifest(&doc, "bomb.yaml").is_err());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn every_catalogue_suite_can_be_offered_by_the_raw_engine() {
    // Every code point fits a ClientHello of every version it applies to.
    for s in catalog().suites() {
        for p in Protocol::ALL.into_iter().filter(|p| s.applies_to(*p)) {
            let spec = cipher_test::tls::client_hello::HelloSpec::new(p, vec![s.code.0]);
            assert!(
                cipher_test::tls::client_hello::client_hello(&spec).is_ok(),
                "{} at {p}",
                s.openssl_name
            );
        }
    }
}

/// Inputs the property tests found that once broke a parser, replayed on every run.
#[test]
fn found_crashes_stay_fixed() {
    // parse_host_port sliced inside a multi-byte character while looking for a URL scheme.
    for input in ["+{𐠈𑙬÷`𐰙ý]%𝒻Q.j", "{𐠈𑙬÷", "𐠈𑙬÷"] {
        assert!(parse_host_port(input).is_err(), "{input}");
    }
}
