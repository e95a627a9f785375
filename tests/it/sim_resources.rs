//! Images, SSH keys, networks, firewalls, floating IPs, primary IPs and load balancers
//! over real HTTP.

use serde_json::{Value, json};

use crate::sim_common::{Api, ssh_public_key};

fn id(v: &Value) -> u64 {
    v["id"].as_u64().expect("an object with an ID")
}

#[tokio::test]
async fn images_filters_updates_protection_and_deletion() {
    let api = Api::start().await;
    let system = api.get("/images?type=system").await.body["images"]
        .as_array()
        .unwrap()
        .clone();
    assert!(system.len() >= 4);
    let arm = api.get("/images?name=ubuntu-24.04&architecture=arm").await.body["images"].clone();
    assert_eq!(arm.as_array().unwrap().len(), 1);
    assert_eq!(arm[0]["architecture"], "arm");
    assert_eq!(api.get("/images?type=floppy").await.code(), "invalid_input");
    assert_eq!(
        api.get("/images?include_deprecated=True").await.status,
        200,
        "Python writes True"
    );
    // Deprecated images are listed only on request, and stay usable by name.
    assert!(system.iter().all(|i| i["deprecated"].is_null()), "hidden by default");
    assert_eq!(api.get("/images?name=ubuntu-20.04").await.body["images"], json!([]));
    let deprecated = api.get("/images?name=ubuntu-20.04&include_deprecated=true").await.body["images"].clone();
    assert_eq!(deprecated.as_array().map(Vec::len), Some(2));
    assert!(
        deprecated[0]["deprecated"]
            .as_str()
            .is_some_and(|d| d.starts_with("2025-"))
    );
    let old = api
        .server("old", json!({"image": "ubuntu-20.04", "server_type": "cx23"}))
        .await;
    assert_eq!(old["server"]["image"]["name"], "ubuntu-20.04");
    assert_eq!(old["server"]["image"]["architecture"], "x86");
    assert_eq!(
        api.get("/images?include_deprecated=maybe").await.code(),
        "invalid_input"
    );
    let system_id = id(&system[0]);
    assert_eq!(api.delete(&format!("/images/{system_id}")).await.status, 403);

    let server = id(&api.server("s", json!({})).await["server"]);
    let image = api
        .create(
            &format!("/servers/{server}/actions/create_image"),
            json!({"labels": {"k": "v"}}),
        )
        .await;
    let image_id = id(&image["image"]);
    api.finish(&image["action"]).await;
    let updated = api
        .put(
            &format!("/images/{image_id}"),
            json!({"description": "new", "labels": {"os": "talos"}}),
        )
        .await;
    assert_eq!(
        (
            updated.body["image"]["description"].as_str(),
            updated.body["image"]["labels"]["os"].as_str()
        ),
        (Some("new"), Some("talos"))
    );
    assert_eq!(
        api.put(&format!("/images/{image_id}"), json!({"name": "x"}))
            .await
            .code(),
        "invalid_input"
    );
    let protect = api
        .create(
            &format!("/images/{image_id}/actions/change_protection"),
            json!({"delete": true}),
        )
        .await;
    api.finish(&protect["action"]).await;
    assert_eq!(api.delete(&format!("/images/{image_id}")).await.code(), "protected");
    let unprotect = api
        .create(
            &format!("/images/{image_id}/actions/change_protection"),
            json!({"delete": false}),
        )
        .await;
    api.finish(&unprotect["action"]).await;
    let image_actions = api.get(&format!("/images/{image_id}/actions")).await.body["actions"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(image_actions, 3, "create_image and two change_protection");
    assert_eq!(api.delete(&format!("/images/{image_id}")).await.status, 204);
    assert_eq!(api.get(&format!("/images/{image_id}")).await.status, 404);
}

#[tokio::test]
async fn ssh_keys_are_unique_by_name_and_fingerprint() {
    let api = Api::start().await;
    let key = api
        .create("/ssh_keys", json!({"name": "a", "public_key": ssh_public_key(1)}))
        .await["ssh_key"]
        .clone();
    let fingerprint = key["fingerprint"].as_str().unwrap();
    assert_eq!(fingerprint.split(':').count(), 16);
    let same_name = api
        .post("/ssh_keys", json!({"name": "a", "public_key": ssh_public_key(2)}))
        .await;
    assert_eq!((same_name.status, same_name.code()), (409, "uniqueness_error"));
    let same_key = api
        .post("/ssh_keys", json!({"name": "b", "public_key": ssh_public_key(1)}))
        .await;
    assert_eq!(same_key.body["error"]["details"]["fields"][0]["name"], "public_key");
    assert_eq!(
        same_key.body["error"]["message"],
        "SSH key with the same fingerprint already exists"
    );
    let garbage = api
        .post("/ssh_keys", json!({"name": "c", "public_key": "ssh-ed25519 nope"}))
        .await;
    assert_eq!(garbage.code(), "invalid_input");
    let by_fp = api.get(&format!("/ssh_keys?fingerprint={fingerprint}")).await;
    assert_eq!(by_fp.body["ssh_keys"][0]["name"], "a");
    let renamed = api
        .put(
            &format!("/ssh_keys/{}", id(&key)),
            json!({"name": "z", "labels": {"t": "1"}}),
        )
        .await;
    assert_eq!(renamed.body["ssh_key"]["name"], "z");
    assert_eq!(api.delete(&format!("/ssh_keys/{}", id(&key))).await.status, 204);
    assert_eq!(api.get(&format!("/ssh_keys/{}", id(&key))).await.status, 404);
}

#[tokio::test]
async fn networks_subnets_routes_and_conflicts() {
    let api = Api::stepped().await;
    let bad = api
        .post("/networks", json!({"name": "n", "ip_range": "8.8.0.0/16"}))
        .await;
    assert_eq!(bad.body["error"]["details"]["fields"][0]["name"], "ip_range");
    let network = api
        .create(
            "/networks",
            json!({"name": "n", "ip_range": "10.0.0.0/16", "labels": {"c": "x"}}),
        )
        .await["network"]
        .clone();
    let net = id(&network);
    assert_eq!(network["subnets"], json!([]));
    let add = api
        .create(
            &format!("/networks/{net}/actions/add_subnet"),
            json!({"type": "cloud", "network_zone": "eu-central"}),
        )
        .await;
    assert_eq!(add["action"]["command"], "add_subnet");
    let busy = api
        .post(
            &format!("/networks/{net}/actions/add_route"),
            json!({"destination": "10.100.0.0/24", "gateway": "10.0.0.2"}),
        )
        .await;
    assert_eq!(
        (busy.status, busy.code()),
        (409, "conflict"),
        "parallel network changes conflict"
    );
    api.finish(&add["action"]).await;
    let subnet = &api.get(&format!("/networks/{net}")).await.body["network"]["subnets"][0];
    assert_eq!(
        (subnet["ip_range"].as_str(), subnet["gateway"].as_str()),
        (Some("10.0.0.0/24"), Some("10.0.0.1"))
    );
    let overlap = api
        .post(
            &format!("/networks/{net}/actions/add_subnet"),
            json!({"type": "cloud", "network_zone": "eu-central", "ip_range": "10.0.0.128/25"}),
        )
        .await;
    assert_eq!(overlap.code(), "networks_overlap");
    let route = api
        .create(
            &format!("/networks/{net}/actions/add_route"),
            json!({"destination": "10.100.0.0/24", "gateway": "10.0.0.2"}),
        )
        .await;
    api.finish(&route["action"]).await;
    let grow = api
        .create(
            &format!("/networks/{net}/actions/change_ip_range"),
            json!({"ip_range": "10.0.0.0/15"}),
        )
        .await;
    api.finish(&grow["action"]).await;
    let shrink = api
        .post(
            &format!("/networks/{net}/actions/change_ip_range"),
            json!({"ip_range": "10.0.0.0/20"}),
        )
        .await;
    assert_eq!(shrink.code(), "invalid_input");
    let protect = api
        .create(
            &format!("/networks/{net}/actions/change_protection"),
            json!({"delete": true}),
        )
        .await;
    api.finish(&protect["action"]).await;
    assert_eq!(api.delete(&format!("/networks/{net}")).await.code(), "protected");
    let unprotect = api
        .create(
            &format!("/networks/{net}/actions/change_protection"),
            json!({"delete": false}),
        )
        .await;
    api.finish(&unprotect["action"]).await;
    assert_eq!(
        api.get("/networks?label_selector=c%3Dx").await.body["networks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(api.delete(&format!("/networks/{net}")).await.status, 204);
}

#[tokio::test]
async fn firewalls_follow_label_selectors() {
    let api = Api::stepped().await;
    let cp = id(&api.server("cp-1", json!({"labels": {"role": "controlplane"}})).await["server"]);
    let worker = id(&api.server("w-1", json!({"labels": {"role": "worker"}})).await["server"]);
    let created = api
        .create(
            "/firewalls",
            json!({
                "name": "cp",
                "rules": [
                    {"direction": "in", "protocol": "tcp", "port": "50000", "source_ips": ["203.0.113.7/32"]},
                    {"direction": "in", "protocol": "icmp", "source_ips": ["0.0.0.0/0", "::/0"], "description": "ping"},
                ],
                "apply_to": [{"type": "label_selector", "label_selector": {"selector": "role=controlplane"}}],
            }),
        )
        .await;
    let fw = id(&created["firewall"]);
    let commands: Vec<&str> = created["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["set_firewall_rules", "apply_firewall"]);
    let rule = &created["firewall"]["rules"][1];
    assert_eq!(
        (rule["port"].clone(), rule["destination_ips"].clone()),
        (Value::Null, json!([]))
    );
    let applied = &created["firewall"]["applied_to"][0]["applied_to_resources"];
    assert_eq!(applied, &json!([{"type": "server", "server": {"id": cp}}]));
    let cp_view = api.get(&format!("/servers/{cp}")).await.body["server"].clone();
    assert_eq!(
        cp_view["public_net"]["firewalls"],
        json!([{"id": fw, "status": "pending"}])
    );
    assert_eq!(cp_view["locked"], true, "apply_firewall locks the server");
    for action in created["actions"].as_array().unwrap() {
        api.finish(action).await;
    }
    let cp_view = api.get(&format!("/servers/{cp}")).await.body["server"].clone();
    assert_eq!(
        cp_view["public_net"]["firewalls"],
        json!([{"id": fw, "status": "applied"}])
    );
    assert_eq!(
        api.get(&format!("/servers/{worker}")).await.body["server"]["public_net"]["firewalls"],
        json!([])
    );

    // Relabelling a server brings it under the selector.
    api.put(
        &format!("/servers/{worker}"),
        json!({"labels": {"role": "controlplane"}}),
    )
    .await;
    let status = api.get(&format!("/servers/{worker}")).await.body["server"]["public_net"]["firewalls"].clone();
    assert_eq!(status, json!([{"id": fw, "status": "pending"}]));

    let managed = api
        .post(
            &format!("/firewalls/{fw}/actions/remove_from_resources"),
            json!({"remove_from": [{"type": "server", "server": {"id": cp}}]}),
        )
        .await;
    assert_eq!(managed.code(), "firewall_managed_by_label_selector");
    let bad_rule = api
        .post(
            &format!("/firewalls/{fw}/actions/set_rules"),
            json!({"rules": [{"direction": "in", "protocol": "tcp", "source_ips": ["0.0.0.0/0"]}]}),
        )
        .await;
    assert_eq!(bad_rule.code(), "invalid_input", "tcp needs a port");
    assert_eq!(api.delete(&format!("/firewalls/{fw}")).await.code(), "resource_in_use");
    let remove = api
        .create(
            &format!("/firewalls/{fw}/actions/remove_from_resources"),
            json!({"remove_from": [{"type": "label_selector", "label_selector": {"selector": "role=controlplane"}}]}),
        )
        .await;
    assert_eq!(remove["actions"].as_array().unwrap().len(), 2);
    assert_eq!(
        api.get(&format!("/servers/{cp}")).await.body["server"]["public_net"]["firewalls"],
        json!([])
    );
    for action in remove["actions"].as_array().unwrap() {
        api.finish(action).await;
    }
    assert_eq!(api.delete(&format!("/firewalls/{fw}")).await.status, 204);
    let dup = api.create("/firewalls", json!({"name": "x"})).await;
    assert_eq!(dup["actions"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.post("/firewalls", json!({"name": "x"})).await.code(),
        "uniqueness_error"
    );
}

#[tokio::test]
async fn floating_ips_assign_reassign_and_delete() {
    let api = Api::start().await;
    let a = id(&api.server("a", json!({})).await["server"]);
    let b = id(&api.server("b", json!({})).await["server"]);
    assert_eq!(
        api.post("/floating_ips", json!({"type": "ipv4"})).await.code(),
        "invalid_input"
    );
    let created = api
        .create(
            "/floating_ips",
            json!({"type": "ipv4", "server": a, "name": "vip", "description": "control plane"}),
        )
        .await;
    let fip = id(&created["floating_ip"]);
    assert!(created["floating_ip"]["ip"].as_str().unwrap().starts_with("127."));
    assert_eq!(created["action"]["command"], "assign_floating_ip");
    api.finish(&created["action"]).await;
    assert_eq!(
        api.get(&format!("/servers/{a}")).await.body["server"]["public_net"]["floating_ips"],
        json!([fip])
    );
    let same = api
        .post(&format!("/floating_ips/{fip}/actions/assign"), json!({"server": a}))
        .await;
    assert_eq!(same.code(), "floating_ip_assigned");
    let moved = api
        .create(&format!("/floating_ips/{fip}/actions/assign"), json!({"server": b}))
        .await;
    assert_eq!(
        moved["action"]["resources"],
        json!([{"id": fip, "type": "floating_ip"}, {"id": b, "type": "server"}])
    );
    api.finish(&moved["action"]).await;
    assert_eq!(
        api.get(&format!("/servers/{a}")).await.body["server"]["public_net"]["floating_ips"],
        json!([])
    );
    assert_eq!(
        api.get(&format!("/floating_ips/{fip}")).await.body["floating_ip"]["server"],
        b
    );
    assert_eq!(
        api.delete(&format!("/floating_ips/{fip}")).await.code(),
        "must_be_unassigned"
    );
    let unassign = api
        .create(&format!("/floating_ips/{fip}/actions/unassign"), json!({}))
        .await;
    api.finish(&unassign["action"]).await;
    assert_eq!(api.delete(&format!("/floating_ips/{fip}")).await.status, 204);
}

#[tokio::test]
async fn primary_ips_follow_the_live_api() {
    let api = Api::start().await;
    let created = api.server("s", json!({"start_after_create": false})).await;
    let server = id(&created["server"]);
    let auto = id(&created["server"]["public_net"]["ipv4"]);
    let ip = api.get(&format!("/primary_ips/{auto}")).await.body["primary_ip"].clone();
    assert_eq!(
        (
            ip["assignee_type"].as_str(),
            ip["assignee_id"].as_u64(),
            ip["auto_delete"].as_bool()
        ),
        (Some("server"), Some(server), Some(true))
    );
    assert!(ip.get("datacenter").is_none());
    let free = api
        .create(
            "/primary_ips",
            json!({"name": "spare", "type": "ipv4", "location": "fsn1"}),
        )
        .await;
    let spare = id(&free["primary_ip"]);
    assert_eq!(free["primary_ip"]["assignee_type"], "unassigned");
    assert!(
        free.get("action").is_none(),
        "no action: the key is omitted (optional, not nullable)"
    );
    let has = api
        .post(
            &format!("/primary_ips/{spare}/actions/assign"),
            json!({"assignee_id": server, "assignee_type": "server"}),
        )
        .await;
    assert_eq!(has.code(), "server_has_ipv4");
    assert_eq!(
        api.delete(&format!("/primary_ips/{auto}")).await.code(),
        "must_be_unassigned"
    );
    let unassign = api
        .create(&format!("/primary_ips/{auto}/actions/unassign"), json!({}))
        .await;
    api.finish(&unassign["action"]).await;
    let assign = api
        .create(
            &format!("/primary_ips/{spare}/actions/assign"),
            json!({"assignee_id": server, "assignee_type": "server"}),
        )
        .await;
    api.finish(&assign["action"]).await;
    assert_eq!(
        api.get(&format!("/servers/{server}")).await.body["server"]["public_net"]["ipv4"]["id"],
        spare
    );
    let by_ip = api
        .get(&format!(
            "/primary_ips?ip={}",
            free["primary_ip"]["ip"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_ip.body["primary_ips"].as_array().unwrap().len(), 1);
    assert_eq!(api.delete(&format!("/primary_ips/{auto}")).await.status, 204);
}

#[tokio::test]
async fn load_balancers_with_services_and_selector_targets() {
    let api = Api::stepped().await;
    let network = api
        .create("/networks", json!({"name": "n", "ip_range": "10.0.0.0/16", "subnets": [{"type": "cloud", "network_zone": "eu-central", "ip_range": "10.0.1.0/24"}]}))
        .await;
    let net = id(&network["network"]);
    let cp = id(&api
        .server("cp-1", json!({"labels": {"role": "controlplane"}, "networks": [net]}))
        .await["server"]);
    let created = api
        .create(
            "/load_balancers",
            json!({
                "name": "api", "load_balancer_type": "lb11", "location": "fsn1", "network": net,
                "services": [{"protocol": "tcp", "listen_port": 6443, "destination_port": 6443, "proxyprotocol": false,
                              "health_check": {"protocol": "tcp", "port": 6443, "interval": 15, "timeout": 10, "retries": 3}}],
                "targets": [{"type": "label_selector", "label_selector": {"selector": "role=controlplane"}, "use_private_ip": true}],
                "labels": {"talos-hcloud/cluster": "c"},
            }),
        )
        .await;
    let lb = id(&created["load_balancer"]);
    assert_eq!(created["action"]["command"], "create_load_balancer");
    let view = &created["load_balancer"];
    assert!(view["public_net"]["ipv4"]["ip"].as_str().unwrap().starts_with("127."));
    assert_eq!(view["private_net"][0]["network"], net);
    let resolved = &view["targets"][0]["targets"][0];
    assert_eq!(resolved["server"]["id"], cp);
    assert_eq!(
        resolved["health_status"],
        json!([{"listen_port": 6443, "status": "healthy"}])
    );
    assert_eq!(
        api.get(&format!("/servers/{cp}")).await.body["server"]["load_balancers"],
        json!([lb])
    );
    let busy = api.post(&format!("/load_balancers/{lb}/actions/add_service"), json!({"protocol": "tcp", "listen_port": 50000, "destination_port": 50000, "proxyprotocol": false, "health_check": {"protocol": "tcp", "port": 50000, "interval": 15, "timeout": 10, "retries": 3}})).await;
    assert_eq!(busy.code(), "conflict");
    api.finish(&created["action"]).await;
    let dup = api
        .post(&format!("/load_balancers/{lb}/actions/add_service"), json!({"protocol": "tcp", "listen_port": 6443, "destination_port": 1, "proxyprotocol": false, "health_check": {"protocol": "tcp", "port": 1, "interval": 15, "timeout": 10, "retries": 3}}))
        .await;
    assert_eq!((dup.status, dup.code()), (412, "source_port_already_used"));
    let worker = id(&api.server("w", json!({})).await["server"]);
    let private = api
        .post(
            &format!("/load_balancers/{lb}/actions/add_target"),
            json!({"type": "server", "server": {"id": worker}, "use_private_ip": true}),
        )
        .await;
    assert_eq!(private.code(), "server_not_attached_to_network");
    let add = api
        .create(
            &format!("/load_balancers/{lb}/actions/add_target"),
            json!({"type": "server", "server": {"id": worker}}),
        )
        .await;
    api.finish(&add["action"]).await;
    let again = api
        .post(
            &format!("/load_balancers/{lb}/actions/add_target"),
            json!({"type": "server", "server": {"id": worker}}),
        )
        .await;
    assert_eq!(again.code(), "target_already_defined");
    let service = api
        .create(
            &format!("/load_balancers/{lb}/actions/add_service"),
            json!({"protocol": "http", "listen_port": 80, "destination_port": 8080, "proxyprotocol": false,
                   "health_check": {"protocol": "http", "port": 8080, "interval": 15, "timeout": 10, "retries": 3, "http": {"domain": null, "path": "/healthz"}}}),
        )
        .await;
    api.finish(&service["action"]).await;
    let view = api.get(&format!("/load_balancers/{lb}")).await.body["load_balancer"].clone();
    let http = &view["services"][1];
    assert_eq!(
        (
            http["http"]["cookie_name"].as_str(),
            http["health_check"]["http"]["status_codes"].clone()
        ),
        (Some("HCLBSTICKY"), json!(["2??", "3??"]))
    );
    let removed = api
        .create(
            &format!("/load_balancers/{lb}/actions/remove_target"),
            json!({"type": "server", "server": {"id": worker}}),
        )
        .await;
    api.finish(&removed["action"]).await;
    let delete_service = api
        .create(
            &format!("/load_balancers/{lb}/actions/delete_service"),
            json!({"listen_port": 80}),
        )
        .await;
    api.finish(&delete_service["action"]).await;
    assert_eq!(
        api.get(&format!("/load_balancers/{lb}")).await.body["load_balancer"]["services"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let public_targets = api
        .post(
            &format!("/load_balancers/{lb}/actions/disable_public_interface"),
            json!({}),
        )
        .await;
    assert_eq!(
        public_targets.status, 201,
        "every target uses its private IP: {public_targets:?}"
    );
    assert_eq!(
        api.delete(&format!("/load_balancers/{lb}")).await.code(),
        "conflict",
        "an action is running"
    );
    api.finish(&public_targets.body["action"]).await;
    // The live API answers a delete with an action (since 2026-10-05), not 204.
    let deleted = api.delete(&format!("/load_balancers/{lb}")).await;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert_eq!(deleted.body["action"]["command"], "delete_load_balancer");
    api.finish(&deleted.body["action"]).await;
    assert_eq!(api.get(&format!("/load_balancers/{lb}")).await.status, 404);
}

#[tokio::test]
async fn a_project_holds_at_most_50_placement_groups() {
    let api = Api::start().await;
    for i in 0..50 {
        api.create("/placement_groups", json!({"name": format!("g{i}"), "type": "spread"}))
            .await;
    }
    let refused = api
        .post("/placement_groups", json!({"name": "g50", "type": "spread"}))
        .await;
    assert_eq!((refused.status, refused.code()), (403, "resource_limit_exceeded"));
    let listed = api.get("/placement_groups?per_page=50&page=2").await;
    assert_eq!(listed.body["placement_groups"], json!([]));
    assert_eq!(listed.body["meta"]["pagination"]["total_entries"], 50);
}

#[tokio::test]
async fn attach_apply_and_resize_errors() {
    let api = Api::stepped().await;
    let net = id(&api
        .create(
            "/networks",
            json!({"name": "n", "ip_range": "10.0.0.0/16",
                   "subnets": [{"type": "cloud", "network_zone": "eu-central", "ip_range": "10.0.1.0/24"}]}),
        )
        .await["network"]);

    // Firewalls: applying twice, and to a server without a public interface.
    let public = id(&api.server("public", json!({})).await["server"]);
    let private = id(&api
        .server(
            "private",
            json!({"networks": [net], "public_net": {"enable_ipv4": false, "enable_ipv6": false}}),
        )
        .await["server"]);
    let fw = api.create("/firewalls", json!({"name": "fw"})).await;
    for action in fw["actions"].as_array().unwrap() {
        api.finish(action).await;
    }
    let fw = id(&fw["firewall"]);
    let apply = |server: u64| json!({"apply_to": [{"type": "server", "server": {"id": server}}]});
    let applied = api
        .create(&format!("/firewalls/{fw}/actions/apply_to_resources"), apply(public))
        .await;
    for action in applied["actions"].as_array().unwrap() {
        api.finish(action).await;
    }
    let twice = api
        .post(&format!("/firewalls/{fw}/actions/apply_to_resources"), apply(public))
        .await;
    assert_eq!((twice.status, twice.code()), (422, "firewall_already_applied"));
    let no_public = api
        .post(&format!("/firewalls/{fw}/actions/apply_to_resources"), apply(private))
        .await;
    assert_eq!((no_public.status, no_public.code()), (422, "private_net_only_server"));

    // Load balancers: attaching to the same network twice; detaching.
    let lb = api
        .create(
            "/load_balancers",
            json!({"name": "lb", "load_balancer_type": "lb11", "location": "fsn1", "network": net}),
        )
        .await;
    api.finish(&lb["action"]).await;
    let lb = id(&lb["load_balancer"]);
    let again = api
        .post(
            &format!("/load_balancers/{lb}/actions/attach_to_network"),
            json!({"network": net}),
        )
        .await;
    assert_eq!((again.status, again.code()), (422, "load_balancer_already_attached"));
    let detached = api
        .create(
            &format!("/load_balancers/{lb}/actions/detach_from_network"),
            json!({"network": net}),
        )
        .await;
    assert_eq!(api.finish(&detached["action"]).await["status"], "success");
    assert_eq!(
        api.get(&format!("/load_balancers/{lb}")).await.body["load_balancer"]["private_net"],
        json!([])
    );

    // Server type changes: only while off, only within the architecture.
    let path = format!("/servers/{public}");
    let running = api
        .post(
            &format!("{path}/actions/change_type"),
            json!({"server_type": "cax21", "upgrade_disk": true}),
        )
        .await;
    assert_eq!((running.status, running.code()), (422, "server_not_stopped"));
    let off = api.create(&format!("{path}/actions/poweroff"), json!({})).await;
    api.finish(&off["action"]).await;
    let other_arch = api
        .post(
            &format!("{path}/actions/change_type"),
            json!({"server_type": "cx23", "upgrade_disk": false}),
        )
        .await;
    assert_eq!((other_arch.status, other_arch.code()), (422, "invalid_server_type"));
    let changed = api
        .create(
            &format!("{path}/actions/change_type"),
            json!({"server_type": "cax21", "upgrade_disk": true}),
        )
        .await;
    assert_eq!(changed["action"]["command"], "change_server_type");
    api.finish(&changed["action"]).await;
    let server = api.get(&path).await.body["server"].clone();
    assert_eq!(server["server_type"]["name"], "cax21");
    assert_eq!(server["primary_disk_size"], server["server_type"]["disk"]);
}

#[tokio::test]
async fn primary_ip_placement_and_firewall_reference_errors() {
    let api = Api::stepped().await;
    let v4 = |name: &str, location: &str| json!({"name": name, "type": "ipv4", "location": location});
    let fsn1 = id(&api.create("/primary_ips", v4("fsn1-ip", "fsn1")).await["primary_ip"]);
    let nbg1 = id(&api.create("/primary_ips", v4("nbg1-ip", "nbg1")).await["primary_ip"]);
    let server = |name: &str, public_net: Value| json!({"name": name, "server_type": "cax11", "image": "ubuntu-24.04", "location": "fsn1", "public_net": public_net});
    let version = api.post("/servers", server("a", json!({"ipv6": fsn1}))).await;
    assert_eq!((version.status, version.code()), (412, "primary_ip_version_mismatch"));
    let elsewhere = api.post("/servers", server("a", json!({"ipv4": nbg1}))).await;
    assert_eq!(
        (elsewhere.status, elsewhere.code()),
        (422, "primary_ip_datacenter_mismatch")
    );
    let first = api.server("a", json!({"public_net": {"ipv4": fsn1}})).await;
    let a = id(&first["server"]);
    assert_eq!(first["server"]["public_net"]["ipv4"]["id"], fsn1);
    let taken = api.post("/servers", server("b", json!({"ipv4": fsn1}))).await;
    assert_eq!((taken.status, taken.code()), (422, "primary_ip_assigned"));
    let idle = api
        .post(&format!("/primary_ips/{nbg1}/actions/unassign"), json!({}))
        .await;
    assert_eq!((idle.status, idle.code()), (422, "not_assigned"));

    // A load balancer target needs its IPv4 (the server must be off to unassign at all).
    let lb = api
        .create(
            "/load_balancers",
            json!({"name": "lb", "load_balancer_type": "lb11", "location": "fsn1",
                   "targets": [{"type": "server", "server": {"id": a}}]}),
        )
        .await;
    api.finish(&lb["action"]).await;
    let off = api.create(&format!("/servers/{a}/actions/poweroff"), json!({})).await;
    api.finish(&off["action"]).await;
    let needed = api
        .post(&format!("/primary_ips/{fsn1}/actions/unassign"), json!({}))
        .await;
    assert_eq!((needed.status, needed.code()), (422, "server_is_load_balancer_target"));

    // Placement groups: one group per server.
    let g1 = id(&api
        .create("/placement_groups", json!({"name": "g1", "type": "spread"}))
        .await["placement_group"]);
    let g2 = id(&api
        .create("/placement_groups", json!({"name": "g2", "type": "spread"}))
        .await["placement_group"]);
    let added = api
        .create(
            &format!("/servers/{a}/actions/add_to_placement_group"),
            json!({"placement_group": g1}),
        )
        .await;
    api.finish(&added["action"]).await;
    let second = api
        .post(
            &format!("/servers/{a}/actions/add_to_placement_group"),
            json!({"placement_group": g2}),
        )
        .await;
    assert_eq!((second.status, second.code()), (422, "already_in_placement_group"));

    // Firewalls named at server creation must exist.
    let missing = api
        .post(
            "/servers",
            json!({"name": "c", "server_type": "cax11", "image": "ubuntu-24.04", "firewalls": [{"firewall": 424242}]}),
        )
        .await;
    assert_eq!((missing.status, missing.code()), (404, "firewall_resource_not_found"));
}

#[tokio::test]
async fn the_less_used_actions_change_what_they_say() {
    let api = Api::stepped().await;
    // Servers: rebuild from another image, leave a placement group, no backups.
    let group = id(&api
        .create("/placement_groups", json!({"name": "g", "type": "spread"}))
        .await["placement_group"]);
    let server = id(&api.server("s", json!({"placement_group": group})).await["server"]);
    let path = format!("/servers/{server}");
    let rebuilt = api
        .create(&format!("{path}/actions/rebuild"), json!({"image": "debian-12"}))
        .await;
    assert_eq!(rebuilt["action"]["command"], "rebuild_server");
    assert!(rebuilt["root_password"].is_string(), "no SSH keys: a new password");
    assert_eq!(api.get(&path).await.body["server"]["status"], "rebuilding");
    api.finish(&rebuilt["action"]).await;
    let after = api.get(&path).await.body["server"].clone();
    assert_eq!(
        (after["status"].as_str(), after["image"]["name"].as_str()),
        (Some("running"), Some("debian-12"))
    );
    let left = api
        .create(&format!("{path}/actions/remove_from_placement_group"), json!({}))
        .await;
    api.finish(&left["action"]).await;
    assert_eq!(api.get(&path).await.body["server"]["placement_group"], Value::Null);
    assert_eq!(
        api.get(&format!("/placement_groups/{group}")).await.body["placement_group"]["servers"],
        json!([])
    );
    let backup = api
        .post(&format!("{path}/actions/create_image"), json!({"type": "backup"}))
        .await;
    assert_eq!((backup.status, backup.code()), (422, "unsupported_error"));

    // Networks: routes come and go; an unused subnet can be deleted.
    let net = id(&api
        .create(
            "/networks",
            json!({"name": "n", "ip_range": "10.0.0.0/16",
                   "subnets": [{"type": "cloud", "network_zone": "eu-central", "ip_range": "10.0.1.0/24"},
                               {"type": "cloud", "network_zone": "eu-central", "ip_range": "10.0.2.0/24"}]}),
        )
        .await["network"]);
    let route = json!({"destination": "10.100.0.0/16", "gateway": "10.0.1.10"});
    let added = api
        .create(&format!("/networks/{net}/actions/add_route"), route.clone())
        .await;
    api.finish(&added["action"]).await;
    assert_eq!(
        api.get(&format!("/networks/{net}")).await.body["network"]["routes"],
        json!([route])
    );
    let removed = api
        .create(&format!("/networks/{net}/actions/delete_route"), route)
        .await;
    api.finish(&removed["action"]).await;
    let subnet = api
        .create(
            &format!("/networks/{net}/actions/delete_subnet"),
            json!({"ip_range": "10.0.2.0/24"}),
        )
        .await;
    api.finish(&subnet["action"]).await;
    let network = api.get(&format!("/networks/{net}")).await.body["network"].clone();
    assert_eq!(network["routes"], json!([]));
    assert_eq!(network["subnets"].as_array().map(Vec::len), Some(1));

    // Load balancers: service update, algorithm, type, protection, public interface.
    let lb = api
        .create(
            "/load_balancers",
            json!({"name": "lb", "load_balancer_type": "lb11", "location": "fsn1", "network": net,
                   "services": [{"protocol": "tcp", "listen_port": 6443, "destination_port": 6443, "proxyprotocol": false,
                                 "health_check": {"protocol": "tcp", "port": 6443, "interval": 15, "timeout": 10, "retries": 3}}]}),
        )
        .await;
    api.finish(&lb["action"]).await;
    let lb = id(&lb["load_balancer"]);
    let lb_path = format!("/load_balancers/{lb}");
    for (action, body) in [
        ("update_service", json!({"listen_port": 6443, "destination_port": 7443})),
        ("change_algorithm", json!({"type": "least_connections"})),
        ("change_type", json!({"load_balancer_type": "lb21"})),
        ("change_protection", json!({"delete": true})),
        ("disable_public_interface", json!({})),
        ("enable_public_interface", json!({})),
    ] {
        let answer = api.create(&format!("{lb_path}/actions/{action}"), body).await;
        assert_eq!(api.finish(&answer["action"]).await["status"], "success", "{action}");
    }
    let got = api.get(&lb_path).await.body["load_balancer"].clone();
    assert_eq!(got["services"][0]["destination_port"], 7443);
    assert_eq!(got["algorithm"]["type"], "least_connections");
    assert_eq!(got["load_balancer_type"]["name"], "lb21");
    assert_eq!(got["protection"]["delete"], true);
    assert_eq!(got["public_net"]["enabled"], true);
    assert_eq!(api.delete(&lb_path).await.code(), "protected");

    // Floating IPs: reverse DNS and protection.
    let fip = api
        .create("/floating_ips", json!({"type": "ipv4", "home_location": "fsn1"}))
        .await["floating_ip"]
        .clone();
    let fip_id = id(&fip);
    let ptr = api
        .create(
            &format!("/floating_ips/{fip_id}/actions/change_dns_ptr"),
            json!({"ip": fip["ip"], "dns_ptr": "api.example.com"}),
        )
        .await;
    api.finish(&ptr["action"]).await;
    let protect = api
        .create(
            &format!("/floating_ips/{fip_id}/actions/change_protection"),
            json!({"delete": true}),
        )
        .await;
    api.finish(&protect["action"]).await;
    let got = api.get(&format!("/floating_ips/{fip_id}")).await.body["floating_ip"].clone();
    assert_eq!(got["dns_ptr"][0]["dns_ptr"], "api.example.com");
    assert_eq!(api.delete(&format!("/floating_ips/{fip_id}")).await.code(), "protected");
}
