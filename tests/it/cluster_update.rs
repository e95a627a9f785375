//! In-place updates against the emulator: the client's update calls one by one (labels,
//! protection, firewall rules, load balancer services and targets, floating IP
//! assignment), checked through the API's own answers and the request log.

use hcloud::models::load_balancer_service::Protocol as ServiceProtocol;
use hcloud::models::load_balancer_service_health_check::Protocol as CheckProtocol;
use hcloud::models::rule::{Direction, Protocol};
use hcloud::models::{LoadBalancerService, LoadBalancerServiceHealthCheck, Rule};
use talos_hcloud::hcloud::labels::{Labels, Selector};
use talos_hcloud::hcloud::{
    ActionId, Client, CreateServer, ErrorCode, FirewallId, FloatingIpId, Labelled, LoadBalancerId, NetworkId, Protected,
};

use crate::hcloud_client::client;
use crate::sim_common::Api;

async fn wait(client: &Client, what: &str, ids: &[ActionId]) {
    client.wait_for_actions(what, ids).await.expect("the actions finish");
}

fn id_of(action: &hcloud::models::Action) -> ActionId {
    ActionId::new(action.id)
}

/// The methods and paths of the log's mutations (everything but GET), in order; answers
/// `locked` (the resource was busy with the previous action, the client sent it again)
/// are left out.
fn mutations(api: &Api) -> Vec<String> {
    api.sim
        .request_log()
        .into_iter()
        .filter(|r| r.method != "GET")
        .filter(|r| {
            let code = r.response_body.as_ref().and_then(|b| b.pointer("/error/code"));
            code.and_then(|c| c.as_str()) != Some("locked")
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn service(listen: i32, target: i32, proxy: bool, check_interval: i32) -> LoadBalancerService {
    let check = LoadBalancerServiceHealthCheck::new(check_interval, target, CheckProtocol::Tcp, 3, 10);
    LoadBalancerService::new(target, check, listen, ServiceProtocol::Tcp, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_update_calls_change_what_they_name_and_nothing_else() {
    let api = Api::start().await;
    let hc = client(&api);
    let cluster = Labels::cluster("upd").unwrap();

    // A network, a server in it, a firewall, a load balancer and a floating IP.
    let network = hc
        .create_network("upd-net", "10.0.0.0/16", &[("eu-central", "10.0.1.0/24")], &cluster)
        .await
        .unwrap();
    let network_id = NetworkId::new(network.resource.id);
    let mut create = CreateServer::new("upd-cp-1", "cax11", "ubuntu-24.04", cluster.clone());
    create.location = Some("fsn1".into());
    create.networks = vec![network_id];
    let server = hc.create_server(&create).await.unwrap();
    wait(&hc, "creating the server", &server.action_ids()).await;
    let server_id = server.id();
    let mut rule = Rule::new(Direction::In, Protocol::Tcp);
    rule.port = Some(Some("50000".into()));
    rule.source_ips = Some(vec!["203.0.113.7/32".into()]);
    let firewall = hc
        .create_firewall("upd-fw", std::slice::from_ref(&rule), None, &cluster)
        .await
        .unwrap();
    let firewall_id = FirewallId::new(firewall.resource.id);
    let lb = hc
        .create_load_balancer("upd-lb", "lb11", "fsn1", &cluster)
        .await
        .unwrap();
    let lb_id = LoadBalancerId::new(lb.resource.id);
    let ids: Vec<ActionId> = lb.actions.iter().map(id_of).collect();
    wait(&hc, "creating the load balancer", &ids).await;
    let floating = hc
        .create_floating_ip("upd-vip", "ipv4", "fsn1", &cluster)
        .await
        .unwrap();
    let floating_id = FloatingIpId::new(floating.resource.id);
    api.sim.clear_request_log();

    // Labels: the whole set is replaced.
    let relabelled = cluster.clone().with("talos-hcloud/role", "controlplane").unwrap();
    hc.update_labels(Labelled::Server, server_id.get(), &relabelled)
        .await
        .unwrap();
    hc.update_labels(Labelled::Firewall, firewall_id.get(), &relabelled)
        .await
        .unwrap();
    let read = hc.get_server(server_id).await.unwrap().expect("the server exists");
    assert_eq!(
        read.labels.get("talos-hcloud/role").map(String::as_str),
        Some("controlplane")
    );
    assert_eq!(read.labels.len(), 2);

    // Protection: on, then off again; the server refuses deletion while it is on.
    let on = hc
        .set_protection(Protected::Server, server_id.get(), true)
        .await
        .unwrap();
    wait(&hc, "protecting the server", &[id_of(&on)]).await;
    let read = hc.get_server(server_id).await.unwrap().unwrap();
    assert!(read.protection.delete && read.protection.rebuild);
    let refused = hc.delete_server(server_id).await.unwrap_err();
    assert_eq!(refused.code(), Some(&ErrorCode::Protected));
    let vip_on = hc
        .set_protection(Protected::FloatingIp, floating_id.get(), true)
        .await
        .unwrap();
    wait(&hc, "protecting the floating IP", &[id_of(&vip_on)]).await;
    let off = hc.remove_protection(Protected::Server, server_id.get()).await.unwrap();
    wait(&hc, "unprotecting the server", &[id_of(&off)]).await;
    let read = hc.get_server(server_id).await.unwrap().unwrap();
    assert!(!read.protection.delete && !read.protection.rebuild);

    // Firewall rules: replaced as a whole.
    let mut private = Rule::new(Direction::In, Protocol::Udp);
    private.port = Some(Some("1-65535".into()));
    private.source_ips = Some(vec!["10.0.0.0/16".into()]);
    let actions = hc
        .set_firewall_rules(firewall_id, &[rule.clone(), private])
        .await
        .unwrap();
    assert_eq!(actions[0].command, "set_firewall_rules");
    wait(&hc, "setting the rules", &actions.iter().map(id_of).collect::<Vec<_>>()).await;
    let listed = hc.list_firewalls(&cluster.selector()).await.unwrap();
    assert_eq!(listed[0].rules.len(), 2);

    // Load balancer: network, service added, changed, removed; a selector target.
    let attach = hc
        .attach_load_balancer_to_network(lb_id, network_id, Some("10.0.1.200".parse().unwrap()))
        .await
        .unwrap();
    wait(&hc, "attaching the load balancer", &[id_of(&attach)]).await;
    let added = hc.add_service(lb_id, &service(80, 8080, false, 15)).await.unwrap();
    wait(&hc, "adding service 80", &[id_of(&added)]).await;
    let also = hc.add_service(lb_id, &service(443, 443, true, 15)).await.unwrap();
    wait(&hc, "adding service 443", &[id_of(&also)]).await;
    let taken = hc.add_service(lb_id, &service(80, 80, false, 15)).await.unwrap_err();
    assert_eq!(taken.code(), Some(&ErrorCode::SourcePortAlreadyUsed));
    let updated = hc.update_service(lb_id, &service(80, 80, true, 5)).await.unwrap();
    wait(&hc, "updating service 80", &[id_of(&updated)]).await;
    let removed = hc.delete_service(lb_id, 443).await.unwrap();
    wait(&hc, "deleting service 443", &[id_of(&removed)]).await;
    let selector = Selector::new().eq("talos-hcloud/role", "controlplane");
    let target = hc.add_selector_target(lb_id, &selector, true).await.unwrap();
    wait(&hc, "adding the target", &[id_of(&target)]).await;
    let lbs = hc.list_load_balancers(&cluster.selector()).await.unwrap();
    let lb = &lbs[0];
    assert_eq!(lb.services.len(), 1);
    let web = &lb.services[0];
    assert_eq!(
        (
            web.listen_port,
            web.destination_port,
            web.proxyprotocol,
            web.health_check.interval,
            web.health_check.port
        ),
        (80, 80, true, 5, 80)
    );
    assert_eq!(lb.targets.len(), 1);
    assert_eq!(
        lb.targets[0].label_selector.as_ref().map(|s| s.selector.as_str()),
        Some("talos-hcloud/role=controlplane")
    );
    assert_eq!(lb.targets[0].use_private_ip, Some(true));
    let gone = hc
        .remove_selector_target(lb_id, "talos-hcloud/role=controlplane")
        .await
        .unwrap();
    wait(&hc, "removing the target", &[id_of(&gone)]).await;
    let lbs = hc.list_load_balancers(&cluster.selector()).await.unwrap();
    assert!(lbs[0].targets.is_empty());

    // Floating IP: assigned, then unassigned.
    let assign = hc.assign_floating_ip(floating_id, server_id).await.unwrap();
    wait(&hc, "assigning the floating IP", &[id_of(&assign)]).await;
    let twice = hc.assign_floating_ip(floating_id, server_id).await.unwrap_err();
    assert_eq!(twice.code(), Some(&ErrorCode::FloatingIpAssigned));
    let ips = hc.list_floating_ips(&cluster.selector()).await.unwrap();
    assert_eq!(ips[0].server, Some(server_id.get()));
    let unassign = hc.unassign_floating_ip(floating_id).await.unwrap();
    wait(&hc, "unassigning the floating IP", &[id_of(&unassign)]).await;
    let ips = hc.list_floating_ips(&cluster.selector()).await.unwrap();
    assert_eq!(ips[0].server, None);
    assert!(ips[0].protection.delete, "the floating IP kept its protection");

    let s = server_id.get();
    let f = firewall_id.get();
    let l = lb_id.get();
    let v = floating_id.get();
    assert_eq!(
        mutations(&api),
        [
            format!("PUT /v1/servers/{s}"),
            format!("PUT /v1/firewalls/{f}"),
            format!("POST /v1/servers/{s}/actions/change_protection"),
            format!("DELETE /v1/servers/{s}"),
            format!("POST /v1/floating_ips/{v}/actions/change_protection"),
            format!("POST /v1/servers/{s}/actions/change_protection"),
            format!("POST /v1/firewalls/{f}/actions/set_rules"),
            format!("POST /v1/load_balancers/{l}/actions/attach_to_network"),
            format!("POST /v1/load_balancers/{l}/actions/add_service"),
            format!("POST /v1/load_balancers/{l}/actions/add_service"),
            format!("POST /v1/load_balancers/{l}/actions/add_service"),
            format!("POST /v1/load_balancers/{l}/actions/update_service"),
            format!("POST /v1/load_balancers/{l}/actions/delete_service"),
            format!("POST /v1/load_balancers/{l}/actions/add_target"),
            format!("POST /v1/load_balancers/{l}/actions/remove_target"),
            format!("POST /v1/floating_ips/{v}/actions/assign"),
            format!("POST /v1/floating_ips/{v}/actions/assign"),
            format!("POST /v1/floating_ips/{v}/actions/unassign"),
        ]
    );
}
