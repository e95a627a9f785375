//! Fault injection: reproducible for a seed, independent streams, dropped connections
//! after the mutation, capacity errors, action errors and the deterministic knobs.

use reqwest::Method;
use serde_json::json;
use talos_hcloud::sim::{FaultSpec, SimConfig};

use crate::sim_common::Api;

async fn statuses(seed: u64, spec: &str, n: usize) -> Vec<u16> {
    let api = Api::start_with(SimConfig {
        seed,
        faults: spec.parse().unwrap(),
        ..SimConfig::default()
    })
    .await;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(api.get("/locations").await.status);
    }
    out
}

#[tokio::test]
async fn same_seed_same_faults_different_seed_differs() {
    let spec = "503,on=GET:/locations,p=0.5";
    let a = statuses(42, spec, 40).await;
    let b = statuses(42, spec, 40).await;
    let c = statuses(43, spec, 40).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.contains(&503) && a.contains(&200), "{a:?}");
    // A rule of another concern does not shift the HTTP stream.
    let d = statuses(
        42,
        &format!("{spec}; action-error,p=0.5; drop,on=POST:/servers,p=0.5"),
        40,
    )
    .await;
    assert_eq!(a, d);
}

#[tokio::test]
async fn injected_errors_have_the_api_shapes() {
    let api = Api::start_with(SimConfig {
        faults: "500,on=GET:/servers,n=1; 502,on=GET:/servers,n=1; 504,on=GET:/servers,n=1; 429,on=GET:/servers,n=1; conflict,on=GET:/servers,n=1"
            .parse()
            .unwrap(),
        ..SimConfig::default()
    })
    .await;
    let answers = [
        api.get("/servers").await,
        api.get("/servers").await,
        api.get("/servers").await,
        api.get("/servers").await,
        api.get("/servers").await,
        api.get("/servers").await,
    ];
    let got: Vec<(u16, &str)> = answers.iter().map(|a| (a.status, a.code())).collect();
    assert_eq!(
        got,
        vec![
            (500, "server_error"),
            (502, ""),
            (504, "timeout"),
            (429, "rate_limit_exceeded"),
            (409, "conflict"),
            (200, "")
        ]
    );
    assert!(
        answers[1].body.as_str().unwrap().contains("Bad Gateway"),
        "502 is not JSON"
    );
    let faults: Vec<Option<String>> = api.sim.request_log().iter().map(|r| r.fault.clone()).collect();
    assert_eq!(faults[0].as_deref(), Some("500"));
    assert_eq!(faults[5], None);
}

#[tokio::test]
async fn fail_the_next_n_server_creates_with_locked() {
    let api = Api::start().await;
    api.sim
        .add_faults(&"locked,on=POST:/servers,n=3".parse::<FaultSpec>().unwrap());
    let body = json!({"name": "s", "server_type": "cax11", "image": "ubuntu-24.04"});
    for _ in 0..3 {
        let answer = api.post("/servers", body.clone()).await;
        assert_eq!((answer.status, answer.code()), (423, "locked"));
    }
    assert_eq!(
        api.get("/servers").await.body["servers"],
        json!([]),
        "faults come before the mutation"
    );
    assert_eq!(api.post("/servers", body).await.status, 201);
    assert!(
        api.sim.state()["faults"].as_array().unwrap().is_empty(),
        "the rule is used up"
    );
}

#[tokio::test]
async fn dropped_connection_after_the_mutation_leaves_the_resource() {
    let api = Api::start_with(SimConfig {
        faults: "drop,on=POST:/servers/*/actions/create_image,n=1".parse().unwrap(),
        time_scale: 0.0,
        ..SimConfig::default()
    })
    .await;
    let server = api.server("builder", json!({})).await["server"]["id"].as_u64().unwrap();
    let url = format!("{}/servers/{server}/actions/create_image", api.sim.endpoint());
    let result = reqwest::Client::new()
        .post(url)
        .bearer_auth(api.sim.token())
        .json(&json!({"description": "talos"}))
        .send()
        .await;
    assert!(result.is_err(), "the client sees an error: {result:?}");
    let snapshots = api.get("/images?type=snapshot").await.body["images"].clone();
    assert_eq!(snapshots.as_array().unwrap().len(), 1, "but the snapshot exists");
    let log = api.sim.request_log();
    let dropped = log.iter().find(|r| r.fault.as_deref() == Some("drop")).unwrap();
    assert_eq!(dropped.status, 0);
    assert_eq!(
        dropped.response_body.as_ref().unwrap()["image"]["id"],
        snapshots[0]["id"]
    );
    // A blind retry hits the running snapshot (a tool must look the image up instead).
    assert_eq!(
        api.post(&format!("/servers/{server}/actions/create_image"), json!({}))
            .await
            .status,
        423
    );
}

#[tokio::test]
async fn capacity_errors_for_a_type_or_location() {
    let api = Api::start_with(SimConfig {
        faults: "unavailable,type=cax11,location=fsn1; placement-error,location=hel1,n=1"
            .parse()
            .unwrap(),
        ..SimConfig::default()
    })
    .await;
    let create = |name: &str, server_type: &str, location: &str| json!({"name": name, "server_type": server_type, "image": "ubuntu-24.04", "location": location});
    let full = api.post("/servers", create("a", "cax11", "fsn1")).await;
    assert_eq!((full.status, full.code()), (412, "resource_unavailable"));
    assert_eq!(api.post("/servers", create("b", "cax21", "fsn1")).await.status, 201);
    assert_eq!(api.post("/servers", create("c", "cax11", "nbg1")).await.status, 201);
    let placement = api.post("/servers", create("d", "cax11", "hel1")).await;
    assert_eq!((placement.status, placement.code()), (422, "placement_error"));
    assert_eq!(placement.body["error"]["message"], "error during placement");
    assert_eq!(api.post("/servers", create("d", "cax11", "hel1")).await.status, 201);
}

#[tokio::test]
async fn actions_can_fail_or_be_slow() {
    let api = Api::stepped().await;
    api.sim.add_faults(
        &"action-error,command=create_image,n=1; slow,command=enable_rescue,factor=50"
            .parse()
            .unwrap(),
    );
    let server = api.server("s", json!({})).await["server"]["id"].as_u64().unwrap();
    let image = api
        .create(&format!("/servers/{server}/actions/create_image"), json!({}))
        .await;
    let failed = api.finish(&image["action"]).await;
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["error"]["code"], "action_failed");
    assert!(failed["finished"].is_string());
    let image_id = image["image"]["id"].as_u64().unwrap();
    assert_eq!(
        api.get(&format!("/images/{image_id}")).await.status,
        404,
        "a failed snapshot disappears"
    );
    let second = api
        .create(&format!("/servers/{server}/actions/create_image"), json!({}))
        .await;
    assert_eq!(api.finish(&second["action"]).await["status"], "success");

    let rescue = api
        .create(&format!("/servers/{server}/actions/enable_rescue"), json!({}))
        .await;
    api.sim.advance(std::time::Duration::from_secs(10));
    let still = api.get(&format!("/actions/{}", rescue["action"]["id"])).await;
    assert_eq!(still.body["action"]["status"], "running", "50 × 2 s");
    api.sim.advance(std::time::Duration::from_secs(200));
    assert_eq!(
        api.get(&format!("/actions/{}", rescue["action"]["id"])).await.body["action"]["status"],
        "success"
    );
}

#[tokio::test]
async fn faults_can_be_added_over_http() {
    let api = Api::start().await;
    let control = api.sim.control();
    let rules = control.add_faults("503,on=GET:/images,n=2").await.unwrap();
    assert_eq!(rules["rules"], json!(["503,on=GET:/images,n=2"]));
    assert_eq!(api.get("/images").await.status, 503);
    assert_eq!(api.call(Method::GET, "/images", None).await.status, 503);
    assert_eq!(api.get("/images").await.status, 200);
    control.add_faults("503").await.unwrap();
    assert_eq!(api.get("/locations").await.status, 503);
    control.clear_faults().await.unwrap();
    assert_eq!(api.get("/locations").await.status, 200);
}

#[tokio::test]
async fn quotas_and_chosen_action_error_codes() {
    let api = Api::stepped().await;
    api.sim.add_faults(
        &"limit,on=POST:/servers,n=1; limit,on=POST:/primary_ips,n=1; action-error,command=stop_server,code=unknown_error,n=1"
            .parse()
            .unwrap(),
    );
    let body = json!({"name": "s", "server_type": "cax11", "image": "ubuntu-24.04"});
    let refused = api.post("/servers", body.clone()).await;
    assert_eq!((refused.status, refused.code()), (403, "resource_limit_exceeded"));
    assert_eq!(refused.body["error"]["message"], "server limit exceeded");
    assert_eq!(refused.body["error"]["details"]["limits"][0]["name"], "project_limit");
    let refused = api
        .post("/primary_ips", json!({"name": "p", "type": "ipv4", "location": "fsn1"}))
        .await;
    assert_eq!(refused.body["error"]["message"], "Primary IP limit exceeded");
    assert_eq!(
        api.get("/servers").await.body["servers"],
        json!([]),
        "nothing was created"
    );

    let server = api.server("s", json!({})).await["server"]["id"].as_u64().unwrap();
    let off = api
        .create(&format!("/servers/{server}/actions/poweroff"), json!({}))
        .await;
    let failed = api.finish(&off["action"]).await;
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["error"]["code"], "unknown_error");
    assert_eq!(
        api.get(&format!("/servers/{server}")).await.body["server"]["status"],
        "running",
        "a failed poweroff leaves the server running"
    );
}

#[tokio::test]
async fn a_guest_can_ignore_the_acpi_shutdown() {
    let api = Api::stepped().await;
    api.sim.add_faults(&"ignore-shutdown,n=1".parse().unwrap());
    let server = api.server("s", json!({})).await["server"]["id"].as_u64().unwrap();
    let path = format!("/servers/{server}");
    let first = api.create(&format!("{path}/actions/shutdown"), json!({})).await;
    assert_eq!(api.finish(&first["action"]).await["status"], "success");
    api.sim.advance(std::time::Duration::from_secs(600));
    assert_eq!(
        api.get(&path).await.body["server"]["status"],
        "running",
        "the signal was delivered, the guest ignored it"
    );
    let second = api.create(&format!("{path}/actions/shutdown"), json!({})).await;
    api.finish(&second["action"]).await;
    api.sim.advance(std::time::Duration::from_secs(60));
    assert_eq!(
        api.get(&path).await.body["server"]["status"],
        "off",
        "the rule is used up"
    );
}
