//! Load balancers: services, targets (servers, label selectors resolved continuously, IPs),
//! private networks and a public IPv4 from 127.3.0.0/16. Changes hold the load balancer,
//! so parallel changes get `conflict`. Target health is `healthy` while the server runs.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::catalog::{self, LoadBalancerType, Location};
use super::super::error::ApiError;
use super::super::label_selector::{Labels, Selector};
use super::super::pagination::ListRules;
use super::catalog_views::requested_location;
use super::resource::{Busy, DeleteProtected, Resource, delete_protected, stored_in};
use super::servers::ServerStatus;
use super::{FlexId, IdKind, IdOrName, IdRef, NewAction, ResourceRef, SelectorRef, World, check_labels, labels_json};

/// A load balancer target.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// One server.
    Server {
        /// Server ID.
        id: u64,
        /// Reach it on its private IP.
        use_private_ip: bool,
    },
    /// Every server matching a selector.
    Selector {
        /// The selector.
        selector: String,
        /// Reach them on their private IPs.
        use_private_ip: bool,
    },
    /// An IP address.
    Ip {
        /// The address.
        ip: String,
    },
}

/// A load balancer.
#[derive(Debug, Clone)]
pub struct LoadBalancer {
    /// ID.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Type.
    pub lb_type: &'static LoadBalancerType,
    /// Location.
    pub location: &'static Location,
    /// `round_robin` or `least_connections`.
    pub algorithm: String,
    /// Services as rendered (normalised JSON objects).
    pub services: Vec<Value>,
    /// Targets.
    pub targets: Vec<Target>,
    /// Private networks (network, IP).
    pub private_net: Vec<(u64, String)>,
    /// Public interface enabled.
    pub public_enabled: bool,
    /// Public IPv4 (127.3.x.y).
    pub ipv4: String,
    /// Public IPv6.
    pub ipv6: String,
    /// Delete protection.
    pub protect_delete: bool,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: u64,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct HealthCheckHttp {
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_codes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct HealthCheck {
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<HealthCheckHttp>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct ServiceHttp {
    #[serde(skip_serializing_if = "Option::is_none")]
    cookie_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cookie_lifetime: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificates: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_http: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sticky_sessions: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_idle: Option<u32>,
}

/// A service in `create` or `add_service`/`update_service` (update: all but
/// `listen_port` optional).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<String>,
    listen_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proxyprotocol: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    health_check: Option<HealthCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<ServiceHttp>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct IpRef {
    ip: String,
}

/// A target in `create`, `add_target` or `remove_target`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRequest {
    #[serde(rename = "type")]
    kind: String,
    server: Option<IdRef>,
    label_selector: Option<SelectorRef>,
    ip: Option<IpRef>,
    use_private_ip: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Algorithm {
    #[serde(rename = "type")]
    kind: String,
}

/// `POST /load_balancers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateLoadBalancer {
    name: String,
    load_balancer_type: IdOrName,
    location: Option<IdOrName>,
    network_zone: Option<String>,
    algorithm: Option<Algorithm>,
    services: Option<Vec<ServiceRequest>>,
    targets: Option<Vec<TargetRequest>>,
    labels: Option<Labels>,
    network: Option<FlexId>,
    public_interface: Option<bool>,
}

/// `delete_service`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteService {
    listen_port: u16,
}

/// `attach_to_network`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachLoadBalancer {
    network: FlexId,
    ip: Option<String>,
    ip_range: Option<String>,
}

/// `detach_from_network`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetachLoadBalancer {
    network: FlexId,
}

/// `change_algorithm`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeAlgorithm {
    #[serde(rename = "type")]
    kind: String,
}

/// `change_type`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeLoadBalancerType {
    load_balancer_type: IdOrName,
}

/// Merges `patch` into `base` recursively (objects merge, other values replace).
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (k, v) in patch {
                merge(base.entry(k).or_insert(Value::Null), v);
            }
        }
        (base, patch) => *base = patch,
    }
}

/// 422 `resource_limit_exceeded` when `count` of the type's `max` `what` are used up.
fn ensure_room(count: usize, max: u64, what: &str) -> Result<(), ApiError> {
    if count as u64 >= max {
        return Err(ApiError::unprocessable(
            "resource_limit_exceeded",
            format!("too many {what} for this load balancer type"),
        ));
    }
    Ok(())
}

/// A complete, normalised service from a request, with the API's defaults.
fn build_service(request: ServiceRequest) -> Result<Value, ApiError> {
    let protocol = request
        .protocol
        .clone()
        .ok_or_else(|| ApiError::invalid_field("protocol", "Missing data for required field."))?;
    if !matches!(protocol.as_str(), "tcp" | "http" | "https") {
        return Err(ApiError::invalid_field("protocol", "Must be one of: tcp, http, https."));
    }
    let destination_port = request
        .destination_port
        .ok_or_else(|| ApiError::invalid_field("destination_port", "Missing data for required field."))?;
    let mut service = json!({
        "protocol": protocol,
        "listen_port": request.listen_port,
        "destination_port": destination_port,
        "proxyprotocol": request.proxyprotocol.unwrap_or(false),
        "health_check": {
            "protocol": "tcp",
            "port": destination_port,
            "interval": 15,
            "timeout": 10,
            "retries": 3,
        },
    });
    if protocol != "tcp" {
        service["http"] = json!({
            "cookie_name": "HCLBSTICKY",
            "cookie_lifetime": 300,
            "certificates": [],
            "redirect_http": false,
            "sticky_sessions": false,
        });
    }
    let patch = serde_json::to_value(&request).expect("invariant: a request struct always serializes");
    merge(&mut service, patch);
    finish_service(&mut service)?;
    Ok(service)
}

/// Fills the http health-check defaults and checks the result.
fn finish_service(service: &mut Value) -> Result<(), ApiError> {
    let check = &mut service["health_check"];
    let hc_protocol = check["protocol"].as_str().unwrap_or("tcp").to_string();
    if !matches!(hc_protocol.as_str(), "tcp" | "http") {
        return Err(ApiError::invalid_field(
            "health_check.protocol",
            "Must be one of: http, tcp.",
        ));
    }
    if hc_protocol == "http" {
        let mut http =
            json!({"domain": null, "path": "/", "response": "", "status_codes": ["2??", "3??"], "tls": false});
        merge(&mut http, check.get("http").cloned().unwrap_or(json!({})));
        check["http"] = http;
    } else if let Some(map) = check.as_object_mut() {
        map.remove("http");
    }
    if service["protocol"] == "https" && service["http"]["certificates"].as_array().is_none_or(Vec::is_empty) {
        return Err(ApiError::invalid_field(
            "http.certificates",
            "https services need certificates, which are not emulated",
        ));
    }
    Ok(())
}

impl Resource for LoadBalancer {
    const KIND: &'static str = "load_balancer";
    const LIST: ListRules = ListRules::resources(&["id", "name", "created"]);
    const BUSY: Busy = Busy::Conflict;

    stored_in!(load_balancers);

    /// Selector targets resolved.
    fn render(&self, world: &World) -> Value {
        // A server target, written or resolved from a selector.
        let server_target = |id: u64, use_private_ip: bool| {
            json!({
                "type": "server",
                "server": {"id": id},
                "use_private_ip": use_private_ip,
                "health_status": world.health(self, Some(id)),
            })
        };
        let targets: Vec<Value> = self
            .targets
            .iter()
            .map(|t| match t {
                Target::Server { id, use_private_ip } => server_target(*id, *use_private_ip),
                Target::Selector {
                    selector,
                    use_private_ip,
                } => {
                    let resolved: Vec<Value> = world
                        .servers_matching(selector)
                        .map(|s| server_target(s.id, *use_private_ip))
                        .collect();
                    json!({
                        "type": "label_selector",
                        "label_selector": {"selector": selector},
                        "use_private_ip": use_private_ip,
                        "targets": resolved,
                    })
                }
                Target::Ip { ip } => json!({"type": "ip", "ip": {"ip": ip}, "health_status": world.health(self, None)}),
            })
            .collect();
        let mut public_net = Map::new();
        public_net.insert("enabled".into(), json!(self.public_enabled));
        public_net.insert(
            "ipv4".into(),
            json!({"ip": self.ipv4, "dns_ptr": format!("static.{}.clients.your-server.de", self.ipv4)}),
        );
        public_net.insert("ipv6".into(), json!({"ip": self.ipv6, "dns_ptr": null}));
        json!({
            "id": self.id,
            "name": self.name,
            "public_net": public_net,
            "private_net": self.private_net.iter().map(|(n, ip)| json!({"network": n, "ip": ip})).collect::<Vec<_>>(),
            "location": self.location.to_json(),
            "load_balancer_type": self.lb_type.to_json(),
            "protection": {"delete": self.protect_delete},
            "labels": labels_json(&self.labels),
            "targets": targets,
            "services": self.services,
            "algorithm": {"type": self.algorithm},
            "outgoing_traffic": 0,
            "ingoing_traffic": 0,
            "included_traffic": catalog::INCLUDED_TRAFFIC,
            "created": world.timestamp(self.created),
        })
    }
}

delete_protected!(LoadBalancer);

impl World {
    /// The load balancers that target a server, directly or by selector.
    pub(crate) fn load_balancers_targeting(&self, server: u64) -> Vec<u64> {
        self.load_balancers
            .values()
            .filter(|lb| self.resolved_targets(lb).iter().any(|(id, _)| *id == server))
            .map(|lb| lb.id)
            .collect()
    }

    /// Every server a load balancer reaches, with `use_private_ip`.
    fn resolved_targets(&self, lb: &LoadBalancer) -> Vec<(u64, bool)> {
        let mut out = Vec::new();
        for target in &lb.targets {
            match target {
                Target::Server { id, use_private_ip } => out.push((*id, *use_private_ip)),
                Target::Selector {
                    selector,
                    use_private_ip,
                } => {
                    out.extend(self.servers_matching(selector).map(|s| (s.id, *use_private_ip)));
                }
                Target::Ip { .. } => {}
            }
        }
        out
    }

    fn build_target(&self, lb_networks: &[u64], request: &TargetRequest) -> Result<Target, ApiError> {
        let use_private_ip = request.use_private_ip.unwrap_or(false);
        match (
            request.kind.as_str(),
            &request.server,
            &request.label_selector,
            &request.ip,
        ) {
            ("server", Some(server), None, None) => {
                let id = server.id.0;
                let s = self.requested_server(id)?;
                if use_private_ip {
                    if lb_networks.is_empty() {
                        return Err(ApiError::unprocessable(
                            "load_balancer_not_attached_to_network",
                            "the load balancer is not attached to a network",
                        ));
                    }
                    if !s.private_net.iter().any(|p| lb_networks.contains(&p.network)) {
                        return Err(ApiError::unprocessable(
                            "server_not_attached_to_network",
                            "the server is not attached to the load balancer's network",
                        ));
                    }
                } else if s.ipv4.is_none() {
                    return Err(ApiError::unprocessable("missing_ipv4", "the server has no public IPv4"));
                }
                Ok(Target::Server { id, use_private_ip })
            }
            ("label_selector", None, Some(sel), None) => {
                Selector::parse(&sel.selector).map_err(|why| ApiError::invalid_field("label_selector", why))?;
                if use_private_ip && lb_networks.is_empty() {
                    return Err(ApiError::unprocessable(
                        "load_balancer_not_attached_to_network",
                        "the load balancer is not attached to a network",
                    ));
                }
                Ok(Target::Selector {
                    selector: sel.selector.clone(),
                    use_private_ip,
                })
            }
            ("ip", None, None, Some(ip)) => {
                ip.ip
                    .parse::<std::net::IpAddr>()
                    .map_err(|_| ApiError::invalid_field("ip.ip", "not an IP address"))?;
                Ok(Target::Ip { ip: ip.ip.clone() })
            }
            _ => Err(ApiError::invalid_field(
                "type",
                "the target type and its object do not match",
            )),
        }
    }

    /// `POST /load_balancers`.
    pub fn create_load_balancer(&mut self, request: CreateLoadBalancer) -> Result<Value, ApiError> {
        LoadBalancer::check_name(&request.name)?;
        check_labels(&request.labels)?;
        self.ensure_name_free::<LoadBalancer>(&request.name, None)?;
        let lb_type = catalog::load_balancer_type(request.load_balancer_type.as_str()).ok_or_else(|| {
            ApiError::invalid_field(
                "load_balancer_type",
                format!("load balancer type {} not found", request.load_balancer_type.as_str()),
            )
        })?;
        let location = match (&request.location, &request.network_zone) {
            (Some(l), None) => requested_location("location", l)?,
            (None, Some(zone)) => catalog::LOCATIONS
                .iter()
                .find(|l| l.network_zone == zone)
                .ok_or_else(|| ApiError::invalid_field("network_zone", format!("unknown network zone {zone}")))?,
            _ => {
                return Err(ApiError::invalid_input(
                    "exactly one of location or network_zone is required",
                ));
            }
        };
        let algorithm = match request.algorithm.map(|a| a.kind) {
            None => "round_robin".to_string(),
            Some(a) if a == "round_robin" || a == "least_connections" => a,
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "algorithm.type",
                    "Must be one of: round_robin, least_connections.",
                ));
            }
        };
        let mut private_net = Vec::new();
        if let Some(network) = request.network {
            let ip = self.allocate_private_ip(network.0, location.network_zone, None)?;
            private_net.push((network.0, ip));
        }
        let networks: Vec<u64> = private_net.iter().map(|(n, _)| *n).collect();
        let mut services: Vec<Value> = Vec::new();
        for service in request.services.unwrap_or_default() {
            let service = build_service(service)?;
            if services.iter().any(|s| s["listen_port"] == service["listen_port"]) {
                return Err(ApiError::unprocessable(
                    "source_port_already_used",
                    "listen_port is already used",
                ));
            }
            services.push(service);
        }
        if services.len() as u64 > lb_type.max_services {
            return Err(ApiError::invalid_field(
                "services",
                "too many services for this load balancer type",
            ));
        }
        let mut targets = Vec::new();
        for target in request.targets.iter().flatten() {
            let target = self.build_target(&networks, target)?;
            if targets.contains(&target) {
                return Err(ApiError::unprocessable(
                    "target_already_defined",
                    "target is already defined",
                ));
            }
            targets.push(target);
        }
        let public_enabled = request.public_interface.unwrap_or(true);
        if !public_enabled && private_net.is_empty() {
            return Err(ApiError::unprocessable(
                "load_balancer_not_attached_to_network",
                "a load balancer without a public interface needs a network",
            ));
        }
        let id = self.new_id(IdKind::LoadBalancer);
        let (ipv4, n) = self.next_ipv4(3);
        self.load_balancers.insert(
            id,
            LoadBalancer {
                id,
                name: request.name,
                lb_type,
                location,
                algorithm,
                services,
                targets,
                private_net,
                public_enabled,
                ipv4,
                ipv6: format!("2001:db8:3:{n:x}::1"),
                protect_delete: false,
                labels: request.labels.unwrap_or_default(),
                created: self.now,
            },
        );
        let seconds = self.durations.small * 5.0;
        let action = self.start_action(NewAction::new(
            "create_load_balancer",
            vec![ResourceRef::new("load_balancer", id)],
            seconds,
        ));
        Ok(json!({"load_balancer": self.render::<LoadBalancer>(id), "action": self.action_json(action)}))
    }

    /// `DELETE /load_balancers/{id}`: 200 with a `delete_load_balancer` action. The live
    /// API returns an action since 2026-10-05 (hcloud-python 2.27.0 relies on it); the
    /// OpenAPI copy in the reference still documents 204.
    pub fn delete_load_balancer(&mut self, id: u64) -> Result<Value, ApiError> {
        self.find_unlocked::<LoadBalancer>(id)?.ensure_unprotected()?;
        let seconds = self.durations.small;
        let action = self.start_action(
            NewAction::new(
                "delete_load_balancer",
                vec![ResourceRef::new("load_balancer", id)],
                seconds,
            )
            .on_success(move |w| {
                w.load_balancers.remove(&id);
            }),
        );
        Ok(self.action_reply(action))
    }

    /// `add_service`.
    pub fn add_service(&mut self, id: u64, request: ServiceRequest) -> Result<Value, ApiError> {
        let lb = self.find_unlocked::<LoadBalancer>(id)?;
        let service = build_service(request)?;
        if lb.services.iter().any(|s| s["listen_port"] == service["listen_port"]) {
            return Err(ApiError::new(
                412,
                "source_port_already_used",
                "listen_port is already used",
            ));
        }
        ensure_room(lb.services.len(), lb.lb_type.max_services, "services")?;
        Ok(self.apply_change::<LoadBalancer>(id, "add_service", None, |lb| lb.services.push(service)))
    }

    /// `update_service` (by `listen_port`).
    pub fn update_service(&mut self, id: u64, request: ServiceRequest) -> Result<Value, ApiError> {
        let lb = self.find_unlocked::<LoadBalancer>(id)?;
        let port = request.listen_port;
        let Some(index) = lb.services.iter().position(|s| s["listen_port"] == port) else {
            return Err(ApiError::invalid_field(
                "listen_port",
                format!("no service listens on port {port}"),
            ));
        };
        let mut service = lb.services[index].clone();
        let patch = serde_json::to_value(&request).expect("invariant: a request struct always serializes");
        merge(&mut service, patch);
        finish_service(&mut service)?;
        Ok(self.apply_change::<LoadBalancer>(id, "update_service", None, |lb| lb.services[index] = service))
    }

    /// `delete_service`.
    pub fn delete_service(&mut self, id: u64, request: DeleteService) -> Result<Value, ApiError> {
        let lb = self.find_unlocked::<LoadBalancer>(id)?;
        let port = request.listen_port;
        if !lb.services.iter().any(|s| s["listen_port"] == port) {
            return Err(ApiError::invalid_field(
                "listen_port",
                format!("no service listens on port {port}"),
            ));
        }
        Ok(self.apply_change::<LoadBalancer>(id, "delete_service", None, |lb| {
            lb.services.retain(|s| s["listen_port"] != port);
        }))
    }

    /// `add_target`.
    pub fn add_target(&mut self, id: u64, request: TargetRequest) -> Result<Value, ApiError> {
        let lb = self.find_unlocked::<LoadBalancer>(id)?;
        let networks: Vec<u64> = lb.private_net.iter().map(|(n, _)| *n).collect();
        let target = self.build_target(&networks, &request)?;
        if lb.targets.contains(&target) {
            return Err(ApiError::unprocessable(
                "target_already_defined",
                "target is already defined",
            ));
        }
        ensure_room(lb.targets.len(), lb.lb_type.max_targets, "targets")?;
        let extra = match &target {
            Target::Server { id, .. } => Some(ResourceRef::new("server", *id)),
            _ => None,
        };
        Ok(self.apply_change::<LoadBalancer>(id, "add_target", extra, |lb| lb.targets.push(target)))
    }

    /// `remove_target`.
    pub fn remove_target(&mut self, id: u64, request: TargetRequest) -> Result<Value, ApiError> {
        let lb = self.find_unlocked::<LoadBalancer>(id)?;
        let target = match (
            request.kind.as_str(),
            &request.server,
            &request.label_selector,
            &request.ip,
        ) {
            ("server", Some(s), None, None) => lb
                .targets
                .iter()
                .find(|t| matches!(t, Target::Server { id, .. } if *id == s.id.0))
                .cloned(),
            ("label_selector", None, Some(sel), None) => lb
                .targets
                .iter()
                .find(|t| matches!(t, Target::Selector { selector, .. } if *selector == sel.selector))
                .cloned(),
            ("ip", None, None, Some(ip)) => lb
                .targets
                .iter()
                .find(|t| matches!(t, Target::Ip { ip: have } if *have == ip.ip))
                .cloned(),
            _ => {
                return Err(ApiError::invalid_field(
                    "type",
                    "the target type and its object do not match",
                ));
            }
        };
        let Some(target) = target else {
            return Err(ApiError::unprocessable(
                "target_not_found",
                "the load balancer has no such target",
            ));
        };
        Ok(self.apply_change::<LoadBalancer>(id, "remove_target", None, |lb| lb.targets.retain(|t| *t != target)))
    }

    /// `attach_to_network`.
    pub fn attach_load_balancer_to_network(&mut self, id: u64, request: AttachLoadBalancer) -> Result<Value, ApiError> {
        let lb = self.find_unlocked::<LoadBalancer>(id)?;
        let network = request.network.0;
        if lb.private_net.iter().any(|(n, _)| *n == network) {
            return Err(ApiError::unprocessable(
                "load_balancer_already_attached",
                "the load balancer is already attached to this network",
            ));
        }
        if request.ip.is_some() && request.ip_range.is_some() {
            return Err(ApiError::invalid_field(
                "ip_range",
                "ip and ip_range are mutually exclusive",
            ));
        }
        let zone = lb.location.network_zone;
        let ip = self.allocate_private_ip(network, zone, request.ip.as_deref())?;
        Ok(self.apply_change::<LoadBalancer>(
            id,
            "attach_to_network",
            Some(ResourceRef::new("network", network)),
            |lb| {
                lb.private_net.push((network, ip));
            },
        ))
    }

    /// `detach_from_network`.
    pub fn detach_load_balancer_from_network(
        &mut self,
        id: u64,
        request: DetachLoadBalancer,
    ) -> Result<Value, ApiError> {
        let lb = self.find_unlocked::<LoadBalancer>(id)?;
        let network = request.network.0;
        if !lb.private_net.iter().any(|(n, _)| *n == network) {
            return Err(ApiError::unprocessable(
                "load_balancer_not_attached_to_network",
                "the load balancer is not attached to this network",
            ));
        }
        Ok(self.apply_change::<LoadBalancer>(
            id,
            "detach_from_network",
            Some(ResourceRef::new("network", network)),
            |lb| {
                lb.private_net.retain(|(n, _)| *n != network);
            },
        ))
    }

    /// `change_algorithm`.
    pub fn change_algorithm(&mut self, id: u64, request: ChangeAlgorithm) -> Result<Value, ApiError> {
        self.find_unlocked::<LoadBalancer>(id)?;
        if !matches!(request.kind.as_str(), "round_robin" | "least_connections") {
            return Err(ApiError::invalid_field(
                "type",
                "Must be one of: round_robin, least_connections.",
            ));
        }
        Ok(self.apply_change::<LoadBalancer>(id, "change_algorithm", None, |lb| lb.algorithm = request.kind))
    }

    /// `change_type`.
    pub fn change_load_balancer_type(&mut self, id: u64, request: ChangeLoadBalancerType) -> Result<Value, ApiError> {
        let lb = self.find_unlocked::<LoadBalancer>(id)?;
        let new_type = catalog::load_balancer_type(request.load_balancer_type.as_str())
            .ok_or_else(|| ApiError::invalid_field("load_balancer_type", "load balancer type not found"))?;
        if (lb.services.len() as u64) > new_type.max_services || (lb.targets.len() as u64) > new_type.max_targets {
            return Err(ApiError::unprocessable(
                "invalid_load_balancer_type",
                "the new type is too small",
            ));
        }
        Ok(self.apply_change::<LoadBalancer>(id, "change_load_balancer_type", None, |lb| lb.lb_type = new_type))
    }

    /// `enable_public_interface` / `disable_public_interface`.
    pub fn set_public_interface(&mut self, id: u64, enabled: bool) -> Result<Value, ApiError> {
        let lb = self.find_unlocked::<LoadBalancer>(id)?;
        if !enabled {
            if lb.private_net.is_empty() {
                return Err(ApiError::unprocessable(
                    "load_balancer_not_attached_to_network",
                    "the load balancer needs a private network first",
                ));
            }
            let public_targets = lb.targets.iter().any(|t| match t {
                Target::Server { use_private_ip, .. } | Target::Selector { use_private_ip, .. } => !use_private_ip,
                Target::Ip { .. } => false,
            });
            if public_targets {
                return Err(ApiError::unprocessable(
                    "targets_without_use_private_ip",
                    "every target must use its private IP",
                ));
            }
        }
        let command = if enabled {
            "enable_public_interface"
        } else {
            "disable_public_interface"
        };
        Ok(self.apply_change::<LoadBalancer>(id, command, None, |lb| lb.public_enabled = enabled))
    }

    fn health(&self, lb: &LoadBalancer, server: Option<u64>) -> Vec<Value> {
        let status = match server {
            None => "unknown",
            Some(id) if self.servers.get(&id).is_some_and(|s| s.status == ServerStatus::Running) => "healthy",
            Some(_) => "unhealthy",
        };
        lb.services
            .iter()
            .map(|s| json!({"listen_port": s["listen_port"], "status": status}))
            .collect()
    }
}

/// The traffic plane's view of a load balancer: where it listens and where each service
/// forwards.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadBalancerRoute {
    /// Load balancer ID.
    pub id: u64,
    /// Its public IPv4 (127.3.x.y).
    pub ipv4: std::net::Ipv4Addr,
    /// Whether the public interface is enabled (listeners exist only then).
    pub public_enabled: bool,
    /// `least_connections` instead of `round_robin`.
    pub least_connections: bool,
    /// The services.
    pub services: Vec<ServiceRoute>,
}

/// One service of a [`LoadBalancerRoute`].
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRoute {
    /// The port the load balancer listens on.
    pub listen_port: u16,
    /// The port of the targets.
    pub destination_port: u16,
    /// Send a PROXY protocol header first.
    pub proxyprotocol: bool,
    /// The health check.
    pub health: HealthCheckSpec,
    /// Every target, label selectors resolved now, each address once.
    pub targets: Vec<TargetRoute>,
}

/// A service's health check.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheckSpec {
    /// The port checked on the target.
    pub port: u16,
    /// Seconds between checks.
    pub interval: u32,
    /// Seconds a check may take.
    pub timeout: u32,
    /// Failed checks in a row before a target is unhealthy.
    pub retries: u32,
    /// The HTTP check, `None` for a TCP connect check.
    pub http: Option<HttpCheckSpec>,
}

/// An HTTP health check.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpCheckSpec {
    /// The `Host` header, if set.
    pub domain: Option<String>,
    /// The request path.
    pub path: String,
    /// A text the body must contain (empty: anything).
    pub response: String,
    /// Accepted status codes, `2??`-style patterns.
    pub status_codes: Vec<String>,
    /// Whether the real check would speak TLS.
    pub tls: bool,
}

/// One target address of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRoute {
    /// The server, `None` for an IP target.
    pub server: Option<u64>,
    /// The address to connect to: the server's public IPv4 (also for `use_private_ip`: a
    /// simulated server has one address) or the IP target's address.
    pub addr: std::net::IpAddr,
    /// Whether the server is `running` (always true for IP targets).
    pub running: bool,
}

fn health_check_spec(check: &Value, destination_port: u16) -> HealthCheckSpec {
    let number = |key: &str, default: u64| check[key].as_u64().unwrap_or(default);
    let http = (check["protocol"] == "http").then(|| {
        let http = &check["http"];
        HttpCheckSpec {
            domain: http["domain"].as_str().map(str::to_string),
            path: http["path"].as_str().unwrap_or("/").to_string(),
            response: http["response"].as_str().unwrap_or_default().to_string(),
            status_codes: http["status_codes"]
                .as_array()
                .map(|codes| codes.iter().filter_map(|c| c.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            tls: http["tls"].as_bool().unwrap_or(false),
        }
    });
    HealthCheckSpec {
        port: u16::try_from(number("port", u64::from(destination_port))).unwrap_or(destination_port),
        interval: u32::try_from(number("interval", 15)).unwrap_or(15),
        timeout: u32::try_from(number("timeout", 10)).unwrap_or(10),
        retries: u32::try_from(number("retries", 3)).unwrap_or(3),
        http,
    }
}

impl World {
    /// The target addresses of a load balancer, label selectors resolved now.
    fn target_routes(&self, lb: &LoadBalancer) -> Vec<TargetRoute> {
        let mut routes: Vec<TargetRoute> = Vec::new();
        let servers = self.resolved_targets(lb).into_iter().map(|(id, _)| id);
        for id in servers {
            let Some(addr) = self.server_public_ipv4(id) else {
                continue;
            };
            let running = self.servers.get(&id).is_some_and(|s| s.status == ServerStatus::Running);
            routes.push(TargetRoute {
                server: Some(id),
                addr: addr.into(),
                running,
            });
        }
        for target in &lb.targets {
            if let Target::Ip { ip } = target
                && let Ok(addr) = ip.parse()
            {
                routes.push(TargetRoute {
                    server: None,
                    addr,
                    running: true,
                });
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        routes.retain(|r| seen.insert(r.addr));
        routes
    }

    /// Every load balancer as the traffic plane forwards it.
    pub fn load_balancer_routes(&self) -> Vec<LoadBalancerRoute> {
        self.load_balancers
            .values()
            .filter_map(|lb| {
                let ipv4 = lb.ipv4.parse().ok()?;
                let targets = self.target_routes(lb);
                let services = lb
                    .services
                    .iter()
                    .filter_map(|s| {
                        let listen_port = u16::try_from(s["listen_port"].as_u64()?).ok()?;
                        let destination_port = u16::try_from(s["destination_port"].as_u64()?).ok()?;
                        Some(ServiceRoute {
                            listen_port,
                            destination_port,
                            proxyprotocol: s["proxyprotocol"].as_bool().unwrap_or(false),
                            health: health_check_spec(&s["health_check"], destination_port),
                            targets: targets.clone(),
                        })
                    })
                    .collect();
                Some(LoadBalancerRoute {
                    id: lb.id,
                    ipv4,
                    public_enabled: lb.public_enabled,
                    least_connections: lb.algorithm == "least_connections",
                    services,
                })
            })
            .collect()
    }
}
