//! Gloo's `sslConfig.parameters` and Envoy's `tls_params`, both ways, and the default Upstream name.

use super::SslParameters;
use crate::envoy::{self, TlsParams};
use crate::target::HostPort;

/// Gloo parameters → the Envoy model's overrides; unknown names are reported as Envoy would.
pub fn tls_params(p: &SslParameters) -> Result<TlsParams, String> {
    let cipher_entries = if p.cipher_suites.is_empty() {
        None
    } else {
        Some(
            envoy::parse_cipher_entries(&p.cipher_suites)
                .map_err(|e| format!("cipherSuites: {e}"))?,
        )
    };
    if let Some(bad) = p
        .ecdh_curves
        .iter()
        .find(|c| envoy::curve_code(c).is_none())
    {
        return Err(format!(
            "ecdhCurves: '{bad}': Envoy's BoringSSL loads X25519, P-256, P-384 and P-521, and fails \
             config load on a name it does not know (\"Failed to initialize ECDH curves\"); \
             cipher-test judges those four only"
        ));
    }
    Ok(TlsParams {
        cipher_entries,
        ecdh_curves: (!p.ecdh_curves.is_empty()).then(|| p.ecdh_curves.clone()),
        min_version: p.minimum_protocol_version,
        max_version: p.maximum_protocol_version,
    })
}

/// The Envoy model's overrides → Gloo parameters.
pub fn ssl_parameters(p: &TlsParams) -> SslParameters {
    SslParameters {
        cipher_suites: p
            .cipher_entries
            .as_ref()
            .map(|e| e.iter().map(|x| x.to_string()).collect())
            .unwrap_or_default(),
        ecdh_curves: p.ecdh_curves.clone().unwrap_or_default(),
        minimum_protocol_version: p.min_version,
        maximum_protocol_version: p.max_version,
    }
}

/// A Kubernetes-safe default name for an Upstream: `host-port`, lower-case, dashes.
pub fn default_upstream_name(hp: &HostPort) -> String {
    let mut name: String = hp
        .host
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name = name.trim_matches('-').to_string();
    format!(
        "{}-{}",
        if name.is_empty() { "upstream" } else { &name },
        hp.port
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_envoy_cannot_load_are_refused_by_name() {
        let p = SslParameters {
            ecdh_curves: vec!["X25519".into(), "secp384r1".into()],
            ..SslParameters::default()
        };
        assert_eq!(
            tls_params(&p).unwrap().ecdh_curves,
            Some(vec!["X25519".to_string(), "secp384r1".to_string()])
        );
        for bad in ["brainpoolP256r1", "secp256r1", "X448"] {
            let mut q = p.clone();
            q.ecdh_curves.push(bad.into());
            let e = tls_params(&q).unwrap_err();
            assert!(e.starts_with(&format!("ecdhCurves: '{bad}'")), "{e}");
        }
    }
}
