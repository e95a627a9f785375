//! `config gen` end to end on the reference cluster (root cluster.yaml with every file of
//! machine-patches/): all six nodes render, every config passes our strict decoder and
//! validator and the official Talos schema, the VIP and the Hetzner token stay on control
//! planes and out of every output, workers carry no CA keys, output is byte-identical
//! across runs, files are private, nothing is overwritten or half-written, and the
//! talosconfig's admin certificate verifies under openssl. Also `secrets gen`'s default
//! path.

use std::path::{Path, PathBuf};

use talos_hcloud::secure_file::Overwrite;
use talos_hcloud::spec;
use talos_hcloud::talos::config::validate::{UserDataEncoding, ValidateOptions, decode_strict, validate};
use talos_hcloud::talos::config::{ConfigDocuments, Node, Resolved, Value};
use talos_hcloud::talos::contract::Contract;
use talos_hcloud::talos::pki;
use talos_hcloud::talos::secrets::{CaName, GenerateOptions, SecretsBundle};
use talos_hcloud::talos::talosconfig::Talosconfig;

use crate::harness::{Run, mode_of, repo_root, talos_hcloud_env, talos_hcloud_in};
use crate::talos_golden::at;
use crate::talos_schema::assert_schema_valid;

const TOKEN: &str = "fake-hcloud-token-4f9c2e7b1d3a5968";
const FLOATING_IP: &str = "203.0.113.10";
const CLUSTER: &str = "tootcommunity-prod";
const CONTROL_PLANES: [&str; 3] = ["cp-1", "cp-2", "cp-3"];
const WORKERS: [&str; 3] = ["general-1", "general-2", "general-3"];
const TALOS_ENDPOINTS: &str = "198.51.100.11,198.51.100.12,198.51.100.13";

/// A copy of the reference cluster (cluster.yaml, schematics/, machine-patches/) in `dir`.
fn copy_reference_cluster(dir: &Path) {
    copy_tree(&repo_root().join("schematics"), &dir.join("schematics"));
    copy_tree(&repo_root().join("machine-patches"), &dir.join("machine-patches"));
    std::fs::copy(repo_root().join("cluster.yaml"), dir.join("cluster.yaml")).expect("copy cluster.yaml");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("readable folder") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// The local folder of the reference cluster under `dir`.
fn local_dir(dir: &Path) -> PathBuf {
    dir.join(".talos-hcloud").join(CLUSTER)
}

fn configs_dir(dir: &Path) -> PathBuf {
    local_dir(dir).join("configs")
}

/// A new Talos v1.11 bundle (sharing the test binary's RSA key) saved as the cluster's
/// secrets.yaml.
fn save_bundle(dir: &Path) -> SecretsBundle {
    let bundle = SecretsBundle::generate_with(
        Contract::V1_11,
        GenerateOptions {
            now: None,
            service_account_key: Some(crate::secrets::service_account_key()),
        },
    )
    .expect("bundle generation");
    bundle
        .save(&local_dir(dir).join("secrets.yaml"), Overwrite::Refuse)
        .expect("bundle saved");
    bundle
}

/// The reference cluster with a bundle, in a new temporary folder.
fn reference_cluster() -> (tempfile::TempDir, SecretsBundle) {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_reference_cluster(dir.path());
    let bundle = save_bundle(dir.path());
    (dir, bundle)
}

/// `config gen ARGS` in `dir` with HCLOUD_TOKEN set to [`TOKEN`].
fn config_gen(dir: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["config", "gen"];
    args.extend_from_slice(extra);
    let run = talos_hcloud_env(dir, &args, &[("HCLOUD_TOKEN", TOKEN)]);
    assert_no_token(&run);
    run
}

fn assert_no_token(run: &Run) {
    assert!(!run.stdout.contains(TOKEN), "the token leaked to stdout: {run:?}");
    assert!(!run.stderr.contains(TOKEN), "the token leaked to stderr: {run:?}");
}

/// The usual arguments: endpoint = the floating IP, three Talos endpoints.
const STANDARD: [&str; 4] = ["--endpoint", FLOATING_IP, "--talos-endpoint", TALOS_ENDPOINTS];

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn text_at<'a>(doc: &'a Node, path: &str) -> Option<&'a str> {
    at(doc, path).and_then(Node::as_str)
}

/// Returns true if and only if the node is a scalar that YAML reads as a string.
fn is_string(node: &Node) -> bool {
    matches!(&node.value, Value::Scalar(scalar) if matches!(scalar.resolve(), Resolved::Str(_)))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn reference_cluster_renders_every_node_valid_under_our_checks_and_the_official_schema() {
    let (dir, bundle) = reference_cluster();
    let run = config_gen(dir.path(), &STANDARD);
    assert_eq!(run.code, 0, "{run:?}");
    let out = configs_dir(dir.path());
    let shown = configs_dir(Path::new("."));
    for node in CONTROL_PLANES.iter().chain(&WORKERS) {
        assert!(
            run.stdout
                .contains(&format!("{}  (", shown.join(format!("{node}.yaml")).display())),
            "{node} not listed: {}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains(&format!(
            "{}  (talosconfig, endpoints 198.51.100.11, 198.51.100.12, 198.51.100.13;",
            shown.join("talosconfig").display()
        )),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("secrets.yaml"));
    assert_eq!(
        file_names(&out),
        [
            "cp-1.yaml",
            "cp-2.yaml",
            "cp-3.yaml",
            "general-1.yaml",
            "general-2.yaml",
            "general-3.yaml",
            "talosconfig"
        ]
    );
    for name in file_names(&out) {
        assert_eq!(mode_of(&out.join(&name)), 0o600, "{name}");
    }
    assert_eq!(mode_of(&out), 0o700);

    let spec = spec::load(&dir.path().join("cluster.yaml")).expect("reference cluster loads");
    let installer = format!("factory.talos.dev/hcloud-installer/{}:v1.11.6", spec.talos.schematic.id);
    let ca_keys: Vec<String> = CaName::ALL
        .iter()
        .map(|name| bundle.ca_pair(*name).key.to_base64())
        .chain([bundle.certs.k8sserviceaccount.key.to_base64()])
        .collect();

    for (node, control_plane) in CONTROL_PLANES
        .iter()
        .map(|n| (*n, true))
        .chain(WORKERS.iter().map(|n| (*n, false)))
    {
        let text = read(&out.join(format!("{node}.yaml")));
        // Our strict decoder and validator, as a Hetzner node would get it.
        let docs = decode_strict(text.as_bytes(), Contract::V1_11).unwrap_or_else(|e| panic!("{node}: {e}"));
        let mut options = ValidateOptions::new(Contract::V1_11);
        options.node = Some(node.into());
        options.user_data = Some(UserDataEncoding::Plain);
        let warnings = validate(&docs, &options).unwrap_or_else(|e| panic!("{node}: {e}"));
        assert!(warnings.is_empty(), "{node}: {warnings:?}");
        // The official schema of the line.
        assert_schema_valid("v1.11", &text);

        let v1 = docs.v1alpha1().expect("v1alpha1");
        let machine_type = if control_plane { "controlplane" } else { "worker" };
        assert_eq!(text_at(v1, "machine.type"), Some(machine_type), "{node}");
        assert_eq!(text_at(v1, "machine.network.hostname"), Some(node));
        assert_eq!(text_at(v1, "machine.install.image"), Some(installer.as_str()), "{node}");
        assert_eq!(text_at(v1, "machine.install.disk"), Some("/dev/sda"), "{node}");
        assert_eq!(
            text_at(v1, "cluster.controlPlane.endpoint"),
            Some("https://203.0.113.10:6443")
        );
        assert_eq!(text_at(v1, "cluster.clusterName"), Some(CLUSTER));
        assert_eq!(text_at(v1, "cluster.network.podSubnets[0]"), Some("10.0.16.0/20"));
        assert_eq!(text_at(v1, "cluster.network.serviceSubnets[0]"), Some("10.0.8.0/21"));
        assert_eq!(
            text_at(v1, "machine.kubelet.image"),
            Some("ghcr.io/siderolabs/kubelet:v1.34.1")
        );

        // machine-patches/all: sysctls as strings, kubelet args, time servers.
        for (key, value) in [
            ("net.core.somaxconn", "32768"),
            ("vm.max_map_count", "262144"),
            ("net.ipv4.ip_local_port_range", "1024 65535"),
        ] {
            let sysctl = at(v1, &format!("machine.sysctls[\"{key}\"]")).unwrap_or_else(|| panic!("{node}: {key}"));
            assert_eq!(sysctl.as_str(), Some(value), "{node}: {key}");
            assert!(is_string(sysctl), "{node}: {key} is not a string");
        }
        assert!(text.contains("        net.core.somaxconn: \"32768\"\n"), "{node}");
        assert_eq!(
            text_at(v1, "machine.kubelet.extraArgs[\"cloud-provider\"]"),
            Some("external")
        );
        assert_eq!(text_at(v1, "machine.time.servers[0]"), Some("ntp1.hetzner.de"));

        if control_plane {
            // machine-patches/controlplane and the VIP with the token.
            assert_eq!(
                text_at(v1, "cluster.etcd.extraArgs[\"listen-metrics-urls\"]"),
                Some("http://0.0.0.0:2381")
            );
            assert_eq!(text_at(v1, "machine.network.interfaces[0].vip.ip"), Some(FLOATING_IP));
            assert_eq!(
                text_at(v1, "machine.network.interfaces[0].vip.hcloud.apiToken"),
                Some(TOKEN)
            );
            assert_eq!(
                text_at(v1, "machine.network.interfaces[0].deviceSelector.busPath"),
                Some("0000:01:00.0")
            );
            assert!(at(v1, "machine.nodeLabels[\"talos-hcloud/role\"]").is_none(), "{node}");
        } else {
            // machine-patches/worker; no VIP, no token, no CA keys.
            assert_eq!(text_at(v1, "machine.nodeLabels[\"talos-hcloud/role\"]"), Some("worker"));
            assert!(!text.contains(TOKEN), "{node} holds the token");
            assert!(!text.contains("vip"), "{node} has a VIP");
            assert!(at(v1, "machine.network.interfaces").is_none(), "{node}");
            assert_eq!(text_at(v1, "machine.ca.key"), Some(""), "{node}");
            assert_eq!(text_at(v1, "cluster.ca.key"), Some(""), "{node}");
            for absent in [
                "cluster.etcd",
                "cluster.aggregatorCA",
                "cluster.serviceAccount",
                "cluster.secretboxEncryptionSecret",
                "cluster.apiServer",
            ] {
                assert!(at(v1, absent).is_none(), "{node} has {absent}");
            }
            for key in &ca_keys {
                assert!(!text.contains(key.as_str()), "{node} holds a private key");
            }
            assert!(!text.contains("etcd"), "{node} mentions etcd");
        }
    }
}

#[test]
fn output_is_byte_identical_across_runs() {
    let (dir, _) = reference_cluster();
    let first = config_gen(dir.path(), &[&STANDARD[..], &["-o", "a"]].concat());
    assert_eq!(first.code, 0, "{first:?}");
    let second = config_gen(dir.path(), &[&STANDARD[..], &["-o", "b"]].concat());
    assert_eq!(second.code, 0, "{second:?}");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let names = file_names(&a);
    assert_eq!(names.len(), 7, "{names:?}");
    assert_eq!(names, file_names(&b));
    for name in &names {
        assert_eq!(
            std::fs::read(a.join(name)).expect("a"),
            std::fs::read(b.join(name)).expect("b"),
            "{name} differs between runs"
        );
    }
    // The same after --force into the same folder.
    let again = config_gen(dir.path(), &[&STANDARD[..], &["-o", "a", "--force"]].concat());
    assert_eq!(again.code, 0, "{again:?}");
    for name in &names {
        assert_eq!(
            std::fs::read(a.join(name)).expect("a"),
            std::fs::read(b.join(name)).expect("b"),
            "{name} changed after --force"
        );
    }
}

#[test]
fn existing_files_are_kept_without_force() {
    let (dir, _) = reference_cluster();
    let out = configs_dir(dir.path());
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join("general-2.yaml"), "keep me\n").expect("write");
    let run = config_gen(dir.path(), &STANDARD);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty());
    assert_eq!(
        run.stderr,
        format!(
            "error: nothing was written\n  caused by: refusing to overwrite existing file {} (use --force to replace it)\n\
             hint: rendered configs are re-derived from cluster.yaml and the secrets bundle: --force replaces them (hand edits are lost), -o DIR writes elsewhere\n",
            configs_dir(Path::new(".")).join("general-2.yaml").display()
        )
    );
    assert_eq!(file_names(&out), ["general-2.yaml"], "nothing else written");
    assert_eq!(read(&out.join("general-2.yaml")), "keep me\n");

    let forced = config_gen(dir.path(), &[&STANDARD[..], &["--force"]].concat());
    assert_eq!(forced.code, 0, "{forced:?}");
    assert!(read(&out.join("general-2.yaml")).starts_with("version: v1alpha1\n"));
    assert_eq!(file_names(&out).len(), 7);
}

#[test]
fn a_broken_patch_names_node_file_document_and_path_and_nothing_is_written() {
    let (dir, _) = reference_cluster();
    std::fs::write(
        dir.path().join("machine-patches/worker/zz-broken.yaml"),
        "# removes an interface that is not there\nmachine:\n  network:\n    interfaces:\n      - interface: eth9\n        $patch: delete\n",
    )
    .expect("write patch");
    let run = config_gen(dir.path(), &STANDARD);
    assert_eq!(run.code, 2, "{run:?}");
    let first_line = run.stderr.lines().next().unwrap_or_default();
    assert_eq!(first_line, "error: cannot patch the machine config of node general-1");
    let cause = run.stderr.lines().nth(1).unwrap_or_default();
    assert!(
        cause.starts_with("  caused by: ")
            && cause.contains("machine-patches/worker/zz-broken.yaml:")
            && cause.contains("v1alpha1 document")
            && cause.contains("machine.network.interfaces"),
        "{}",
        run.stderr
    );
    assert!(!configs_dir(dir.path()).exists(), "nothing may be written");

    // A key the Talos line does not know: named with file, line and column.
    std::fs::write(
        dir.path().join("machine-patches/worker/zz-broken.yaml"),
        "machine:\n  kubelet:\n    extraArgz:\n      a: b\n",
    )
    .expect("write patch");
    let run = config_gen(dir.path(), &STANDARD);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: cannot patch the machine config of node general-1\n  caused by: patch "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("zz-broken.yaml:3:5") && run.stderr.contains("extraArgz"),
        "{}",
        run.stderr
    );
    assert!(!configs_dir(dir.path()).exists(), "nothing may be written");

    // A patch may not rename nodes: every worker would get the same hostname.
    std::fs::write(
        dir.path().join("machine-patches/worker/zz-broken.yaml"),
        "machine:\n  network:\n    hostname: worker\n",
    )
    .expect("write patch");
    let run = config_gen(dir.path(), &STANDARD);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.starts_with(
            "error: the patches change the hostname of node general-1 to \"worker\"; talos-hcloud names every node after cluster.yaml\n"
        ),
        "{}",
        run.stderr
    );
    assert!(!configs_dir(dir.path()).exists(), "nothing may be written");
}

#[test]
fn missing_inputs_exit_2_with_hints_and_never_show_the_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_reference_cluster(dir.path());

    // No secrets bundle yet.
    let run = config_gen(dir.path(), &STANDARD);
    assert_eq!(run.code, 2, "{run:?}");
    let secrets = local_dir(Path::new(".")).join("secrets.yaml");
    assert_eq!(
        run.stderr,
        format!(
            "error: no secrets bundle at {}\n\
             hint: create one with `talos-hcloud -c cluster.yaml secrets gen`, or name an existing one with --secrets FILE\n",
            secrets.display()
        )
    );
    save_bundle(dir.path());

    // No endpoint, and no token to look it up with (the live lookup: cluster_status.rs).
    let run = talos_hcloud_in(dir.path(), &["config", "gen"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: the Kubernetes API endpoint is needed: pass --endpoint with the floating IP's address, or set HCLOUD_TOKEN to look it up\n\
         hint: the floating IP tc-prod-api is found by the label talos-hcloud/cluster=tootcommunity-prod once `talos-hcloud apply` created it\n"
    );

    // No token for the VIP.
    let run = talos_hcloud_in(dir.path(), &["config", "gen", "--endpoint", FLOATING_IP]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.starts_with(
            "error: a Hetzner Cloud API token is needed: with `endpoint: floating-ip` every control-plane config carries one for the Talos VIP\n\
             hint: export HCLOUD_TOKEN with a dedicated Read & Write token"
        ),
        "{}",
        run.stderr
    );

    // A host name cannot be the VIP.
    let run = config_gen(dir.path(), &["--endpoint", "api.example.com"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.starts_with(
            "error: with `endpoint: floating-ip` the Kubernetes API endpoint must be the floating IP's address"
        ),
        "{}",
        run.stderr
    );

    // The floating IP is no Talos endpoint.
    let run = config_gen(
        dir.path(),
        &[
            "--endpoint",
            FLOATING_IP,
            "--talos-endpoint",
            "198.51.100.11,203.0.113.10",
        ],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: --talos-endpoint 203.0.113.10 is the floating IP"),
        "{}",
        run.stderr
    );
    let run = config_gen(
        dir.path(),
        &["--endpoint", FLOATING_IP, "--talos-endpoint", "https://x"],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.starts_with("error: invalid --talos-endpoint \"https://x\""),
        "{}",
        run.stderr
    );
    assert!(!configs_dir(dir.path()).exists(), "nothing may be written");

    // With logging on, the token shows nowhere either.
    let run = config_gen(dir.path(), &[&STANDARD[..], &["-vv"]].concat());
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn json_result_names_nodes_and_paths_and_holds_no_secrets() {
    let (dir, bundle) = reference_cluster();
    let run = config_gen(dir.path(), &[&STANDARD[..], &["--output", "json"]].concat());
    assert_eq!(run.code, 0, "{run:?}");
    let result: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(result["cluster"], CLUSTER);
    assert_eq!(result["talos_version"], "v1.11.6");
    assert_eq!(result["endpoint"], "https://203.0.113.10:6443");
    let nodes: Vec<(String, String)> = result["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["name"].as_str().expect("name").to_string(),
                n["role"].as_str().expect("role").to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = CONTROL_PLANES
        .iter()
        .map(|n| (n.to_string(), "controlplane".to_string()))
        .chain(WORKERS.iter().map(|n| (n.to_string(), "worker".to_string())))
        .collect();
    assert_eq!(nodes, expected);
    let first_path = PathBuf::from(result["nodes"][0]["path"].as_str().expect("path"));
    assert!(dir.path().join(&first_path).is_file(), "{}", first_path.display());
    assert_eq!(
        result["talosconfig"]["endpoints"],
        serde_json::json!(["198.51.100.11", "198.51.100.12", "198.51.100.13"])
    );
    for secret in [
        bundle.secrets.bootstraptoken.as_str(),
        bundle.trustdinfo.token.as_str(),
        bundle.cluster.secret.as_str(),
        "PRIVATE KEY",
        "LS0tLS1",
    ] {
        assert!(!run.stdout.contains(secret), "the result holds {secret}");
    }
}

#[test]
fn talosconfig_admin_certificate_verifies_against_the_os_ca_with_openssl() {
    let (dir, bundle) = reference_cluster();
    let run = config_gen(dir.path(), &STANDARD);
    assert_eq!(run.code, 0, "{run:?}");
    let config = Talosconfig::load(&configs_dir(dir.path()).join("talosconfig")).expect("talosconfig");
    assert_eq!(config.context, CLUSTER);
    let context = config.current().expect("current context");
    assert_eq!(context.endpoints, ["198.51.100.11", "198.51.100.12", "198.51.100.13"]);
    assert!(context.nodes.is_empty());
    assert_eq!(context.ca.as_ref(), Some(&bundle.certs.os.crt));

    let work = tempfile::tempdir().expect("temp dir");
    let crt = work.path().join("admin.crt");
    std::fs::write(&crt, &context.crt.as_ref().expect("crt").0).expect("write");
    std::fs::write(work.path().join("os.crt"), &bundle.certs.os.crt.0).expect("write");
    let verified = crate::secrets::openssl(
        &["verify", "-CAfile", "os.crt", "-purpose", "sslclient", "admin.crt"],
        work.path(),
    );
    assert_eq!(verified.code, 0, "{verified:?}");
    assert!(verified.stdout.contains("admin.crt: OK"), "{verified:?}");
    let text = crate::secrets::openssl_ok(&["x509", "-in", "admin.crt", "-noout", "-text"], work.path());
    assert!(text.contains("Subject: O = os:admin\n"), "{text}");
    assert!(text.contains("Issuer: O = talos\n"), "{text}");
    assert!(
        text.contains("X509v3 Extended Key Usage: \n                TLS Web Client Authentication\n"),
        "{text}"
    );
    assert!(!text.contains("TLS Web Server Authentication"), "{text}");
    assert!(text.contains("Public Key Algorithm: ED25519"), "{text}");

    // The key belongs to the certificate; the window starts at the OS CA's NotBefore.
    let admin = pki::CertAndKey {
        crt: context.crt.clone().expect("crt"),
        key: context.key.clone().expect("key"),
    };
    pki::check_cert_and_key(&admin).expect("key matches certificate");
    let ca = pki::summarize_certificate(&bundle.certs.os.crt.0).expect("CA");
    let leaf = pki::summarize_certificate(&admin.crt.0).expect("leaf");
    assert_eq!(leaf.not_before, ca.not_before);
    assert_eq!((leaf.not_after - leaf.not_before).whole_hours(), 8_760);
}

#[test]
fn load_balancer_clusters_need_no_token_and_cluster_sysctls_win_over_patches() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_reference_cluster(dir.path());
    let path = dir.path().join("cluster.yaml");
    let text = read(&path)
        .replace("endpoint: floating-ip ", "endpoint: load-balancer")
        .replace("sysctls: {}", "sysctls: { vm.swappiness: 5, net.ipv4.ip_forward: 1 }");
    std::fs::write(&path, text).expect("write cluster.yaml");
    save_bundle(dir.path());
    let run = talos_hcloud_in(dir.path(), &["config", "gen", "--endpoint", "api.example.com"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("endpoint https://api.example.com:6443"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("(talosconfig, no endpoints: pass --talos-endpoint or use talosctl -e;"),
        "{}",
        run.stdout
    );
    for node in CONTROL_PLANES.iter().chain(&WORKERS) {
        let text = read(&configs_dir(dir.path()).join(format!("{node}.yaml")));
        assert_schema_valid("v1.11", &text);
        let docs = ConfigDocuments::parse(&text).expect("config");
        let v1 = docs.v1alpha1().expect("v1alpha1");
        assert!(at(v1, "machine.network.interfaces").is_none(), "{node}: no VIP");
        assert_eq!(
            text_at(v1, "cluster.controlPlane.endpoint"),
            Some("https://api.example.com:6443")
        );
        let swappiness = at(v1, "machine.sysctls[\"vm.swappiness\"]").expect("swappiness");
        assert_eq!(swappiness.as_str(), Some("5"), "{node}: cluster.yaml sysctls come last");
        assert!(is_string(swappiness));
        let forward = at(v1, "machine.sysctls[\"net.ipv4.ip_forward\"]").expect("ip_forward");
        assert_eq!(forward.as_str(), Some("1"));
        assert!(is_string(forward), "{node}: sysctl values are strings");
    }
}

#[test]
fn secrets_gen_defaults_to_the_local_folder_beside_cluster_yaml() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster_dir = dir.path().join("clusters/prod");
    copy_reference_cluster(&cluster_dir);
    let run = talos_hcloud_in(dir.path(), &["-c", "clusters/prod/cluster.yaml", "secrets", "gen"]);
    assert_eq!(run.code, 0, "{run:?}");
    let secrets = cluster_dir.join(".talos-hcloud/tootcommunity-prod/secrets.yaml");
    assert_eq!(
        run.stdout,
        "wrote secrets bundle clusters/prod/.talos-hcloud/tootcommunity-prod/secrets.yaml (Talos v1.11, mode 0600)\n\
         keep it safe and backed up: it holds the cluster's CAs and cannot be re-created\n",
        "the path and talos.version come from cluster.yaml"
    );
    assert_eq!(mode_of(&secrets), 0o600);
    assert_eq!(mode_of(secrets.parent().expect("folder")), 0o700);
    SecretsBundle::load(&secrets).expect("a valid bundle");

    // Never overwritten without --force.
    let again = talos_hcloud_in(dir.path(), &["-c", "clusters/prod/cluster.yaml", "secrets", "gen"]);
    assert_eq!(again.code, 2, "{again:?}");

    // config gen with the same -c finds it and writes beside it.
    let run = talos_hcloud_env(
        dir.path(),
        &[
            "-c",
            "clusters/prod/cluster.yaml",
            "config",
            "gen",
            "--endpoint",
            FLOATING_IP,
        ],
        &[("HCLOUD_TOKEN", TOKEN)],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_no_token(&run);
    assert_eq!(
        file_names(&cluster_dir.join(".talos-hcloud/tootcommunity-prod/configs")).len(),
        7
    );

    // Without a cluster.yaml, -o is the way.
    let empty = tempfile::tempdir().expect("temp dir");
    let run = talos_hcloud_in(empty.path(), &["secrets", "gen"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: cannot read the cluster description cluster.yaml\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "hint: or write the bundle to a file of your choice without a cluster description: secrets gen -o FILE\n"
        ),
        "{}",
        run.stderr
    );
}
