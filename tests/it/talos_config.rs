//! Machine config generation: golden equality per Talos version, flag effects per version
//! form, the hcloud overlay, and `talos gen config` end to end.

use std::path::{Path as FsPath, PathBuf};

use talos_hcloud::redact::Redacted;
use talos_hcloud::talos::config::{
    ConfigDocuments, GenerateOptions, HcloudCluster, HcloudVip, MachineType, Node, NodeSettings, generate,
};

use crate::harness::talos_hcloud_in;
use crate::talos_golden::{at, contract, golden, golden_dir, golden_secrets, hcloud_cluster};

const VERSIONS: [&str; 4] = ["v1.10", "v1.11", "v1.12", "v1.13"];

fn base_options(version: &str) -> GenerateOptions {
    GenerateOptions::new("base", "https://base:6443", "1.28.0", contract(version))
}

fn strings(node: Option<&Node>) -> Vec<String> {
    node.and_then(Node::as_sequence)
        .map(|items| items.iter().filter_map(Node::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn keys(node: Option<&Node>) -> Vec<String> {
    node.and_then(Node::as_mapping)
        .map(|m| m.keys().map(str::to_string).collect())
        .unwrap_or_default()
}

fn kinds(docs: &ConfigDocuments) -> Vec<String> {
    docs.ids().iter().map(ToString::to_string).collect()
}

#[test]
fn library_output_equals_every_golden_file() {
    let secrets = golden_secrets();
    for version in VERSIONS {
        for machine_type in [MachineType::ControlPlane, MachineType::Worker] {
            let docs = generate(&secrets, &base_options(version), machine_type).expect("generates");
            let want = golden(version, machine_type.as_str());
            assert_eq!(docs.to_yaml(), want, "{version} {machine_type}: not byte-identical");
            assert!(
                docs.yaml_eq(&ConfigDocuments::parse(&want).expect("golden parses")),
                "{version} {machine_type}: not YAML-equal"
            );
        }
    }
}

#[test]
fn cli_with_golden_secrets_reproduces_every_golden_file() {
    let secrets_path = golden_dir().join("secrets.yaml");
    for version in VERSIONS {
        let dir = tempfile::tempdir().expect("temp dir");
        let run = talos_hcloud_in(
            dir.path(),
            &[
                "talos",
                "gen",
                "config",
                "base",
                "https://base:6443",
                "--with-secrets",
                secrets_path.to_str().expect("UTF-8 path"),
                "--talos-version",
                version,
                "--kubernetes-version",
                "v1.28.0",
                "--install-disk",
                "",
                "--install-image",
                "",
                "-o",
                "out",
            ],
        );
        assert_eq!(run.code, 0, "{version}: {run:?}");
        assert_eq!(
            run.stdout,
            format!(
                "Generated Talos {version} configs for cluster \"base\" (Kubernetes 1.28.0):\n  out/controlplane.yaml\n  out/worker.yaml\n  out/talosconfig\n"
            )
        );
        for machine_type in ["controlplane", "worker"] {
            let path = dir.path().join("out").join(format!("{machine_type}.yaml"));
            let written = std::fs::read_to_string(&path).expect("written");
            assert_eq!(written, golden(version, machine_type), "{version} {machine_type}");
            assert_private(&path);
        }
    }
}

#[cfg(unix)]
fn assert_private(path: &FsPath) {
    let mode = crate::harness::mode_of(path);
    assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
}

#[cfg(not(unix))]
fn assert_private(_path: &FsPath) {}

#[test]
fn additional_sans_reach_machine_and_api_server_per_version() {
    let secrets = golden_secrets();
    for version in VERSIONS {
        let mut options = base_options(version);
        options.additional_sans = vec!["203.0.113.10".into(), "api.example.com".into()];
        let cp = generate(&secrets, &options, MachineType::ControlPlane).expect("generates");
        let v1 = cp.v1alpha1().expect("v1alpha1");
        assert_eq!(strings(at(v1, "machine.certSANs")), ["203.0.113.10", "api.example.com"]);
        let api_sans = strings(at(v1, "cluster.apiServer.certSANs"));
        if contract(version).at_least(1, 12) {
            assert_eq!(api_sans, ["203.0.113.10", "api.example.com"], "{version}");
        } else {
            assert_eq!(api_sans, ["base", "203.0.113.10", "api.example.com"], "{version}");
        }
        assert_eq!(
            keys(at(v1, "cluster.apiServer"))[..2],
            ["image", "certSANs"],
            "{version}"
        );
        let worker = generate(&secrets, &options, MachineType::Worker).expect("generates");
        let w = worker.v1alpha1().expect("v1alpha1");
        assert_eq!(strings(at(w, "machine.certSANs")), ["203.0.113.10", "api.example.com"]);
        assert!(at(w, "cluster.apiServer").is_none());
    }
}

#[test]
fn dns_domain_install_disk_and_image_are_placed_like_talosctl() {
    let secrets = golden_secrets();
    for version in VERSIONS {
        let mut options = base_options(version);
        options.dns_domain = "cluster.internal".into();
        options.install_disk = Some("/dev/vda".into());
        options.install_image = Some("ghcr.io/siderolabs/installer:v1.11.3".into());
        let docs = generate(&secrets, &options, MachineType::Worker).expect("generates");
        let v1 = docs.v1alpha1().expect("v1alpha1");
        assert_eq!(
            at(v1, "cluster.network.dnsDomain").and_then(Node::as_str),
            Some("cluster.internal")
        );
        let install = at(v1, "machine.install").expect("install").to_yaml();
        let tail = if contract(version).at_least(1, 12) {
            "grubUseUKICmdline: true\n"
        } else {
            ""
        };
        assert_eq!(
            install,
            format!("disk: /dev/vda\nimage: ghcr.io/siderolabs/installer:v1.11.3\nwipe: false\n{tail}"),
            "{version}"
        );
    }
}

#[test]
fn registry_mirrors_use_the_version_form() {
    let secrets = golden_secrets();
    for version in VERSIONS {
        let mut options = base_options(version);
        options.add_registry_mirror("ghcr.io", "https://ghcr-mirror.example.com");
        options.add_registry_mirror("docker.io", "https://mirror.gcr.io");
        options.add_registry_mirror("docker.io", "https://registry-1.docker.io");
        let docs = generate(&secrets, &options, MachineType::ControlPlane).expect("generates");
        let v1 = docs.v1alpha1().expect("v1alpha1");
        if contract(version).at_least(1, 12) {
            assert!(at(v1, "machine.registries").is_none(), "{version}");
            assert_eq!(
                kinds(&docs),
                [
                    "v1alpha1",
                    "RegistryMirrorConfig/docker.io",
                    "RegistryMirrorConfig/ghcr.io",
                    "HostnameConfig"
                ],
                "{version}"
            );
            assert_eq!(
                docs.find("RegistryMirrorConfig", Some("docker.io"))
                    .map(Node::to_yaml)
                    .as_deref(),
                Some(
                    "apiVersion: v1alpha1\nkind: RegistryMirrorConfig\nname: docker.io\nendpoints:\n    \
                     - url: https://mirror.gcr.io\n    - url: https://registry-1.docker.io\n"
                )
            );
        } else {
            assert_eq!(
                at(v1, "machine.registries").map(Node::to_yaml).as_deref(),
                Some(
                    "mirrors:\n    docker.io:\n        endpoints:\n            - https://mirror.gcr.io\n            \
                     - https://registry-1.docker.io\n    ghcr.io:\n        endpoints:\n            - https://ghcr-mirror.example.com\n"
                ),
                "{version}"
            );
            let machine_keys = keys(at(v1, "machine"));
            let registries = machine_keys.iter().position(|k| k == "registries").expect("registries");
            assert_eq!(machine_keys[registries - 1], "install", "{version}");
            assert_eq!(machine_keys[registries + 1], "features", "{version}");
            assert_eq!(kinds(&docs), ["v1alpha1"], "{version}");
        }
    }
}

#[test]
fn kubespan_uses_the_version_form() {
    let secrets = golden_secrets();
    for version in VERSIONS {
        let mut options = base_options(version);
        options.kubespan = true;
        let docs = generate(&secrets, &options, MachineType::Worker).expect("generates");
        let v1 = docs.v1alpha1().expect("v1alpha1");
        if contract(version).at_least(1, 13) {
            assert!(at(v1, "machine.network").is_none(), "{version}");
            assert_eq!(kinds(&docs), ["v1alpha1", "HostnameConfig", "KubeSpanConfig"]);
            assert_eq!(
                docs.find("KubeSpanConfig", None).map(Node::to_yaml).as_deref(),
                Some("apiVersion: v1alpha1\nkind: KubeSpanConfig\nenabled: true\n")
            );
        } else {
            assert_eq!(
                at(v1, "machine.network").map(Node::to_yaml).as_deref(),
                Some("kubespan:\n    enabled: true\n"),
                "{version}"
            );
            assert!(docs.find("KubeSpanConfig", None).is_none(), "{version}");
        }
    }
}

#[test]
fn scheduling_on_control_planes_is_the_last_cluster_field() {
    let mut options = base_options("v1.11");
    options.allow_scheduling_on_control_planes = true;
    let cp = generate(&golden_secrets(), &options, MachineType::ControlPlane).expect("generates");
    let cluster_keys = keys(at(cp.v1alpha1().expect("v1alpha1"), "cluster"));
    assert_eq!(
        cluster_keys.last().map(String::as_str),
        Some("allowSchedulingOnControlPlanes")
    );
    let worker = generate(&golden_secrets(), &options, MachineType::Worker).expect("generates");
    assert!(
        at(
            worker.v1alpha1().expect("v1alpha1"),
            "cluster.allowSchedulingOnControlPlanes"
        )
        .is_none()
    );
}

#[test]
fn hcloud_overlay_per_version() {
    let token = "hcloud-secret-token-for-tests";
    let settings = |talos_version: &str| HcloudCluster {
        name: "tc-prod".into(),
        kubernetes_version: "1.34.0".into(),
        vip: Some(HcloudVip::new(
            "203.0.113.10".parse().expect("ip"),
            Redacted::new(token.to_string()),
        )),
        ..hcloud_cluster(talos_version)
    };
    for (talos_version, multidoc) in [
        ("v1.10.9", false),
        ("v1.11.1", false),
        ("v1.12.3", true),
        ("v1.13.0", true),
    ] {
        let cluster = settings(talos_version);
        let cp = cluster
            .node_config(
                &golden_secrets(),
                &NodeSettings {
                    hostname: "tc-prod-cp-1".into(),
                    machine_type: MachineType::ControlPlane,
                },
            )
            .expect("control-plane config");
        let worker = cluster
            .node_config(
                &golden_secrets(),
                &NodeSettings {
                    hostname: "tc-prod-worker-1".into(),
                    machine_type: MachineType::Worker,
                },
            )
            .expect("worker config");
        let image = format!(
            "factory.talos.dev/hcloud-installer/ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515:{talos_version}"
        );
        for docs in [&cp, &worker] {
            let v1 = docs.v1alpha1().expect("v1alpha1");
            assert_eq!(
                at(v1, "machine.install.image").and_then(Node::as_str),
                Some(image.as_str())
            );
            assert_eq!(at(v1, "machine.install.disk").and_then(Node::as_str), Some("/dev/sda"));
        }
        let cp_v1 = cp.v1alpha1().expect("v1alpha1");
        if multidoc {
            assert_eq!(
                kinds(&cp),
                [
                    "v1alpha1",
                    "HostnameConfig",
                    "LinkAliasConfig/public",
                    "HCloudVIPConfig/203.0.113.10"
                ],
                "{talos_version}"
            );
            assert_eq!(kinds(&worker), ["v1alpha1", "HostnameConfig"], "{talos_version}");
            let hostname = cp.find("HostnameConfig", None).expect("HostnameConfig");
            assert_eq!(at(hostname, "auto").and_then(Node::as_str), Some("off"));
            assert_eq!(at(hostname, "hostname").and_then(Node::as_str), Some("tc-prod-cp-1"));
            assert!(at(cp_v1, "machine.network.hostname").is_none());
        } else {
            assert_eq!(kinds(&cp), ["v1alpha1"], "{talos_version}");
            assert_eq!(
                at(cp_v1, "machine.network.hostname").and_then(Node::as_str),
                Some("tc-prod-cp-1")
            );
            assert_eq!(
                at(cp_v1, "machine.network.interfaces[0].vip.hcloud.apiToken").and_then(Node::as_str),
                Some(token)
            );
            assert_eq!(
                at(cp_v1, "machine.network.interfaces[0].deviceSelector.busPath").and_then(Node::as_str),
                Some("0000:01:00.0")
            );
            let w = worker.v1alpha1().expect("v1alpha1");
            assert!(at(w, "machine.network.interfaces").is_none(), "{talos_version}");
        }
        assert!(cp.to_yaml().contains(token));
        assert!(
            !worker.to_yaml().contains(token),
            "{talos_version}: token leaked to a worker"
        );
        assert!(!format!("{cluster:?}").contains(token), "token in Debug output");
        // The result is still a valid container after a round trip through text.
        let reparsed = ConfigDocuments::parse(&cp.to_yaml()).expect("reparses");
        assert!(reparsed.yaml_eq(&cp), "{talos_version}");
    }
}

fn gen_config(dir: &FsPath, extra: &[&str]) -> crate::harness::Run {
    let secrets_path = golden_dir().join("secrets.yaml");
    let mut args = vec![
        "talos",
        "gen",
        "config",
        "base",
        "https://base:6443",
        "--with-secrets",
        secrets_path.to_str().expect("UTF-8 path"),
    ];
    args.extend_from_slice(extra);
    talos_hcloud_in(dir, &args)
}

#[test]
fn cli_defaults_mirror_talosctl_for_the_chosen_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = gen_config(
        dir.path(),
        &["--talos-version", "1.11.3", "--output-types", "worker", "-o", "-"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let docs = ConfigDocuments::parse(&run.stdout).expect("stdout is a config");
    let v1 = docs.v1alpha1().expect("v1alpha1");
    assert_eq!(at(v1, "machine.type").and_then(Node::as_str), Some("worker"));
    assert_eq!(at(v1, "machine.install.disk").and_then(Node::as_str), Some("/dev/sda"));
    assert_eq!(
        at(v1, "machine.install.image").and_then(Node::as_str),
        Some("ghcr.io/siderolabs/installer:v1.11.3")
    );
    assert_eq!(
        at(v1, "machine.kubelet.image").and_then(Node::as_str),
        Some("ghcr.io/siderolabs/kubelet:v1.34.1")
    );
    assert_eq!(
        at(v1, "cluster.network.dnsDomain").and_then(Node::as_str),
        Some("cluster.local")
    );
    assert!(
        dir.path().read_dir().expect("readable").next().is_none(),
        "-o - writes no file"
    );
}

#[test]
fn cli_flags_change_the_right_fields() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = gen_config(
        dir.path(),
        &[
            "--talos-version",
            "v1.12",
            "--additional-sans",
            "203.0.113.10,api.example.com",
            "--dns-domain",
            "cluster.internal",
            "--install-disk",
            "/dev/vda",
            "--install-image",
            "factory.talos.dev/installer/abc:v1.12.1",
            "--registry-mirror",
            "docker.io=https://mirror.gcr.io",
            "--with-kubespan",
            "--output-types",
            "controlplane",
            "-o",
            "-",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let docs = ConfigDocuments::parse(&run.stdout).expect("stdout is a config");
    let v1 = docs.v1alpha1().expect("v1alpha1");
    assert_eq!(strings(at(v1, "machine.certSANs")), ["203.0.113.10", "api.example.com"]);
    assert_eq!(
        strings(at(v1, "cluster.apiServer.certSANs")),
        ["203.0.113.10", "api.example.com"]
    );
    assert_eq!(
        at(v1, "cluster.network.dnsDomain").and_then(Node::as_str),
        Some("cluster.internal")
    );
    assert_eq!(at(v1, "machine.install.disk").and_then(Node::as_str), Some("/dev/vda"));
    assert_eq!(
        at(v1, "machine.install.image").and_then(Node::as_str),
        Some("factory.talos.dev/installer/abc:v1.12.1")
    );
    assert_eq!(
        at(v1, "machine.network.kubespan.enabled").and_then(Node::as_bool),
        Some(true)
    );
    assert_eq!(
        kinds(&docs),
        ["v1alpha1", "RegistryMirrorConfig/docker.io", "HostnameConfig"]
    );
}

#[test]
fn cli_refuses_to_overwrite_without_force_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("worker.yaml"), "keep me\n").expect("write");
    let run = gen_config(dir.path(), &["-o", "out"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "error: {} already exists\nhint: pass --force to overwrite it, or choose another folder with -o DIR\n",
            PathBuf::from("out").join("worker.yaml").display()
        )
    );
    assert!(
        !out.join("controlplane.yaml").exists(),
        "nothing may be written on refusal"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("worker.yaml")).expect("read"),
        "keep me\n"
    );

    let run = gen_config(dir.path(), &["-o", "out", "--force"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        std::fs::read_to_string(out.join("worker.yaml"))
            .expect("read")
            .starts_with("version: v1alpha1\n")
    );
    assert_private(&out.join("worker.yaml"));
    assert_private(&out.join("controlplane.yaml"));
}

/// A directory where an output file belongs is named as such, with or without --force,
/// before any file is written, so --force never leaves a half-written set of configs behind
/// the OS's "Is a directory".
#[test]
fn cli_names_a_directory_in_the_way_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("worker.yaml")).expect("mkdir");
    for force in [&[][..], &["--force"]] {
        let mut extra = vec!["-o", "out"];
        extra.extend_from_slice(force);
        let run = gen_config(dir.path(), &extra);
        assert_eq!(run.code, 2, "{force:?}: {run:?}");
        let worker = PathBuf::from("out").join("worker.yaml");
        assert!(
            run.stderr
                .starts_with(&format!("error: {} is a directory, not a file\n", worker.display())),
            "{force:?}: {}",
            run.stderr
        );
        assert!(
            !out.join("controlplane.yaml").exists(),
            "{force:?}: nothing may be written"
        );
        assert!(!out.join("talosconfig").exists(), "{force:?}: nothing may be written");
    }
}

#[test]
fn cli_rejects_bad_flags_with_exit_2_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (args, message) in [
        (
            &["--config-patch", "@patch.yaml"][..],
            "error: cannot read patch file patch.yaml\n",
        ),
        (
            &["--config-patch-worker", "[{\"op\": \"jump\"}]"][..],
            "error: --config-patch-worker #1:1:2: not a valid patch: operation 0: unknown op \"jump\"",
        ),
        (
            &["--with-docs"][..],
            "error: --with-docs=true is not supported: talos-hcloud never writes comments (Hetzner user_data is limited to 32 KiB)\n",
        ),
        (
            &["--registry-mirror", "docker.io"][..],
            "error: invalid registry mirror \"docker.io\": expected HOST=URL, e.g. docker.io=https://mirror.gcr.io\n",
        ),
        (
            &["--talos-version", "v1.9"][..],
            "error: Talos v1.9 is not supported: talos-hcloud generates configs for Talos v1.10 to v1.13\n",
        ),
    ] {
        let run = gen_config(dir.path(), args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.starts_with(message), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}");
    }
    let run = gen_config(
        dir.path(),
        &[
            "--with-docs=false",
            "--with-examples=false",
            "-o",
            "-",
            "--output-types",
            "worker",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        dir.path().read_dir().expect("readable").next().is_none(),
        "no file written"
    );
}

#[test]
fn cli_reports_bad_endpoints_and_missing_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = talos_hcloud_in(
        dir.path(),
        &[
            "talos",
            "gen",
            "config",
            "base",
            "https://base:6443",
            "--with-secrets",
            "missing.yaml",
        ],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: cannot read secrets bundle missing.yaml\n  caused by: "),
        "{}",
        run.stderr
    );
    let secrets_path = golden_dir().join("secrets.yaml");
    let run = talos_hcloud_in(
        dir.path(),
        &[
            "talos",
            "gen",
            "config",
            "base",
            "http://base:6443",
            "--with-secrets",
            secrets_path.to_str().expect("UTF-8 path"),
        ],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: invalid endpoint \"http://base:6443\": the scheme must be https, e.g. https://203.0.113.10:6443\n"
    );
}

#[test]
fn cli_json_result_lists_the_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = gen_config(
        dir.path(),
        &["--output", "json", "-o", "cfg", "--talos-version", "v1.10"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let result: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(result["talos_version_contract"], "v1.10");
    assert_eq!(result["kubernetes_version"], "1.33.6");
    assert_eq!(result["files"][0]["type"], "controlplane");
    assert_eq!(result["files"][1]["path"], "cfg/worker.yaml");
    assert_eq!(result["files"][2]["type"], "talosconfig");
    assert_eq!(result["files"][2]["path"], "cfg/talosconfig");
}

/// `text` with `insert` placed before the first occurrence of `before` (which must exist).
fn insert_before(text: &str, before: &str, insert: &str) -> String {
    let at = text.find(before).unwrap_or_else(|| panic!("{before:?} not found"));
    format!("{}{insert}{}", &text[..at], &text[at..])
}

#[test]
fn cli_patch_flags_reproduce_patched_golden_configs_in_talosctl_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("all.yaml"),
        "machine:\n  sysctls:\n    vm.swappiness: 10\n    net.core.somaxconn: 1024\n",
    )
    .expect("write patch");
    let run = gen_config(
        dir.path(),
        &[
            "--talos-version",
            "v1.11",
            "--kubernetes-version",
            "v1.28.0",
            "--install-disk",
            "",
            "--install-image",
            "",
            "--config-patch",
            "@all.yaml",
            // Control plane: a JSON patch, then a strategic one that overrides the
            // all-types patch (later patches win).
            "--config-patch-control-plane",
            r#"[{"op": "add", "path": "/cluster/allowSchedulingOnControlPlanes", "value": true}]"#,
            "--config-patch-control-plane",
            "machine:\n  sysctls:\n    vm.swappiness: 20\n",
            "--config-patch-worker",
            "machine:\n  nodeLabels:\n    pool: general\n",
            "-o",
            "out",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let read = |name: &str| std::fs::read_to_string(dir.path().join("out").join(name)).expect("written");

    let control_plane = insert_before(
        &golden("v1.11", "controlplane"),
        "    features:\n",
        "    sysctls:\n        net.core.somaxconn: \"1024\"\n        vm.swappiness: \"20\"\n",
    ) + "    allowSchedulingOnControlPlanes: true\n";
    assert_eq!(read("controlplane.yaml"), control_plane);

    let worker = insert_before(
        &insert_before(
            &golden("v1.11", "worker"),
            "    features:\n",
            "    sysctls:\n        net.core.somaxconn: \"1024\"\n        vm.swappiness: \"10\"\n",
        ),
        "cluster:\n",
        "    nodeLabels:\n        pool: general\n",
    );
    assert_eq!(read("worker.yaml"), worker);
    assert!(read("talosconfig").starts_with("context: base\n"));
}

#[test]
fn cli_patch_errors_name_the_patch_and_write_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("bad.yaml"), "machine:\n  kubelet:\n    extraArgz: {}\n").expect("write patch");
    let run = gen_config(dir.path(), &["--config-patch-worker", "bad.yaml", "-o", "out"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: patch bad.yaml does not fit Talos v1.13\n"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("bad.yaml:3:5"), "{}", run.stderr);
    assert!(run.stderr.contains("extraArgz"), "{}", run.stderr);
    // The hint names the flag that sets the version here, not only cluster.yaml.
    assert!(
        run.stderr.contains("hint: patches are checked against the Talos version the config is generated for: talos.version in cluster.yaml, or --talos-version of talos gen config\n"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("out").exists(), "nothing may be written");
}

#[test]
fn cli_writes_a_talosconfig_by_default_and_makes_a_bundle_without_with_secrets() {
    use talos_hcloud::talos::pki;
    use talos_hcloud::talos::talosconfig::Talosconfig;

    let dir = tempfile::tempdir().expect("temp dir");
    let run = gen_config(dir.path(), &["-o", "out"]);
    assert_eq!(run.code, 0, "{run:?}");
    let path = dir.path().join("out/talosconfig");
    assert_private(&path);
    let config = Talosconfig::load(&path).expect("a talosconfig");
    assert_eq!(config.context, "base");
    let context = config.current().expect("the current context");
    assert!(context.endpoints.is_empty());
    assert!(context.nodes.is_empty());
    assert_eq!(context.ca.as_ref(), Some(&golden_secrets().certs.os.crt));
    let admin = pki::summarize_certificate(&context.crt.as_ref().expect("crt").0).expect("certificate");
    assert_eq!(admin.subject, "O=os:admin");

    // Without --with-secrets a new bundle is made (and not saved), as talosctl does: the
    // configs and the talosconfig share its OS CA.
    let fresh = tempfile::tempdir().expect("temp dir");
    let run = talos_hcloud_in(
        fresh.path(),
        &[
            "talos",
            "gen",
            "config",
            "fresh",
            "https://203.0.113.10:6443",
            "-o",
            "out",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let mut names: Vec<String> = std::fs::read_dir(fresh.path().join("out"))
        .expect("out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["controlplane.yaml", "talosconfig", "worker.yaml"]);
    let config = Talosconfig::load(&fresh.path().join("out/talosconfig")).expect("talosconfig");
    let ca = config.current().and_then(|c| c.ca.clone()).expect("ca");
    assert_ne!(ca, golden_secrets().certs.os.crt);
    let docs =
        ConfigDocuments::parse(&std::fs::read_to_string(fresh.path().join("out/controlplane.yaml")).expect("cp"))
            .expect("config");
    let v1 = docs.v1alpha1().expect("v1alpha1");
    assert_eq!(
        at(v1, "machine.ca.crt").and_then(Node::as_str),
        Some(ca.to_base64().as_str())
    );
}
