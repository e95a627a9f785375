//! The API's request forms of what the desired state describes: firewall rules, load
//! balancer services and labels. Apply's creation path and the in-place updates send the
//! same forms, so a created resource and an updated one compare equal in the next plan.

use hcloud::models::load_balancer_service::Protocol as ServiceProtocol;
use hcloud::models::load_balancer_service_health_check::Protocol as CheckProtocol;
use hcloud::models::rule::{Direction, Protocol};
use hcloud::models::{LoadBalancerService, LoadBalancerServiceHealthCheck, Rule};

use crate::cluster::desired::{FirewallRule, LbService};
use crate::hcloud as api;
use crate::spec;

/// The API form of `rule`; `None` for a direction or protocol the API does not know.
pub fn rule(rule: &FirewallRule) -> Option<Rule> {
    let direction = match rule.direction.as_str() {
        "in" => Direction::In,
        "out" => Direction::Out,
        _ => return None,
    };
    let protocol = match rule.protocol.as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "icmp" => Protocol::Icmp,
        "esp" => Protocol::Esp,
        "gre" => Protocol::Gre,
        _ => return None,
    };
    let mut api = Rule::new(direction, protocol);
    api.port = rule.port.clone().map(Some);
    match direction {
        Direction::In => api.source_ips = Some(rule.source_ips.clone()),
        Direction::Out => api.destination_ips = Some(rule.source_ips.clone()),
    }
    Some(api)
}

/// The API form of a TCP `service` (the whole service: `update_service` takes it too).
pub fn service(service: &LbService) -> LoadBalancerService {
    let check = &service.health_check;
    let protocol = match check.protocol {
        "http" => CheckProtocol::Http,
        _ => CheckProtocol::Tcp,
    };
    let health_check = LoadBalancerServiceHealthCheck::new(
        i32::try_from(check.interval).unwrap_or(i32::MAX),
        i32::from(check.port),
        protocol,
        i32::try_from(check.retries).unwrap_or(i32::MAX),
        i32::try_from(check.timeout).unwrap_or(i32::MAX),
    );
    LoadBalancerService::new(
        i32::from(service.target),
        health_check,
        i32::from(service.listen),
        ServiceProtocol::Tcp,
        service.proxy_protocol,
    )
}

/// `labels` checked against the Hetzner label rules, as the client takes them.
///
/// # Errors
/// [`api::Error::InvalidLabel`] for a key or value the API would refuse.
pub fn labels(labels: &spec::Labels) -> Result<api::Labels, api::Error> {
    labels
        .iter()
        .try_fold(api::Labels::new(), |checked, (key, value)| checked.with(key, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::desired::HealthCheck;

    #[test]
    fn rules_and_services_take_the_api_form() {
        let rule = FirewallRule {
            direction: "in".into(),
            protocol: "icmp".into(),
            port: None,
            source_ips: vec!["10.0.0.0/16".into()],
        };
        let api = super::rule(&rule).expect("a known protocol");
        assert_eq!(
            serde_json::to_value(&api).unwrap(),
            serde_json::json!({"direction": "in", "protocol": "icmp", "source_ips": ["10.0.0.0/16"]})
        );
        let unknown = FirewallRule {
            protocol: "sctp".into(),
            ..rule
        };
        assert!(super::rule(&unknown).is_none());

        let service = LbService {
            listen: 443,
            target: 8443,
            proxy_protocol: true,
            health_check: HealthCheck::tcp(8443),
        };
        assert_eq!(
            serde_json::to_value(super::service(&service)).unwrap(),
            serde_json::json!({
                "listen_port": 443, "destination_port": 8443, "protocol": "tcp", "proxyprotocol": true,
                "health_check": {"protocol": "tcp", "port": 8443, "interval": 15, "timeout": 10, "retries": 3},
            })
        );
    }

    #[test]
    fn labels_are_checked() {
        let mut good = spec::Labels::new();
        good.insert("talos-hcloud/cluster".into(), "prod".into());
        assert_eq!(labels(&good).unwrap().get("talos-hcloud/cluster"), Some("prod"));
        let mut bad = good.clone();
        bad.insert("talos-hcloud/pool".into(), "no spaces".into());
        assert!(labels(&bad).is_err());
    }
}
