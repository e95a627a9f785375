//! The comparison of each kind: desired and live resources matched by name; for each
//! match, which fields change in place and which force a replace; live resources left
//! unmatched are deleted. `None` marks a resource that needs nothing.

use std::collections::BTreeSet;

use super::{Action, Change, ConfigChange, ConfigReason, Field, Kind};
use crate::cluster::desired::{
    Desired, DesiredFirewall, DesiredImage, DesiredLoadBalancer, DesiredServer, LABEL_CONFIG_HASH, Priced,
};
use crate::cluster::live::{Live, LiveLoadBalancer, LiveServer};
use crate::spec::Labels;

/// Every kind's outcomes: a change, or `None` for a resource already as desired.
pub(super) fn all(desired: &Desired, live: &Live) -> Vec<Option<Change>> {
    let mut out = Vec::new();
    network(desired, live, &mut out);
    firewalls(desired, live, &mut out);
    placement_groups(desired, live, &mut out);
    primary_ips(desired, live, &mut out);
    floating_ip(desired, live, &mut out);
    servers(desired, live, &mut out);
    load_balancers(desired, live, &mut out);
    out
}

/// A change being built.
struct Builder {
    change: Change,
}

impl Builder {
    fn new(kind: Kind, name: &str, action: Action, id: Option<i64>) -> Builder {
        Builder {
            change: Change {
                kind,
                name: name.to_string(),
                action,
                id,
                reasons: Vec::new(),
                fields: Vec::new(),
                old_cost: None,
                new_cost: None,
            },
        }
    }

    fn field(mut self, field: Field) -> Builder {
        self.change.fields.push(field);
        self
    }

    fn costs(mut self, old: Option<Priced>, new: Option<Priced>) -> Builder {
        self.change.old_cost = old;
        self.change.new_cost = new;
        self
    }

    fn done(self) -> Change {
        self.change
    }
}

/// Compares a matched pair: replace when a reason exists, update when fields differ,
/// `None` otherwise.
fn compared(mut change: Change, reasons: Vec<String>, fields: Vec<Field>) -> Option<Change> {
    if !reasons.is_empty() {
        change.action = Action::Replace;
    } else if !fields.is_empty() {
        change.action = Action::Update;
    } else {
        return None;
    }
    change.reasons = reasons;
    change.fields = fields;
    Some(change)
}

fn matched(kind: Kind, name: &str, id: i64, old: Priced, new: Priced) -> Change {
    Builder::new(kind, name, Action::Update, Some(id))
        .costs(Some(old), Some(new))
        .done()
}

fn deleted(kind: Kind, name: &str, id: i64, cost: Priced) -> Option<Change> {
    Some(
        Builder::new(kind, name, Action::Delete, Some(id))
            .costs(Some(cost), None)
            .done(),
    )
}

/// The label differences, `labels.KEY` fields; `ignore` keys are compared elsewhere.
fn label_fields(desired: &Labels, live: &Labels, ignore: &[&str]) -> Vec<Field> {
    let keys: BTreeSet<&String> = desired.keys().chain(live.keys()).collect();
    keys.into_iter()
        .filter(|key| !ignore.contains(&key.as_str()))
        .filter(|key| desired.get(*key) != live.get(*key))
        .map(|key| Field {
            name: format!("labels.{key}"),
            from: live.get(key).cloned(),
            to: desired.get(key).cloned(),
        })
        .collect()
}

/// `old → new` for a replace reason.
fn reason(what: &str, old: &str, new: &str) -> String {
    format!("{what} {old} → {new}")
}

fn network(desired: &Desired, live: &Live, out: &mut Vec<Option<Change>>) {
    let want = &desired.network;
    let subnet_text = format!("{} {}", want.subnet.0, want.subnet.1);
    match live.networks.iter().find(|n| n.name == want.name) {
        None => out.push(Some(
            Builder::new(Kind::Network, &want.name, Action::Create, None)
                .field(Field::set("ip_range", &want.ip_range))
                .field(Field::set("subnet", &subnet_text))
                .costs(None, Some(Priced::Free))
                .done(),
        )),
        Some(have) => {
            let mut reasons = Vec::new();
            if have.ip_range != want.ip_range {
                reasons.push(reason("ip_range", &have.ip_range, &want.ip_range));
            }
            let mut fields = Vec::new();
            if !have.subnets.contains(&want.subnet) {
                fields.push(Field {
                    name: "subnet".into(),
                    from: None,
                    to: Some(subnet_text),
                });
            }
            fields.extend(label_fields(&want.labels, &have.labels, &[]));
            let change = matched(Kind::Network, &want.name, have.id, Priced::Free, Priced::Free);
            out.push(compared(change, reasons, fields));
        }
    }
    for extra in live.networks.iter().filter(|n| n.name != want.name) {
        out.push(deleted(Kind::Network, &extra.name, extra.id, Priced::Free));
    }
}

fn firewall_fields(want: &DesiredFirewall, have: &[crate::cluster::desired::FirewallRule]) -> Vec<Field> {
    let mut fields: Vec<Field> = have
        .iter()
        .filter(|rule| !want.rules.contains(rule))
        .map(|rule| Field {
            name: "rule".into(),
            from: Some(rule.to_string()),
            to: None,
        })
        .collect();
    fields.extend(
        want.rules
            .iter()
            .filter(|rule| !have.contains(rule))
            .map(|rule| Field::set("rule", rule)),
    );
    fields
}

fn firewalls(desired: &Desired, live: &Live, out: &mut Vec<Option<Change>>) {
    for want in &desired.firewalls {
        match live.firewalls.iter().find(|f| f.name == want.name) {
            None => {
                let mut builder =
                    Builder::new(Kind::Firewall, &want.name, Action::Create, None).costs(None, Some(Priced::Free));
                for rule in &want.rules {
                    builder = builder.field(Field::set("rule", rule));
                }
                out.push(Some(builder.done()));
            }
            Some(have) => {
                let mut fields = firewall_fields(want, &have.rules);
                fields.extend(label_fields(&want.labels, &have.labels, &[]));
                let change = matched(Kind::Firewall, &want.name, have.id, Priced::Free, Priced::Free);
                out.push(compared(change, Vec::new(), fields));
            }
        }
    }
    for extra in live
        .firewalls
        .iter()
        .filter(|f| !desired.firewalls.iter().any(|w| w.name == f.name))
    {
        out.push(deleted(Kind::Firewall, &extra.name, extra.id, Priced::Free));
    }
}

fn placement_groups(desired: &Desired, live: &Live, out: &mut Vec<Option<Change>>) {
    for want in &desired.placement_groups {
        match live.placement_groups.iter().find(|g| g.name == want.name) {
            None => out.push(Some(
                Builder::new(Kind::PlacementGroup, &want.name, Action::Create, None)
                    .field(Field::set("type", "spread"))
                    .field(Field::set("servers", want.members.join(", ")))
                    .costs(None, Some(Priced::Free))
                    .done(),
            )),
            Some(have) => {
                let fields = label_fields(&want.labels, &have.labels, &[]);
                let change = matched(Kind::PlacementGroup, &want.name, have.id, Priced::Free, Priced::Free);
                out.push(compared(change, Vec::new(), fields));
            }
        }
    }
    for extra in live
        .placement_groups
        .iter()
        .filter(|g| !desired.placement_groups.iter().any(|w| w.name == g.name))
    {
        out.push(deleted(Kind::PlacementGroup, &extra.name, extra.id, Priced::Free));
    }
}

fn primary_ips(desired: &Desired, live: &Live, out: &mut Vec<Option<Change>>) {
    for want in &desired.primary_ips {
        let cost = Priced::PrimaryIpv4 {
            location: want.location.clone(),
        };
        match live.primary_ips.iter().find(|ip| ip.name == want.name) {
            None => out.push(Some(
                Builder::new(Kind::PrimaryIp, &want.name, Action::Create, None)
                    .field(Field::set("type", "ipv4"))
                    .field(Field::set("location", &want.location))
                    .field(Field::set("auto_delete", false))
                    .costs(None, Some(cost))
                    .done(),
            )),
            Some(have) => {
                let mut reasons = Vec::new();
                if !have.location.is_empty() && have.location != want.location {
                    reasons.push(reason("location", &have.location, &want.location));
                }
                let fields = label_fields(&want.labels, &have.labels, &[]);
                let change = matched(Kind::PrimaryIp, &want.name, have.id, have.priced(), cost);
                out.push(compared(change, reasons, fields));
            }
        }
    }
    for extra in live
        .primary_ips
        .iter()
        .filter(|ip| !desired.primary_ips.iter().any(|w| w.name == ip.name))
    {
        out.push(deleted(Kind::PrimaryIp, &extra.name, extra.id, extra.priced()));
    }
}

fn floating_ip(desired: &Desired, live: &Live, out: &mut Vec<Option<Change>>) {
    if let Some(want) = &desired.floating_ip {
        let cost = Priced::FloatingIpv4 {
            location: want.home_location.clone(),
        };
        match live.floating_ips.iter().find(|ip| ip.name == want.name) {
            None => out.push(Some(
                Builder::new(Kind::FloatingIp, &want.name, Action::Create, None)
                    .field(Field::set("type", "ipv4"))
                    .field(Field::set("home_location", &want.home_location))
                    .costs(None, Some(cost))
                    .done(),
            )),
            Some(have) => {
                let mut reasons = Vec::new();
                if have.home_location != want.home_location {
                    reasons.push(reason("home_location", &have.home_location, &want.home_location));
                }
                let fields = label_fields(&want.labels, &have.labels, &[]);
                let change = matched(Kind::FloatingIp, &want.name, have.id, have.priced(), cost);
                out.push(compared(change, reasons, fields));
            }
        }
    }
    let wanted = desired.floating_ip.as_ref().map(|ip| ip.name.as_str());
    for extra in live.floating_ips.iter().filter(|ip| Some(ip.name.as_str()) != wanted) {
        out.push(deleted(Kind::FloatingIp, &extra.name, extra.id, extra.priced()));
    }
}

fn image_text(image: &DesiredImage, desired: &Desired, arch: &str) -> String {
    match image {
        DesiredImage::Snapshot { id } => format!("{id} (talos {} {arch})", desired.talos_version),
        DesiredImage::Missing => format!(
            "none yet: talos {} {arch} (run `talos-hcloud image build`)",
            desired.talos_version
        ),
    }
}

fn server_reasons(want: &DesiredServer, have: &LiveServer, desired: &Desired) -> Vec<String> {
    let mut reasons = Vec::new();
    if have.server_type != want.server_type {
        reasons.push(reason("server_type", &have.server_type, &want.server_type));
    }
    if have.location != want.location {
        reasons.push(reason("location", &have.location, &want.location));
    }
    if let Some(image) = &have.image {
        let same_talos = image.talos_version.as_deref() == Some(desired.talos_version.as_str())
            && image.schematic.as_deref() == Some(desired.schematic.as_str());
        if !same_talos {
            let old = match &image.talos_version {
                Some(version) => format!("{} (talos {version})", image.id),
                None => image.id.to_string(),
            };
            let new = image_text(&want.image, desired, want.architecture.as_str());
            reasons.push(reason("image", &old, &new));
        }
    }
    reasons
}

fn servers(desired: &Desired, live: &Live, out: &mut Vec<Option<Change>>) {
    for want in &desired.servers {
        match live.servers.iter().find(|s| s.name == want.name) {
            None => out.push(Some(
                Builder::new(Kind::Server, &want.name, Action::Create, None)
                    .field(Field::set("server_type", &want.server_type))
                    .field(Field::set(
                        "image",
                        image_text(&want.image, desired, want.architecture.as_str()),
                    ))
                    .field(Field::set("location", &want.location))
                    .field(Field::set("private_ip", want.private_ip))
                    .field(Field::set("primary_ip", &want.primary_ip))
                    .field(Field::set("placement_group", &want.placement_group))
                    .field(Field::set("firewall", &want.firewall))
                    .costs(None, Some(want.priced()))
                    .done(),
            )),
            Some(have) => {
                let reasons = server_reasons(want, have, desired);
                let mut fields = Vec::new();
                if let Some(ip) = have.private_ip
                    && ip != want.private_ip
                {
                    fields.push(Field::changed("private_ip", ip, want.private_ip));
                }
                if have.placement_group.as_deref() != Some(want.placement_group.as_str()) {
                    fields.push(Field {
                        name: "placement_group".into(),
                        from: have.placement_group.clone(),
                        to: Some(want.placement_group.clone()),
                    });
                }
                if have.protected != want.protected {
                    let text = |on: bool| if on { "on" } else { "off" };
                    fields.push(Field::changed("protection", text(have.protected), text(want.protected)));
                }
                fields.extend(label_fields(&want.labels, &have.labels, &[LABEL_CONFIG_HASH]));
                let change = matched(Kind::Server, &want.name, have.id, have.priced(), want.priced());
                out.push(compared(change, reasons, fields));
            }
        }
    }
    for extra in live
        .servers
        .iter()
        .filter(|s| !desired.servers.iter().any(|w| w.name == s.name))
    {
        out.push(deleted(Kind::Server, &extra.name, extra.id, extra.priced()));
    }
}

fn load_balancer_fields(want: &DesiredLoadBalancer, have: &LiveLoadBalancer) -> Vec<Field> {
    let mut fields = Vec::new();
    if have.lb_type != want.lb_type {
        fields.push(Field::changed("load_balancer_type", &have.lb_type, &want.lb_type));
    }
    for service in &want.services {
        match have.services.iter().find(|s| s.listen == service.listen) {
            None => fields.push(Field::set("service", service)),
            Some(old) if old != service => fields.push(Field::changed("service", old, service)),
            Some(_) => {}
        }
    }
    for old in have
        .services
        .iter()
        .filter(|s| !want.services.iter().any(|w| w.listen == s.listen))
    {
        fields.push(Field {
            name: "service".into(),
            from: Some(old.to_string()),
            to: None,
        });
    }
    if !have.target_selectors.contains(&want.target_selector) {
        fields.push(Field::set("target", format!("label_selector {}", want.target_selector)));
    }
    for old in have.target_selectors.iter().filter(|s| **s != want.target_selector) {
        fields.push(Field {
            name: "target".into(),
            from: Some(format!("label_selector {old}")),
            to: None,
        });
    }
    fields.extend(label_fields(&want.labels, &have.labels, &[]));
    fields
}

fn load_balancers(desired: &Desired, live: &Live, out: &mut Vec<Option<Change>>) {
    for want in &desired.load_balancers {
        match live.load_balancers.iter().find(|lb| lb.name == want.name) {
            None => {
                let mut builder = Builder::new(Kind::LoadBalancer, &want.name, Action::Create, None)
                    .field(Field::set("load_balancer_type", &want.lb_type))
                    .field(Field::set("location", &want.location));
                for service in &want.services {
                    builder = builder.field(Field::set("service", service));
                }
                builder = builder
                    .field(Field::set(
                        "target",
                        format!("label_selector {} (private IPs)", want.target_selector),
                    ))
                    .costs(None, Some(want.priced()));
                out.push(Some(builder.done()));
            }
            Some(have) => {
                let mut reasons = Vec::new();
                if have.location != want.location {
                    reasons.push(reason("location", &have.location, &want.location));
                }
                let fields = load_balancer_fields(want, have);
                let change = matched(Kind::LoadBalancer, &want.name, have.id, have.priced(), want.priced());
                out.push(compared(change, reasons, fields));
            }
        }
    }
    for extra in live
        .load_balancers
        .iter()
        .filter(|lb| !desired.load_balancers.iter().any(|w| w.name == lb.name))
    {
        out.push(deleted(Kind::LoadBalancer, &extra.name, extra.id, extra.priced()));
    }
}

/// The nodes whose machine config is to be applied: new and replaced servers, and
/// servers whose recorded hash differs from the rendered config's.
pub(super) fn configs(desired: &Desired, live: &Live, changes: &[Change]) -> Vec<ConfigChange> {
    let mut out = Vec::new();
    for want in &desired.servers {
        let Some(hash) = &want.config_hash else { continue };
        let change = changes
            .iter()
            .find(|c| c.kind == Kind::Server && c.name == want.name && c.action != Action::Delete);
        let have = live.servers.iter().find(|s| s.name == want.name);
        let recorded = have.and_then(|s| s.labels.get(LABEL_CONFIG_HASH)).cloned();
        let reason = match change.map(|c| c.action) {
            Some(Action::Create) => ConfigReason::NewNode,
            Some(Action::Replace) => ConfigReason::Replaced,
            _ if recorded.as_ref() != Some(hash) => ConfigReason::Changed,
            _ => continue,
        };
        out.push(ConfigChange {
            node: want.node.clone(),
            server: want.name.clone(),
            from: recorded,
            to: hash.clone(),
            reason,
        });
    }
    out
}
