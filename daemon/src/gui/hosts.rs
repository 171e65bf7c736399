//! Which `Host` (HTTP/1.1) or `:authority` (HTTP/2) names the tool answers to: the defence
//! against DNS rebinding, where a page of `http://evil.example:3636/` has `evil.example`
//! re-resolved to 127.0.0.1 and so talks to the tool with the browser's same-origin blessing.
//! Such a request names the attacker's host, which is not on the list.
//!
//! Always allowed: IP address literals (a browser sends one only when the page's origin is that
//! very address, so no rebinding is possible), `localhost`, this machine's host name, the DNS
//! names of the TLS certificate, and the names given with `--allow-host`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

/// The names the tool answers to (lowercase, no port, no trailing dot).
#[derive(Clone, Debug, Default)]
pub struct HostAllowlist {
    names: BTreeSet<String>,
}

/// The host part of an authority (`name:port`, `[v6]:port`, `name`), lowercased, without a
/// trailing dot. `None` when it is not a plausible host.
pub fn host_of(authority: &str) -> Option<String> {
    let a = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(rest) = a.strip_prefix('[') {
        let end = rest.find(']')?;
        let after = &rest[end + 1..];
        if !(after.is_empty() || after.starts_with(':')) {
            return None;
        }
        format!("[{}]", &rest[..end])
    } else {
        match a.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h.to_string(),
            Some(_) => return None,
            None => a.to_string(),
        }
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
    ok.then_some(host)
}

fn is_ip_literal(host: &str) -> bool {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => host.parse::<std::net::Ipv4Addr>().is_ok(),
    }
}

impl HostAllowlist {
    /// The default names plus `extra` (from `--allow-host`) and the certificate's names.
    pub fn new(extra: &[String], cert_names: &[String]) -> Self {
        let mut names: BTreeSet<String> = ["localhost", "localhost.localdomain"]
            .into_iter()
            .map(str::to_string)
            .collect();
        if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            if let Some(h) = host_of(h.trim()) {
                names.insert(h);
            }
        }
        names.extend(extra.iter().chain(cert_names).filter_map(|n| host_of(n)));
        HostAllowlist { names }
    }

    /// Whether a request naming `authority` is for this tool.
    pub fn allows(&self, authority: &str) -> bool {
        match host_of(authority) {
            Some(h) => is_ip_literal(&h) || self.names.contains(&h),
            None => false,
        }
    }

    /// The names allowed (for messages and docs).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

/// The DNS names (and IP addresses) of the first certificate of a PEM file: its
/// subjectAltName entries, else its subject's common name. Empty when it cannot be read (the
/// TLS setup then reports the real error).
pub fn certificate_names(pem_file: &Path) -> Vec<String> {
    let Ok(bytes) = std::fs::read(pem_file) else {
        return Vec::new();
    };
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(&bytes) else {
        return Vec::new();
    };
    let Ok(cert) = pem.parse_x509() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(d) => out.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                        _ => None,
                    };
                    out.extend(ip.map(|ip| ip.to_string()));
                }
                _ => {}
            }
        }
    }
    if out.is_empty() {
        out.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok().map(str::to_string)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_strips_ports_and_case() {
        assert_eq!(host_of("LocalHost:3636").as_deref(), Some("localhost"));
        assert_eq!(
            host_of("director.example.").as_deref(),
            Some("director.example")
        );
        assert_eq!(host_of("[::1]:3636").as_deref(), Some("[::1]"));
        assert_eq!(host_of("[::1]x"), None);
        assert_eq!(host_of("evil.example:abc"), None);
        assert_eq!(host_of("a b"), None);
        assert_eq!(host_of(""), None);
    }

    #[test]
    fn only_listed_names_and_ip_literals_pass() {
        let l = HostAllowlist::new(&["Director.Example".to_string()], &["tls.example".into()]);
        for ok in [
            "localhost:3636",
            "127.0.0.1:3636",
            "10.1.2.3",
            "[::1]:3636",
            "[2001:db8::1]",
            "director.example:443",
            "tls.example",
        ] {
            assert!(l.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example:3636",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "[not-an-ip]",
            "",
            "director.example.evil",
        ] {
            assert!(!l.allows(bad), "{bad}");
        }
    }
}
