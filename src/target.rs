//! Targets: `HOST[:PORT]` parsing, the SNI rule, and address resolution.
//! Owns nothing about TLS; a resolved target is a host name, a port, an SNI choice and one address.

use std::net::{IpAddr, SocketAddr};

/// The port used when a target names none.
pub const DEFAULT_PORT: u16 = 443;

/// A parsed `HOST[:PORT]`, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// The host as given, without IPv6 brackets.
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// Whether the host is an IP address literal (then no SNI is sent by default: RFC 6066 §3).
    pub fn is_ip(&self) -> bool {
        self.host.parse::<IpAddr>().is_ok()
    }

    /// `host:port`, with brackets around an IPv6 literal.
    pub fn display(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A target string could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("empty target: expected HOST[:PORT], e.g. example.com:443 or [::1]:8443")]
    Empty,
    #[error("invalid port in '{0}': expected a number from 1 to 65535")]
    BadPort(String),
    #[error("invalid target '{0}': an IPv6 address with a port must be written [ADDR]:PORT")]
    BadIpv6(String),
    #[error("invalid host in '{0}': expected a DNS name or an IP address")]
    BadHost(String),
}

/// Parses `HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT` or a bare IPv6 address. A leading `https://` and
/// a trailing path are tolerated, so a URL pasted from a browser works.
pub fn parse_host_port(input: &str) -> Result<HostPort, TargetError> {
    let mut s = input.trim();
    for scheme in ["https://", "tls://", "tcp://"] {
        // `get` rather than slicing: the input may be any Unicode, and a byte index can fall inside a
        // character (found by the property tests).
        if s.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
        {
            s = &s[scheme.len()..];
        }
    }
    if let Some(i) = s.find('/') {
        s = &s[..i];
    }
    if s.is_empty() {
        return Err(TargetError::Empty);
    }
    let parse_port = |p: &str| match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(TargetError::BadPort(input.to_string())),
        Ok(n) => Ok(n),
    };
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err(TargetError::BadIpv6(input.to_string()));
        };
        let host = &rest[..end];
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(TargetError::BadIpv6(input.to_string()));
        }
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None if after.is_empty() => DEFAULT_PORT,
            None => return Err(TargetError::BadIpv6(input.to_string())),
        };
        (host.to_string(), port)
    } else if s.matches(':').count() > 1 {
        // A bare IPv6 address: no port can be given without brackets.
        if s.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(TargetError::BadIpv6(input.to_string()));
        }
        (s.to_string(), DEFAULT_PORT)
    } else if let Some((h, p)) = s.rsplit_once(':') {
        (h.to_string(), parse_port(p)?)
    } else {
        (s.to_string(), DEFAULT_PORT)
    };
    if host.is_empty() || !host_chars_ok(&host) {
        return Err(TargetError::BadHost(input.to_string()));
    }
    Ok(HostPort { host, port })
}

fn host_chars_ok(host: &str) -> bool {
    host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
}

/// What to send as SNI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SniChoice {
    /// The host name, unless it is an IP address.
    Auto,
    /// This name.
    Name(String),
    /// No SNI extension at all.
    None,
}

/// The SNI to send for `hp` under `choice`.
pub fn effective_sni(hp: &HostPort, choice: &SniChoice) -> Option<String> {
    match choice {
        SniChoice::Auto if hp.is_ip() => None,
        SniChoice::Auto => Some(hp.host.trim_end_matches('.').to_string()),
        SniChoice::Name(n) => Some(n.clone()),
        SniChoice::None => None,
    }
}

/// A target ready to scan.
#[derive(Debug, Clone)]
pub struct Target {
    pub host_port: HostPort,
    pub sni: Option<String>,
    pub address: SocketAddr,
}

/// Resolution failed: the host name is unknown.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve host '{host}': {reason}")]
pub struct ResolveError {
    pub host: String,
    pub reason: String,
}

/// Resolves `hp` to its first address (IPv4 or IPv6, in the resolver's order).
pub async fn resolve(hp: &HostPort) -> Result<SocketAddr, ResolveError> {
    Ok(resolve_all(hp).await?[0])
}

/// Every address of a host, in the resolver's order, each once (never empty on success).
pub async fn resolve_all(hp: &HostPort) -> Result<Vec<SocketAddr>, ResolveError> {
    if let Ok(ip) = hp.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, hp.port)]);
    }
    let err = |reason: String| ResolveError {
        host: hp.host.clone(),
        reason,
    };
    let found = tokio::net::lookup_host((hp.host.as_str(), hp.port))
        .await
        .map_err(|e| err(e.to_string()))?;
    let mut seen = std::collections::HashSet::new();
    let addrs: Vec<SocketAddr> = found.filter(|a| seen.insert(*a)).collect();
    if addrs.is_empty() {
        return Err(err("no addresses".into()));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_the_forms_users_type() {
        assert_eq!(parse_host_port("example.com"), Ok(hp("example.com", 443)));
        assert_eq!(
            parse_host_port("example.com:8443"),
            Ok(hp("example.com", 8443))
        );
        assert_eq!(parse_host_port("127.0.0.1:4433"), Ok(hp("127.0.0.1", 4433)));
        assert_eq!(parse_host_port("[::1]:443"), Ok(hp("::1", 443)));
        assert_eq!(parse_host_port("[::1]"), Ok(hp("::1", 443)));
        assert_eq!(parse_host_port("::1"), Ok(hp("::1", 443)));
        assert_eq!(
            parse_host_port("https://api.example.com:9443/health"),
            Ok(hp("api.example.com", 9443))
        );
    }

    #[test]
    fn refuses_what_cannot_be_a_target() {
        assert_eq!(parse_host_port(""), Err(TargetError::Empty));
        assert!(matches!(
            parse_host_port("host:0"),
            Err(TargetError::BadPort(_))
        ));
        assert!(matches!(
            parse_host_port("host:99999"),
            Err(TargetError::BadPort(_))
        ));
        assert!(matches!(
            parse_host_port("host:abc"),
            Err(TargetError::BadPort(_))
        ));
        assert!(matches!(
            parse_host_port("[::1"),
            Err(TargetError::BadIpv6(_))
        ));
        assert!(matches!(
            parse_host_port("[::1]x"),
            Err(TargetError::BadIpv6(_))
        ));
        assert!(matches!(
            parse_host_port("fe80::1::2:443"),
            Err(TargetError::BadIpv6(_))
        ));
        assert!(matches!(
            parse_host_port("bad host:443"),
            Err(TargetError::BadHost(_))
        ));
        assert!(matches!(
            parse_host_port(":443"),
            Err(TargetError::BadHost(_))
        ));
    }

    #[test]
    fn sni_follows_the_host_unless_ip() {
        assert_eq!(
            effective_sni(&hp("a.example", 443), &SniChoice::Auto),
            Some("a.example".into())
        );
        assert_eq!(
            effective_sni(&hp("a.example.", 443), &SniChoice::Auto),
            Some("a.example".into())
        );
        assert_eq!(effective_sni(&hp("10.0.0.1", 443), &SniChoice::Auto), None);
        assert_eq!(effective_sni(&hp("::1", 443), &SniChoice::Auto), None);
        assert_eq!(
            effective_sni(&hp("10.0.0.1", 443), &SniChoice::Name("x.example".into())),
            Some("x.example".into())
        );
        assert_eq!(effective_sni(&hp("a.example", 443), &SniChoice::None), None);
    }
}
