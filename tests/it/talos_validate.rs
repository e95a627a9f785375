//! Validation of final machine configs: every golden config passes, generated hcloud
//! configs pass, and a table of broken configs (each one rule) gets Talos's message.

use std::io::Read as _;

use base64::Engine as _;
use talos_hcloud::talos::config::patch::{PatchSource, apply, load_patch};
use talos_hcloud::talos::config::validate::{
    HCLOUD_USER_DATA_LIMIT, Mode, UserDataEncoding, ValidateOptions, decode_strict, decode_strict_named,
    user_data_bytes, validate,
};
use talos_hcloud::talos::config::{ConfigDocuments, Contract};

use crate::talos_golden::{contract, golden, golden_secrets, hcloud_node_configs};

const VERSIONS: [(&str, Contract); 4] = [
    ("v1.10", Contract::V1_10),
    ("v1.11", Contract::V1_11),
    ("v1.12", Contract::V1_12),
    ("v1.13", Contract::V1_13),
];

#[test]
fn every_golden_config_decodes_strictly_and_validates_without_errors() {
    let mut checked = 0;
    for (version, contract) in VERSIONS {
        for role in ["controlplane", "worker"] {
            let name = format!("{version}/base-{role}.yaml");
            let text = golden(version, role);
            let docs = decode_strict_named(&name, text.as_bytes(), contract).unwrap_or_else(|e| panic!("{e}"));
            let mut options = ValidateOptions::new(contract);
            options.source = Some(name.clone());
            options.node = Some(role.into());
            let warnings = validate(&docs, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
            let messages: Vec<String> = warnings.iter().map(|w| w.message.clone()).collect();
            assert_eq!(
                messages,
                ["no installer image: `talosctl upgrade` will need an explicit --image"],
                "{name}: the golden files carry no installer image"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
}

#[test]
fn generated_hcloud_configs_validate_without_findings_and_fit_user_data() {
    let secrets = golden_secrets();
    for release in ["v1.10.9", "v1.11.1", "v1.12.0", "v1.13.2"] {
        for (hostname, _, docs) in hcloud_node_configs(release, &secrets) {
            let mut options = ValidateOptions::new(contract(release));
            options.node = Some(hostname.into());
            options.user_data = Some(UserDataEncoding::Plain);
            let warnings = validate(&docs, &options).unwrap_or_else(|e| panic!("{release} {hostname}: {e}"));
            assert!(warnings.is_empty(), "{release} {hostname}: {warnings:?}");
            let strict = decode_strict(docs.to_yaml().as_bytes(), contract(release));
            assert!(strict.is_ok(), "{release} {hostname}: {strict:?}");
        }
    }
}

/// Applies `patches` to a golden config and validates it.
fn findings(
    version: &str,
    role: &str,
    patches: &[&str],
    configure: impl Fn(&mut ValidateOptions),
) -> Result<Vec<String>, Vec<String>> {
    let contract = contract(version);
    let docs = ConfigDocuments::parse(&golden(version, role)).expect("golden parses");
    let patches: Vec<_> = patches
        .iter()
        .enumerate()
        .map(|(i, text)| {
            load_patch(PatchSource::Inline {
                name: format!("case-patch-{i}"),
                text: text.to_string(),
            })
            .expect("test patch loads")
        })
        .collect();
    let (docs, _) = apply(&docs, &patches, &contract).unwrap_or_else(|e| panic!("test patch applies: {e}"));
    let mut options = ValidateOptions::new(contract);
    options.node = Some("n1".into());
    configure(&mut options);
    match validate(&docs, &options) {
        Ok(warnings) => Ok(warnings.iter().map(ToString::to_string).collect()),
        Err(errors) => Err(errors.errors.iter().map(ToString::to_string).collect()),
    }
}

enum Outcome {
    Error(&'static str),
    Warning(&'static str),
    Clean,
}

struct Rule {
    name: &'static str,
    version: &'static str,
    role: &'static str,
    patches: &'static [&'static str],
    mode: Mode,
    strict: bool,
    outcome: Outcome,
}

const fn rule(
    name: &'static str,
    version: &'static str,
    role: &'static str,
    patches: &'static [&'static str],
    outcome: Outcome,
) -> Rule {
    Rule {
        name,
        version,
        role,
        patches,
        mode: Mode::Cloud,
        strict: false,
        outcome,
    }
}

fn rules() -> Vec<Rule> {
    use Outcome::{Clean, Error, Warning};
    vec![
        rule(
            "no machine section",
            "v1.11",
            "controlplane",
            &["machine:\n  $patch: delete\n"],
            Error("n1: v1alpha1 document, machine: machine instructions are required"),
        ),
        rule(
            "no cluster section",
            "v1.11",
            "controlplane",
            &["cluster:\n  $patch: delete\n"],
            Error("n1: v1alpha1 document, cluster: cluster instructions are required"),
        ),
        rule(
            "no endpoint",
            "v1.10",
            "worker",
            &["cluster:\n  controlPlane:\n    $patch: delete\n"],
            Error("n1: v1alpha1 document, cluster.controlPlane.endpoint: cluster controlplane endpoint is required"),
        ),
        rule(
            "endpoint port out of range",
            "v1.12",
            "controlplane",
            &["- op: replace\n  path: /cluster/controlPlane/endpoint\n  value: https://base:70000\n"],
            Error(
                "cluster.controlPlane.endpoint: invalid controlplane endpoint: port number must be between 1 and 65535",
            ),
        ),
        rule(
            "endpoint IPv6 without brackets",
            "v1.12",
            "controlplane",
            &["- op: replace\n  path: /cluster/controlPlane/endpoint\n  value: https://2001:db8::1:6443\n"],
            Error("invalid controlplane endpoint: IPv6 addresses MUST be enclosed by square brackets"),
        ),
        rule(
            "endpoint without host",
            "v1.12",
            "controlplane",
            &["- op: replace\n  path: /cluster/controlPlane/endpoint\n  value: https://:6443\n"],
            Error("invalid controlplane endpoint: hostname must not be blank"),
        ),
        rule(
            "bad DNS domain",
            "v1.11",
            "worker",
            &["cluster:\n  network:\n    dnsDomain: Cluster..Local\n"],
            Error("cluster.network.dnsDomain: \"Cluster..Local\" is not a valid DNS name"),
        ),
        rule(
            "unknown machine type",
            "v1.11",
            "worker",
            &["machine:\n  type: master\n"],
            Error("machine.type: unknown machine type \"master\""),
        ),
        rule(
            "deprecated machine type",
            "v1.11",
            "worker",
            &["machine:\n  type: join\n"],
            Warning("machine.type: use \"worker\" instead of \"join\" for machine type"),
        ),
        Rule {
            strict: true,
            ..rule(
                "deprecated machine type, strict",
                "v1.11",
                "worker",
                &["machine:\n  type: join\n"],
                Error("machine.type: warning: use \"worker\" instead of \"join\" for machine type"),
            )
        },
        rule(
            "control plane without OS CA key",
            "v1.10",
            "controlplane",
            &["- op: replace\n  path: /machine/ca/key\n  value: \"\"\n"],
            Error("machine.ca.key: issuing CA key is required for controlplane nodes (.machine.ca.key)"),
        ),
        rule(
            "control plane without OS CA",
            "v1.10",
            "controlplane",
            &["machine:\n  ca:\n    $patch: delete\n"],
            Error("machine.ca: issuing CA is required (.machine.ca)"),
        ),
        rule(
            "worker without any OS CA",
            "v1.13",
            "worker",
            &["machine:\n  ca:\n    $patch: delete\n"],
            Error("issuing CA or some accepted CAs are required (.machine.ca, machine.acceptedCAs)"),
        ),
        rule(
            "worker with OS CA key",
            "v1.12",
            "worker",
            &["- op: replace\n  path: /machine/ca/key\n  value: c2VjcmV0\n"],
            Error("machine.ca.key: issuing Talos API CA key is not allowed on non-controlplane nodes (.machine.ca)"),
        ),
        rule(
            "worker with Kubernetes CA key",
            "v1.12",
            "worker",
            &["- op: replace\n  path: /cluster/ca/key\n  value: c2VjcmV0\n"],
            Error(
                "cluster.ca.key: issuing Kubernetes API CA key is not allowed on non-controlplane nodes (.cluster.ca)",
            ),
        ),
        rule(
            "worker with etcd",
            "v1.11",
            "worker",
            &["cluster:\n  etcd:\n    image: registry.k8s.io/etcd:v3.6.4\n"],
            Error("cluster.etcd: etcd config is only allowed on control plane machines"),
        ),
        rule(
            "legacy VIP on a worker",
            "v1.11",
            "worker",
            &[
                "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        dhcp: true\n        vip:\n          ip: 203.0.113.10\n",
            ],
            Error("machine.network.interfaces[0].vip: virtual (shared) IP is not allowed on non-controlplane nodes"),
        ),
        rule(
            "HCloudVIPConfig on a worker",
            "v1.12",
            "worker",
            &["apiVersion: v1alpha1\nkind: HCloudVIPConfig\nname: 203.0.113.10\nlink: public\napiToken: t\n"],
            Error(
                "n1: HCloudVIPConfig/203.0.113.10 document: virtual (shared) IP is not allowed on non-controlplane nodes",
            ),
        ),
        rule(
            "persist false",
            "v1.11",
            "controlplane",
            &["persist: false\n"],
            Error("persist: .persist should be enabled"),
        ),
        Rule {
            mode: Mode::Metal,
            ..rule(
                "metal mode without install",
                "v1.11",
                "controlplane",
                &["machine:\n  install:\n    $patch: delete\n"],
                Error("machine.install: install instructions are required in \"metal\" mode"),
            )
        },
        Rule {
            mode: Mode::Metal,
            ..rule(
                "metal mode without install disk",
                "v1.13",
                "worker",
                &[],
                Error("machine.install: either install disk or diskSelector should be defined"),
            )
        },
        rule(
            "interface address that is not an IP",
            "v1.11",
            "controlplane",
            &["machine:\n  network:\n    interfaces:\n      - interface: eth0\n        addresses: [10.0.0.300/24]\n"],
            Error(
                "machine.network.interfaces[0].addresses[0]: [networking.os.device.addresses] \"eth0\": failed to parse \"10.0.0.300/24\"",
            ),
        ),
        rule(
            "interface and deviceSelector together",
            "v1.11",
            "controlplane",
            &[
                "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        deviceSelector:\n          busPath: \"0000:01:00.0\"\n",
            ],
            Error(
                "[networking.os.device.interface], [networking.os.device.deviceSelector]: config sections are mutually exclusive",
            ),
        ),
        rule(
            "neither interface nor deviceSelector",
            "v1.11",
            "controlplane",
            &["machine:\n  network:\n    interfaces:\n      - dhcp: true\n"],
            Error(
                "[networking.os.device.interface], [networking.os.device.deviceSelector]: required either config section to be set",
            ),
        ),
        rule(
            "route without network and gateway",
            "v1.10",
            "controlplane",
            &[
                "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        routes:\n          - metric: 10\n",
            ],
            Error(
                "machine.network.interfaces[0].routes[0]: [networking.os.device.route[0]] either network or gateway should be set",
            ),
        ),
        rule(
            "route with a bad network",
            "v1.10",
            "controlplane",
            &[
                "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        routes:\n          - network: 10.0.0.0\n            gateway: 10.0.0.1\n",
            ],
            Error("[networking.os.device.route[0].network] \"10.0.0.0\": invalid network address"),
        ),
        rule(
            "VIP that is not an IP",
            "v1.11",
            "controlplane",
            &["machine:\n  network:\n    interfaces:\n      - interface: eth0\n        vip:\n          ip: floating\n"],
            Error(
                "machine.network.interfaces[0].vip.ip: [networking.os.device.vip] failed to parse \"floating\" as IP address",
            ),
        ),
        rule(
            "unknown CNI",
            "v1.11",
            "controlplane",
            &["cluster:\n  network:\n    cni:\n      name: cilium\n"],
            Error("cluster.network.cni.name: cni name should be one of [\"flannel\", \"custom\", \"none\"]"),
        ),
        rule(
            "flannel with URLs",
            "v1.11",
            "controlplane",
            &["cluster:\n  network:\n    cni:\n      name: flannel\n      urls: [https://example.com/cni.yaml]\n"],
            Error("\"urls\" field should be empty for \"flannel\" CNI"),
        ),
        rule(
            "custom CNI without URLs",
            "v1.11",
            "controlplane",
            &["cluster:\n  network:\n    cni:\n      name: custom\n"],
            Warning("\"urls\" field should not be empty for \"custom\" CNI"),
        ),
        rule(
            "discovery without cluster id",
            "v1.11",
            "controlplane",
            &["- op: remove\n  path: /cluster/id\n"],
            Error("cluster.id: cluster discovery service requires .cluster.id"),
        ),
        rule(
            "inline manifest without a name",
            "v1.11",
            "controlplane",
            &["cluster:\n  inlineManifests:\n    - contents: 'kind: Namespace'\n"],
            Error("cluster.inlineManifests[0].name: inline manifest name can't be empty"),
        ),
        rule(
            "duplicate inline manifest",
            "v1.11",
            "controlplane",
            &["cluster:\n  inlineManifests:\n    - name: a\n      contents: x\n    - name: a\n      contents: y\n"],
            Error("cluster.inlineManifests[1].name: inline manifest name \"a\" is duplicate"),
        ),
        rule(
            "invalid node label",
            "v1.11",
            "worker",
            &["machine:\n  nodeLabels:\n    -bad: x\n"],
            Error("machine.nodeLabels.-bad: invalid machine node labels: key \"-bad\""),
        ),
        rule(
            "invalid node taint effect",
            "v1.11",
            "worker",
            &["machine:\n  nodeTaints:\n    dedicated: db:Sometimes\n"],
            Error("invalid machine node taints: taint \"dedicated\": effect \"Sometimes\""),
        ),
        rule(
            "v1.13 forwardKubeDNSToHost without hostDNS",
            "v1.13",
            "worker",
            &["machine:\n  features:\n    hostDNS:\n      enabled: false\n"],
            Error(
                "machine.features.hostDNS: feature hostDNS.forwardKubeDNSToHost requires hostDNS.enabled to be true (.machine.features.hostDNS)",
            ),
        ),
        rule(
            "v1.12 does not check forwardKubeDNSToHost",
            "v1.12",
            "worker",
            &["machine:\n  features:\n    hostDNS:\n      enabled: false\n"],
            Clean,
        ),
        Rule {
            mode: Mode::Container,
            ..rule(
                "container mode without host DNS",
                "v1.11",
                "worker",
                &["machine:\n  features:\n    hostDNS:\n      enabled: false\n"],
                Error("feature HostDNS should be enabled in container mode (.machine.features.hostDNS.enabled)"),
            )
        },
        rule(
            "cluster name with spaces",
            "v1.11",
            "worker",
            &["- op: replace\n  path: /cluster/clusterName\n  value: my cluster\n"],
            Error("cluster.clusterName: cluster name \"my cluster\" must not contain spaces or control characters"),
        ),
        rule(
            "malformed bootstrap token",
            "v1.11",
            "worker",
            &["- op: replace\n  path: /cluster/token\n  value: not-a-token\n"],
            Error(
                "cluster.token: invalid Kubernetes bootstrap token (.cluster.token): expected 6 and 16 lowercase letters or digits",
            ),
        ),
        rule(
            "unusual trustd token",
            "v1.11",
            "worker",
            &["- op: replace\n  path: /machine/token\n  value: Some-Token\n"],
            Warning("machine.token: machine.token is not in the usual token form"),
        ),
        rule(
            "bad certSANs entry",
            "v1.11",
            "controlplane",
            &["machine:\n  certSANs: [not a name]\n"],
            Error("machine.certSANs[0]: invalid certSANs entry \"not a name\": expected an IP address or a DNS name"),
        ),
        rule(
            "bad pod subnet",
            "v1.11",
            "controlplane",
            &["cluster:\n  network:\n    podSubnets: [10.0.0.0/33]\n"],
            Error("cluster.network.podSubnets[0]: invalid pod subnet \"10.0.0.0/33\""),
        ),
        rule(
            "HostnameConfig with neither auto nor hostname",
            "v1.12",
            "worker",
            &[
                "apiVersion: v1alpha1\nkind: HostnameConfig\n$patch: delete\n",
                "apiVersion: v1alpha1\nkind: HostnameConfig\n",
            ],
            Error("n1: HostnameConfig document: either 'auto' or 'hostname' must be set"),
        ),
        rule(
            "HostnameConfig with auto: stable and a hostname",
            "v1.12",
            "worker",
            &["apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: w1\n"],
            Error("HostnameConfig document: 'auto' and 'hostname' cannot be set at the same time"),
        ),
        rule(
            "HostnameConfig auto: talos-addr",
            "v1.13",
            "worker",
            &["apiVersion: v1alpha1\nkind: HostnameConfig\nauto: talos-addr\n"],
            Error("HostnameConfig document, auto: invalid value for 'auto': talos-addr"),
        ),
        rule(
            "HostnameConfig with a too long first label",
            "v1.13",
            "worker",
            &[
                "apiVersion: v1alpha1\nkind: HostnameConfig\nauto: off\nhostname: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example\n",
            ],
            Error("HostnameConfig document, hostname: invalid hostname"),
        ),
        rule(
            "HostnameConfig and the legacy hostname",
            "v1.12",
            "worker",
            &["machine:\n  network:\n    hostname: w1\n"],
            Error("HostnameConfig document: static hostname is already set in v1alpha1 config"),
        ),
        rule(
            "HostnameConfig and the legacy stableHostname",
            "v1.12",
            "worker",
            &["machine:\n  features:\n    stableHostname: true\n"],
            Error("HostnameConfig document: stable hostname is already set in v1alpha1 config"),
        ),
        rule(
            "HCloudVIPConfig whose name is not an IP",
            "v1.12",
            "controlplane",
            &["apiVersion: v1alpha1\nkind: HCloudVIPConfig\nname: vip\nlink: public\napiToken: t\n"],
            Error("HCloudVIPConfig/vip document, name: name must be a valid IP address"),
        ),
        rule(
            "HCloudVIPConfig without link",
            "v1.12",
            "controlplane",
            &["apiVersion: v1alpha1\nkind: HCloudVIPConfig\nname: 203.0.113.10\napiToken: t\n"],
            Error("HCloudVIPConfig/203.0.113.10 document, link: link must be specified"),
        ),
        rule(
            "HCloudVIPConfig without token",
            "v1.13",
            "controlplane",
            &["apiVersion: v1alpha1\nkind: HCloudVIPConfig\nname: 203.0.113.10\nlink: public\n"],
            Error("HCloudVIPConfig/203.0.113.10 document, apiToken: apiToken must be specified"),
        ),
        rule(
            "HCloudVIPConfig and Layer2VIPConfig for one IP",
            "v1.12",
            "controlplane",
            &[
                "apiVersion: v1alpha1\nkind: HCloudVIPConfig\nname: 203.0.113.10\nlink: public\napiToken: t\n---\napiVersion: v1alpha1\nkind: Layer2VIPConfig\nname: 203.0.113.10\nlink: public\n",
            ],
            Error(
                "Layer2VIPConfig/203.0.113.10 document: conflicting documents: HCloudVIPConfig/203.0.113.10 and Layer2VIPConfig/203.0.113.10",
            ),
        ),
        rule(
            "HCloudVIPConfig and a legacy VIP for one IP",
            "v1.12",
            "controlplane",
            &[
                "apiVersion: v1alpha1\nkind: HCloudVIPConfig\nname: 203.0.113.10\nlink: public\napiToken: t\n---\nmachine:\n  network:\n    interfaces:\n      - interface: eth0\n        vip:\n          ip: 203.0.113.10\n",
            ],
            Error(
                "the VIP 203.0.113.10 is configured twice: in this document and in the v1alpha1 config (.machine.network.interfaces[0].vip)",
            ),
        ),
        rule(
            "named document without a name",
            "v1.12",
            "controlplane",
            &["apiVersion: v1alpha1\nkind: RegistryMirrorConfig\nendpoints:\n  - url: https://mirror.example\n"],
            Error("RegistryMirrorConfig document, name: name must be specified"),
        ),
        rule(
            "KubeSpanConfig and the legacy kubespan section",
            "v1.13",
            "worker",
            &[
                "apiVersion: v1alpha1\nkind: KubeSpanConfig\nenabled: true\n---\nmachine:\n  network:\n    kubespan:\n      enabled: true\n",
            ],
            Error(
                "KubeSpanConfig document: KubeSpan is already configured in the v1alpha1 config (.machine.network.kubespan)",
            ),
        ),
        rule(
            "TimeSyncConfig and the legacy time section",
            "v1.12",
            "worker",
            &[
                "apiVersion: v1alpha1\nkind: TimeSyncConfig\nntp:\n  servers: [ntp1.hetzner.de]\n---\nmachine:\n  time:\n    servers: [ntp2.hetzner.de]\n",
            ],
            Warning("TimeSyncConfig document: time sync is also configured in the v1alpha1 config (.machine.time)"),
        ),
    ]
}

#[test]
fn semantic_rules_table() {
    let rules = rules();
    let mut failures = Vec::new();
    for rule in &rules {
        let outcome = findings(rule.version, rule.role, rule.patches, |options| {
            options.mode = rule.mode;
            options.strict = rule.strict;
        });
        let ok = match (&rule.outcome, &outcome) {
            (Outcome::Error(want), Err(errors)) => errors.iter().any(|e| e.contains(want)),
            (Outcome::Warning(want), Ok(warnings)) => warnings.iter().any(|w| w.contains(want)),
            (Outcome::Clean, Ok(warnings)) => warnings.iter().all(|w| w.contains("no installer image")),
            _ => false,
        };
        if std::env::var_os("SHOW_RULES").is_some() {
            eprintln!("### {}\n{outcome:#?}", rule.name);
        }
        if !ok {
            failures.push(format!("### {}\n{outcome:#?}", rule.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rules failed:\n{}",
        failures.len(),
        rules.len(),
        failures.join("\n")
    );
}

#[test]
fn findings_name_file_position_node_document_and_path() {
    let text = "version: v1alpha1\nmachine:\n  type: master\n  tokn: x\ncluster: {}\n";
    let docs = ConfigDocuments::parse(text).expect("parses");
    let mut options = ValidateOptions::new(Contract::V1_11);
    options.node = Some("cp-1".into());
    options.source = Some("cp-1.yaml".into());
    let errors = validate(&docs, &options).expect_err("broken config");
    let lines: Vec<String> = errors.errors.iter().map(ToString::to_string).collect();
    assert!(
        lines.contains(
            &"cp-1.yaml:4:3: cp-1: v1alpha1 document, machine.tokn: unknown key \"tokn\" (did you mean \"token\"?)"
                .to_string()
        ),
        "{lines:#?}"
    );
    assert!(
        lines.contains(
            &"cp-1.yaml:3:9: cp-1: v1alpha1 document, machine.type: unknown machine type \"master\"".to_string()
        ),
        "{lines:#?}"
    );
    assert!(errors.to_string().starts_with(&format!(
        "{} errors in the machine config of cp-1:\n  * ",
        errors.errors.len()
    )));
}

#[test]
fn user_data_limit_counts_the_bytes_sent_and_says_what_fits() {
    let contract = Contract::V1_11;
    let docs = ConfigDocuments::parse(&golden("v1.11", "controlplane")).expect("golden");
    // A 40 KB inline manifest pushes plain YAML over 32 KiB; it compresses well.
    let manifest = "apiVersion: v1\nkind: ConfigMap\n".to_string() + &"data: abcdefghij\n".repeat(2400);
    let patch = format!(
        "cluster:\n  inlineManifests:\n    - name: big\n      contents: {}\n",
        serde_json::to_string(&manifest).expect("json string")
    );
    let patch = load_patch(PatchSource::Inline {
        name: "big".into(),
        text: patch,
    })
    .expect("patch");
    let (big, _) = apply(&docs, &[patch], &contract).expect("applies");

    let plain = user_data_bytes(&big, UserDataEncoding::Plain);
    assert_eq!(plain, big.to_yaml().into_bytes());
    assert!(plain.len() > HCLOUD_USER_DATA_LIMIT);
    let packed = user_data_bytes(&big, UserDataEncoding::Base64Gzip);
    assert!(packed.len() < HCLOUD_USER_DATA_LIMIT);
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(&packed)
        .expect("base64");
    let mut unpacked = String::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .read_to_string(&mut unpacked)
        .expect("gzip");
    assert_eq!(unpacked, big.to_yaml(), "base64(gzip) carries exactly the config");

    let mut options = ValidateOptions::new(contract);
    options.user_data = Some(UserDataEncoding::Plain);
    let errors = validate(&big, &options).expect_err("too large as plain YAML");
    let message = &errors.errors[0].message;
    assert!(
        message.starts_with(&format!(
            "as plain YAML user_data the config is {} bytes, over Hetzner's limit of 32768;",
            plain.len()
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("base64(gzip) would be {} bytes (fits)", packed.len())),
        "{message}"
    );
    options.user_data = Some(UserDataEncoding::Base64Gzip);
    validate(&big, &options).expect("fits as base64(gzip)");
}

#[test]
fn decode_strict_rejects_what_talos_rejects() {
    let duplicate = "apiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n";
    let errors = decode_strict(duplicate.as_bytes(), Contract::V1_12).expect_err("duplicate");
    assert_eq!(
        errors.to_string(),
        "<config>:5:1: HostnameConfig document: duplicate document HostnameConfig is not allowed"
    );
    let unknown = "apiVersion: v1alpha1\nkind: FooConfig\n";
    let errors = decode_strict(unknown.as_bytes(), Contract::V1_13).expect_err("unknown kind");
    assert_eq!(
        errors.to_string(),
        "<config>:1:1: FooConfig document: \"FooConfig\" \"v1alpha1\": not registered"
    );
    let not_utf8 = decode_strict(&[0xff, 0xfe], Contract::V1_13).expect_err("binary");
    assert_eq!(not_utf8.to_string(), "<config>: the config is not UTF-8 text");
    let two = "machine:\n  typo: 1\ncluster:\n  nmae: x\n";
    let errors = decode_strict(two.as_bytes(), Contract::V1_10).expect_err("two problems");
    assert_eq!(
        errors.to_string(),
        "2 problems found during decoding:\n  * <config>:2:3: v1alpha1 document, machine.typo: unknown key \"typo\" (did you mean \"type\"?)\n  * <config>:4:3: v1alpha1 document, cluster.nmae: unknown key \"nmae\""
    );
}

/// Issue 8: `sim node --machine-config junk.yaml` named the file `<config>`.
#[test]
fn an_installed_config_is_refused_naming_its_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("junk.yaml"), "machine:\n  tokn: x\n").expect("write");
    let run = crate::harness::talos_hcloud_in(
        dir.path(),
        &[
            "sim",
            "node",
            "--address",
            "127.0.0.2",
            "--talos-version",
            "v1.11.6",
            "--machine-config",
            "junk.yaml",
        ],
    );
    assert_eq!((run.code, run.stdout.as_str()), (2, ""), "{run:?}");
    assert_eq!(
        run.stderr,
        "error: the installed machine configuration was refused\n  caused by: junk.yaml:2:3: v1alpha1 document, machine.tokn: unknown key \"tokn\" (did you mean \"token\"?)\n"
    );
}
