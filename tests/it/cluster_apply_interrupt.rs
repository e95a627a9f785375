//! Ctrl-C during `apply` (issue 11 and issue 12's "Ctrl-C stops between steps"), with the
//! real binary and a real SIGINT against the time-scaled emulator: outside a node
//! replacement apply stops at once (exit 3, the same command continues); inside one the
//! runbook finishes the step it is in, stops before the next with "resume with the same
//! command", and the same command finishes the replacement with one new server.

use std::path::Path;
use std::process::Child;

use crate::cluster_apply::{apply_once, cluster_yaml, emulator_with_snapshot, options, workspace};
use crate::cluster_apply_faults::{cli, faults, seen, spawn_cli, until_reached};
use crate::harness::signal;
use crate::sim_common::Api;

/// Sends SIGINT to `child` once `reached` holds, then waits for it to exit; returns its
/// exit code and output. Panics if it ends before `point` or takes minutes.
async fn interrupt_when(
    mut child: Child,
    log: &Path,
    point: &str,
    reached: impl Fn() -> bool,
) -> (Option<i32>, String) {
    until_reached(&mut child, log, point, reached).await;
    signal(child.id(), "INT");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("joined")
        .expect("the interrupted apply is reaped");
    (status.code(), std::fs::read_to_string(log).unwrap_or_default())
}

/// The servers labelled with the test cluster: (name, status).
async fn servers(api: &Api) -> Vec<(String, String)> {
    let answer = api.get("/servers?label_selector=talos-hcloud/cluster=apply-test").await;
    answer.body["servers"]
        .as_array()
        .unwrap_or_else(|| panic!("servers: {}", answer.body))
        .iter()
        .map(|s| {
            let text = |key: &str| s[key].as_str().unwrap_or_default().to_string();
            (text("name"), text("status"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_outside_a_replacement_stops_apply_at_once_with_exit_3() {
    let (api, _hc) = emulator_with_snapshot().await;
    let (dir, path) = workspace(1);
    let log = dir.path().join("apply.log");
    // Server creates take minutes: an apply that waited for them would still be running.
    api.sim.clear_request_log();
    api.sim
        .add_faults(&faults("slow,command=create_server,factor=2000,n=4"));
    let child = spawn_cli(&api, dir.path(), &path, &["apply"], &log);
    let (code, output) = interrupt_when(child, &log, "the first server create", || {
        seen(&api, "POST", "/v1/servers") >= 1
    })
    .await;
    assert_eq!(code, Some(3), "{output}");
    assert!(output.contains("interrupted"), "{output}");
    assert!(output.contains("run the same command again"), "{output}");
    let made = servers(&api).await;
    assert!(!made.is_empty(), "a server was created");
    assert!(
        made.iter().all(|(_, status)| status == "initializing"),
        "apply stopped while the creates were still running: {made:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_replacement_stops_between_steps_and_the_same_command_finishes_it() {
    let (api, _hc) = emulator_with_snapshot().await;
    let (dir, path) = workspace(1);
    std::fs::write(&path, cluster_yaml(1)).expect("cluster.yaml");
    apply_once(&api, &path).await.unwrap_or_else(|e| panic!("apply: {e:?}"));
    let resized = cluster_yaml(1).replace("    type: cax11\n    count", "    type: cax21\n    count");
    std::fs::write(&path, resized).expect("cluster.yaml");
    // The bundle where the binary looks for it (`options` puts the golden one there).
    options(&api, &crate::cluster_apply::load(&path));

    // Ctrl-C while the old server's delete runs (slowed down): the step is finished, the
    // next one (create) never starts.
    api.sim.clear_request_log();
    api.sim
        .add_faults(&faults("slow,command=delete_server,factor=1000,n=1"));
    let log = dir.path().join("apply.log");
    let child = spawn_cli(&api, dir.path(), &path, &["apply", "--allow-replace"], &log);
    let (code, output) = interrupt_when(child, &log, "the old server's delete", || {
        seen(&api, "DELETE", "/v1/servers/*") >= 1
    })
    .await;
    api.sim.clear_faults();
    assert_eq!(code, Some(3), "{output}");
    assert!(
        output.contains("interrupted after step delete-server; resume with the same command"),
        "{output}"
    );
    assert!(
        !servers(&api).await.iter().any(|(name, _)| name == "at-general-1"),
        "the delete step finished"
    );
    assert_eq!(
        seen(&api, "POST", "/v1/servers"),
        0,
        "no server created after the Ctrl-C"
    );

    // The same command: the replacement continues at create-server, one server in all.
    api.sim.clear_request_log();
    let run = cli(&api, dir.path(), &path, &["apply", "--allow-replace"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(seen(&api, "POST", "/v1/servers"), 1, "{}", run.stderr);
    let after = api.get("/servers?name=at-general-1").await;
    assert_eq!(
        after.body["servers"][0]["server_type"]["name"], "cax21",
        "{}",
        after.body
    );
    let again = cli(&api, dir.path(), &path, &["plan", "--detailed-exitcode"]).await;
    assert_eq!(again.code, 0, "nothing left to do:\n{}", again.stdout);
}
