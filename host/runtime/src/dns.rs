//! A DNS resolver for outgoing HTTP that drops non-public addresses, so a granted hostname
//! cannot be pointed (or rebound) at loopback, the private network or cloud metadata.
//!
//! The filter runs inside the client's resolver, so the address checked is the address
//! connected to. IP-literal URLs never reach a resolver, and the name `localhost` passes
//! unfiltered: both name their target explicitly in the grant.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Resolves a name to addresses (port 0; the client fills in the URL's port).
pub type Lookup = dyn Fn(String) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>
    + Send
    + Sync;

/// The resolver: the system's lookup (or an injected one), then [`is_public`].
#[derive(Clone)]
pub struct PublicOnlyResolver {
    lookup: Arc<Lookup>,
}

impl std::fmt::Debug for PublicOnlyResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicOnlyResolver")
    }
}

impl Default for PublicOnlyResolver {
    /// The system resolver (`getaddrinfo` on a blocking thread, as reqwest's default).
    fn default() -> Self {
        PublicOnlyResolver::with_lookup(Arc::new(|name: String| {
            Box::pin(
                async move { Ok(tokio::net::lookup_host((name.as_str(), 0)).await?.collect()) },
            )
        }))
    }
}

impl PublicOnlyResolver {
    pub fn with_lookup(lookup: Arc<Lookup>) -> Self {
        PublicOnlyResolver { lookup }
    }

    /// Resolves `name` and keeps only the addresses a hostname may lead to.
    pub async fn resolve_name(&self, name: &str) -> Result<Vec<SocketAddr>, io::Error> {
        let addrs = (self.lookup)(name.to_string()).await?;
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{name} resolved to no addresses"),
            ));
        }
        if is_localhost(name) {
            return Ok(addrs);
        }
        let (public, refused): (Vec<_>, Vec<_>) =
            addrs.into_iter().partition(|a| is_public(a.ip()));
        if public.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                NonPublicAddress {
                    name: name.to_string(),
                    refused: refused.iter().map(|a| a.ip()).collect(),
                },
            ));
        }
        Ok(public)
    }
}

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let addrs = this.resolve_name(name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// A hostname resolved to no address the host may connect to.
#[derive(Debug, thiserror::Error)]
#[error(
    "{name} resolves only to loopback, private, link-local or other non-public addresses \
     ({}); connecting there from a hostname is refused (grant an IP-literal URL to reach it)",
    list(refused)
)]
pub struct NonPublicAddress {
    pub name: String,
    pub refused: Vec<IpAddr>,
}

fn list(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Finds a [`NonPublicAddress`] refusal in an error's source chain (reqwest wraps it).
pub fn refusal<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a NonPublicAddress> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<NonPublicAddress>() {
            return Some(r);
        }
        if let Some(r) = e
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<NonPublicAddress>())
        {
            return Some(r);
        }
        cur = e.source();
    }
    None
}

/// A reqwest error's text, with the reason when the resolver refused the name (reqwest's own
/// text stops at "error sending request").
pub fn describe(err: &reqwest::Error) -> String {
    match refusal(err) {
        Some(r) => format!("{err}: {r}"),
        None => err.to_string(),
    }
}

fn is_localhost(name: &str) -> bool {
    name.trim_end_matches('.').eq_ignore_ascii_case("localhost")
}

/// Whether a hostname may lead to `ip`: false for loopback, private, link-local,
/// unspecified, multicast, broadcast/reserved, CGNAT, and IPv6 forms embedding those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", includes 0.0.0.0
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16: cloud metadata lives here
        || (a == 100 && (b & 0xc0) == 64) // 100.64/10, carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // 192.0.0/24, IETF protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // 198.18/15, benchmarking
        || ip.is_multicast()
        || a >= 240) // reserved and broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (first & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || (first & 0xffc0) == 0xfec0) // fec0::/10 site-local (deprecated)
}

/// The IPv4 address an IPv6 one stands for: mapped (::ffff:a.b.c.d), compatible
/// (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        // ::1 and :: are themselves; anything else this short is IPv4-compatible.
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_table() {
        let cases = [
            ("93.184.216.34", true),
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("172.32.0.1", true),
            ("100.128.0.1", true),
            ("127.0.0.1", false),
            ("127.255.255.254", false),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("0.0.0.0", false),
            ("0.1.2.3", false),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("192.0.0.8", false),
            ("198.18.0.1", false),
            ("224.0.0.1", false),
            ("239.255.255.250", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
            ("2606:2800:220:1:248:1893:25c8:1946", true),
            ("2001:4860:4860::8888", true),
            ("::1", false),
            ("::", false),
            ("fc00::1", false),
            ("fd12:3456::1", false),
            ("fe80::1", false),
            ("febf::1", false),
            ("fec0::1", false),
            ("ff02::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:8.8.8.8", true),
            ("::127.0.0.1", false),
            ("64:ff9b::a9fe:a9fe", false),
            ("64:ff9b::808:808", true),
            ("2002:7f00:1::", false),
            ("2002:0808:0808::", true),
        ];
        for (ip, public) in cases {
            let addr: IpAddr = ip.parse().unwrap();
            assert_eq!(is_public(addr), public, "{ip}");
        }
    }

    fn fixed(addrs: &'static [&'static str]) -> PublicOnlyResolver {
        PublicOnlyResolver::with_lookup(Arc::new(move |_name| {
            Box::pin(async move {
                Ok(addrs
                    .iter()
                    .map(|a| SocketAddr::new(a.parse().unwrap(), 0))
                    .collect())
            })
        }))
    }

    #[tokio::test]
    async fn hostname_resolving_to_loopback_is_refused() {
        let err = fixed(&["127.0.0.1", "::1"])
            .resolve_name("api.example.com")
            .await
            .unwrap_err();
        let r = refusal(&err).expect("a NonPublicAddress refusal");
        assert_eq!(r.refused.len(), 2);
        let msg = err.to_string();
        assert!(msg.contains("api.example.com"), "{msg}");
        assert!(msg.contains("127.0.0.1"), "{msg}");
    }

    #[tokio::test]
    async fn only_public_addresses_are_kept() {
        let addrs = fixed(&["10.0.0.5", "93.184.216.34", "169.254.169.254"])
            .resolve_name("mixed.example.com")
            .await
            .unwrap();
        let ips: Vec<IpAddr> = addrs.iter().map(|a| a.ip()).collect();
        assert_eq!(ips, ["93.184.216.34".parse::<IpAddr>().unwrap()]);
    }

    #[tokio::test]
    async fn localhost_is_explicit_and_passes() {
        for name in ["localhost", "LOCALHOST", "localhost."] {
            let addrs = fixed(&["127.0.0.1"]).resolve_name(name).await.unwrap();
            assert_eq!(addrs.len(), 1, "{name}");
        }
        // A name merely containing it is not exempt.
        assert!(
            fixed(&["127.0.0.1"])
                .resolve_name("localhost.evil.example")
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn no_addresses_is_an_error_but_not_a_refusal() {
        let err = fixed(&[]).resolve_name("empty.example").await.unwrap_err();
        assert!(err.to_string().contains("no addresses"), "{err}");
        assert!(refusal(&err).is_none());
    }
}
