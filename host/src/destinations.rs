//! Where deliveries may go. Subscription URLs must be http(s) (https unless configured), and
//! unless private destinations are allowed, every address a host name resolves to is checked
//! and loopback, private, link-local and other special ranges are refused. The check lives
//! in the HTTP client's resolver, so the connection goes only to an address that was checked
//! (a second DNS answer cannot rebind it), and IP literals are checked before sending.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::config::Config;

/// Checks a subscription URL as far as can be done without DNS; the resolver does the rest at
/// delivery time. The error says what is wrong, for a 422.
pub fn check_url(raw: &str, config: &Config) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("url {raw:?} is not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if config.allow_http => {}
        "http" => {
            return Err(format!(
                "url {raw:?} must use https (plain http is allowed only when KROG_ALLOW_HTTP=true)"
            ));
        }
        other => return Err(format!("url {raw:?} must be http(s), not {other:?}")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("url {raw:?} must not carry credentials"));
    }
    if !config.allow_private_destinations {
        check_host(&url).map_err(|why| format!("url {raw:?} {why}"))?;
    }
    Ok(url)
}

/// Refuses IP literals in special ranges and names that always mean this machine.
pub fn check_host(url: &Url) -> Result<(), String> {
    let ip = match url.host() {
        None => return Err("has no host".into()),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                return Err(
                    "points at this machine (localhost); private destinations are not allowed"
                        .into(),
                );
            }
            return Ok(());
        }
    };
    if is_forbidden(ip) {
        return Err(format!(
            "points at {ip}, a private or special address; private destinations are not allowed"
        ));
    }
    Ok(())
}

/// Loopback, private, link-local, shared, documentation, multicast, reserved and unspecified
/// addresses (IPv4, IPv6, and IPv4 mapped into IPv6).
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            forbidden_v6(v6)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || a >= 240 // reserved
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 can reach private IPv4
        || first == 0x2002 // 6to4: carries an IPv4 address, private ones included
        || (first == 0x2001 && ip.segments()[1] == 0x0000) // Teredo: tunnels to IPv4
        || (first == 0x0100 && ip.segments()[1..4] == [0, 0, 0]) // discard-only
        || ip.to_ipv4().is_some_and(forbidden_v4) // IPv4-compatible
}

/// A DNS resolver for the delivery client that drops forbidden addresses and fails when
/// nothing is left.
#[derive(Debug, Default)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), 0)).await {
                Ok(addrs) => addrs.collect(),
                Err(_) => Vec::new(),
            };
            let allowed: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| !is_forbidden(a.ip()))
                .collect();
            if allowed.is_empty() {
                // One message for both cases, so that a tenant cannot map which internal
                // names exist by watching the recorded errors.
                return Err(format!(
                    "{host} does not resolve to an address krog may deliver to (public addresses only)"
                )
                .into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "2002:7f00:1::1",
            "2002:a00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
            "192.88.99.1",
        ] {
            assert!(
                is_forbidden(ip.parse().unwrap()),
                "{ip} should be forbidden"
            );
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip} should be allowed");
        }
    }

    #[test]
    fn urls_are_checked_for_scheme_and_host() {
        let strict = Config::default();
        assert!(check_url("https://hooks.slack.com/services/x", &strict).is_ok());
        assert!(
            check_url("http://example.com/", &strict)
                .unwrap_err()
                .contains("https")
        );
        assert!(check_url("ftp://example.com/", &strict).is_err());
        assert!(check_url("not a url", &strict).is_err());
        assert!(
            check_url("https://127.0.0.1/", &strict)
                .unwrap_err()
                .contains("private")
        );
        assert!(check_url("https://localhost:8080/", &strict).is_err());
        assert!(check_url("https://[::1]/", &strict).is_err());
        let open = Config {
            allow_http: true,
            allow_private_destinations: true,
            ..Config::default()
        };
        assert!(check_url("http://127.0.0.1:9000/hook", &open).is_ok());
    }
}
