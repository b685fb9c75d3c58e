//! The catalogue agrees with the local OpenSSL and with the Envoy/BoringSSL sources (`ciphers/SOURCES.md`).

use std::process::Command;

use cipher_test::tls::catalog::{catalog, BoringSsl, SuiteCode};
use cipher_test::tls::protocol::Protocol;

const ALL_TLS13: &str = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256";

/// One line of `openssl ciphers -V -stdname`: code, IANA name, OpenSSL name, version, Kx, Au, Enc, Mac.
struct Listed {
    code: u16,
    iana: String,
    name: String,
    version: String,
    enc: String,
    mac: String,
}

fn openssl_listing(extra: &[&str]) -> Vec<Listed> {
    let mut args = vec!["ciphers", "-V", "-stdname", "-ciphersuites", ALL_TLS13];
    args.extend_from_slice(extra);
    args.push("ALL:COMPLEMENTOFALL");
    let out = Command::new("openssl")
        .args(&args)
        .output()
        .expect("the openssl command must be installed for this test");
    assert!(
        out.status.success(),
        "openssl ciphers failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            // 0xC0,0x2C - TLS_ECDHE_... - ECDHE-ECDSA-AES256-GCM-SHA384 TLSv1.2 Kx=ECDH Au=ECDSA Enc=AESGCM(256) Mac=AEAD
            let f: Vec<&str> = line.split_whitespace().collect();
            let field = |key: &str| {
                f.iter()
                    .find_map(|x| x.strip_prefix(key))
                    .unwrap_or_else(|| panic!("no {key} in {line}"))
                    .to_string()
            };
            Listed {
                code: f[0].parse::<SuiteCode>().unwrap().0,
                iana: f[2].to_string(),
                name: f[4].to_string(),
                version: f[5].to_string(),
                enc: field("Enc="),
                mac: field("Mac="),
            }
        })
        .collect()
}

#[test]
fn every_suite_the_local_openssl_knows_is_in_the_catalogue_with_the_same_names() {
    let mut listed = openssl_listing(&[]);
    // SEED needs the legacy provider; include it when this OpenSSL has one.
    let with_legacy = Command::new("openssl")
        .args([
            "ciphers",
            "-provider",
            "legacy",
            "-provider",
            "default",
            "SEED",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if with_legacy {
        listed = openssl_listing(&["-provider", "legacy", "-provider", "default"]);
    }
    assert!(listed.len() >= 160, "only {} suites listed", listed.len());
    for l in &listed {
        let s = catalog().by_code(l.code).unwrap_or_else(|| {
            panic!(
                "{} (0x{:04X}) is missing from ciphers/suites.csv",
                l.name, l.code
            )
        });
        assert_eq!(s.openssl_name, l.name, "OpenSSL name of 0x{:04X}", l.code);
        assert_eq!(s.iana_name, l.iana, "IANA name of {}", l.name);
        let version = if l.version == "TLSv1" {
            "TLSv1.0"
        } else {
            l.version.as_str()
        };
        assert_eq!(s.min_version.name(), version, "version of {}", l.name);
        assert_eq!(s.enc, l.enc, "enc of {}", l.name);
        assert_eq!(s.mac, l.mac, "mac of {}", l.name);
        // Lookup works by every key.
        assert_eq!(catalog().lookup(&l.name).map(|x| x.code.0), Some(l.code));
        assert_eq!(catalog().lookup(&l.iana).map(|x| x.code.0), Some(l.code));
        assert_eq!(
            catalog()
                .lookup(&format!("0x{:04X}", l.code))
                .map(|x| x.code.0),
            Some(l.code)
        );
    }
}

#[test]
fn suites_not_listed_by_openssl_are_really_unknown_to_it() {
    let listed: Vec<u16> = openssl_listing(&["-provider", "legacy", "-provider", "default"])
        .iter()
        .map(|l| l.code)
        .collect();
    let legacy: Vec<_> = catalog()
        .suites()
        .iter()
        .filter(|s| !listed.contains(&s.code.0))
        .collect();
    assert!(
        legacy.len() >= 60,
        "expected the RC4/3DES/DES/EXPORT rows, found {}",
        legacy.len()
    );
    for s in legacy {
        let out = Command::new("openssl")
            .args(["ciphers", "-s", &format!("{}:@SECLEVEL=0", s.openssl_name)])
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{} is marked legacy but the local OpenSSL knows it",
            s.openssl_name
        );
    }
}

#[test]
fn required_families_are_present() {
    for name in [
        "TLS_AES_128_CCM_SHA256",
        "TLS_AES_128_CCM_8_SHA256",
        "RC4-SHA",
        "DES-CBC3-SHA",
        "DES-CBC-SHA",
        "EXP-RC4-MD5",
        "ECDHE-RSA-DES-CBC3-SHA",
    ] {
        assert!(catalog().lookup(name).is_some(), "{name} missing");
    }
    let tls13: Vec<_> = catalog().suites().iter().filter(|s| s.is_tls13()).collect();
    assert_eq!(tls13.len(), 5);
    assert!(tls13
        .iter()
        .all(|s| s.applies_to(Protocol::Tls13) && !s.applies_to(Protocol::Tls12)));
}

#[test]
fn boringssl_column_matches_the_envoy_facts() {
    // ciphers/SOURCES.md §3.2: BoringSSL's kCiphers at HEAD, TLS <= 1.2.
    let yes = [
        "AES128-SHA",
        "AES256-SHA",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA",
        "ECDHE-RSA-AES128-SHA",
        "ECDHE-RSA-AES256-SHA",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ];
    let psk = [
        "PSK-AES128-CBC-SHA",
        "PSK-AES256-CBC-SHA",
        "ECDHE-PSK-AES128-CBC-SHA",
        "ECDHE-PSK-AES256-CBC-SHA",
        "ECDHE-PSK-CHACHA20-POLY1305",
    ];
    for s in catalog().suites().iter().filter(|s| !s.is_tls13()) {
        let want = if yes.contains(&s.openssl_name.as_str()) {
            BoringSsl::Yes
        } else if psk.contains(&s.openssl_name.as_str()) {
            BoringSsl::Psk
        } else if s.openssl_name == "DES-CBC3-SHA" {
            BoringSsl::Explicit
        } else if ["ECDHE-RSA-AES128-SHA256", "ECDHE-ECDSA-AES128-SHA256"]
            .contains(&s.openssl_name.as_str())
        {
            BoringSsl::Recent
        } else {
            BoringSsl::No
        };
        assert_eq!(s.boringssl, want, "{}", s.openssl_name);
    }
    // Envoy's current client defaults (`ciphers/SOURCES.md` §1.1) are all configurable.
    for code in [0xC02B, 0xCCA9, 0xC02F, 0xCCA8, 0xC02C, 0xC030] {
        assert_eq!(catalog().by_code(code).unwrap().boringssl, BoringSsl::Yes);
    }
}
