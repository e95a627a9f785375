//! `doctor` against the in-process emulator and its Image Factory over HTTP: every check
//! passes on a good setup (the admin-CIDR check says "cannot tell" on loopback), and a bad
//! token, a sold-out server type and a missing snapshot each fail it (exit 1) by name,
//! without a single change.

use serde_json::Value;
use talos_hcloud::hcloud::{CreateServer, Labels};
use talos_hcloud::sim::FaultSpec;

use crate::cluster_destroy::{cli, client, server};
use crate::harness::{Run, repo_root};
use crate::sim_common::Api;

/// Makes the Talos snapshot the repository's cluster.yaml needs (arm64: cax11 and cax41).
async fn snapshot(api: &Api) {
    let spec = talos_hcloud::spec::load(&repo_root().join("cluster.yaml")).expect("the shipped cluster.yaml");
    let hc = client(api);
    let builder = server(
        &hc,
        CreateServer::new("builder", "cax11", "ubuntu-24.04", Labels::builder("x").unwrap()),
    )
    .await;
    let labels = Labels::snapshot(
        &spec.talos.schematic.id.to_string(),
        &spec.talos.version.to_string(),
        "arm64",
    )
    .unwrap();
    let image = hc
        .create_image(talos_hcloud::hcloud::ServerId::new(builder), "talos", &labels)
        .await
        .unwrap();
    let action = image.action.expect("create_image action");
    hc.wait_for_action("snapshot", talos_hcloud::hcloud::ActionId::new(action.id))
        .await
        .unwrap();
}

/// The checks of a run: from the result (exit 0) or the error's details (exit 1).
fn checks(run: &Run) -> Vec<(String, String, String)> {
    let document: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("JSON ({e}): {run:?}"));
    let checks = if document["ok"] == true {
        document["checks"].clone()
    } else {
        document["error"]["details"]["checks"].clone()
    };
    checks
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["verdict"].as_str().unwrap_or_default().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn verdict<'a>(checks: &'a [(String, String, String)], name: &str) -> (&'a str, &'a str) {
    let (_, verdict, reason) = checks
        .iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:?}"));
    (verdict, reason)
}

fn no_changes(api: &Api) {
    let changes: Vec<String> = api
        .sim
        .request_log()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(changes.is_empty(), "doctor changed something: {changes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_passes_on_a_good_setup() {
    let api = Api::start().await;
    snapshot(&api).await;
    api.sim.clear_request_log();
    let run = cli(&api, api.sim.token(), &["--output", "json", "doctor"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let checks = checks(&run);
    let names: Vec<&str> = checks.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "token",
            "rate-limit",
            "server-types",
            "factory",
            "snapshot",
            "admin-cidrs"
        ]
    );
    for name in ["token", "rate-limit", "server-types", "factory", "snapshot"] {
        assert_eq!(verdict(&checks, name).0, "ok", "{checks:?}");
    }
    assert!(verdict(&checks, "factory").1.contains("v1.11.6"), "{checks:?}");
    assert!(
        verdict(&checks, "server-types").1.contains("cax41 in fsn1"),
        "{checks:?}"
    );
    let (admin, reason) = verdict(&checks, "admin-cidrs");
    assert_eq!(admin, "warn", "loopback: cannot tell");
    assert!(reason.starts_with("cannot tell"), "{reason}");
    no_changes(&api);

    let text = cli(&api, api.sim.token(), &["doctor"]).await;
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.contains("ok    snapshot"), "{text:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_fails_on_a_bad_token_naming_the_check() {
    let api = Api::start().await;
    let wrong = "x".repeat(64);
    let run = cli(&api, &wrong, &["--output", "json", "doctor"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let checks = checks(&run);
    let (token, reason) = verdict(&checks, "token");
    assert_eq!(token, "fail");
    assert!(reason.contains("401"), "{reason}");
    assert!(
        !run.stdout.contains(&wrong) && !run.stderr.contains(&wrong),
        "the token is never shown"
    );
    let text = cli(&api, &wrong, &["doctor"]).await;
    assert_eq!(text.code, 1);
    assert!(text.stderr.contains("blocker(s): token"), "{text:?}");
    assert!(text.stdout.contains("fail  token"), "{text:?}");
    no_changes(&api);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_fails_on_a_sold_out_server_type() {
    let api = Api::start().await;
    snapshot(&api).await;
    api.sim
        .add_faults(&"unavailable,type=cax41,location=fsn1".parse::<FaultSpec>().unwrap());
    api.sim.clear_request_log();
    let run = cli(&api, api.sim.token(), &["--output", "json", "doctor"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let checks = checks(&run);
    let (types, reason) = verdict(&checks, "server-types");
    assert_eq!(types, "fail");
    assert!(reason.contains("cax41 not available in fsn1"), "{reason}");
    assert!(reason.contains("general-1"), "names the nodes: {reason}");
    assert_eq!(verdict(&checks, "snapshot").0, "ok");
    no_changes(&api);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_fails_without_the_snapshot() {
    let api = Api::start().await;
    let run = cli(&api, api.sim.token(), &["--output", "json", "doctor"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let checks = checks(&run);
    let (snapshot, reason) = verdict(&checks, "snapshot");
    assert_eq!(snapshot, "fail");
    assert!(reason.contains("arm64") && reason.contains("image build"), "{reason}");
    assert_eq!(verdict(&checks, "server-types").0, "ok");
    no_changes(&api);
}
