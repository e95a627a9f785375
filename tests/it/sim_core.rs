//! The emulator's cross-cutting behaviour over real HTTP: auth, errors, strict bodies,
//! pagination, label selectors, sorting, actions, rate limiting, request log, controls.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::sim_common::{Api, ssh_public_key};

#[tokio::test]
async fn requests_without_the_token_get_401_and_are_logged() {
    let api = Api::start().await;
    let none = api.call_raw(Method::GET, "/servers", None, None).await;
    assert_eq!((none.status, none.code()), (401, "unauthorized"));
    assert_eq!(none.body["error"]["message"], "unable to authenticate");
    let wrong = api.call_raw(Method::GET, "/servers", None, Some("not-the-token")).await;
    assert_eq!(wrong.status, 401);
    let log = api.sim.request_log();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|r| r.status == 401 && r.path == "/v1/servers"));
    // The control routes need the token too.
    let control = reqwest::get(format!("{}/__sim/state", api.base())).await.unwrap();
    assert_eq!(control.status(), 401);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_hetzner_shaped_errors() {
    let api = Api::start().await;
    let volumes = api.get("/volumes").await;
    assert_eq!((volumes.status, volumes.code()), (501, "not_implemented"));
    assert_eq!(
        volumes.body["error"]["message"],
        "GET /v1/volumes is not implemented in talos-hcloud sim"
    );
    let console = api.post("/servers/1/actions/request_console", json!({})).await;
    assert_eq!(console.code(), "not_implemented");
    assert!(
        console.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("request_console")
    );
    let wrong_method = api.off_contract(Method::PATCH, "/servers", None).await;
    assert_eq!((wrong_method.status, wrong_method.code()), (405, "method_not_allowed"));
    // Removed from the live API on 2026-10-01.
    let datacenters = api.get("/datacenters").await;
    assert_eq!(
        (datacenters.status, datacenters.code()),
        (410, "deprecated_api_endpoint")
    );
    assert!(
        datacenters.body["error"]["details"]["announcement"]
            .as_str()
            .is_some_and(|url| url.starts_with("https://docs.hetzner.cloud/changelog"))
    );
    assert_eq!(api.get("/datacenters/4").await.status, 410);
    let missing = api.get("/servers/123456").await;
    assert_eq!((missing.status, missing.code()), (404, "not_found"));
    let not_numeric = api.get("/servers/abc").await;
    assert_eq!(not_numeric.status, 404);
}

#[tokio::test]
async fn bodies_are_strict() {
    let api = Api::start().await;
    let malformed = api
        .call_raw(
            Method::POST,
            "/ssh_keys",
            Some("{\"name\": ".into()),
            Some(api.sim.token()),
        )
        .await;
    assert_eq!((malformed.status, malformed.code()), (400, "json_error"));
    let unknown = api
        .post(
            "/ssh_keys",
            json!({"name": "k", "public_key": ssh_public_key(1), "colour": "red"}),
        )
        .await;
    assert_eq!((unknown.status, unknown.code()), (422, "invalid_input"));
    assert_eq!(unknown.body["error"]["details"]["fields"][0]["name"], "colour");
    let nested = api
        .post(
            "/servers",
            json!({"name": "a", "server_type": "cax11", "image": "ubuntu-24.04", "public_net": {"enable_ipv5": true}}),
        )
        .await;
    assert_eq!(
        nested.body["error"]["details"]["fields"][0]["name"],
        "public_net.enable_ipv5"
    );
    let missing = api.post("/ssh_keys", json!({"name": "k"})).await;
    assert_eq!(missing.body["error"]["details"]["fields"][0]["name"], "public_key");
    let bad_labels = api
        .post(
            "/ssh_keys",
            json!({"name": "k", "public_key": ssh_public_key(1), "labels": {"-bad": "x"}}),
        )
        .await;
    assert_eq!(bad_labels.body["error"]["details"]["fields"][0]["name"], "labels");
    // Bodiless actions accept nothing else.
    let created = api.server("s1", json!({})).await;
    let id = created["server"]["id"].as_u64().unwrap();
    let extra = api
        .post(&format!("/servers/{id}/actions/poweroff"), json!({"force": true}))
        .await;
    assert_eq!(extra.code(), "invalid_input");
    assert_eq!(
        api.get("/servers").await.body["servers"].as_array().unwrap().len(),
        1,
        "nothing else was created"
    );
}

#[tokio::test]
async fn ids_are_accepted_as_numbers_or_numeric_strings_and_are_large() {
    let api = Api::start().await;
    let key = api
        .create("/ssh_keys", json!({"name": "k", "public_key": ssh_public_key(1)}))
        .await;
    let key_id = key["ssh_key"]["id"].as_u64().unwrap();
    assert!(key_id > 1_000_000, "{key_id}");
    let group = api
        .create("/placement_groups", json!({"name": "g", "type": "spread"}))
        .await;
    let group_id = group["placement_group"]["id"].as_u64().unwrap();
    let image_id = api.get("/images?name=ubuntu-24.04&architecture=arm").await.body["images"][0]["id"]
        .as_u64()
        .unwrap();
    let created = api
        .create(
            "/servers",
            json!({
                "name": "by-ids", "server_type": "45", "image": image_id.to_string(), "location": 1,
                "ssh_keys": [key_id.to_string()], "placement_group": group_id,
            }),
        )
        .await;
    assert_eq!(created["server"]["server_type"]["name"], "cax11");
    assert_eq!(created["server"]["location"]["name"], "fsn1");
    assert_eq!(created["server"]["placement_group"]["id"], group_id);
    assert!(created["server"]["id"].as_u64().unwrap() > 10_000_000);
    assert!(created["action"]["id"].as_u64().unwrap() > 1_000_000_000);
    assert_eq!(created["root_password"], Value::Null, "SSH keys were given");
}

#[tokio::test]
async fn pagination_meta_and_link_header() {
    let api = Api::start().await;
    for i in 0..55u8 {
        api.create(
            "/ssh_keys",
            json!({"name": format!("k{i:02}"), "public_key": ssh_public_key(i)}),
        )
        .await;
    }
    let first = api.get("/ssh_keys").await;
    let meta = &first.body["meta"]["pagination"];
    assert_eq!(first.body["ssh_keys"].as_array().unwrap().len(), 25);
    assert_eq!(
        (
            meta["page"].as_u64(),
            meta["per_page"].as_u64(),
            meta["total_entries"].as_u64()
        ),
        (Some(1), Some(25), Some(55))
    );
    assert_eq!(
        (
            meta["previous_page"].clone(),
            meta["next_page"].clone(),
            meta["last_page"].clone()
        ),
        (Value::Null, json!(2), json!(3))
    );
    let link = first.header("link");
    assert!(link.contains("page=2>; rel=\"next\""), "{link}");
    assert!(link.contains("page=3>; rel=\"last\""), "{link}");
    let last = api.get("/ssh_keys?page=2&per_page=50").await;
    assert_eq!(last.body["ssh_keys"].as_array().unwrap().len(), 5);
    assert_eq!(last.body["meta"]["pagination"]["next_page"], Value::Null);
    assert!(last.header("link").contains("rel=\"prev\""));
    let clamped = api.get("/ssh_keys?per_page=500").await;
    assert_eq!(clamped.body["meta"]["pagination"]["per_page"], 50);
    assert_eq!(api.get("/ssh_keys?page=0").await.code(), "invalid_input");
    // Following next_page visits every item once.
    let mut seen = Vec::new();
    let mut page = Some(1);
    while let Some(p) = page {
        let answer = api.get(&format!("/ssh_keys?page={p}&per_page=10")).await;
        seen.extend(
            answer.body["ssh_keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["id"].clone()),
        );
        page = answer.body["meta"]["pagination"]["next_page"].as_u64();
    }
    seen.dedup();
    assert_eq!(seen.len(), 55);
}

#[tokio::test]
async fn every_label_selector_operator() {
    let api = Api::start().await;
    let labelled = [
        ("a", json!({"env": "prod", "role": "cp"})),
        ("b", json!({"env": "prod", "role": "worker"})),
        ("c", json!({"env": "dev"})),
        ("d", json!({})),
    ];
    for (i, (name, labels)) in labelled.iter().enumerate() {
        api.create(
            "/ssh_keys",
            json!({"name": name, "public_key": ssh_public_key(i as u8), "labels": labels}),
        )
        .await;
    }
    let names = |selector: &'static str| {
        let api = &api;
        async move {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("label_selector", selector)
                .finish();
            let answer = api.get(&format!("/ssh_keys?{q}")).await;
            assert_eq!(answer.status, 200, "{selector}: {answer:?}");
            answer.body["ssh_keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    assert_eq!(names("env=prod").await, "a,b");
    assert_eq!(names("env==prod").await, "a,b");
    assert_eq!(names("env!=prod").await, "c,d");
    assert_eq!(names("role in (cp, worker)").await, "a,b");
    assert_eq!(names("role notin (cp)").await, "b,c,d");
    assert_eq!(names("role").await, "a,b");
    assert_eq!(names("!role").await, "c,d");
    assert_eq!(names("env=prod,role=worker").await, "b");
    let bad = api.get("/ssh_keys?label_selector=env%20within%20(x)").await;
    assert_eq!((bad.status, bad.code()), (422, "invalid_input"));
    assert_eq!(bad.body["error"]["details"]["fields"][0]["name"], "label_selector");
}

#[tokio::test]
async fn sorting_by_allowed_fields_only() {
    let api = Api::start().await;
    for name in ["b", "c", "a"] {
        api.create("/placement_groups", json!({"name": name, "type": "spread"}))
            .await;
    }
    let names = |body: &Value| {
        body["placement_groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect::<String>()
    };
    assert_eq!(names(&api.get("/placement_groups").await.body), "bca", "default: by ID");
    assert_eq!(names(&api.get("/placement_groups?sort=name").await.body), "abc");
    assert_eq!(names(&api.get("/placement_groups?sort=name:desc").await.body), "cba");
    assert_eq!(names(&api.get("/placement_groups?sort=id:desc").await.body), "acb");
    let bad = api.get("/placement_groups?sort=colour").await;
    assert_eq!(bad.code(), "invalid_input");
}

#[tokio::test]
async fn actions_progress_on_simulated_time_and_lock_the_server() {
    let api = Api::stepped().await;
    let created = api
        .create(
            "/servers",
            json!({"name": "s", "server_type": "cx23", "image": "ubuntu-24.04"}),
        )
        .await;
    let server = &created["server"];
    let id = server["id"].as_u64().unwrap();
    assert_eq!(server["status"], "initializing");
    assert_eq!(server["locked"], true);
    let action = &created["action"];
    assert_eq!(
        (action["command"].as_str(), action["status"].as_str()),
        (Some("create_server"), Some("running"))
    );
    assert_eq!(
        (action["progress"].as_u64(), action["finished"].clone()),
        (Some(0), Value::Null)
    );
    assert_eq!(action["error"], Value::Null);
    assert_eq!(action["resources"], json!([{"id": id, "type": "server"}]));
    assert_eq!(created["next_actions"][0]["command"], "start_server");
    assert!(created["root_password"].as_str().is_some_and(|p| p.len() >= 16));

    let locked = api.post(&format!("/servers/{id}/actions/poweroff"), json!({})).await;
    assert_eq!((locked.status, locked.code()), (423, "locked"));

    api.sim.advance(Duration::from_secs(30));
    let half = api.get(&format!("/actions/{}", action["id"])).await;
    let progress = half.body["action"]["progress"].as_u64().unwrap();
    assert!((30..=70).contains(&progress), "{progress}");

    api.sim.advance(Duration::from_secs(40));
    let done = api.get(&format!("/actions/{}", action["id"])).await.body["action"].clone();
    assert_eq!(
        (done["status"].as_str(), done["progress"].as_u64()),
        (Some("success"), Some(100))
    );
    assert!(done["finished"].is_string());
    assert_eq!(
        api.get(&format!("/servers/{id}")).await.body["server"]["status"],
        "starting"
    );
    api.sim.advance(Duration::from_secs(20));
    let server = api.get(&format!("/servers/{id}")).await.body["server"].clone();
    assert_eq!(
        (server["status"].as_str(), server["locked"].as_bool()),
        (Some("running"), Some(false))
    );

    // Batched lookup: unknown IDs are simply absent; the per-resource lists agree.
    let both = api
        .get(&format!(
            "/actions?id={}&id={}&id=999&sort=status&sort=id",
            action["id"], created["next_actions"][0]["id"]
        ))
        .await;
    assert_eq!(both.body["actions"].as_array().unwrap().len(), 2);
    assert!(both.header("link").contains("rel=\"last\""));
    assert_eq!(api.get("/actions").await.code(), "invalid_input");
    let per_server = api.get(&format!("/servers/{id}/actions")).await;
    assert_eq!(per_server.body["actions"].as_array().unwrap().len(), 2);
    let by_kind = api.get(&format!("/servers/actions/{}", action["id"])).await;
    assert_eq!(by_kind.body["action"]["id"], action["id"]);
    let wrong_kind = api.get(&format!("/images/actions/{}", action["id"])).await;
    assert_eq!(wrong_kind.status, 404);
    let only_success = api.get(&format!("/servers/{id}/actions?status=success")).await;
    assert_eq!(only_success.body["actions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn rate_limit_really_throttles_and_refills() {
    let api = Api::start().await;
    let first = api.get("/locations").await;
    assert_eq!(first.header("ratelimit-limit"), "3600");
    assert_eq!(first.header("ratelimit-remaining"), "3599");
    assert!(first.header("ratelimit-reset").parse::<u64>().unwrap() > 1_700_000_000);
    assert_eq!(first.header("x-correlation-id").len(), 16);
    assert_eq!(first.header("content-type"), "application/json");
    assert_eq!(first.header("access-control-expose-headers"), "Link,X-Correlation-ID");
    assert!(first.header("strict-transport-security").starts_with("max-age="));

    api.sim.set_rate_limit(3, 0.0, None);
    let statuses: Vec<(u16, String)> = {
        let mut out = Vec::new();
        for _ in 0..5 {
            let a = api.get("/locations").await;
            out.push((a.status, a.header("ratelimit-remaining")));
        }
        out
    };
    assert_eq!(
        statuses,
        vec![
            (200, "2".to_string()),
            (200, "1".to_string()),
            (200, "0".to_string()),
            (429, "0".to_string()),
            (429, "0".to_string())
        ]
    );
    let refused = api.get("/locations").await;
    assert_eq!(refused.code(), "rate_limit_exceeded");

    // Refill: with 50 tokens per second the bucket has room again soon.
    api.sim.set_rate_limit(3, 50.0, Some(0));
    let mut refilled = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if api.get("/locations").await.status == 200 {
            refilled = true;
            break;
        }
    }
    assert!(refilled, "the bucket never refilled");
}

#[tokio::test]
async fn request_log_records_bodies_and_counts() {
    let api = Api::start().await;
    assert!(api.sim.request_log().is_empty(), "no API call was made");
    api.create("/ssh_keys", json!({"name": "k", "public_key": ssh_public_key(9)}))
        .await;
    api.get("/ssh_keys?name=k").await;
    let log = api.sim.request_log();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].method.as_str(), log[0].path.as_str(), log[0].status),
        ("POST", "/v1/ssh_keys", 201)
    );
    assert_eq!(log[0].request_body.as_ref().unwrap()["name"], "k");
    assert_eq!(log[0].response_body.as_ref().unwrap()["ssh_key"]["name"], "k");
    assert_eq!((log[1].query.as_str(), log[1].request_body.clone()), ("name=k", None));
    // Control routes are not logged; the HTTP control client sees the same log.
    let control = api.sim.control();
    let over_http = control.request_log().await.unwrap();
    assert_eq!(over_http.len(), 2);
    assert_eq!(over_http[1]["path"], "/v1/ssh_keys");
    assert_eq!(api.check_log_now(), 2, "judged before the log is cleared");
    control.clear_log().await.unwrap();
    assert!(api.sim.request_log().is_empty());
}

#[tokio::test]
async fn controls_step_time_and_dump_state() {
    let api = Api::start().await;
    let control = api.sim.control();
    let time = control.set_time_scale(0.0).await.unwrap();
    assert_eq!(time["mode"], "step");
    let created = api
        .create(
            "/servers",
            json!({"name": "s", "server_type": "cax11", "image": "ubuntu-24.04", "start_after_create": false}),
        )
        .await;
    let id = created["server"]["id"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        api.get(&format!("/servers/{id}")).await.body["server"]["status"],
        "initializing",
        "time stands still"
    );
    let before = time["now_ms"].as_u64().unwrap();
    let after = control.advance(Duration::from_secs(120)).await.unwrap();
    assert!(after["now_ms"].as_u64().unwrap() >= before + 120_000);
    assert_eq!(api.get(&format!("/servers/{id}")).await.body["server"]["status"], "off");
    let state = control.state().await.unwrap();
    assert_eq!(state["servers"][0]["server"]["id"], id);
    assert_eq!(state["servers"][0]["internal"]["rescue_booted"], false);
    let bad = control.add_faults("418").await.unwrap_err();
    assert!(bad.to_string().contains("add faults"), "{bad}");
}

#[test]
fn unmarked_off_contract_traffic_fails_the_test() {
    // The conformance check at the end of every emulator test is real: an exchange the
    // description does not have, sent without `off_contract`, fails the test when the `Api`
    // is dropped.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            let api = Api::start().await;
            let wrong = api.call(Method::PATCH, "/servers", None).await;
            assert_eq!(wrong.status, 405);
            drop(api);
        })
    }))
    .expect_err("the dropped Api panics");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("#0 PATCH /v1/servers → 405") && message.contains("1 violation(s)"),
        "{message}"
    );
}

#[tokio::test]
async fn absurd_time_scales_steps_and_slow_factors_keep_the_api_answering() {
    // A huge `--time-scale`, `advance` or `slow` factor pushes simulated time past the
    // calendar: timestamps clamp and every request still gets an answer (a panic would
    // close the client's connection).
    let api = Api::stepped().await;
    let control = api.sim.control();
    let advance = reqwest::Client::new()
        .post(format!("{}/__sim/time/advance", api.base()))
        .bearer_auth(api.sim.token())
        .json(&json!({"seconds": 1e300}))
        .send()
        .await
        .expect("the emulator answers");
    assert_eq!(advance.status(), 422, "a step beyond any clock is refused");

    api.sim
        .add_faults(&"slow,command=create_server,factor=1e300".parse().expect("a valid spec"));
    let created = api
        .create(
            "/servers",
            json!({"name": "s", "server_type": "cx23", "image": "ubuntu-24.04"}),
        )
        .await;
    let action = created["action"]["id"].clone();
    control
        .set_time_scale(1e300)
        .await
        .expect("any finite scale is accepted");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let key = api
        .create("/ssh_keys", json!({"name": "k", "public_key": ssh_public_key(1)}))
        .await;
    assert_eq!(
        key["ssh_key"]["created"], "9999-12-31T23:59:59+00:00",
        "clamped to the calendar"
    );
    let polled = api.get(&format!("/actions/{action}")).await;
    assert_eq!(polled.status, 200);
    assert_eq!(polled.body["action"]["command"], "create_server");
}

#[tokio::test]
async fn an_oversized_body_is_authenticated_rate_limited_and_logged_like_any_request() {
    // A body over the 1 MiB limit goes through the token check, gets RateLimit headers and
    // reaches the request log before it is refused, like any other bad request.
    let api = Api::start().await;
    let huge = json!({"name": "k", "public_key": "A".repeat(2 << 20)}).to_string();
    let stranger = api
        .call_raw(Method::POST, "/ssh_keys", Some(huge.clone()), Some("wrong-token"))
        .await;
    assert_eq!((stranger.status, stranger.code()), (401, "unauthorized"));
    assert_eq!(stranger.header("ratelimit-remaining"), "3599");
    let owner = api
        .call_raw(Method::POST, "/ssh_keys", Some(huge), Some(api.sim.token()))
        .await;
    assert_eq!((owner.status, owner.code()), (422, "invalid_input"));
    assert_eq!(owner.header("ratelimit-remaining"), "3598");
    let log: Vec<(String, u16)> = api
        .sim
        .request_log()
        .iter()
        .map(|r| (r.path.clone(), r.status))
        .collect();
    assert_eq!(
        log,
        [("/v1/ssh_keys".to_string(), 401), ("/v1/ssh_keys".to_string(), 422)]
    );
}
