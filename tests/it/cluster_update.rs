//! In-place updates against the emulator: the client's update calls one by one (labels,
//! protection, firewall rules, load balancer services and targets, floating IP
//! assignment), checked through the API's own answers and the request log; then
//! `apply_updates` on a cluster whose cluster.yaml changed (admin CIDR, load balancer type
//! and services, a stale server label): only in-place requests, and the next plan is empty.

use hcloud::models::load_balancer_service::Protocol as ServiceProtocol;
use hcloud::models::load_balancer_service_health_check::Protocol as CheckProtocol;
use hcloud::models::rule::{Direction, Protocol};
use hcloud::models::{LoadBalancerService, LoadBalancerServiceHealthCheck, Rule};
use talos_hcloud::cluster::desired::{self, Desired};
use talos_hcloud::cluster::live::{self, Live};
use talos_hcloud::cluster::nodes::ConfigHash;
use talos_hcloud::cluster::plan::{self, Plan};
use talos_hcloud::cluster::update::{self, UpdateReport, requests};
use talos_hcloud::hcloud::labels::{Labels, Selector};
use talos_hcloud::hcloud::{
    ActionId, Client, CreateServer, ErrorCode, FirewallId, FloatingIpId, Labelled, LoadBalancerId, NetworkId,
    Protected, ServerId,
};
use talos_hcloud::spec::{self, Spec};

use crate::cluster_plan;
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
        .create_network("tiny-net", "10.0.0.0/16", &[("eu-central", "10.0.1.0/24")], &cluster)
        .await
        .unwrap();
    let network_id = NetworkId::new(network.resource.id);
    let mut create = CreateServer::new("tiny-cp-1", "cax11", "ubuntu-24.04", cluster.clone());
    create.location = Some("fsn1".into());
    create.networks = vec![network_id];
    let server = hc.create_server(&create).await.unwrap();
    wait(&hc, "creating the server", &server.action_ids()).await;
    let server_id = server.id();
    let mut rule = Rule::new(Direction::In, Protocol::Tcp);
    rule.port = Some(Some("50000".into()));
    rule.source_ips = Some(vec!["203.0.113.7/32".into()]);
    let firewall = hc
        .create_firewall("tiny-fw", std::slice::from_ref(&rule), None, &cluster)
        .await
        .unwrap();
    let firewall_id = FirewallId::new(firewall.resource.id);
    let lb = hc
        .create_load_balancer("tiny-lb", "lb11", "fsn1", &cluster)
        .await
        .unwrap();
    let lb_id = LoadBalancerId::new(lb.resource.id);
    let ids: Vec<ActionId> = lb.actions.iter().map(id_of).collect();
    wait(&hc, "creating the load balancer", &ids).await;
    let floating = hc
        .create_floating_ip("tiny-vip", "ipv4", "fsn1", &cluster)
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
    let target = hc
        .add_selector_target(lb_id, &selector.to_string(), true)
        .await
        .unwrap();
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

/// A worker pool and a load balancer of `lb_type` with `services` over it, appended to
/// the one-control-plane cluster of the plan tests.
fn small(admin: &str, lb_type: &str, services: &str) -> Spec {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("cluster.yaml");
    let text = format!(
        "{}workers:\n  - {{ pool: general, type: cax11, count: 1 }}\n\
         load_balancers:\n  - {{ name: ingress, type: {lb_type}, targets: {{ pool: general }}, services: {services} }}\n",
        cluster_plan::TINY.replace("203.0.113.7/32", admin)
    );
    std::fs::write(&path, text).expect("cluster.yaml is written");
    spec::load(&path).expect("a valid cluster.yaml")
}

/// The live state, the desired state and the plan of `spec` as `plan` computes them.
async fn planned(hc: &Client, spec: &Spec) -> (Live, Desired, Plan) {
    let live = live::read(hc, spec).await.expect("the live state is read");
    let want = desired::desired(spec, &live, &Default::default()).expect("a desired state");
    let plan = plan::plan(&want, &live, None);
    (live, want, plan)
}

/// Creates `want`'s load balancers as apply does: attached to the network, services and
/// the label-selector target over private IPs.
async fn create_load_balancers(hc: &Client, want: &Desired, network: NetworkId) {
    for lb in &want.load_balancers {
        let created = hc
            .create_load_balancer(&lb.name, &lb.lb_type, &lb.location, &cluster_plan::labels(&lb.labels))
            .await
            .expect("the load balancer is created");
        let id = LoadBalancerId::new(created.resource.id);
        wait(
            hc,
            "creating the load balancer",
            &created.actions.iter().map(id_of).collect::<Vec<_>>(),
        )
        .await;
        let attach = hc.attach_load_balancer_to_network(id, network, None).await.unwrap();
        wait(hc, "attaching", &[id_of(&attach)]).await;
        for service in &lb.services {
            let added = hc.add_service(id, &requests::service(service)).await.unwrap();
            wait(hc, "adding a service", &[id_of(&added)]).await;
        }
        let target = hc.add_selector_target(id, &lb.target_selector, true).await.unwrap();
        wait(hc, "adding the target", &[id_of(&target)]).await;
    }
}

fn planned_actions(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .map(|c| format!("{} {} {}", c.action.sign(), c.kind.as_str(), c.name))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_cluster_yaml_converges_in_place() {
    let api = Api::start().await;
    let hc = client(&api);
    let before = small(
        "203.0.113.7/32",
        "lb11",
        "[{ listen: 80, target: 80 }, { listen: 443, target: 443, proxy_protocol: true }]",
    );
    let image = cluster_plan::snapshot(&hc, &before, "arm64").await;
    let want = cluster_plan::desired_state(&hc, &before).await;
    let (network, groups) = cluster_plan::create_infrastructure(&hc, &want).await;
    for server in &want.servers {
        let mut server = server.clone();
        if server.node == "general-1" {
            // Labelled by an older version: a pool label that no longer matches.
            server.labels.insert("talos-hcloud/pool".into(), "old".into());
        }
        if server.node == "cp-1" {
            // Made by a version that did not protect control planes.
            server.protected = false;
        }
        cluster_plan::create_server(&hc, &server, image, &server.server_type, network, &groups).await;
    }
    create_load_balancers(&hc, &want, network).await;
    // The floating IP is on cp-1, as the first apply leaves it.
    let (live, _, _) = planned(&hc, &before).await;
    let vip = FloatingIpId::new(live.floating_ips[0].id);
    let cp = ServerId::new(live.servers.iter().find(|s| s.name == "tiny-cp-1").unwrap().id);
    let assign = hc.assign_floating_ip(vip, cp).await.unwrap();
    wait(&hc, "assigning the floating IP", &[id_of(&assign)]).await;

    // The admin CIDR, the load balancer type and its services change.
    let after = small(
        "198.51.100.0/24",
        "lb21",
        "[{ listen: 443, target: 8443 }, { listen: 8080, target: 8080, proxy_protocol: true }]",
    );
    let (live, want, plan) = planned(&hc, &after).await;
    assert_eq!(
        planned_actions(&plan),
        [
            "~ firewall tiny-controlplane",
            "~ firewall tiny-worker",
            "~ server tiny-cp-1",
            "~ server tiny-general-1",
            "~ load_balancer tiny-ingress",
        ]
    );
    api.sim.clear_request_log();
    let report = update::apply_updates(&hc, &want, &live, &plan)
        .await
        .expect("the updates apply");

    let done: Vec<(String, Vec<String>)> = report
        .updated
        .iter()
        .map(|u| (u.name.clone(), u.done.clone()))
        .collect();
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    assert_eq!(
        done,
        [
            ("tiny-controlplane".to_string(), strings(&["rules (5)"])),
            ("tiny-worker".to_string(), strings(&["rules (4)"])),
            ("tiny-cp-1".to_string(), strings(&["protection on"])),
            ("tiny-general-1".to_string(), strings(&["labels"])),
            (
                "tiny-ingress".to_string(),
                strings(&[
                    "type lb21",
                    "service 80 deleted",
                    "service 443 updated",
                    "service 8080 added"
                ])
            ),
        ]
    );
    assert_eq!(report.left, []);
    assert_eq!(report.change_count(), 8);

    // Only in-place requests: no create, no delete, no floating IP action.
    let fw_cp = live
        .firewalls
        .iter()
        .find(|f| f.name == "tiny-controlplane")
        .unwrap()
        .id;
    let fw_w = live.firewalls.iter().find(|f| f.name == "tiny-worker").unwrap().id;
    let worker = live.servers.iter().find(|s| s.name == "tiny-general-1").unwrap().id;
    let lb = live.load_balancers[0].id;
    let mut sent = mutations(&api);
    sent.sort();
    let mut expected = vec![
        format!("POST /v1/firewalls/{fw_cp}/actions/set_rules"),
        format!("POST /v1/firewalls/{fw_w}/actions/set_rules"),
        format!("PUT /v1/servers/{worker}"),
        format!("POST /v1/servers/{}/actions/change_protection", cp.get()),
        format!("POST /v1/load_balancers/{lb}/actions/change_type"),
        format!("POST /v1/load_balancers/{lb}/actions/delete_service"),
        format!("POST /v1/load_balancers/{lb}/actions/update_service"),
        format!("POST /v1/load_balancers/{lb}/actions/add_service"),
    ];
    expected.sort();
    assert_eq!(sent, expected);

    // Converged: the plan is empty and the floating IP stayed where it was.
    let (live, _, plan) = planned(&hc, &after).await;
    assert_eq!(planned_actions(&plan), Vec::<String>::new(), "{plan:#?}");
    assert_eq!(live.floating_ips[0].server, Some(cp.get()));
    let protected = hc.get_server(cp).await.unwrap().expect("cp-1 exists").protection;
    assert!(protected.delete && protected.rebuild);
    let worker = live.servers.iter().find(|s| s.name == "tiny-general-1").unwrap();
    assert_eq!(
        worker.labels.get("talos-hcloud/pool").map(String::as_str),
        Some("general")
    );
    let rules = &live
        .firewalls
        .iter()
        .find(|f| f.name == "tiny-controlplane")
        .unwrap()
        .rules;
    let admin: Vec<String> = rules
        .iter()
        .filter(|r| r.port.as_deref() == Some("6443"))
        .flat_map(|r| r.source_ips.clone())
        .collect();
    assert_eq!(admin, ["198.51.100.0/24"]);
    let lb = &live.load_balancers[0];
    assert_eq!(lb.lb_type, "lb21");
    let services: Vec<String> = lb.services.iter().map(ToString::to_string).collect();
    assert_eq!(
        services,
        [
            "tcp 443 -> 8443 (check tcp :8443 every 15s timeout 10s retries 3)",
            "tcp 8080 -> 8080 proxy-protocol (check tcp :8080 every 15s timeout 10s retries 3)",
        ]
    );

    // A second run has nothing to do and sends nothing.
    api.sim.clear_request_log();
    let again = update::apply_updates(&hc, &want, &live, &plan).await.unwrap();
    assert_eq!(again, UpdateReport::default());
    assert_eq!(mutations(&api), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_hash_label_is_kept_by_label_updates() {
    let api = Api::start().await;
    let hc = client(&api);
    let (_dir, config) = {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("cluster.yaml");
        std::fs::write(&path, cluster_plan::TINY).expect("cluster.yaml is written");
        (dir, path)
    };
    let spec = spec::load(&config).unwrap();
    let image = cluster_plan::snapshot(&hc, &spec, "arm64").await;
    let want = cluster_plan::desired_state(&hc, &spec).await;
    let (network, groups) = cluster_plan::create_infrastructure(&hc, &want).await;
    let mut server = want.servers[0].clone();
    server.labels.insert("talos-hcloud/role".into(), "worker".into());
    cluster_plan::create_server(&hc, &server, image, &server.server_type, network, &groups).await;
    let live = live::read(&hc, &spec).await.unwrap();
    let id = ServerId::new(live.servers[0].id);

    // Recorded after the config is applied: one label request.
    let hash = ConfigHash::of(b"machine config of cp-1");
    api.sim.clear_request_log();
    record_config_hash(&hc, id, &hash).await;
    assert_eq!(mutations(&api), [format!("PUT /v1/servers/{}", id.get())]);
    let read = hc.get_server(id).await.unwrap().unwrap();
    assert_eq!(read.labels.get(desired::LABEL_CONFIG_HASH), Some(&hash.label_value()));
    assert_eq!(read.labels.get("talos-hcloud/role").map(String::as_str), Some("worker"));

    // The plan with that config: the stale role label is an update, the config is not.
    let live = live::read(&hc, &spec).await.unwrap();
    let hashes = [("cp-1".to_string(), hash.label_value())].into_iter().collect();
    let want = desired::desired(&spec, &live, &hashes).unwrap();
    let plan = plan::plan(&want, &live, None);
    assert_eq!(planned_actions(&plan), ["~ server tiny-cp-1"]);
    assert_eq!(plan.configs, []);
    update::apply_updates(&hc, &want, &live, &plan).await.unwrap();
    let read = hc.get_server(id).await.unwrap().unwrap();
    assert_eq!(
        read.labels.get("talos-hcloud/role").map(String::as_str),
        Some("controlplane")
    );
    assert_eq!(read.labels.get(desired::LABEL_CONFIG_HASH), Some(&hash.label_value()));

    // A new config: the plan says so, label updates leave the old hash until it is applied.
    let newer = ConfigHash::of(b"changed machine config of cp-1");
    let hashes = [("cp-1".to_string(), newer.label_value())].into_iter().collect();
    let live = live::read(&hc, &spec).await.unwrap();
    let want = desired::desired(&spec, &live, &hashes).unwrap();
    let plan = plan::plan(&want, &live, None);
    assert_eq!(planned_actions(&plan), Vec::<String>::new());
    assert_eq!(plan.configs.len(), 1);
    assert_eq!(plan.configs[0].from, Some(hash.label_value()));
    record_config_hash(&hc, id, &newer).await;
    let live = live::read(&hc, &spec).await.unwrap();
    let plan = plan::plan(&want, &live, None);
    assert!(!plan.has_changes(), "{plan:#?}");
}

/// Records `hash` as server `id`'s config-hash label, its other labels kept, as `apply`
/// does once the node runs that config.
async fn record_config_hash(hc: &Client, id: ServerId, hash: &ConfigHash) {
    let server = hc.get_server(id).await.unwrap().expect("the server exists");
    let labels = server
        .labels
        .iter()
        .try_fold(Labels::new(), |labels, (key, value)| labels.with(key, value))
        .and_then(|labels| labels.with(desired::LABEL_CONFIG_HASH, &hash.label_value()))
        .expect("valid labels");
    hc.update_labels(Labelled::Server, id.get(), &labels).await.unwrap();
}
