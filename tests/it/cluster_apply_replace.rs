//! `apply --allow-replace` and `apply --allow-delete` against the time-scaled emulator
//! (issue 11 step 10): a worker whose server type changes is replaced through the node
//! replacement runbook keeping its name and addresses; a worker removed from cluster.yaml
//! is drained and deleted with its primary IP, a removed ingress load balancer deleted.
//! Control planes are replaced one at a time with etcd whole between them; two of five
//! removed leave etcd through a peer and are deleted despite their protection. Without the
//! flag neither plan changes anything, and removing control planes below quorum is refused.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hcloud::models::Server;
use talos_hcloud::cluster::apply::{self, ApplyError, ApplyReport};
use talos_hcloud::cluster::plan::{Action, Kind, Plan};
use talos_hcloud::cluster::{Inputs, plan_cluster};
use talos_hcloud::error::{Class, Classify as _};
use talos_hcloud::hcloud::Client;
use talos_hcloud::hcloud::labels::{self, Selector};
use talos_hcloud::interrupt::Interrupt;
use talos_hcloud::node::replace::{self, Inputs as ReplaceInputs, Outcome, ReplaceError, Step};
use talos_hcloud::node::{KubeClient, KubeOptions};

use crate::cluster_apply::{apply_binary, apply_once, cluster_yaml, emulator_with_snapshot, load, options, workspace};
use crate::image_build::mutations;
use crate::sim_common::Api;
use crate::sim_e2e::client;

async fn plan_of(api: &Api, path: &Path) -> Plan {
    let spec = load(path);
    let inputs = Inputs {
        secrets: spec.secrets_path(),
        hcloud_token: options(api, &spec).hcloud_token,
    };
    plan_cluster(&client(api), &spec, &inputs)
        .await
        .unwrap_or_else(|e| panic!("plan: {e:?}"))
        .plan
}

/// Applies with `allow` set on the options; returns the report and the progress lines.
async fn apply_with(
    api: &Api,
    path: &Path,
    allow: impl Fn(&mut apply::ApplyOptions),
) -> (Result<ApplyReport, ApplyError>, Vec<String>) {
    let spec = load(path);
    let mut options = options(api, &spec);
    allow(&mut options);
    let lines = Mutex::new(Vec::new());
    let progress = |line: String| lines.lock().expect("lines").push(line);
    let result = apply::run(&client(api), &spec, &options, &progress).await;
    (result, lines.into_inner().expect("lines"))
}

/// The emulator with a cluster built from `yaml` in a fresh folder.
async fn built(yaml: &str) -> (Api, Client, tempfile::TempDir, PathBuf, ApplyReport) {
    let (api, hc) = emulator_with_snapshot().await;
    let (dir, path) = workspace(1);
    std::fs::write(&path, yaml).expect("cluster.yaml");
    let report = apply_once(&api, &path).await.unwrap_or_else(|e| panic!("apply: {e:?}"));
    (api, hc, dir, path, report)
}

async fn server(hc: &Client, name: &str) -> Option<Server> {
    hc.list_servers(&Selector::new().eq(labels::CLUSTER, "apply-test"))
        .await
        .expect("servers")
        .into_iter()
        .find(|s| s.name == name)
}

fn addresses(server: &Server) -> (String, Vec<String>) {
    let public = server
        .public_net
        .ipv4
        .as_ref()
        .map(|ip| ip.ip.clone())
        .unwrap_or_default();
    let private = server.private_net.iter().filter_map(|n| n.ip.clone()).collect();
    (public, private)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_worker_type_is_replaced_only_with_allow_replace_keeping_its_addresses() {
    let (api, hc, dir, path, _) = built(&cluster_yaml(1)).await;
    let before = server(&hc, "at-general-1").await.expect("the worker");
    assert_eq!(before.server_type.name, "cax11");

    let resized = cluster_yaml(1).replace("    type: cax11\n    count", "    type: cax21\n    count");
    assert_ne!(resized, cluster_yaml(1));
    std::fs::write(&path, resized).expect("cluster.yaml");
    let plan = plan_of(&api, &path).await;
    let replaced: Vec<_> = plan.changes.iter().filter(|c| c.action == Action::Replace).collect();
    assert_eq!(replaced.len(), 1, "{:?}", plan.changes);
    assert_eq!(
        (replaced[0].kind, replaced[0].name.as_str()),
        (Kind::Server, "at-general-1")
    );
    assert_eq!(replaced[0].reasons, ["server_type cax11 → cax21"]);

    // Without the flag: exit 2, nothing changed.
    api.sim.clear_request_log();
    let run = apply_binary(&api, dir.path(), &path).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("at-general-1"), "{}", run.stderr);
    assert!(run.stderr.contains("--allow-replace"), "{}", run.stderr);
    assert_eq!(mutations(&api), Vec::<String>::new());
    assert_eq!(server(&hc, "at-general-1").await.expect("kept").id, before.id);

    // With it: the runbook recreates the worker with the new type and the same addresses,
    // reading the secrets bundle from where apply was told it is (not the default path).
    let default_secrets = load(&path).secrets_path();
    let elsewhere = dir.path().join("elsewhere-secrets.yaml");
    std::fs::rename(&default_secrets, &elsewhere).expect("move the bundle");
    let (result, lines) = apply_with(&api, &path, |o| {
        o.allow_replace = true;
        o.secrets = elsewhere.clone();
        // `options` puts the golden bundle at the default path when none is there: take it
        // away again, so only `elsewhere` holds one.
        std::fs::remove_file(&default_secrets).expect("the harness's copy");
    })
    .await;
    assert!(!default_secrets.exists(), "apply made no second bundle");
    std::fs::rename(&elsewhere, &default_secrets).expect("move the bundle back");
    let report = result.unwrap_or_else(|e| panic!("apply --allow-replace: {e:?}\n{}", lines.join("\n")));
    assert_eq!(report.replaced, ["general-1"]);
    assert!(report.created.is_empty(), "{:?}", report.created);
    let after = server(&hc, "at-general-1").await.expect("the new worker");
    assert_ne!(after.id, before.id);
    assert_eq!(after.server_type.name, "cax21");
    assert_eq!(addresses(&after), addresses(&before));
    assert!(!addresses(&after).1.is_empty(), "a private IP");
    for step in ["drain", "delete-server", "create-server", "rejoin"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("replace general-1: ") && l.contains(step)),
            "no {step} evidence in:\n{}",
            lines.join("\n")
        );
    }
    assert!(report.text().contains("replaced 1 server(s)"), "{}", report.text());

    // Healthy and settled: the re-plan is clean, a re-run sends no mutation.
    let plan = plan_of(&api, &path).await;
    assert!(!plan.has_changes(), "{:?}", plan.changes);
    api.sim.clear_request_log();
    let again = apply_once(&api, &path)
        .await
        .unwrap_or_else(|e| panic!("re-run: {e:?}"));
    assert_eq!(mutations(&api), Vec::<String>::new());
    assert_eq!(again.talos.etcd_members, 3);
    assert!(again.replaced.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_worker_is_deleted_only_with_allow_delete_and_control_planes_keep_quorum() {
    let (api, hc, _dir, path, built) = built(&cluster_yaml(2)).await;

    std::fs::write(&path, cluster_yaml(1)).expect("cluster.yaml");
    let plan = plan_of(&api, &path).await;
    let deletes: Vec<(Kind, &str)> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| (c.kind, c.name.as_str()))
        .collect();
    assert_eq!(
        deletes,
        [(Kind::PrimaryIp, "at-general-2-ipv4"), (Kind::Server, "at-general-2")]
    );

    // Without consent: refused, nothing changed.
    api.sim.clear_request_log();
    let (refused, _) = apply_with(&api, &path, |_| {}).await;
    let error = refused.expect_err("refused without --allow-delete");
    assert!(matches!(error, ApplyError::DeleteRefused { .. }), "{error:?}");
    assert_eq!(error.class(), Class::InvalidInput);
    assert_eq!(mutations(&api), Vec::<String>::new());

    // Removing two of three control planes is refused even with consent.
    let one_cp = cluster_yaml(1).replace("nodes: [cp-1, cp-2, cp-3]", "nodes: [cp-1]");
    std::fs::write(&path, one_cp).expect("cluster.yaml");
    let (refused, _) = apply_with(&api, &path, |o| o.allow_delete = true).await;
    let error = refused.expect_err("refused below quorum");
    assert!(
        matches!(&error, ApplyError::QuorumLoss { removed, left: 1, needed: 2, .. } if removed.len() == 2),
        "{error:?}"
    );
    assert_eq!(mutations(&api), Vec::<String>::new());

    // With consent: drained, deleted with its primary IP; the rest healthy.
    std::fs::write(&path, cluster_yaml(1)).expect("cluster.yaml");
    let (result, lines) = apply_with(&api, &path, |o| o.allow_delete = true).await;
    let report = result.unwrap_or_else(|e| panic!("apply --allow-delete: {e:?}\n{}", lines.join("\n")));
    assert_eq!(report.deleted, ["server at-general-2", "primary_ip at-general-2-ipv4"]);
    assert!(
        lines.iter().any(|l| l.starts_with("general-2: drained")),
        "{}",
        lines.join("\n")
    );
    assert!(server(&hc, "at-general-2").await.is_none());
    assert_eq!(report.talos.etcd_members, 3);
    let kubeconfig = std::fs::read(&built.talos.kubeconfig).expect("the kubeconfig");
    let kube = KubeClient::from_kubeconfig(&kubeconfig, KubeOptions::default()).expect("a kube client");
    assert!(kube.node("general-2").await.expect("the API answers").is_none());
    assert!(kube.node("general-1").await.expect("the API answers").is_some());
    let plan = plan_of(&api, &path).await;
    assert!(!plan.has_changes(), "{:?}", plan.changes);

    // The ingress load balancer removed from cluster.yaml: deleted, nothing else.
    let yaml = cluster_yaml(1);
    let without_lb = &yaml[..yaml.find("load_balancers:").expect("an ingress LB")];
    std::fs::write(&path, without_lb).expect("cluster.yaml");
    api.sim.clear_request_log();
    let (result, lines) = apply_with(&api, &path, |o| o.allow_delete = true).await;
    let report = result.unwrap_or_else(|e| panic!("removing the LB: {e:?}\n{}", lines.join("\n")));
    assert_eq!(report.deleted, ["load_balancer at-ingress"]);
    assert_eq!(
        mutations(&api)
            .into_iter()
            .filter(|m| m.starts_with("DELETE"))
            .collect::<Vec<_>>()
            .len(),
        1
    );
    let plan = plan_of(&api, &path).await;
    assert!(!plan.has_changes(), "{:?}", plan.changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_five_control_planes_one_crashed_are_removed_from_etcd_and_deleted_despite_protection() {
    let five = cluster_yaml(1).replace("nodes: [cp-1, cp-2, cp-3]", "nodes: [cp-1, cp-2, cp-3, cp-4, cp-5]");
    let (api, hc, _dir, path, built) = built(&five).await;
    assert_eq!(built.talos.etcd_members, 5);
    assert!(server(&hc, "at-cp-5").await.expect("cp-5").protection.delete);

    // 5 → 3 keeps a quorum of today's members. cp-5 has crashed: its member is removed
    // through a control plane that stays; cp-4 answers and leaves by itself.
    let crashed = server(&hc, "at-cp-5").await.expect("cp-5").id;
    api.sim.crash_server(crashed as u64).expect("crash");
    std::fs::write(&path, cluster_yaml(1)).expect("cluster.yaml");
    let (result, lines) = apply_with(&api, &path, |o| o.allow_delete = true).await;
    let report = result.unwrap_or_else(|e| panic!("removing cp-4, cp-5: {e:?}\n{}", lines.join("\n")));
    assert_eq!(
        report.deleted,
        [
            "server at-cp-4",
            "server at-cp-5",
            "primary_ip at-cp-4-ipv4",
            "primary_ip at-cp-5-ipv4"
        ]
    );
    let said = |what: &dyn Fn(&str) -> bool| lines.iter().any(|l| what(l));
    assert!(said(&|l| l.starts_with("cp-4: drained")), "{}", lines.join("\n"));
    assert!(said(&|l| l == "cp-4: left etcd gracefully"), "{}", lines.join("\n"));
    assert!(
        said(&|l| l == "cp-5: its Talos API does not answer: cordoned, its pods are not evicted"),
        "{}",
        lines.join("\n")
    );
    assert!(
        said(&|l| l.starts_with("cp-5: etcd member ") && l.contains(" removed through cp-1")),
        "{}",
        lines.join("\n")
    );
    assert_eq!(report.talos.etcd_members, 3);
    assert!(server(&hc, "at-cp-4").await.is_none());
    assert!(server(&hc, "at-cp-5").await.is_none());
    let plan = plan_of(&api, &path).await;
    assert!(!plan.has_changes(), "{:?}", plan.changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_planes_are_replaced_one_at_a_time_with_etcd_whole_between() {
    let (api, hc, _dir, path, _) = built(&cluster_yaml(1)).await;
    let before = [
        server(&hc, "at-cp-1").await.expect("cp-1"),
        server(&hc, "at-cp-2").await.expect("cp-2"),
        server(&hc, "at-cp-3").await.expect("cp-3"),
    ];

    let resized = cluster_yaml(1).replace("  type: cax11\n  nodes", "  type: cax21\n  nodes");
    assert_ne!(resized, cluster_yaml(1));
    std::fs::write(&path, resized).expect("cluster.yaml");
    let (result, lines) = apply_with(&api, &path, |o| o.allow_replace = true).await;
    let report = result.unwrap_or_else(|e| panic!("apply --allow-replace: {e:?}\n{}", lines.join("\n")));
    assert_eq!(report.replaced, ["cp-1", "cp-2", "cp-3"]);

    // One node at a time: each node's runbook ends (etcd one member per control plane)
    // before the next one starts.
    let position = |node: &str, what: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(&format!("replace {node}: ")) && l.contains(what))
            .unwrap_or_else(|| panic!("no {what} of {node} in:\n{}", lines.join("\n")))
    };
    for (this, next) in [("cp-1", "cp-2"), ("cp-2", "cp-3")] {
        assert!(position(this, "etcd has 3 members") < position(next, "precheck"));
    }
    for old in &before {
        let new = server(&hc, &old.name).await.expect("replaced");
        assert_ne!(new.id, old.id);
        assert_eq!(new.server_type.name, "cax21");
        assert_eq!(addresses(&new), addresses(old));
        assert!(new.protection.delete, "{} protected again", new.name);
    }
    let plan = plan_of(&api, &path).await;
    assert!(!plan.has_changes(), "{:?}", plan.changes);
    let again = apply_once(&api, &path)
        .await
        .unwrap_or_else(|e| panic!("re-run: {e:?}"));
    assert_eq!(again.talos.etcd_members, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_stopped_after_etcd_leave_is_resumed_first_by_apply_allow_replace() {
    let (api, hc, _dir, path, _) = built(&cluster_yaml(1)).await;
    let resized = cluster_yaml(1).replace("  type: cax11\n  nodes", "  type: cax21\n  nodes");
    std::fs::write(&path, resized).expect("cluster.yaml");

    // `node replace cp-2` stopped once cp-2 left etcd (and was reset).
    let spec = load(&path);
    let apply_options = options(&api, &spec);
    let inputs = ReplaceInputs {
        hcloud_token: apply_options.hcloud_token.clone(),
        secrets: Some(apply_options.secrets.clone()),
        call: apply_options.call,
        waits: apply_options.waits,
    };
    let ctx = replace::read(client(&api), spec.clone(), "cp-2", &inputs)
        .await
        .unwrap_or_else(|e| panic!("read: {e:?}"));
    let runbook = replace::Options {
        dead: false,
        force_quorum_loss: false,
        image: None,
        dry_run: false,
        drain: apply_options.drain,
        kube: KubeOptions::default(),
        snapshot_dir: apply_options.files_dir.clone(),
        interrupt: Interrupt::new(),
    };
    let interrupt = runbook.interrupt.clone();
    let mut report = |entry: &replace::Entry| {
        if entry.step == Step::EtcdLeave && entry.outcome == Outcome::Done && interrupt.count() == 0 {
            interrupt.trigger();
        }
    };
    let stopped = replace::replace(&ctx, &runbook, &mut report)
        .await
        .expect_err("stopped");
    assert!(
        matches!(stopped, ReplaceError::Interrupted { after: Step::EtcdLeave }),
        "{stopped:?}"
    );

    // Without the flag: refused, nothing changed. (The control planes' Talos VIP may move
    // the floating IP meanwhile, cp-2 having left: those assigns are the nodes', not apply's.)
    api.sim.clear_request_log();
    let (refused, _) = apply_with(&api, &path, |_| {}).await;
    let error = refused.expect_err("refused");
    assert!(
        error.to_string().contains("node cp-2 (an interrupted replacement)"),
        "{error}"
    );
    let vip = |m: &String| m.starts_with("POST /v1/floating_ips/") && m.ends_with("/actions/assign");
    assert_eq!(
        mutations(&api).into_iter().filter(|m| !vip(m)).collect::<Vec<_>>(),
        Vec::<String>::new()
    );

    // With it: cp-2's runbook continues first, then cp-1 and cp-3 are replaced.
    let before = server(&hc, "at-cp-2").await.expect("cp-2 still exists");
    let (result, lines) = apply_with(&api, &path, |o| o.allow_replace = true).await;
    let report = result.unwrap_or_else(|e| panic!("apply --allow-replace: {e:?}\n{}", lines.join("\n")));
    assert_eq!(report.replaced, ["cp-2", "cp-1", "cp-3"]);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("replace cp-2: ") && l.contains("records step etcd-leave as done")),
        "{}",
        lines.join("\n")
    );
    let after = server(&hc, "at-cp-2").await.expect("cp-2 replaced");
    assert_ne!(after.id, before.id);
    assert_eq!(addresses(&after), addresses(&before));
    assert_eq!(report.talos.etcd_members, 3);
    let plan = plan_of(&api, &path).await;
    assert!(!plan.has_changes(), "{:?}", plan.changes);
}

/// A control plane's server deleted in the Cloud Console (protection off first), then
/// `apply`: the server is created again with its addresses, and the etcd member the old one
/// left is removed through a peer before the new node gets its config, so it joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_plane_deleted_outside_talos_hcloud_is_recreated_by_apply_and_rejoins_etcd() {
    let (api, hc, _dir, path, _) = built(&cluster_yaml(1)).await;
    let before = server(&hc, "at-cp-3").await.expect("cp-3");
    let etcd = || {
        let ids = api.sim.talos().cluster_ids();
        api.sim.talos().cluster(&ids[0]).expect("the Talos cluster")
    };
    let old_member = etcd()
        .members()
        .into_iter()
        .find(|m| m.hostname == "cp-3")
        .expect("cp-3 is a member")
        .id;
    api.delete_server_outside(before.id).await;
    assert!(server(&hc, "at-cp-3").await.is_none(), "deleted");
    assert!(etcd().members().iter().any(|m| m.id == old_member), "still listed");

    let plan = plan_of(&api, &path).await;
    let changes: Vec<_> = plan
        .changes
        .iter()
        .map(|c| (c.action, c.kind, c.name.as_str()))
        .collect();
    assert_eq!(
        changes,
        [(Action::Create, Kind::Server, "at-cp-3")],
        "{:?}",
        plan.changes
    );
    let (result, lines) = apply_with(&api, &path, |_| {}).await;
    let report = result.unwrap_or_else(|e| panic!("apply: {e:?}\n{}", lines.join("\n")));
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("cp-3: the etcd member {old_member:x}"))),
        "{}",
        lines.join("\n")
    );
    let removals: Vec<(u64, bool)> = etcd().removal_calls().iter().map(|c| (c.member, c.removed)).collect();
    assert_eq!(removals, [(old_member, true)]);
    assert_eq!(report.talos.etcd_members, 3);
    let members = etcd().members();
    assert!(members.iter().all(|m| m.id != old_member), "{members:?}");
    assert!(members.iter().any(|m| m.hostname == "cp-3" && m.healthy), "{members:?}");
    let after = server(&hc, "at-cp-3").await.expect("cp-3 again");
    assert_ne!(after.id, before.id);
    assert_eq!(addresses(&after), addresses(&before));
    assert!(!plan_of(&api, &path).await.has_changes(), "converged");
}
