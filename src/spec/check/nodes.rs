//! `controlplane:` and `workers:`: each group's pool name, server type, location and node
//! names (from `count` or `nodes`, with per-node locations and addresses), then the rules
//! across groups: unique pools and node names, and resource names within Hetzner's length.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::str::FromStr;

use super::Checker;
use crate::excerpt::excerpt;
use crate::spec::catalog::{self, MAX_NAME_LENGTH, MAX_POOL_NODES, MAX_SERVERS_PER_PLACEMENT_GROUP};
use crate::spec::diagnostic::{Span, Spanned};
use crate::spec::model::{Location, NetworkZone, Node, NodeGroup, Role, ServerType};
use crate::spec::names::{NodeName, PoolName, Prefix};
use crate::spec::raw::{RawGroup, RawNode, example};
use crate::spec::reader;
use crate::spec::resources;

/// A node before the cross-group checks, with where it was declared.
pub(super) struct NodeDraft {
    pub(super) node: Node,
    /// The field diagnostics about this node name (`controlplane.nodes[1]`, `….name` or
    /// the `count` that generated it).
    pub(super) field: String,
    /// Where the node's name is written (or its `count:`).
    pub(super) span: Span,
    /// Where its fixed address is written, when it has one.
    pub(super) ip_span: Option<Span>,
}

/// A group before the cross-group checks.
pub(super) struct GroupDraft {
    pub(super) role: Role,
    pub(super) pool: Option<Spanned<PoolName>>,
    pub(super) server_type: Spanned<ServerType>,
    /// The field of the server type (`controlplane.type`, `workers[0].type`).
    pub(super) type_field: String,
    pub(super) nodes: Vec<NodeDraft>,
}

/// One node of a group as written (an entry of `nodes:`, or one numbered from `count:`),
/// before the group as a whole is known to be valid.
struct DeclaredNode {
    /// The node's name; `None` when it is invalid (already reported).
    name: Option<Spanned<NodeName>>,
    /// The field diagnostics about this node name.
    field: String,
    /// Where the name is written (or the `count:` it was generated from).
    span: Span,
    /// The node's own location, when it overrides the group's.
    location: Option<Location>,
    /// The node's fixed private address, when it has one.
    ip: Option<Spanned<Ipv4Addr>>,
}

/// The nodes of a group as written, with where the group's size is written (for the rule
/// on the number of control plane nodes).
struct DeclaredNodes {
    nodes: Vec<DeclaredNode>,
    size_span: Span,
    size_field: String,
    /// False when a problem with one of the nodes was reported.
    ok: bool,
}

impl Checker<'_, '_> {
    /// Checks one group; `None` when anything in it is wrong (reported).
    pub(super) fn group(
        &mut self,
        raw: &RawGroup,
        role: Role,
        default_location: Option<Location>,
        zone: Option<NetworkZone>,
    ) -> Option<GroupDraft> {
        let path = raw.path.as_str();
        let mut ok = true;
        let pool = match (&raw.pool, role) {
            (Some(p), Role::Worker) => {
                let parsed = self.spanned_name(p, &reader::join(path, "pool"), "pool name", PoolName::parse);
                ok &= parsed.is_some();
                parsed
            }
            (None, Role::Worker) => {
                ok = false;
                None
            }
            (_, Role::ControlPlane) => None,
        };
        let type_field = reader::join(path, "type");
        let server_type = raw.server_type.as_ref().and_then(|t| {
            self.known(
                t,
                &type_field,
                "server type",
                example::SERVER_TYPE,
                catalog::SERVER_TYPES.iter().map(|t| t.name),
                ServerType::from_name,
            )
            .map(|st| Spanned::new(st, t.span))
        });
        let group_location = match &raw.location {
            Some(l) => {
                let parsed = self.location_in_zone(l, path, zone);
                ok &= parsed.is_some();
                parsed
            }
            None => default_location,
        };
        let declared = self.declared_nodes(raw, role, pool.as_ref(), zone)?;
        ok &= declared.ok;
        if role == Role::ControlPlane {
            ok &= self.odd_control_plane(&declared);
        }
        let server_type = server_type?;
        let group_location = group_location?;
        if !ok {
            return None;
        }
        let nodes = declared
            .nodes
            .into_iter()
            .filter_map(|declared| {
                let name = declared.name?;
                Some(NodeDraft {
                    node: Node {
                        name: name.value,
                        role,
                        pool: pool.as_ref().map(|p| p.value.clone()),
                        server_type: server_type.value,
                        architecture: server_type.value.architecture(),
                        location: declared.location.unwrap_or(group_location),
                        ip: declared.ip.as_ref().map(|ip| ip.value),
                    },
                    field: declared.field,
                    span: declared.span,
                    ip_span: declared.ip.map(|ip| ip.span),
                })
            })
            .collect();
        Some(GroupDraft {
            role,
            pool,
            server_type,
            type_field,
            nodes,
        })
    }

    /// The group's nodes: from `nodes`, or numbered from `count`. `None` when neither or
    /// both are given, or the count is out of range (reported).
    fn declared_nodes(
        &mut self,
        raw: &RawGroup,
        role: Role,
        pool: Option<&Spanned<PoolName>>,
        zone: Option<NetworkZone>,
    ) -> Option<DeclaredNodes> {
        let path = raw.path.as_str();
        match (&raw.count, &raw.nodes) {
            // Present but unreadable: already reported.
            (None, None) if raw.has_count || raw.has_nodes => None,
            (None, None) => {
                self.error(
                    raw.anchor,
                    path,
                    format!("`{path}` needs `count` or `nodes`"),
                    example::COUNT,
                    None,
                );
                None
            }
            _ if raw.has_count && raw.has_nodes => {
                let span = raw.count.as_ref().map(|c| c.span).unwrap_or(raw.anchor);
                self.error(
                    span,
                    &reader::join(path, "count"),
                    "give either `count` or `nodes`, not both",
                    example::NODES,
                    None,
                );
                None
            }
            (Some(count), _) => self.counted_nodes(count, &reader::join(path, "count"), role, pool),
            (None, Some(nodes)) => Some(self.listed_nodes(nodes, &reader::join(path, "nodes"), role, zone)),
        }
    }

    /// Nodes numbered from `count:` (`cp-1`, `general-1`, …); `None` when the count is out
    /// of range.
    fn counted_nodes(
        &mut self,
        count: &Spanned<i64>,
        count_field: &str,
        role: Role,
        pool: Option<&Spanned<PoolName>>,
    ) -> Option<DeclaredNodes> {
        let described = format!("count {}", count.value);
        if !self.group_size_in_range(count.value, &described, role, count.span, count_field, example::COUNT) {
            return None;
        }
        let mut declared = DeclaredNodes {
            nodes: Vec::new(),
            size_span: count.span,
            size_field: count_field.to_owned(),
            ok: true,
        };
        let stem = match role {
            Role::ControlPlane => Some("cp"),
            Role::Worker => pool.map(|p| p.value.as_str()),
        };
        let Some(stem) = stem else {
            return Some(declared);
        };
        for index in 1..=count.value {
            let text = format!("{stem}-{index}");
            match NodeName::parse(&text) {
                Ok(name) => declared.nodes.push(DeclaredNode {
                    name: Some(Spanned::new(name, count.span)),
                    field: count_field.to_owned(),
                    span: count.span,
                    location: None,
                    ip: None,
                }),
                Err(e) => {
                    self.error(
                        count.span,
                        count_field,
                        format!("the generated node name `{}` is not valid: {e}", excerpt(&text)),
                        "a shorter pool name",
                        None,
                    );
                    declared.ok = false;
                }
            }
        }
        Some(declared)
    }

    /// The entries of `nodes:`, each checked, and the list's length.
    fn listed_nodes(
        &mut self,
        nodes: &Spanned<Vec<RawNode>>,
        nodes_field: &str,
        role: Role,
        zone: Option<NetworkZone>,
    ) -> DeclaredNodes {
        let mut declared = DeclaredNodes {
            nodes: Vec::new(),
            size_span: nodes.span,
            size_field: nodes_field.to_owned(),
            ok: true,
        };
        for node in &nodes.value {
            let (entry, ok) = self.listed_node(node, zone);
            declared.nodes.push(entry);
            declared.ok &= ok;
        }
        let length = nodes.value.len();
        let size = i64::try_from(length).unwrap_or(i64::MAX);
        let described = format!("{length} nodes");
        if !self.group_size_in_range(size, &described, role, nodes.span, nodes_field, example::NODES) {
            declared.ok = false;
        }
        declared
    }

    /// One entry of `nodes:` (a bare name or a mapping with name, location and address),
    /// and whether it is free of problems.
    fn listed_node(&mut self, node: &RawNode, zone: Option<NetworkZone>) -> (DeclaredNode, bool) {
        let mut ok = true;
        let field = if node.location.is_none() && node.ip.is_none() && node_is_bare(node) {
            node.path.clone()
        } else {
            reader::join(&node.path, "name")
        };
        let name = node
            .name
            .as_ref()
            .and_then(|n| self.spanned_name(n, &field, "node name", NodeName::parse));
        ok &= name.is_some() || node.name.is_none();
        let location = match &node.location {
            Some(l) => {
                let parsed = self.location_in_zone(l, &node.path, zone);
                ok &= parsed.is_some();
                parsed
            }
            None => None,
        };
        let ip = match &node.ip {
            Some(ip) => match Ipv4Addr::from_str(ip.value.trim()) {
                Ok(addr) => Some(Spanned::new(addr, ip.span)),
                Err(_) => {
                    self.error(
                        ip.span,
                        &reader::join(&node.path, "ip"),
                        format!("`{}` is not an IPv4 address", excerpt(&ip.value).escape_debug()),
                        example::NODE_IP,
                        None,
                    );
                    ok = false;
                    None
                }
            },
            None => None,
        };
        if node.name.is_none() {
            ok = false;
        }
        let span = node.name.as_ref().map(|n| n.span).unwrap_or(node.anchor);
        let declared = DeclaredNode {
            name,
            field,
            span,
            location,
            ip,
        };
        (declared, ok)
    }

    /// Reports a group size out of range: the control plane needs one to ten nodes (one
    /// spread placement group), a pool up to [`MAX_POOL_NODES`] (split into groups of ten);
    /// true when it is in range. `described` is the size as
    /// the message shows it (`count 11`, `12 nodes`).
    fn group_size_in_range(
        &mut self,
        size: i64,
        described: &str,
        role: Role,
        span: Span,
        field: &str,
        expected: &str,
    ) -> bool {
        let (minimum, maximum, why) = match role {
            Role::ControlPlane => (1, MAX_SERVERS_PER_PLACEMENT_GROUP, "one spread placement group"),
            Role::Worker => (0, MAX_POOL_NODES, "a project's placement groups of ten"),
        };
        if size >= minimum && size <= maximum as i64 {
            return true;
        }
        self.error(
            span,
            field,
            format!(
                "{described} is out of range: a group holds {minimum} to {maximum} nodes ({why}); split bigger groups into several pools"
            ),
            expected,
            None,
        );
        false
    }

    /// Reports an even number of control plane nodes (etcd keeps a majority only with an
    /// odd number); true when the number is fine.
    fn odd_control_plane(&mut self, declared: &DeclaredNodes) -> bool {
        let size = declared.nodes.len();
        if !size.is_multiple_of(2) || size == 0 {
            return true;
        }
        self.error(
            declared.size_span,
            &declared.size_field,
            format!("{size} control plane nodes: etcd needs an odd number to keep a majority (1, 3 or 5)"),
            "an odd number of control plane nodes, e.g. `3`",
            None,
        );
        false
    }

    pub(super) fn unique_pools(&mut self, workers: &[GroupDraft]) {
        let mut seen = BTreeSet::new();
        for (index, group) in workers.iter().enumerate() {
            if let Some(pool) = &group.pool
                && !seen.insert(pool.value.clone())
            {
                self.error(
                    pool.span,
                    &format!("workers[{index}].pool"),
                    format!("pool `{}` is declared twice", pool.value),
                    "a pool name used once",
                    None,
                );
            }
        }
    }

    pub(super) fn unique_nodes(&mut self, groups: &[&GroupDraft]) {
        let mut seen = BTreeMap::new();
        for draft in groups.iter().flat_map(|g| g.nodes.iter()) {
            if let Some(first) = seen.insert(draft.node.name.clone(), draft.field.clone()) {
                self.error(
                    draft.span,
                    &draft.field,
                    format!("node name `{}` is already used by {first}", draft.node.name),
                    "node names unique across the control plane and all pools",
                    None,
                );
            }
        }
    }

    pub(super) fn node_name_lengths(&mut self, groups: &[&GroupDraft], prefix: &Spanned<Prefix>) {
        let mut reported = BTreeSet::new();
        for draft in groups.iter().flat_map(|g| g.nodes.iter()) {
            let name = resources::server_name(prefix.value.as_str(), draft.node.name.as_str());
            let length = name.chars().count();
            if length > MAX_NAME_LENGTH && reported.insert((draft.span, draft.field.clone())) {
                self.error(
                    draft.span,
                    &draft.field,
                    format!("the server name `{name}` is {length} characters long, Hetzner allows {MAX_NAME_LENGTH}"),
                    "a shorter prefix or node name",
                    None,
                );
            }
        }
    }

    pub(super) fn derived_name_lengths(&mut self, prefix: &Spanned<Prefix>, workers: &[GroupDraft]) {
        let p = prefix.value.as_str();
        let longest_fixed = [
            resources::network_name(p),
            resources::firewall_name(p, Role::ControlPlane),
            resources::firewall_name(p, Role::Worker),
            resources::placement_group_name(p, None),
            resources::api_endpoint_name(p),
        ]
        .into_iter()
        .max_by_key(|n| n.chars().count());
        if let Some(name) = longest_fixed
            && name.chars().count() > MAX_NAME_LENGTH
        {
            self.error(
                prefix.span,
                "prefix",
                format!(
                    "the resource name `{name}` would be {} characters long, Hetzner allows {MAX_NAME_LENGTH}",
                    name.chars().count()
                ),
                "a shorter prefix",
                None,
            );
            return;
        }
        for (index, group) in workers.iter().enumerate() {
            if let Some(pool) = &group.pool {
                let name = resources::placement_group_name(p, Some(pool.value.as_str()));
                let length = name.chars().count();
                if length > MAX_NAME_LENGTH {
                    self.error(
                        pool.span,
                        &format!("workers[{index}].pool"),
                        format!("the placement group name `{}` is {length} characters long, Hetzner allows {MAX_NAME_LENGTH}", excerpt(&name)),
                        "a shorter prefix or pool name",
                        None,
                    );
                }
            }
        }
    }
}

/// The checked group, without the positions the cross-group checks needed.
pub(super) fn finish_group(draft: GroupDraft) -> NodeGroup {
    NodeGroup {
        role: draft.role,
        pool: draft.pool.map(|p| p.value),
        server_type: draft.server_type.value,
        nodes: draft.nodes.into_iter().map(|d| d.node).collect(),
    }
}

/// Returns true if and only if a node list entry was written as a bare name (`- cp-1`).
fn node_is_bare(node: &RawNode) -> bool {
    node.name.as_ref().is_some_and(|n| n.span == node.anchor)
}
