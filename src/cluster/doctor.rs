//! `doctor`: one screen of read-only checks that tell whether `apply` can work from this
//! machine — token, request budget, server types of cluster.yaml in their locations, the
//! Image Factory and its Talos versions, the Talos snapshot, admin access. Each check is
//! ok, warn or fail with a reason; a fail is a blocker. Nothing is created or changed.
//!
//! Two things cannot be fully told without a change, and the reasons say so: whether the
//! token may write (Hetzner answers `token_readonly` only to a write), and this machine's
//! public address behind NAT (no outside service is asked; the address the system would
//! send from is used only when it is itself public).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use hcloud::models::image::Status as ImageStatus;
use ipnet::IpNet;
use serde::Serialize;

use crate::error::{Class, Classify, chain};
use crate::factory::FactoryClient;
use crate::hcloud::{Availability, Client, ErrorCode, ImageType, Labels};
use crate::spec::Spec;

/// Requests left in the budget below which the rate-limit check warns (a 3+3 `apply`
/// needs about 60).
pub const LOW_BUDGET: u64 = 100;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Worth a look, not a blocker.
    Warn,
    /// A blocker: `apply` would fail.
    Fail,
}

impl Verdict {
    /// `ok`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// One check and why it came out as it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Its stable name (`token`, `rate-limit`, `server-types`, `factory`, `snapshot`,
    /// `admin-cidrs`).
    pub name: &'static str,
    /// The outcome.
    pub verdict: Verdict,
    /// Why, in one line.
    pub reason: String,
}

impl Check {
    fn new(name: &'static str, verdict: Verdict, reason: impl Into<String>) -> Check {
        Check {
            name,
            verdict,
            reason: reason.into(),
        }
    }
}

/// Every check of one run, in a fixed order.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The cluster name.
    pub cluster: String,
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// The names of the failed checks.
    pub fn blockers(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.verdict == Verdict::Fail)
            .map(|c| c.name)
            .collect()
    }
}

/// A doctor run with blockers: the report travels in the error (`details`) so `--output
/// json` prints one document.
#[derive(Debug, thiserror::Error)]
#[error("doctor found {} blocker(s): {}", .0.blockers().len(), .0.blockers().join(", "))]
pub struct Blocked(pub Report);

impl Classify for Blocked {
    fn class(&self) -> Class {
        Class::Failed
    }

    fn details(&self) -> Option<serde_json::Value> {
        serde_json::to_value(&self.0).ok()
    }
}

/// Runs every check for `spec` against `client` and `factory`.
///
/// `public_address` is this machine's public address if known (see [`own_address`]).
pub async fn run(spec: &Spec, client: &Client, factory: &FactoryClient, public_address: Option<IpAddr>) -> Report {
    let mut checks = Vec::new();
    let token = token(client).await;
    let reachable = token.verdict != Verdict::Fail;
    checks.push(token);
    if reachable {
        checks.push(rate_limit(client));
        checks.push(server_types(spec, client).await);
    } else {
        for name in ["rate-limit", "server-types"] {
            checks.push(Check::new(
                name,
                Verdict::Warn,
                "not checked: the API did not answer the token check",
            ));
        }
    }
    checks.push(factory_check(spec, factory).await);
    if reachable {
        checks.push(snapshot(spec, client).await);
    } else {
        checks.push(Check::new(
            "snapshot",
            Verdict::Warn,
            "not checked: the API did not answer the token check",
        ));
    }
    checks.push(admin_cidrs(&spec.firewall.admin_cidrs, public_address));
    Report {
        cluster: spec.name.as_str().to_string(),
        checks,
    }
}

fn one_line(error: &dyn std::error::Error) -> String {
    chain(error).join(": ")
}

async fn token(client: &Client) -> Check {
    match client.list_locations().await {
        Ok(_) => Check::new(
            "token",
            Verdict::Ok,
            "accepted (GET /locations); write access cannot be told without a change (Hetzner answers \
             token_readonly only to a write)",
        ),
        Err(error) if error.code() == Some(&ErrorCode::Unauthorized) => Check::new(
            "token",
            Verdict::Fail,
            "the API did not accept HCLOUD_TOKEN (401 unauthorized)",
        ),
        Err(error) => Check::new(
            "token",
            Verdict::Fail,
            format!("the API cannot be read: {}", one_line(&error)),
        ),
    }
}

fn rate_limit(client: &Client) -> Check {
    let Some(rate) = client.rate_limit() else {
        return Check::new("rate-limit", Verdict::Warn, "the API sent no RateLimit headers");
    };
    let reason = format!("{} of {} requests left", rate.remaining, rate.limit);
    match rate.remaining {
        0 => Check::new(
            "rate-limit",
            Verdict::Fail,
            format!("{reason}: every request would wait"),
        ),
        n if n < LOW_BUDGET => Check::new(
            "rate-limit",
            Verdict::Warn,
            format!("{reason}: an apply may have to wait for the budget to refill"),
        ),
        _ => Check::new("rate-limit", Verdict::Ok, reason),
    }
}

async fn server_types(spec: &Spec, client: &Client) -> Check {
    let mut wanted: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for node in spec.nodes() {
        wanted
            .entry((node.server_type.name(), node.location.name()))
            .or_default()
            .push(node.name.as_str());
    }
    let types = match client.list_server_types().await {
        Ok(types) => types,
        Err(error) => return Check::new("server-types", Verdict::Fail, one_line(&error)),
    };
    let mut problems = Vec::new();
    for ((server_type, location), nodes) in &wanted {
        let availability = types
            .iter()
            .find(|t| t.name == *server_type)
            .map_or(Availability::UnknownType, |t| t.availability_in(location));
        let why = match availability {
            Availability::Available => continue,
            Availability::NotInLocation => "not available",
            Availability::UnknownType => "unknown",
        };
        problems.push(format!(
            "{server_type} {why} in {location} (nodes {})",
            nodes.join(", ")
        ));
    }
    let asked: Vec<String> = wanted.keys().map(|(t, l)| format!("{t} in {l}")).collect();
    if problems.is_empty() {
        Check::new("server-types", Verdict::Ok, format!("available: {}", asked.join(", ")))
    } else {
        Check::new("server-types", Verdict::Fail, problems.join("; "))
    }
}

async fn factory_check(spec: &Spec, factory: &FactoryClient) -> Check {
    let version = spec.talos.version.to_string();
    match factory.versions().await {
        Ok(versions) if versions.contains(&version) => Check::new(
            "factory",
            Verdict::Ok,
            format!("{} answers and builds Talos {version}", factory.base_url()),
        ),
        Ok(_) => Check::new(
            "factory",
            Verdict::Fail,
            format!("{} does not know Talos {version}", factory.base_url()),
        ),
        Err(error) => Check::new("factory", Verdict::Fail, format!("unreachable: {}", one_line(&error))),
    }
}

async fn snapshot(spec: &Spec, client: &Client) -> Check {
    let version = spec.talos.version.to_string();
    let schematic = spec.talos.schematic.id.to_string();
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for arch in spec.architectures() {
        let selector = match Labels::snapshot(&schematic, &version, arch.as_str()) {
            Ok(labels) => labels.selector(),
            Err(error) => return Check::new("snapshot", Verdict::Fail, one_line(&error)),
        };
        match client.list_images(&selector, Some(ImageType::Snapshot)).await {
            Ok(images) => match images
                .iter()
                .filter(|i| i.status == ImageStatus::Available)
                .max_by_key(|i| i.id)
            {
                Some(image) => found.push(format!("{arch}: image {}", image.id)),
                None => missing.push(arch.as_str()),
            },
            Err(error) => return Check::new("snapshot", Verdict::Fail, one_line(&error)),
        }
    }
    let short: String = schematic.chars().take(12).collect();
    let (verdict, reason) = if missing.is_empty() {
        (
            Verdict::Ok,
            format!("Talos {version}, schematic {short}…: {}", found.join(", ")),
        )
    } else {
        let missing = missing.join(", ");
        let reason =
            format!("no snapshot of Talos {version}, schematic {short}… for {missing}; run `talos-hcloud image build`");
        (Verdict::Fail, reason)
    };
    Check::new("snapshot", verdict, reason)
}

/// Whether the admin CIDRs let this machine reach the Talos and Kubernetes APIs;
/// "cannot tell" (warn) when its public address is unknown.
pub fn admin_cidrs(cidrs: &[IpNet], public_address: Option<IpAddr>) -> Check {
    let listed = cidrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let (verdict, reason) = match public_address {
        None => (
            Verdict::Warn,
            format!(
                "cannot tell whether {listed} include this machine: its public address is unknown (behind NAT or \
                 no public route)"
            ),
        ),
        Some(address) if cidrs.iter().any(|cidr| cidr.contains(&address)) => {
            (Verdict::Ok, format!("{address} is in {listed}"))
        }
        Some(address) => (
            Verdict::Fail,
            format!("this machine ({address}) is not in {listed}: the Talos API (50000) and 6443 will refuse it"),
        ),
    };
    Check::new("admin-cidrs", verdict, reason)
}

/// This machine's public address as far as it can be told without asking anyone: the
/// source address the system picks to reach `host` (no packet is sent), if that address is
/// public. `None` behind NAT, on loopback, or when `host` does not resolve.
pub async fn own_address(host: &str, port: u16) -> Option<IpAddr> {
    let target = tokio::net::lookup_host((host, port)).await.ok()?.next()?;
    let bind: IpAddr = if target.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let socket = tokio::net::UdpSocket::bind((bind, 0)).await.ok()?;
    socket.connect(target).await.ok()?;
    let address = socket.local_addr().ok()?.ip();
    is_public(address).then_some(address)
}

/// Returns true if and only if `address` is routable on the internet (not private,
/// loopback, link-local, shared (CGNAT), unique-local or unspecified).
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback() || v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_access_is_ok_inside_fail_outside_and_warn_when_unknown() {
        let cidrs: Vec<IpNet> = vec!["203.0.113.0/24".parse().unwrap()];
        let inside = admin_cidrs(&cidrs, Some("203.0.113.7".parse().unwrap()));
        assert_eq!(inside.verdict, Verdict::Ok);
        let outside = admin_cidrs(&cidrs, Some("198.51.100.1".parse().unwrap()));
        assert_eq!(outside.verdict, Verdict::Fail);
        assert!(outside.reason.contains("198.51.100.1"), "{}", outside.reason);
        let unknown = admin_cidrs(&cidrs, None);
        assert_eq!(unknown.verdict, Verdict::Warn);
        assert!(unknown.reason.starts_with("cannot tell"), "{}", unknown.reason);
    }

    #[test]
    fn only_routable_addresses_count_as_public() {
        for private in [
            "10.1.2.3",
            "192.168.0.1",
            "127.0.0.1",
            "100.64.0.1",
            "169.254.1.1",
            "fd00::1",
            "fe80::1",
            "::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["203.0.113.7", "100.128.0.1", "2a01:4f8::1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
