//! Servers over real HTTP: creation, the power state machine, rescue, snapshots, deletion,
//! uniqueness, protection and the checks the real API makes.

use std::time::Duration;

use serde_json::{Value, json};
use talos_hcloud::sim::SimEvent;

use crate::sim_common::{Api, ssh_public_key};

fn id(v: &Value) -> u64 {
    v["id"].as_u64().expect("an object with an ID")
}

#[tokio::test]
async fn the_snapshot_build_workflow() {
    let api = Api::stepped().await;
    let mut events = api.sim.events();
    let key = api
        .create(
            "/ssh_keys",
            json!({"name": "build", "public_key": ssh_public_key(3), "labels": {"talos-hcloud/temporary": "true"}}),
        )
        .await;
    let created = api
        .create(
            "/servers",
            json!({
                "name": "builder", "server_type": "cax11", "image": "ubuntu-24.04", "location": "fsn1",
                "start_after_create": false, "ssh_keys": ["build"],
                "labels": {"talos-hcloud/role": "builder"},
            }),
        )
        .await;
    let server = id(&created["server"]);
    assert_eq!(created["root_password"], Value::Null);
    assert_eq!(created["next_actions"], json!([]));
    assert_eq!(created["server"]["status"], "initializing");
    let ipv4 = created["server"]["public_net"]["ipv4"]["ip"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ipv4.starts_with("127."), "public IPv4 from 127.0.0.0/8: {ipv4}");
    assert!(created["server"].get("datacenter").is_none(), "live API: no datacenter");
    match events.try_recv() {
        Ok(SimEvent::ServerCreated { id, ipv4: Some(ip), .. }) => assert_eq!((id, ip), (server, ipv4.clone())),
        other => panic!("expected ServerCreated, got {other:?}"),
    }

    // enable_rescue right after create is locked.
    let early = api
        .post(
            &format!("/servers/{server}/actions/enable_rescue"),
            json!({"type": "linux64"}),
        )
        .await;
    assert_eq!((early.status, early.code()), (423, "locked"));
    assert_eq!(
        early.body["error"]["message"],
        "cannot perform operation because server is locked"
    );
    api.finish(&created["action"]).await;
    assert_eq!(
        api.get(&format!("/servers/{server}")).await.body["server"]["status"],
        "off"
    );

    let rescue = api
        .create(
            &format!("/servers/{server}/actions/enable_rescue"),
            json!({"type": "linux64", "ssh_keys": [id(&key["ssh_key"])]}),
        )
        .await;
    assert!(rescue["root_password"].as_str().is_some_and(|p| !p.is_empty()));
    api.finish(&rescue["action"]).await;
    assert_eq!(
        api.get(&format!("/servers/{server}")).await.body["server"]["rescue_enabled"],
        true
    );

    let on = api
        .create(&format!("/servers/{server}/actions/poweron"), json!({}))
        .await;
    assert_eq!(on["action"]["command"], "start_server");
    assert_eq!(
        api.get(&format!("/servers/{server}")).await.body["server"]["status"],
        "starting"
    );
    api.finish(&on["action"]).await;
    let running = api.get(&format!("/servers/{server}")).await.body["server"].clone();
    assert_eq!(
        (running["status"].as_str(), running["rescue_enabled"].as_bool()),
        (Some("running"), Some(false))
    );
    assert_eq!(api.sim.state()["servers"][0]["internal"]["rescue_booted"], true);
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    assert!(seen.contains(&SimEvent::RescueEnabled { id: server }), "{seen:?}");
    assert!(
        seen.contains(&SimEvent::ServerPoweredOn {
            id: server,
            rescue: true
        }),
        "{seen:?}"
    );

    // The guest shuts itself down (shutdown now over SSH).
    api.sim.guest_shutdown(server).unwrap();
    assert_eq!(
        api.get(&format!("/servers/{server}")).await.body["server"]["status"],
        "off"
    );

    let image = api
        .create(
            &format!("/servers/{server}/actions/create_image"),
            json!({"type": "snapshot", "description": "talos v1.11.1 arm64", "labels": {"os": "talos", "talos-hcloud/arch": "arm64"}}),
        )
        .await;
    let image_id = id(&image["image"]);
    assert_eq!(
        (
            image["image"]["status"].as_str(),
            image["image"]["type"].as_str(),
            image["image"]["name"].clone()
        ),
        (Some("creating"), Some("snapshot"), Value::Null)
    );
    assert_eq!(image["image"]["image_size"], Value::Null);
    assert_eq!(image["image"]["created_from"], json!({"id": server, "name": "builder"}));
    assert_eq!(
        (
            image["image"]["os_flavor"].as_str(),
            image["image"]["architecture"].as_str()
        ),
        (Some("unknown"), Some("arm"))
    );
    let busy = api.delete(&format!("/servers/{server}")).await;
    assert_eq!(busy.code(), "locked", "the server is locked while the snapshot runs");
    api.finish(&image["action"]).await;
    let done = api.get(&format!("/images/{image_id}")).await.body["image"].clone();
    let mut snapshot_event = None;
    while let Ok(event) = events.try_recv() {
        if let SimEvent::ImageCreated { id, server: from, .. } = event {
            snapshot_event = Some((id, from));
        }
    }
    assert_eq!(snapshot_event, Some((image_id, server)));
    assert_eq!(done["status"], "available");
    assert!(done["image_size"].as_f64().is_some_and(|s| s > 0.0));

    let listed = api
        .get("/images?type=snapshot&label_selector=os%3Dtalos,talos-hcloud%2Farch%3Darm64")
        .await;
    assert_eq!(listed.body["images"].as_array().unwrap().len(), 1);

    let deleted = api.delete(&format!("/servers/{server}")).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["action"]["command"], "delete_server");
    assert_eq!(
        api.get(&format!("/servers/{server}")).await.body["server"]["status"],
        "deleting"
    );
    api.finish(&deleted.body["action"]).await;
    assert_eq!(api.get(&format!("/servers/{server}")).await.status, 404);
    assert_eq!(
        api.get(&format!("/images/{image_id}")).await.status,
        200,
        "snapshots survive"
    );
    assert_eq!(
        api.get("/primary_ips").await.body["primary_ips"],
        json!([]),
        "auto_delete primary IPs go"
    );
    let key_deleted = api.delete(&format!("/ssh_keys/{}", id(&key["ssh_key"]))).await;
    assert_eq!(key_deleted.status, 204);

    // A server from the snapshot starts from its disk.
    let from_snapshot = api
        .create(
            "/servers",
            json!({"name": "cp-1", "server_type": "cax21", "image": image_id.to_string()}),
        )
        .await;
    let new_id = id(&from_snapshot["server"]);
    assert_eq!(from_snapshot["server"]["image"]["id"], image_id);
    let disk = api.sim.state()["servers"][0]["internal"]["disk"].clone();
    assert_eq!(disk, json!(format!("image:{image_id}")));
    assert_eq!(
        api.get(&format!("/servers/{new_id}")).await.body["server"]["server_type"]["name"],
        "cax21"
    );
}

#[tokio::test]
async fn power_actions_follow_the_state_machine() {
    let api = Api::stepped().await;
    let server = id(&api.server("s", json!({})).await["server"]);
    let path = |a: &str| format!("/servers/{server}/actions/{a}");
    assert_eq!(
        api.get(&format!("/servers/{server}")).await.body["server"]["status"],
        "running"
    );

    let off = api.create(&path("poweroff"), json!({})).await;
    assert_eq!(
        api.get(&format!("/servers/{server}")).await.body["server"]["status"],
        "stopping"
    );
    api.finish(&off["action"]).await;
    assert_eq!(
        api.get(&format!("/servers/{server}")).await.body["server"]["status"],
        "off"
    );

    let on = api.create(&path("poweron"), json!({})).await;
    api.finish(&on["action"]).await;
    let shutdown = api.create(&path("shutdown"), json!({})).await;
    let action = api.finish(&shutdown["action"]).await;
    assert_eq!(action["status"], "success");
    // ACPI: the action succeeds before the guest is off; it powers off a few seconds later.
    assert_eq!(
        api.get(&format!("/servers/{server}")).await.body["server"]["status"],
        "running"
    );
    api.sim.advance(Duration::from_secs(10));
    assert_eq!(
        api.get(&format!("/servers/{server}")).await.body["server"]["status"],
        "off"
    );

    let on = api.create(&path("poweron"), json!({})).await;
    api.finish(&on["action"]).await;
    for (name, command) in [("reboot", "reboot_server"), ("reset", "reset_server")] {
        let answer = api.create(&path(name), json!({})).await;
        assert_eq!(answer["action"]["command"], command);
        api.finish(&answer["action"]).await;
        assert_eq!(
            api.get(&format!("/servers/{server}")).await.body["server"]["status"],
            "running"
        );
    }
    // Powering on a running server succeeds without change (emulator choice).
    let again = api.create(&path("poweron"), json!({})).await;
    assert_eq!(api.finish(&again["action"]).await["status"], "success");
    assert_eq!(
        api.get(&format!("/servers/{server}")).await.body["server"]["status"],
        "running"
    );
    // Rescue is used by the next boot, even a reset.
    let rescue = api.create(&path("enable_rescue"), json!({})).await;
    api.finish(&rescue["action"]).await;
    let reset = api.create(&path("reset"), json!({})).await;
    api.finish(&reset["action"]).await;
    let state = api.sim.state();
    assert_eq!(state["servers"][0]["internal"]["rescue_booted"], true);
    assert_eq!(state["servers"][0]["server"]["rescue_enabled"], false);
    let disable = api.create(&path("disable_rescue"), json!({})).await;
    assert_eq!(api.finish(&disable["action"]).await["status"], "success");
}

#[tokio::test]
async fn server_checks_match_the_real_api() {
    let api = Api::start().await;
    let first = api.server("dup", json!({})).await;
    let server = id(&first["server"]);
    let again = api
        .post(
            "/servers",
            json!({"name": "dup", "server_type": "cax11", "image": "ubuntu-24.04"}),
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "uniqueness_error"));
    assert_eq!(again.body["error"]["message"], "server name is already used");
    assert_eq!(again.body["error"]["details"]["fields"][0]["name"], "name");

    let big = "x".repeat(32_769);
    let too_big = api
        .post(
            "/servers",
            json!({"name": "big", "server_type": "cax11", "image": "ubuntu-24.04", "user_data": big}),
        )
        .await;
    assert_eq!((too_big.status, too_big.code()), (422, "invalid_input"));
    assert_eq!(too_big.body["error"]["details"]["fields"][0]["name"], "user_data");
    assert_eq!(
        too_big.body["error"]["details"]["fields"][0]["messages"][0],
        "Length must be between 0 and 32768."
    );
    let fits = api
        .post(
            "/servers",
            json!({"name": "fits", "server_type": "cax11", "image": "ubuntu-24.04", "user_data": "x".repeat(32_768)}),
        )
        .await;
    assert_eq!(fits.status, 201);

    let bad_name = api
        .post(
            "/servers",
            json!({"name": "not_a_host", "server_type": "cax11", "image": "ubuntu-24.04"}),
        )
        .await;
    assert_eq!(bad_name.code(), "invalid_input");
    let arm_only = api
        .post(
            "/servers",
            json!({"name": "a1", "server_type": "cax11", "image": "ubuntu-24.04", "location": "ash"}),
        )
        .await;
    assert_eq!((arm_only.status, arm_only.code()), (412, "resource_unavailable"));
    let no_type = api
        .post(
            "/servers",
            json!({"name": "a2", "server_type": "cx11", "image": "ubuntu-24.04"}),
        )
        .await;
    assert_eq!(no_type.body["error"]["details"]["fields"][0]["name"], "server_type");
    let x86_image = api.get("/images?name=ubuntu-24.04&architecture=x86").await.body["images"][0]["id"].clone();
    let mismatch = api
        .post(
            "/servers",
            json!({"name": "a3", "server_type": "cax11", "image": x86_image.to_string()}),
        )
        .await;
    assert_eq!(mismatch.body["error"]["details"]["fields"][0]["name"], "image");
    let both = api
        .post("/servers", json!({"name": "a4", "server_type": "cax11", "image": "ubuntu-24.04", "location": "fsn1", "datacenter": "fsn1-dc14"}))
        .await;
    assert_eq!(both.code(), "invalid_input");

    // Protection: delete and rebuild together; a protected server cannot be deleted.
    let protect = api
        .create(
            &format!("/servers/{server}/actions/change_protection"),
            json!({"delete": true, "rebuild": true}),
        )
        .await;
    api.finish(&protect["action"]).await;
    let protected = api.delete(&format!("/servers/{server}")).await;
    assert_eq!((protected.status, protected.code()), (423, "protected"));
    let uneven = api
        .post(
            &format!("/servers/{server}/actions/change_protection"),
            json!({"delete": false}),
        )
        .await;
    assert_eq!(uneven.code(), "invalid_input");

    // Placement groups only take stopped servers, ten at most.
    let group = api
        .create("/placement_groups", json!({"name": "cp", "type": "spread"}))
        .await;
    let group_id = id(&group["placement_group"]);
    let running = api
        .post(
            &format!("/servers/{server}/actions/add_to_placement_group"),
            json!({"placement_group": group_id}),
        )
        .await;
    assert_eq!(running.code(), "server_not_stopped");
    for i in 0..10 {
        api.create("/servers", json!({"name": format!("pg-{i}"), "server_type": "cax11", "image": "ubuntu-24.04", "placement_group": group_id}))
            .await;
    }
    let eleventh = api
        .post(
            "/servers",
            json!({"name": "pg-10", "server_type": "cax11", "image": "ubuntu-24.04", "placement_group": group_id}),
        )
        .await;
    assert_eq!(
        (eleventh.status, eleventh.code()),
        (422, "placement_group_member_limit_reached")
    );
    assert_eq!(
        api.get(&format!("/placement_groups/{group_id}")).await.body["placement_group"]["servers"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    let in_use = api.delete(&format!("/placement_groups/{group_id}")).await;
    assert_eq!(in_use.code(), "resource_in_use");

    // PUT changes name and labels, with the same rules.
    let renamed = api
        .put(
            &format!("/servers/{server}"),
            json!({"name": "renamed", "labels": {"a": "b"}}),
        )
        .await;
    assert_eq!(
        (
            renamed.body["server"]["name"].as_str(),
            renamed.body["server"]["labels"]["a"].as_str()
        ),
        (Some("renamed"), Some("b"))
    );
    let taken = api.put(&format!("/servers/{server}"), json!({"name": "fits"})).await;
    assert_eq!(taken.code(), "uniqueness_error");
    let filtered = api.get("/servers?label_selector=a%3Db&status=running").await;
    assert_eq!(filtered.body["servers"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn networks_at_creation_and_later() {
    let api = Api::start().await;
    let network = api
        .create(
            "/networks",
            json!({"name": "net", "ip_range": "10.0.0.0/16", "subnets": [{"type": "cloud", "network_zone": "eu-central", "ip_range": "10.0.1.0/24"}]}),
        )
        .await;
    let net = id(&network["network"]);
    let created = api
        .create(
            "/servers",
            json!({"name": "n1", "server_type": "cax11", "image": "ubuntu-24.04", "networks": [net]}),
        )
        .await;
    let commands: Vec<&str> = created["next_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["start_server", "attach_to_network"]);
    assert_eq!(created["server"]["private_net"][0]["ip"], "10.0.1.1");
    let second = api.server("n2", json!({})).await;
    let n2 = id(&second["server"]);
    let attach = api
        .create(
            &format!("/servers/{n2}/actions/attach_to_network"),
            json!({"network": net, "ip": "10.0.1.20"}),
        )
        .await;
    api.finish(&attach["action"]).await;
    let again = api
        .post(
            &format!("/servers/{n2}/actions/attach_to_network"),
            json!({"network": net}),
        )
        .await;
    assert_eq!(again.code(), "server_already_attached");
    let taken = api.server("n3", json!({})).await;
    let n3 = id(&taken["server"]);
    let clash = api
        .post(
            &format!("/servers/{n3}/actions/attach_to_network"),
            json!({"network": net, "ip": "10.0.1.20"}),
        )
        .await;
    assert_eq!(clash.code(), "ip_not_available");
    let servers = &api.get(&format!("/networks/{net}")).await.body["network"]["servers"];
    assert_eq!(servers.as_array().unwrap().len(), 2);
    let ash = api.post("/servers", json!({"name": "us", "server_type": "cpx22", "image": "ubuntu-24.04", "location": "ash", "networks": [net]})).await;
    assert_eq!(ash.code(), "no_subnet_available");
    let detach = api
        .create(
            &format!("/servers/{n2}/actions/detach_from_network"),
            json!({"network": net}),
        )
        .await;
    api.finish(&detach["action"]).await;
    assert_eq!(
        api.get(&format!("/servers/{n2}")).await.body["server"]["private_net"],
        json!([])
    );
}

#[tokio::test]
async fn an_unused_rescue_system_expires_after_an_hour() {
    let api = Api::stepped().await;
    let server = id(&api.server("s", json!({"start_after_create": false})).await["server"]);
    let path = format!("/servers/{server}");
    let rescue = api.create(&format!("{path}/actions/enable_rescue"), json!({})).await;
    api.finish(&rescue["action"]).await;
    api.sim.advance(Duration::from_secs(3000));
    assert_eq!(api.get(&path).await.body["server"]["rescue_enabled"], true);
    // Enabling again starts a new hour; the first activation's expiry must not end it.
    let again = api.create(&format!("{path}/actions/enable_rescue"), json!({})).await;
    api.finish(&again["action"]).await;
    api.sim.advance(Duration::from_secs(700));
    assert_eq!(
        api.get(&path).await.body["server"]["rescue_enabled"],
        true,
        "the second activation is younger than an hour"
    );
    api.sim.advance(Duration::from_secs(3000));
    assert_eq!(
        api.get(&path).await.body["server"]["rescue_enabled"],
        false,
        "unused for 60 minutes"
    );
}

#[tokio::test]
async fn previous_generation_types_carry_their_real_deprecation_and_cannot_be_ordered() {
    let api = Api::stepped().await;
    let listed = api.get("/server_types?name=cx22").await.body;
    let cx22 = &listed["server_types"][0];
    assert_eq!(cx22["deprecated"], true);
    assert_eq!(cx22["deprecation"]["announced"], "2025-10-16T00:00:00+00:00");
    assert_eq!(cx22["deprecation"]["unavailable_after"], "2025-12-31T00:00:00+00:00");
    for location in cx22["locations"].as_array().expect("locations") {
        assert_eq!(location["available"], false);
        assert_eq!(location["deprecation"], cx22["deprecation"]);
    }
    let current = api.get("/server_types?name=cx23").await.body;
    assert_eq!(current["server_types"][0]["deprecated"], false);
    assert_eq!(current["server_types"][0]["deprecation"], Value::Null);

    let previous_generation =
        json!({"name": "old", "server_type": "cpx11", "image": "ubuntu-24.04", "location": "ash"});
    let refused = api.post("/servers", previous_generation).await;
    assert_eq!((refused.status, refused.code()), (412, "resource_unavailable"));
}
