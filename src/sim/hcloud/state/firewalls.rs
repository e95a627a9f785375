//! Firewalls: rules plus the servers they apply to, named directly or by label selector.
//! Selector matches are re-evaluated whenever servers or selectors change; each newly
//! covered server gets an `apply_firewall` action that locks it, and its
//! `public_net.firewalls[].status` is `pending` until that action succeeds.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::error::ApiError;
use super::super::label_selector::{Labels, Selector};
use super::super::pagination::ListRules;
use super::resource::{Busy, Resource, stored_in};
use super::{IdKind, IdRef, NewAction, ResourceRef, SelectorRef, World, check_labels, labels_json};

/// The most rules a firewall holds.
pub const MAX_RULES: usize = 50;

/// What a firewall applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyTarget {
    /// One server.
    Server(u64),
    /// Every server matching a selector.
    Selector(String),
}

/// A firewall rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    direction: String,
    protocol: String,
    port: Option<String>,
    source_ips: Vec<String>,
    destination_ips: Vec<String>,
    description: Option<String>,
}

/// A firewall.
#[derive(Debug, Clone)]
pub struct Firewall {
    /// ID.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Rules.
    pub rules: Vec<Rule>,
    /// Targets.
    pub applied_to: Vec<ApplyTarget>,
    /// Creation time.
    pub created: u64,
}

/// A rule in a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleRequest {
    direction: String,
    protocol: String,
    port: Option<String>,
    source_ips: Option<Vec<String>>,
    destination_ips: Option<Vec<String>>,
    description: Option<String>,
}

/// A target in `apply_to`/`remove_from`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRequest {
    #[serde(rename = "type")]
    kind: String,
    server: Option<IdRef>,
    label_selector: Option<SelectorRef>,
}

/// `POST /firewalls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateFirewall {
    name: String,
    labels: Option<Labels>,
    rules: Option<Vec<RuleRequest>>,
    apply_to: Option<Vec<TargetRequest>>,
}

/// `set_rules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRules {
    rules: Vec<RuleRequest>,
}

/// `apply_to_resources`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyToResources {
    apply_to: Vec<TargetRequest>,
}

/// `remove_from_resources`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveFromResources {
    remove_from: Vec<TargetRequest>,
}

fn check_port(port: &str) -> bool {
    let valid = |p: &str| p.parse::<u16>().is_ok_and(|n| n >= 1);
    match port.split_once('-') {
        Some((a, b)) => valid(a) && valid(b) && a.parse::<u16>().ok() <= b.parse::<u16>().ok(),
        None => valid(port),
    }
}

fn build_rules(requests: Vec<RuleRequest>) -> Result<Vec<Rule>, ApiError> {
    if requests.len() > MAX_RULES {
        return Err(ApiError::invalid_field(
            "rules",
            format!("at most {MAX_RULES} rules are allowed"),
        ));
    }
    let mut rules = Vec::new();
    for (i, r) in requests.into_iter().enumerate() {
        let field = |name: &str| format!("rules[{i}].{name}");
        if !matches!(r.direction.as_str(), "in" | "out") {
            return Err(ApiError::invalid_field(&field("direction"), "Must be one of: in, out."));
        }
        if !matches!(r.protocol.as_str(), "tcp" | "udp" | "icmp" | "esp" | "gre") {
            return Err(ApiError::invalid_field(
                &field("protocol"),
                "Must be one of: tcp, udp, icmp, esp, gre.",
            ));
        }
        let needs_port = matches!(r.protocol.as_str(), "tcp" | "udp");
        match (&r.port, needs_port) {
            (None, true) => {
                return Err(ApiError::invalid_field(
                    &field("port"),
                    "port is required for tcp and udp",
                ));
            }
            (Some(_), false) => {
                return Err(ApiError::invalid_field(
                    &field("port"),
                    "port is only allowed for tcp and udp",
                ));
            }
            (Some(port), true) if !check_port(port) => {
                return Err(ApiError::invalid_field(
                    &field("port"),
                    "port must be a number or a range like 80-85",
                ));
            }
            _ => {}
        }
        let source_ips = r.source_ips.unwrap_or_default();
        let destination_ips = r.destination_ips.unwrap_or_default();
        let (needed, needed_name, forbidden, forbidden_name) = if r.direction == "in" {
            (&source_ips, "source_ips", &destination_ips, "destination_ips")
        } else {
            (&destination_ips, "destination_ips", &source_ips, "source_ips")
        };
        if needed.is_empty() {
            return Err(ApiError::invalid_field(
                &field(needed_name),
                "at least one address is required",
            ));
        }
        if !forbidden.is_empty() {
            return Err(ApiError::invalid_field(
                &field(forbidden_name),
                format!("not allowed for direction {}", r.direction),
            ));
        }
        for cidr in needed {
            if cidr.parse::<IpNet>().is_err() {
                return Err(ApiError::invalid_field(
                    &field(needed_name),
                    format!("'{cidr}' is not a CIDR"),
                ));
            }
        }
        if r.description.as_ref().is_some_and(|d| d.chars().count() > 255) {
            return Err(ApiError::invalid_field(
                &field("description"),
                "Length must be between 0 and 255.",
            ));
        }
        rules.push(Rule {
            direction: r.direction,
            protocol: r.protocol,
            port: r.port,
            source_ips,
            destination_ips,
            description: r.description,
        });
    }
    Ok(rules)
}

impl Resource for Firewall {
    const KIND: &'static str = "firewall";
    const LIST: ListRules = ListRules::resources(&["id", "name", "created"]);
    const BUSY: Busy = Busy::Conflict;
    const NAME_TAKEN: &'static str = "firewall name is already used";

    /// Any characters, 1 to 128 of them.
    fn check_name(name: &str) -> Result<(), ApiError> {
        if name.is_empty() || name.chars().count() > 128 {
            return Err(ApiError::invalid_field("name", "Length must be between 1 and 128."));
        }
        Ok(())
    }

    stored_in!(firewalls);

    /// Selector entries list the servers they currently match.
    fn render(&self, world: &World) -> Value {
        let applied_to: Vec<Value> = self
            .applied_to
            .iter()
            .map(|t| match t {
                ApplyTarget::Server(server) => json!({"type": "server", "server": {"id": server}}),
                ApplyTarget::Selector(text) => {
                    let matched: Vec<Value> = world
                        .servers_matching(text)
                        .map(|s| json!({"type": "server", "server": {"id": s.id}}))
                        .collect();
                    json!({"type": "label_selector", "label_selector": {"selector": text}, "applied_to_resources": matched})
                }
            })
            .collect();
        json!({
            "id": self.id,
            "name": self.name,
            "labels": labels_json(&self.labels),
            "created": world.timestamp(self.created),
            "rules": self.rules.iter().map(|r| json!({
                "direction": r.direction,
                "protocol": r.protocol,
                "port": r.port,
                "source_ips": r.source_ips,
                "destination_ips": r.destination_ips,
                "description": r.description,
            })).collect::<Vec<_>>(),
            "applied_to": applied_to,
        })
    }
}

impl World {
    fn target(&self, request: &TargetRequest) -> Result<ApplyTarget, ApiError> {
        match (request.kind.as_str(), &request.server, &request.label_selector) {
            ("server", Some(server), None) => {
                let id = server.id.0;
                let found = self.servers.get(&id).ok_or_else(|| {
                    ApiError::new(
                        404,
                        "firewall_resource_not_found",
                        format!("server with ID '{id}' not found"),
                    )
                })?;
                if !found.has_public_ip() {
                    return Err(ApiError::unprocessable(
                        "private_net_only_server",
                        "firewalls cannot be applied to servers without a public interface",
                    ));
                }
                Ok(ApplyTarget::Server(id))
            }
            ("label_selector", None, Some(selector)) => {
                Selector::parse(&selector.selector).map_err(|why| ApiError::invalid_field("label_selector", why))?;
                Ok(ApplyTarget::Selector(selector.selector.clone()))
            }
            _ => Err(ApiError::invalid_field(
                "type",
                "type server needs 'server', type label_selector needs 'label_selector'",
            )),
        }
    }

    /// The firewalls applying to a server, directly or by selector.
    pub(crate) fn firewalls_for_server(&self, server: u64) -> Vec<u64> {
        let Some(s) = self.servers.get(&server) else {
            return Vec::new();
        };
        self.firewalls
            .values()
            .filter(|fw| {
                fw.applied_to.iter().any(|t| match t {
                    ApplyTarget::Server(id) => *id == server,
                    ApplyTarget::Selector(text) => {
                        s.has_public_ip() && Selector::parse(text).is_ok_and(|sel| sel.matches(&s.labels))
                    }
                })
            })
            .map(|fw| fw.id)
            .collect()
    }

    /// The servers `firewall` applies to, directly or by selector.
    fn servers_covered_by(&self, firewall: u64) -> Vec<u64> {
        self.servers
            .keys()
            .copied()
            .filter(|s| self.firewalls_for_server(*s).contains(&firewall))
            .collect()
    }

    fn selector_matches(&self, firewall: u64) -> Vec<u64> {
        let Some(fw) = self.firewalls.get(&firewall) else {
            return Vec::new();
        };
        let selectors: Vec<Selector> = fw
            .applied_to
            .iter()
            .filter_map(|t| match t {
                ApplyTarget::Selector(text) => Selector::parse(text).ok(),
                ApplyTarget::Server(_) => None,
            })
            .collect();
        self.servers
            .values()
            .filter(|s| s.has_public_ip() && selectors.iter().any(|sel| sel.matches(&s.labels)))
            .map(|s| s.id)
            .collect()
    }

    /// Starts `apply_firewall` for firewalls newly covering a server and drops ones that
    /// no longer do; returns the new actions.
    pub(crate) fn reconcile_server_firewalls(&mut self, server: u64, after: Option<u64>) -> Vec<u64> {
        self.reconcile_server_firewalls_locking(server, after, false)
    }

    fn reconcile_server_firewalls_locking(&mut self, server: u64, after: Option<u64>, lock_firewall: bool) -> Vec<u64> {
        let effective = self.firewalls_for_server(server);
        let Some(s) = self.servers.get_mut(&server) else {
            return Vec::new();
        };
        s.firewalls_applied.retain(|fw| effective.contains(fw));
        let missing: Vec<u64> = effective
            .iter()
            .copied()
            .filter(|fw| !s.firewalls_applied.contains(fw) && !s.firewalls_pending.contains(fw))
            .collect();
        s.firewalls_pending.extend(missing.iter().copied());
        let mut actions = Vec::new();
        for fw in missing {
            let me = ResourceRef::new("server", server);
            let firewall = ResourceRef::new("firewall", fw);
            let locks = if lock_firewall { vec![me, firewall] } else { vec![me] };
            let seconds = self.durations.small;
            actions.push(
                self.start_action(
                    NewAction::new("apply_firewall", vec![firewall, me], seconds)
                        .locks(locks)
                        .after(after)
                        .on_success(move |w| {
                            let still = w.firewalls_for_server(server).contains(&fw);
                            if let Some(s) = w.servers.get_mut(&server) {
                                s.firewalls_pending.remove(&fw);
                                if still {
                                    s.firewalls_applied.insert(fw);
                                }
                            }
                        })
                        .on_error(move |w| {
                            if let Some(s) = w.servers.get_mut(&server) {
                                s.firewalls_pending.remove(&fw);
                            }
                        }),
                ),
            );
        }
        actions
    }

    fn reconcile_all_firewalls(&mut self, lock_firewall: bool) -> Vec<u64> {
        let servers: Vec<u64> = self.servers.keys().copied().collect();
        servers
            .into_iter()
            .flat_map(|s| self.reconcile_server_firewalls_locking(s, None, lock_firewall))
            .collect()
    }

    /// `POST /firewalls`: 201 with `set_firewall_rules` and `apply_firewall` actions.
    pub fn create_firewall(&mut self, request: CreateFirewall) -> Result<Value, ApiError> {
        Firewall::check_name(&request.name)?;
        check_labels(&request.labels)?;
        self.ensure_name_free::<Firewall>(&request.name, None)?;
        let rules = build_rules(request.rules.unwrap_or_default())?;
        let mut targets: Vec<ApplyTarget> = Vec::new();
        for target in request.apply_to.iter().flatten() {
            let target = self.target(target)?;
            if targets.contains(&target) {
                return Err(ApiError::unprocessable(
                    "server_already_added",
                    "a resource is listed twice",
                ));
            }
            targets.push(target);
        }
        let id = self.new_id(IdKind::Firewall);
        self.firewalls.insert(
            id,
            Firewall {
                id,
                name: request.name,
                labels: request.labels.unwrap_or_default(),
                rules,
                applied_to: targets,
                created: self.now,
            },
        );
        let seconds = self.durations.small;
        let mut actions = vec![self.start_action(NewAction::new(
            "set_firewall_rules",
            vec![ResourceRef::new("firewall", id)],
            seconds,
        ))];
        actions.extend(self.reconcile_all_firewalls(false));
        Ok(json!({
            "firewall": self.render::<Firewall>(id),
            "actions": actions.iter().map(|a| self.action_json(*a)).collect::<Vec<_>>(),
        }))
    }

    /// `DELETE /firewalls/{id}`: 204; refused while it still applies to anything.
    pub fn delete_firewall(&mut self, id: u64) -> Result<(), ApiError> {
        let fw = self.find_unlocked::<Firewall>(id)?;
        if !fw.applied_to.is_empty() {
            return Err(ApiError::unprocessable(
                "resource_in_use",
                "firewall is still applied to resources",
            ));
        }
        self.firewalls.remove(&id);
        Ok(())
    }

    /// `set_rules`: replaces every rule; re-applies to every covered server.
    pub fn set_firewall_rules(&mut self, id: u64, request: SetRules) -> Result<Value, ApiError> {
        self.find_unlocked::<Firewall>(id)?;
        let rules = build_rules(request.rules)?;
        self.firewalls.get_mut(&id).expect("invariant: found above").rules = rules;
        let seconds = self.durations.small;
        let me = ResourceRef::new("firewall", id);
        let mut actions = vec![self.start_action(NewAction::new("set_firewall_rules", vec![me], seconds))];
        for server in self.servers_covered_by(id) {
            let s = ResourceRef::new("server", server);
            actions.push(self.start_action(NewAction::new("apply_firewall", vec![me, s], seconds).locks(vec![s])));
        }
        Ok(json!({"actions": actions.iter().map(|a| self.action_json(*a)).collect::<Vec<_>>()}))
    }

    /// `apply_to_resources`.
    pub fn apply_firewall_to_resources(&mut self, id: u64, request: ApplyToResources) -> Result<Value, ApiError> {
        let fw = self.find_unlocked::<Firewall>(id)?;
        let mut targets = Vec::new();
        for target in &request.apply_to {
            let target = self.target(target)?;
            if fw.applied_to.contains(&target) || targets.contains(&target) {
                return Err(ApiError::unprocessable(
                    "firewall_already_applied",
                    "firewall is already applied to this resource",
                ));
            }
            targets.push(target);
        }
        self.firewalls
            .get_mut(&id)
            .expect("invariant: found above")
            .applied_to
            .extend(targets);
        let actions = self.reconcile_all_firewalls(true);
        Ok(json!({"actions": actions.iter().map(|a| self.action_json(*a)).collect::<Vec<_>>()}))
    }

    /// `remove_from_resources`.
    pub fn remove_firewall_from_resources(&mut self, id: u64, request: RemoveFromResources) -> Result<Value, ApiError> {
        let fw = self.find_unlocked::<Firewall>(id)?;
        let by_selector = self.selector_matches(id);
        let mut removed = Vec::new();
        for target in &request.remove_from {
            let target = match (target.kind.as_str(), &target.server, &target.label_selector) {
                ("server", Some(server), None) => ApplyTarget::Server(server.id.0),
                ("label_selector", None, Some(sel)) => ApplyTarget::Selector(sel.selector.clone()),
                _ => return Err(ApiError::invalid_field("type", "type and its object do not match")),
            };
            if !fw.applied_to.contains(&target) {
                if let ApplyTarget::Server(server) = target
                    && by_selector.contains(&server)
                {
                    return Err(ApiError::unprocessable(
                        "firewall_managed_by_label_selector",
                        "the server is covered by a label selector of this firewall",
                    ));
                }
                return Err(ApiError::new(
                    404,
                    "firewall_resource_not_found",
                    "the firewall is not applied to this resource",
                ));
            }
            removed.push(target);
        }
        let before = self.servers_covered_by(id);
        self.firewalls
            .get_mut(&id)
            .expect("invariant: found above")
            .applied_to
            .retain(|t| !removed.contains(t));
        let mut actions = Vec::new();
        for server in before {
            if !self.firewalls_for_server(server).contains(&id) {
                self.reconcile_server_firewalls(server, None);
                let seconds = self.durations.small;
                let refs = vec![ResourceRef::new("firewall", id), ResourceRef::new("server", server)];
                actions.push(self.start_action(NewAction::new("remove_firewall", refs, seconds)));
            }
        }
        Ok(json!({"actions": actions.iter().map(|a| self.action_json(*a)).collect::<Vec<_>>()}))
    }
}

/// The rules of every firewall applied to one server, merged: what the server's public
/// interface lets through. Hetzner evaluates them statefully at the hypervisor: inbound has
/// an implicit deny (no inbound rule drops everything), outbound allows everything until a
/// first outbound rule exists. Private network traffic never passes them (reference:
/// Hetzner's Firewalls FAQ).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacketFilter {
    inbound: Vec<RuleMatch>,
    outbound: Vec<RuleMatch>,
}

/// One rule, parsed for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RuleMatch {
    protocol: String,
    /// The first and last port (`None`: the protocol has no ports).
    ports: Option<(u16, u16)>,
    /// The source (inbound) or destination (outbound) ranges.
    peers: Vec<IpNet>,
}

impl RuleMatch {
    /// `None` for a rule the model could not have stored (its checks failed).
    fn of(rule: &Rule) -> Option<RuleMatch> {
        let ports = match &rule.port {
            Some(port) => {
                let (first, last) = port.split_once('-').unwrap_or((port, port));
                Some((first.parse().ok()?, last.parse().ok()?))
            }
            None => None,
        };
        let peers = if rule.direction == "in" {
            &rule.source_ips
        } else {
            &rule.destination_ips
        };
        Some(RuleMatch {
            protocol: rule.protocol.clone(),
            ports,
            peers: peers.iter().filter_map(|cidr| cidr.parse().ok()).collect(),
        })
    }

    fn matches(&self, protocol: &str, port: u16, peer: IpAddr) -> bool {
        self.protocol == protocol
            && self.ports.is_none_or(|(first, last)| (first..=last).contains(&port))
            && self.peers.iter().any(|net| net.contains(&peer))
    }
}

impl PacketFilter {
    /// Returns true if and only if a new inbound connection from `source` to `port`
    /// (`tcp`, `udp`) passes: some inbound rule allows it.
    pub fn admits_inbound(&self, protocol: &str, port: u16, source: IpAddr) -> bool {
        self.inbound.iter().any(|rule| rule.matches(protocol, port, source))
    }

    /// Returns true if and only if a new outbound connection to `destination:port` passes:
    /// there is no outbound rule, or one allows it.
    pub fn admits_outbound(&self, protocol: &str, port: u16, destination: IpAddr) -> bool {
        self.outbound.is_empty()
            || self
                .outbound
                .iter()
                .any(|rule| rule.matches(protocol, port, destination))
    }
}

impl World {
    /// The filter on server `id`'s public interface: the rules of the firewalls applied to
    /// it (their `apply_firewall` finished), or `None` when none is (everything passes).
    pub fn packet_filter(&self, id: u64) -> Option<PacketFilter> {
        let server = self.servers.get(&id)?;
        if server.firewalls_applied.is_empty() {
            return None;
        }
        let mut filter = PacketFilter::default();
        let rules = server
            .firewalls_applied
            .iter()
            .filter_map(|fw| self.firewalls.get(fw))
            .flat_map(|fw| fw.rules.iter());
        for rule in rules {
            let Some(parsed) = RuleMatch::of(rule) else {
                continue;
            };
            if rule.direction == "in" {
                filter.inbound.push(parsed);
            } else {
                filter.outbound.push(parsed);
            }
        }
        Some(filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(direction: &str, protocol: &str, port: Option<&str>, peers: &[&str]) -> RuleMatch {
        let peers: Vec<String> = peers.iter().map(|p| (*p).to_string()).collect();
        let (source_ips, destination_ips) = if direction == "in" {
            (peers, Vec::new())
        } else {
            (Vec::new(), peers)
        };
        RuleMatch::of(&Rule {
            direction: direction.into(),
            protocol: protocol.into(),
            port: port.map(str::to_string),
            source_ips,
            destination_ips,
            description: None,
        })
        .expect("a valid rule")
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn inbound_is_denied_unless_a_rule_allows_outbound_is_open_until_a_rule_exists() {
        let mut filter = PacketFilter {
            inbound: vec![
                rule("in", "tcp", Some("50000"), &["203.0.113.7/32"]),
                rule("in", "tcp", Some("1-65535"), &["10.0.0.0/16"]),
            ],
            outbound: Vec::new(),
        };
        assert!(filter.admits_inbound("tcp", 50000, ip("203.0.113.7")));
        assert!(
            !filter.admits_inbound("tcp", 2380, ip("203.0.113.7")),
            "port not opened"
        );
        assert!(
            !filter.admits_inbound("udp", 50000, ip("203.0.113.7")),
            "other protocol"
        );
        assert!(filter.admits_inbound("tcp", 2380, ip("10.0.1.5")));
        assert!(!filter.admits_inbound("tcp", 2380, ip("127.1.0.3")), "implicit deny");
        assert!(
            filter.admits_outbound("tcp", 2380, ip("127.1.0.3")),
            "no outbound rule: open"
        );
        filter.outbound.push(rule("out", "tcp", Some("443"), &["0.0.0.0/0"]));
        assert!(filter.admits_outbound("tcp", 443, ip("127.1.0.3")));
        assert!(
            !filter.admits_outbound("tcp", 2380, ip("127.1.0.3")),
            "a first outbound rule denies the rest"
        );
        assert!(PacketFilter::default().admits_outbound("tcp", 1, ip("127.1.0.3")));
        assert!(
            !PacketFilter::default().admits_inbound("tcp", 1, ip("127.1.0.3")),
            "a firewall without rules drops all"
        );
    }
}
