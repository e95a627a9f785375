//! The patch table: each case is an input config, one or more patches (as talosctl's
//! `--config-patch` would take them) and the exact YAML Talos would write, or the error.
//! Semantics follow reference `talos.md` §D.

use std::collections::BTreeMap;

use talos_hcloud::talos::config::patch::{
    Patch, PatchError, PatchSource, PatchWarning, apply, apply_sysctls, load_patch, load_patches,
};
use talos_hcloud::talos::config::{ConfigDocuments, Contract};

const V10: Contract = Contract::V1_10;
const V11: Contract = Contract::V1_11;
const V12: Contract = Contract::V1_12;
const V13: Contract = Contract::V1_13;

/// Strips the leading newline and the common indentation of a test literal.
fn y(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text).trim_end();
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| {
            if l.len() >= indent {
                &l[indent..]
            } else {
                l.trim_start()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

enum Expect {
    /// The exact output.
    Yaml(&'static str),
    /// The exact output and one warning containing the text.
    YamlWarning(&'static str, &'static str),
    /// An error whose message (with its causes) contains every text.
    Error(&'static [&'static str]),
}

struct Case {
    name: &'static str,
    contract: Contract,
    config: &'static str,
    patches: &'static [&'static str],
    expect: Expect,
}

fn error_chain(error: &PatchError) -> String {
    talos_hcloud::error::chain(error).join("\ncaused by: ")
}

fn run(case: &Case) -> Result<(String, Vec<PatchWarning>), String> {
    let config = ConfigDocuments::parse(&y(case.config)).map_err(|e| format!("config: {e}"))?;
    let mut patches: Vec<Patch> = Vec::new();
    for (index, text) in case.patches.iter().enumerate() {
        let patch = load_patch(PatchSource::Inline {
            name: format!("patch{}.yaml", index + 1),
            text: y(text),
        })
        .map_err(|e| error_chain(&e))?;
        patches.push(patch);
    }
    let (docs, warnings) = apply(&config, &patches, &case.contract).map_err(|e| error_chain(&e))?;
    Ok((docs.to_yaml(), warnings))
}

fn check(case: &Case) -> Result<(), String> {
    let outcome = run(case);
    if std::env::var_os("SHOW_PATCH_TABLE").is_some() {
        eprintln!("### {}\n{outcome:?}", case.name);
    }
    match (&case.expect, outcome) {
        (Expect::Yaml(want), Ok((got, warnings))) => {
            let want = y(want);
            if got != want {
                return Err(format!("output differs\n--- want ---\n{want}--- got ---\n{got}"));
            }
            let (a, b) = (
                ConfigDocuments::parse(&got).map_err(|e| e.to_string())?,
                ConfigDocuments::parse(&want).map_err(|e| e.to_string())?,
            );
            if !a.yaml_eq(&b) {
                return Err("not YAML-equal".into());
            }
            if !warnings.is_empty() {
                return Err(format!("unexpected warnings: {warnings:?}"));
            }
            Ok(())
        }
        (Expect::YamlWarning(want, warning), Ok((got, warnings))) => {
            let want = y(want);
            if got != want {
                return Err(format!("output differs\n--- want ---\n{want}--- got ---\n{got}"));
            }
            match warnings.as_slice() {
                [only] if only.to_string().contains(warning) => Ok(()),
                other => Err(format!("expected one warning with {warning:?}, got {other:?}")),
            }
        }
        (Expect::Error(parts), Err(message)) => {
            let missing: Vec<_> = parts.iter().filter(|p| !message.contains(*p)).collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("error lacks {missing:?}:\n{message}"))
            }
        }
        (Expect::Error(_), Ok((got, _))) => Err(format!("expected an error, got:\n{got}")),
        (_, Err(message)) => Err(format!("unexpected error: {message}")),
    }
}

const BASE: &str = r#"
    version: v1alpha1
    machine:
        type: controlplane
        certSANs:
            - a.example
        install:
            disk: /dev/sda
            wipe: true
        sysctls:
            net.core.somaxconn: "65535"
        nodeLabels:
            role: db
    cluster:
        network:
            dnsDomain: cluster.local
            podSubnets:
                - 10.244.0.0/16
            serviceSubnets:
                - 10.96.0.0/12
"#;

const NETWORK: &str = r#"
    machine:
        type: controlplane
        network:
            interfaces:
                - interface: eth0
                  addresses:
                    - 10.0.0.2/24
                  vlans:
                    - vlanId: 10
                      dhcp: true
                  mtu: 1450
                - deviceSelector:
                    busPath: "0000:01:00.0"
                  dhcp: true
            kubespan:
                mtu: 1420
"#;

const CLUSTER_API: &str = r#"
    cluster:
        apiServer:
            admissionControl:
                - name: PodSecurity
                  configuration:
                    apiVersion: pod-security.admission.config.k8s.io/v1alpha1
                    defaults:
                        audit: restricted
                        enforce: baseline
                    kind: PodSecurityConfiguration
            auditPolicy:
                apiVersion: audit.k8s.io/v1
                kind: Policy
                rules:
                    - level: Metadata
"#;

const MULTIDOC: &str = r#"
    version: v1alpha1
    machine:
        type: worker
        sysctls:
            a.b: "1"
    ---
    apiVersion: v1alpha1
    kind: RegistryMirrorConfig
    name: docker.io
    endpoints:
        - url: https://mirror-a.example
    ---
    apiVersion: v1alpha1
    kind: HostnameConfig
    auto: stable
"#;

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "map keys merge, new keys sorted, values written as strings",
            contract: V11,
            config: BASE,
            patches: &["machine:\n  sysctls:\n    vm.max_map_count: 262144\n    kernel.pid_max: \"4194304\"\n"],
            expect: Expect::Yaml(
                r#"
                version: v1alpha1
                machine:
                    type: controlplane
                    certSANs:
                        - a.example
                    install:
                        disk: /dev/sda
                        wipe: true
                    sysctls:
                        kernel.pid_max: "4194304"
                        net.core.somaxconn: "65535"
                        vm.max_map_count: "262144"
                    nodeLabels:
                        role: db
                cluster:
                    network:
                        dnsDomain: cluster.local
                        podSubnets:
                            - 10.244.0.0/16
                        serviceSubnets:
                            - 10.96.0.0/12
                "#,
            ),
        },
        Case {
            name: "sysctl scalars 1, true, \"1\", 0.5 all become strings",
            contract: V10,
            config: "machine:\n  type: worker\n",
            patches: &[
                "machine:\n  sysctls:\n    a.one: 1\n    b.true: true\n    c.quoted: \"1\"\n    d.half: 0.5\n    e.hex: 0x10\n",
            ],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: worker
                    sysctls:
                        a.one: "1"
                        b.true: "true"
                        c.quoted: "1"
                        d.half: "0.5"
                        e.hex: "0x10"
                "#,
            ),
        },
        Case {
            name: "plain lists append",
            contract: V11,
            config: "machine:\n  type: worker\n  certSANs: [a.example]\n",
            patches: &["machine:\n  certSANs: [b.example, c.example]\n"],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: worker
                    certSANs:
                        - a.example
                        - b.example
                        - c.example
                "#,
            ),
        },
        Case {
            name: "merge:replace lists are replaced",
            contract: V11,
            config: BASE,
            patches: &["cluster:\n  network:\n    podSubnets: [10.0.16.0/20, 10.0.32.0/20]\n"],
            expect: Expect::Yaml(
                r#"
                version: v1alpha1
                machine:
                    type: controlplane
                    certSANs:
                        - a.example
                    install:
                        disk: /dev/sda
                        wipe: true
                    sysctls:
                        net.core.somaxconn: "65535"
                    nodeLabels:
                        role: db
                cluster:
                    network:
                        dnsDomain: cluster.local
                        podSubnets:
                            - 10.0.16.0/20
                            - 10.0.32.0/20
                        serviceSubnets:
                            - 10.96.0.0/12
                "#,
            ),
        },
        Case {
            name: "an explicit [] clears a replace-tagged list but leaves an appended list alone",
            contract: V11,
            config: "machine:\n  type: worker\n  certSANs: [a.example]\ncluster:\n  network:\n    dnsDomain: cluster.local\n    podSubnets: [10.244.0.0/16]\n    serviceSubnets: [10.96.0.0/12]\n",
            patches: &["machine:\n  certSANs: []\ncluster:\n  network:\n    serviceSubnets: []\n"],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: worker
                    certSANs:
                        - a.example
                cluster:
                    network:
                        dnsDomain: cluster.local
                        podSubnets:
                            - 10.244.0.0/16
                        serviceSubnets: []
                "#,
            ),
        },
        Case {
            name: "null does nothing",
            contract: V12,
            config: "machine:\n  type: worker\n  certSANs: [a.example]\n  sysctls:\n    a: \"1\"\n",
            patches: &["machine:\n  certSANs: null\n  sysctls:\n    a: null\n  install: ~\ncluster: null\n"],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: worker
                    certSANs:
                        - a.example
                    sysctls:
                        a: "1"
                "#,
            ),
        },
        Case {
            name: "a zero string does not override, a false boolean does",
            contract: V12,
            config: BASE,
            patches: &[
                "machine:\n  install:\n    disk: \"\"\n    wipe: false\ncluster:\n  network:\n    dnsDomain: \"\"\n",
            ],
            expect: Expect::Yaml(
                r#"
                version: v1alpha1
                machine:
                    type: controlplane
                    certSANs:
                        - a.example
                    install:
                        disk: /dev/sda
                        wipe: false
                    sysctls:
                        net.core.somaxconn: "65535"
                    nodeLabels:
                        role: db
                cluster:
                    network:
                        dnsDomain: cluster.local
                        podSubnets:
                            - 10.244.0.0/16
                        serviceSubnets:
                            - 10.96.0.0/12
                "#,
            ),
        },
        Case {
            name: "a zero map value does not override an existing one (Talos quirk)",
            contract: V11,
            config: "machine:\n  type: worker\n  nodeLabels:\n    role: db\n",
            patches: &["machine:\n  nodeLabels:\n    role: \"\"\n    zone: \"\"\n"],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: worker
                    nodeLabels:
                        role: db
                        zone: ""
                "#,
            ),
        },
        Case {
            name: "v1.11: a zero behind a pointer does not override",
            contract: V11,
            config: NETWORK,
            patches: &["machine:\n  network:\n    kubespan:\n      mtu: 0\n"],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: controlplane
                    network:
                        interfaces:
                            - interface: eth0
                              addresses:
                                - 10.0.0.2/24
                              vlans:
                                - dhcp: true
                                  vlanId: 10
                              mtu: 1450
                            - deviceSelector:
                                busPath: "0000:01:00.0"
                              dhcp: true
                        kubespan:
                            mtu: 1420
                "#,
            ),
        },
        Case {
            name: "v1.12: a zero behind a pointer overrides, a non-pointer zero still does not",
            contract: V12,
            config: NETWORK,
            patches: &[
                "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        mtu: 0\n    kubespan:\n      mtu: 0\n",
            ],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: controlplane
                    network:
                        interfaces:
                            - interface: eth0
                              addresses:
                                - 10.0.0.2/24
                              vlans:
                                - dhcp: true
                                  vlanId: 10
                              mtu: 1450
                            - deviceSelector:
                                busPath: "0000:01:00.0"
                              dhcp: true
                        kubespan:
                            mtu: 0
                "#,
            ),
        },
        Case {
            name: "v1.12: auto: off overrides auto: stable (pointer enum zero)",
            contract: V12,
            config: "machine:\n  type: worker\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n",
            patches: &["apiVersion: v1alpha1\nkind: HostnameConfig\nauto: off\nhostname: worker-1\n"],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: worker
                ---
                apiVersion: v1alpha1
                kind: HostnameConfig
                auto: "off"
                hostname: worker-1
                "#,
            ),
        },
        Case {
            name: "interfaces merge by name; unknown names append",
            contract: V11,
            config: NETWORK,
            patches: &[
                "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        addresses: [10.0.0.3/24]\n        mtu: 1400\n      - interface: eth1\n        dhcp: true\n",
            ],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: controlplane
                    network:
                        interfaces:
                            - interface: eth0
                              addresses:
                                - 10.0.0.2/24
                                - 10.0.0.3/24
                              vlans:
                                - dhcp: true
                                  vlanId: 10
                              mtu: 1400
                            - deviceSelector:
                                busPath: "0000:01:00.0"
                              dhcp: true
                            - interface: eth1
                              dhcp: true
                        kubespan:
                            mtu: 1420
                "#,
            ),
        },
        Case {
            name: "interfaces merge by an exactly equal deviceSelector",
            contract: V11,
            config: NETWORK,
            patches: &[
                "machine:\n  network:\n    interfaces:\n      - deviceSelector:\n          busPath: \"0000:01:00.0\"\n        vip:\n          ip: 203.0.113.10\n          hcloud:\n            apiToken: t0k3n\n",
            ],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: controlplane
                    network:
                        interfaces:
                            - interface: eth0
                              addresses:
                                - 10.0.0.2/24
                              vlans:
                                - dhcp: true
                                  vlanId: 10
                              mtu: 1450
                            - deviceSelector:
                                busPath: "0000:01:00.0"
                              dhcp: true
                              vip:
                                ip: 203.0.113.10
                                hcloud:
                                    apiToken: t0k3n
                        kubespan:
                            mtu: 1420
                "#,
            ),
        },
        Case {
            name: "a deviceSelector that differs in any field appends",
            contract: V11,
            config: NETWORK,
            patches: &[
                "machine:\n  network:\n    interfaces:\n      - deviceSelector:\n          busPath: \"0000:01:00.0\"\n          driver: virtio_net\n        mtu: 1400\n",
            ],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: controlplane
                    network:
                        interfaces:
                            - interface: eth0
                              addresses:
                                - 10.0.0.2/24
                              vlans:
                                - dhcp: true
                                  vlanId: 10
                              mtu: 1450
                            - deviceSelector:
                                busPath: "0000:01:00.0"
                              dhcp: true
                            - deviceSelector:
                                busPath: "0000:01:00.0"
                                driver: virtio_net
                              mtu: 1400
                        kubespan:
                            mtu: 1420
                "#,
            ),
        },
        Case {
            name: "a deviceSelector with physical never matches (Go pointer comparison), with a warning",
            contract: V11,
            config: "machine:\n  type: controlplane\n  network:\n    interfaces:\n      - deviceSelector: {physical: true}\n        dhcp: true\n",
            patches: &[
                "machine:\n  network:\n    interfaces:\n      - deviceSelector: {physical: true}\n        mtu: 1400\n",
            ],
            expect: Expect::YamlWarning(
                r#"
                machine:
                    type: controlplane
                    network:
                        interfaces:
                            - deviceSelector:
                                physical: true
                              dhcp: true
                            - deviceSelector:
                                physical: true
                              mtu: 1400
                "#,
                "never matches",
            ),
        },
        Case {
            name: "vlans merge by vlanId",
            contract: V10,
            config: NETWORK,
            patches: &[
                "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        vlans:\n          - vlanId: 10\n            mtu: 1400\n          - vlanId: 20\n            dhcp: true\n",
            ],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: controlplane
                    network:
                        interfaces:
                            - interface: eth0
                              addresses:
                                - 10.0.0.2/24
                              vlans:
                                - dhcp: true
                                  vlanId: 10
                                  mtu: 1400
                                - dhcp: true
                                  vlanId: 20
                              mtu: 1450
                            - deviceSelector:
                                busPath: "0000:01:00.0"
                              dhcp: true
                        kubespan:
                            mtu: 1420
                "#,
            ),
        },
        Case {
            name: "admission plugins merge by name, configuration merges as free-form",
            contract: V11,
            config: CLUSTER_API,
            patches: &[
                "cluster:\n  apiServer:\n    admissionControl:\n      - name: PodSecurity\n        configuration:\n          defaults:\n            enforce: restricted\n          exemptions:\n            namespaces: [kube-system]\n      - name: EventRateLimit\n        configuration:\n          kind: Configuration\n",
            ],
            expect: Expect::Yaml(
                r#"
                cluster:
                    apiServer:
                        admissionControl:
                            - name: PodSecurity
                              configuration:
                                apiVersion: pod-security.admission.config.k8s.io/v1alpha1
                                defaults:
                                    audit: restricted
                                    enforce: restricted
                                exemptions:
                                    namespaces:
                                        - kube-system
                                kind: PodSecurityConfiguration
                            - name: EventRateLimit
                              configuration:
                                kind: Configuration
                        auditPolicy:
                            apiVersion: audit.k8s.io/v1
                            kind: Policy
                            rules:
                                - level: Metadata
                "#,
            ),
        },
        Case {
            name: "auditPolicy is replaced wholesale (merge:replace)",
            contract: V11,
            config: CLUSTER_API,
            patches: &[
                "cluster:\n  apiServer:\n    auditPolicy:\n      apiVersion: audit.k8s.io/v1\n      kind: Policy\n      rules:\n        - level: None\n",
            ],
            expect: Expect::Yaml(
                r#"
                cluster:
                    apiServer:
                        admissionControl:
                            - name: PodSecurity
                              configuration:
                                apiVersion: pod-security.admission.config.k8s.io/v1alpha1
                                defaults:
                                    audit: restricted
                                    enforce: baseline
                                kind: PodSecurityConfiguration
                        auditPolicy:
                            apiVersion: audit.k8s.io/v1
                            kind: Policy
                            rules:
                                - level: None
                "#,
            ),
        },
        Case {
            name: "v1.12 extraArgs are a string map merged per key",
            contract: V12,
            config: "machine:\n  type: worker\n  kubelet:\n    extraArgs:\n      rotate-server-certificates: \"true\"\n",
            patches: &["machine:\n  kubelet:\n    extraArgs:\n      max-pods: 250\n"],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: worker
                    kubelet:
                        extraArgs:
                            max-pods: "250"
                            rotate-server-certificates: "true"
                "#,
            ),
        },
        Case {
            name: "v1.13 extraArgs (Args) replace per key, lists included",
            contract: V13,
            config: "machine:\n  type: worker\n  kubelet:\n    extraArgs:\n      feature-gates: [A=true, B=true]\n      v: \"2\"\n",
            patches: &["machine:\n  kubelet:\n    extraArgs:\n      feature-gates: C=true\n      node-labels: [a=b]\n"],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: worker
                    kubelet:
                        extraArgs:
                            feature-gates: C=true
                            node-labels:
                                - a=b
                            v: "2"
                "#,
            ),
        },
        Case {
            name: "v1.12 rejects list-valued extraArgs",
            contract: V12,
            config: "machine:\n  type: worker\n",
            patches: &["machine:\n  kubelet:\n    extraArgs:\n      feature-gates: [A=true]\n"],
            expect: Expect::Error(&[
                "patch patch1.yaml does not fit Talos v1.12",
                "patch1.yaml:4:22: v1alpha1 document, machine.kubelet.extraArgs.feature-gates: expected a string, found a sequence",
            ]),
        },
        Case {
            name: "free-form extraConfig: maps merge, lists append",
            contract: V11,
            config: "machine:\n  type: worker\n  kubelet:\n    extraConfig:\n      maxPods: 110\n      evictionHard:\n        memory.available: 100Mi\n      allowedUnsafeSysctls: [net.core.somaxconn]\n",
            patches: &[
                "machine:\n  kubelet:\n    extraConfig:\n      maxPods: 250\n      evictionHard:\n        nodefs.available: 10%\n      allowedUnsafeSysctls: [net.ipv4.ip_forward]\n      serializeImagePulls: false\n",
            ],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: worker
                    kubelet:
                        extraConfig:
                            allowedUnsafeSysctls:
                                - net.core.somaxconn
                                - net.ipv4.ip_forward
                            evictionHard:
                                memory.available: 100Mi
                                nodefs.available: 10%
                            maxPods: 250
                            serializeImagePulls: false
                "#,
            ),
        },
        Case {
            name: "free-form values of different types do not merge",
            contract: V11,
            config: "machine:\n  type: worker\n  kubelet:\n    extraConfig:\n      maxPods: 110\n",
            patches: &["machine:\n  kubelet:\n    extraConfig:\n      maxPods: many\n"],
            expect: Expect::Error(&[
                "patch1.yaml:4:16: v1alpha1 document, machine.kubelet.extraConfig.maxPods: merge type mismatch left int right string",
            ]),
        },
        Case {
            name: "$patch: delete removes a map key",
            contract: V11,
            config: BASE,
            patches: &["machine:\n  sysctls:\n    net.core.somaxconn:\n      $patch: delete\n"],
            expect: Expect::Yaml(
                r#"
                version: v1alpha1
                machine:
                    type: controlplane
                    certSANs:
                        - a.example
                    install:
                        disk: /dev/sda
                        wipe: true
                    nodeLabels:
                        role: db
                cluster:
                    network:
                        dnsDomain: cluster.local
                        podSubnets:
                            - 10.244.0.0/16
                        serviceSubnets:
                            - 10.96.0.0/12
                "#,
            ),
        },
        Case {
            name: "$patch: delete removes a struct field, the rest of the patch merges",
            contract: V12,
            config: BASE,
            patches: &["machine:\n  install:\n    $patch: delete\n  nodeLabels:\n    zone: fsn1\n"],
            expect: Expect::Yaml(
                r#"
                version: v1alpha1
                machine:
                    type: controlplane
                    certSANs:
                        - a.example
                    sysctls:
                        net.core.somaxconn: "65535"
                    nodeLabels:
                        role: db
                        zone: fsn1
                cluster:
                    network:
                        dnsDomain: cluster.local
                        podSubnets:
                            - 10.244.0.0/16
                        serviceSubnets:
                            - 10.96.0.0/12
                "#,
            ),
        },
        Case {
            name: "$patch: delete removes a list element by its first key",
            contract: V11,
            config: NETWORK,
            patches: &["machine:\n  network:\n    interfaces:\n      - interface: eth0\n        $patch: delete\n"],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: controlplane
                    network:
                        interfaces:
                            - deviceSelector:
                                busPath: "0000:01:00.0"
                              dhcp: true
                        kubespan:
                            mtu: 1420
                "#,
            ),
        },
        Case {
            name: "delete then add in one patch replaces a list element",
            contract: V11,
            config: NETWORK,
            patches: &[
                "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        $patch: delete\n      - interface: eth0\n        dhcp: true\n",
            ],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: controlplane
                    network:
                        interfaces:
                            - deviceSelector:
                                busPath: "0000:01:00.0"
                              dhcp: true
                            - interface: eth0
                              dhcp: true
                        kubespan:
                            mtu: 1420
                "#,
            ),
        },
        Case {
            name: "$patch: delete inside a list element (an interface's vlans) is refused",
            contract: V11,
            config: "machine:\n  type: worker\n  network:\n    interfaces:\n      - interface: eth0\n        vlans:\n          - vlanId: 10\n",
            patches: &[
                "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        vlans:\n          - vlanId: 10\n            $patch: delete\n",
            ],
            expect: Expect::Error(&[
                "patch1.yaml:6:13: v1alpha1 document, machine.network.interfaces[0].vlans[0]: cannot delete an inner key",
            ]),
        },
        Case {
            name: "$patch: delete by a numeric first key fails with lookup failed, as in Talos",
            contract: V12,
            config: "apiVersion: v1alpha1\nkind: LinkConfig\nname: eth0\naddresses:\n  - address: 10.0.0.2/24\n    routePriority: 5\n",
            patches: &[
                "apiVersion: v1alpha1\nkind: LinkConfig\nname: eth0\naddresses:\n  - routePriority: 5\n    $patch: delete\n",
            ],
            expect: Expect::Error(&[
                "patch1.yaml:5:5: LinkConfig/eth0 document, addresses: $patch: delete: lookup failed: Talos matches list elements by a text field, and routePriority is typed integer (uint32)",
            ]),
        },
        Case {
            name: "$patch: delete of a list element that is not there fails with lookup failed",
            contract: V12,
            config: "apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: nut\nconfigFiles:\n  - content: a\n    mountPath: /a\n",
            patches: &[
                "apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: nut\nconfigFiles:\n  - mountPath: /b\n    $patch: delete\n",
            ],
            expect: Expect::Error(&[
                "patch1.yaml:5:5: ExtensionServiceConfig/nut document, configFiles: $patch: delete: lookup failed: no element of configFiles has mountPath \"/b\"",
            ]),
        },
        Case {
            name: "$patch: delete of an absent key fails with lookup failed and the patch position",
            contract: V11,
            config: BASE,
            patches: &["machine:\n  sysctls:\n    vm.swappiness:\n      $patch: delete\n"],
            expect: Expect::Error(&[
                "patch1.yaml:3:5: v1alpha1 document, machine.sysctls[\"vm.swappiness\"]: $patch: delete: lookup failed",
            ]),
        },
        Case {
            name: "$patch: delete below a list element is refused",
            contract: V11,
            config: NETWORK,
            patches: &[
                "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        vlans:\n          $patch: delete\n",
            ],
            expect: Expect::Error(&[
                "patch1.yaml:5:9: v1alpha1 document, machine.network.interfaces[0].vlans: cannot delete an inner key",
            ]),
        },
        Case {
            name: "a whole document is deleted by apiVersion, kind and $patch",
            contract: V12,
            config: MULTIDOC,
            patches: &["apiVersion: v1alpha1\nkind: HostnameConfig\n$patch: delete\n"],
            expect: Expect::Yaml(
                r#"
                version: v1alpha1
                machine:
                    type: worker
                    sysctls:
                        a.b: "1"
                ---
                apiVersion: v1alpha1
                kind: RegistryMirrorConfig
                name: docker.io
                endpoints:
                    - url: https://mirror-a.example
                "#,
            ),
        },
        Case {
            name: "deleting a document that is not there fails",
            contract: V12,
            config: MULTIDOC,
            patches: &["apiVersion: v1alpha1\nkind: RegistryMirrorConfig\nname: ghcr.io\n$patch: delete\n"],
            expect: Expect::Error(&[
                "RegistryMirrorConfig/ghcr.io document: $patch: delete of a whole document: lookup failed",
            ]),
        },
        Case {
            name: "the legacy document root cannot be deleted",
            contract: V12,
            config: MULTIDOC,
            patches: &["version: v1alpha1\n$patch: delete\n"],
            expect: Expect::Error(&[
                "patch1.yaml:1:1: not a valid patch: can't delete the root of the legacy document",
            ]),
        },
        Case {
            name: "multi-document patch: merge into a document by kind, a named one by name, add a new one",
            contract: V12,
            config: MULTIDOC,
            patches: &[r#"
                apiVersion: v1alpha1
                kind: HostnameConfig
                auto: off
                hostname: w1
                ---
                apiVersion: v1alpha1
                kind: RegistryMirrorConfig
                name: docker.io
                endpoints:
                  - url: https://mirror-b.example
                skipFallback: true
                ---
                apiVersion: v1alpha1
                kind: TimeSyncConfig
                ntp:
                  servers: [ntp1.hetzner.de]
                bootTimeout: 2m
                ---
                machine:
                  sysctls:
                    c.d: 2
            "#],
            expect: Expect::Yaml(
                r#"
                version: v1alpha1
                machine:
                    type: worker
                    sysctls:
                        a.b: "1"
                        c.d: "2"
                ---
                apiVersion: v1alpha1
                kind: RegistryMirrorConfig
                name: docker.io
                endpoints:
                    - url: https://mirror-a.example
                    - url: https://mirror-b.example
                skipFallback: true
                ---
                apiVersion: v1alpha1
                kind: HostnameConfig
                auto: "off"
                hostname: w1
                ---
                apiVersion: v1alpha1
                kind: TimeSyncConfig
                bootTimeout: 2m0s
                ntp:
                    servers:
                        - ntp1.hetzner.de
                "#,
            ),
        },
        Case {
            name: "JSON patch (JSON form): add, replace, remove",
            contract: V11,
            config: BASE,
            patches: &[r#"[
                {"op": "add", "path": "/machine/install/image", "value": "factory.talos.dev/installer/x:v1.11.1"},
                {"op": "replace", "path": "/machine/install/disk", "value": "/dev/vda"},
                {"op": "remove", "path": "/machine/nodeLabels/role"},
                {"op": "add", "path": "/machine/certSANs/-", "value": "b.example"},
                {"op": "add", "path": "/machine/certSANs/0", "value": "0.example"}
            ]"#],
            expect: Expect::Yaml(
                r#"
                version: v1alpha1
                machine:
                    type: controlplane
                    certSANs:
                        - 0.example
                        - a.example
                        - b.example
                    install:
                        disk: /dev/vda
                        image: factory.talos.dev/installer/x:v1.11.1
                        wipe: true
                    sysctls:
                        net.core.somaxconn: "65535"
                cluster:
                    network:
                        dnsDomain: cluster.local
                        podSubnets:
                            - 10.244.0.0/16
                        serviceSubnets:
                            - 10.96.0.0/12
                "#,
            ),
        },
        Case {
            name: "JSON patch (YAML form): move, copy, test, pointer escapes",
            contract: V11,
            config: "machine:\n  type: worker\n  nodeLabels:\n    topology.kubernetes.io/zone: fsn1\n",
            patches: &[r#"
                - op: test
                  path: /machine/nodeLabels/topology.kubernetes.io~1zone
                  value: fsn1
                - op: copy
                  from: /machine/nodeLabels/topology.kubernetes.io~1zone
                  path: /machine/nodeLabels/zone
                - op: move
                  from: /machine/nodeLabels
                  path: /machine/nodeAnnotations
            "#],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: worker
                    nodeAnnotations:
                        topology.kubernetes.io/zone: fsn1
                        zone: fsn1
                "#,
            ),
        },
        Case {
            name: "JSON patch test failure and missing paths are errors with the op position",
            contract: V11,
            config: BASE,
            patches: &["- op: test\n  path: /machine/type\n  value: worker\n"],
            expect: Expect::Error(&[
                "patch1.yaml:1:3: v1alpha1 document, machine.type: test /machine/type: test failed",
            ]),
        },
        Case {
            name: "JSON patch to a missing parent fails",
            contract: V11,
            config: BASE,
            patches: &["[{\"op\": \"add\", \"path\": \"/machine/kubelet/extraArgs/a\", \"value\": \"b\"}]"],
            expect: Expect::Error(&[
                "add /machine/kubelet/extraArgs/a: the parent /machine/kubelet/extraArgs does not exist",
            ]),
        },
        Case {
            name: "JSON patch on a multi-document config applies to v1alpha1 and warns",
            contract: V12,
            config: MULTIDOC,
            patches: &["- op: add\n  path: /machine/sysctls/e.f\n  value: 1\n"],
            expect: Expect::YamlWarning(
                r#"
                version: v1alpha1
                machine:
                    type: worker
                    sysctls:
                        a.b: "1"
                        e.f: "1"
                ---
                apiVersion: v1alpha1
                kind: RegistryMirrorConfig
                name: docker.io
                endpoints:
                    - url: https://mirror-a.example
                ---
                apiVersion: v1alpha1
                kind: HostnameConfig
                auto: stable
                "#,
                "talosctl refuses JSON patches on multi-document configs",
            ),
        },
        Case {
            name: "a JSON patch result must still decode strictly",
            contract: V11,
            config: BASE,
            patches: &["- op: add\n  path: /machine/install/dsk\n  value: /dev/vda\n"],
            expect: Expect::Error(&["machine.install.dsk: unknown key \"dsk\" (did you mean \"disk\"?)"]),
        },
        Case {
            name: "unknown keys in a patch are errors with position and suggestion",
            contract: V11,
            config: BASE,
            patches: &["machine:\n  kubelet:\n    extraArgz:\n      a: b\n"],
            expect: Expect::Error(&[
                "patch patch1.yaml does not fit Talos v1.11",
                "patch1.yaml:3:5: v1alpha1 document, machine.kubelet.extraArgz: unknown key \"extraArgz\" (did you mean \"extraArgs\"?)",
            ]),
        },
        Case {
            name: "a kind the line does not know is refused",
            contract: V11,
            config: BASE,
            patches: &["apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: x\n"],
            expect: Expect::Error(&[
                "\"HostnameConfig\" \"v1alpha1\": not registered (HostnameConfig needs Talos v1.12 or later",
            ]),
        },
        Case {
            name: "new fields land in Go struct order, durations and file modes in Go form",
            contract: V11,
            config: BASE,
            patches: &[
                "machine:\n  install:\n    image: ghcr.io/siderolabs/installer:v1.11.1\n  time:\n    bootTimeout: 90s\n  kubelet:\n    image: ghcr.io/siderolabs/kubelet:v1.34.0\n  files:\n    - path: /var/etc/x\n      op: create\n      content: hi\n      permissions: 0644\n",
            ],
            expect: Expect::Yaml(
                r#"
                version: v1alpha1
                machine:
                    type: controlplane
                    certSANs:
                        - a.example
                    kubelet:
                        image: ghcr.io/siderolabs/kubelet:v1.34.0
                    install:
                        disk: /dev/sda
                        image: ghcr.io/siderolabs/installer:v1.11.1
                        wipe: true
                    files:
                        - content: hi
                          permissions: 0o644
                          path: /var/etc/x
                          op: create
                    time:
                        bootTimeout: 1m30s
                    sysctls:
                        net.core.somaxconn: "65535"
                    nodeLabels:
                        role: db
                cluster:
                    network:
                        dnsDomain: cluster.local
                        podSubnets:
                            - 10.244.0.0/16
                        serviceSubnets:
                            - 10.96.0.0/12
                "#,
            ),
        },
        Case {
            name: "ExtensionServiceConfig configFiles merge by mountPath",
            contract: V12,
            config: "apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: nut\nconfigFiles:\n  - content: old\n    mountPath: /a\nenvironment: [A=1]\n",
            patches: &[
                "apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: nut\nconfigFiles:\n  - content: new\n    mountPath: /a\n  - content: b\n    mountPath: /b\nenvironment: [B=2]\n",
            ],
            expect: Expect::Yaml(
                r#"
                apiVersion: v1alpha1
                kind: ExtensionServiceConfig
                name: nut
                configFiles:
                    - content: new
                      mountPath: /a
                    - content: b
                      mountPath: /b
                environment:
                    - A=1
                    - B=2
                "#,
            ),
        },
        Case {
            name: "NetworkRuleConfig ingress and ports are replaced (merge:replace)",
            contract: V12,
            config: "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: api\nportSelector:\n  ports: [50000]\n  protocol: tcp\ningress:\n  - subnet: 10.0.0.0/8\n",
            patches: &[
                "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: api\nportSelector:\n  ports: [6443, \"50000-50001\"]\ningress:\n  - subnet: 203.0.113.7/32\n",
            ],
            expect: Expect::Yaml(
                r#"
                apiVersion: v1alpha1
                kind: NetworkRuleConfig
                name: api
                portSelector:
                    ports:
                        - 6443
                        - 50000-50001
                    protocol: tcp
                ingress:
                    - subnet: 203.0.113.7/32
                "#,
            ),
        },
        Case {
            name: "patches apply in order",
            contract: V11,
            config: "machine:\n  type: worker\n",
            patches: &[
                "machine:\n  sysctls:\n    a: \"1\"\n",
                "machine:\n  sysctls:\n    a: \"2\"\n",
                "machine:\n  sysctls:\n    a:\n      $patch: delete\n    b: \"3\"\n",
            ],
            expect: Expect::Yaml(
                r#"
                machine:
                    type: worker
                    sysctls:
                        b: "3"
                "#,
            ),
        },
    ]
}

#[test]
fn patch_table() {
    let cases = cases();
    assert!(cases.len() >= 30, "the table has {} cases", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| check(case).err().map(|e| format!("### {}\n{e}", case.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn config_patch_argument_forms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let at_file = dir.path().join("at.yaml");
    std::fs::write(&at_file, "machine:\n  sysctls:\n    from.at: \"1\"\n").expect("write");
    let bare = dir.path().join("bare.yaml");
    std::fs::write(&bare, "machine:\n  sysctls:\n    from.bare: \"1\"\n").expect("write");
    let args = vec![
        format!("@{}", at_file.display()),
        bare.display().to_string(),
        "machine:\n  sysctls:\n    from.inline: \"1\"\n".to_string(),
        r#"[{"op": "add", "path": "/machine/sysctls/json.one", "value": "1"}]"#.to_string(),
        "- op: add\n  path: /machine/sysctls/json.two\n  value: \"2\"\n".to_string(),
        "{machine: {sysctls: {flow.style: \"1\"}}}".to_string(),
    ];
    let patches = load_patches(&args).expect("every form loads");
    let names: Vec<&str> = patches.iter().map(Patch::name).collect();
    assert_eq!(
        names,
        [
            at_file.display().to_string().as_str(),
            bare.display().to_string().as_str(),
            "--config-patch #3",
            "--config-patch #4 + --config-patch #5",
            "--config-patch #6",
        ],
        "consecutive JSON patches are joined into one"
    );
    assert_eq!(patches[3].operations().len(), 2);
    let config = ConfigDocuments::parse("machine:\n  type: worker\n").expect("config");
    let (patched, warnings) = apply(&config, &patches, &V11).expect("patches apply");
    assert!(warnings.is_empty());
    assert_eq!(
        patched.to_yaml(),
        y(r#"
        machine:
            type: worker
            sysctls:
                flow.style: "1"
                from.at: "1"
                from.bare: "1"
                from.inline: "1"
                json.one: "1"
                json.two: "2"
        "#)
    );

    let missing = load_patches(&["no-such-patch.yaml".to_string()]).expect_err("missing file");
    assert_eq!(missing.to_string(), "cannot read patch file no-such-patch.yaml");
    assert!(
        std::error::Error::source(&missing).is_some(),
        "the I/O error is the cause"
    );
}

#[test]
fn load_errors_name_the_patch_and_prefer_the_json_error_for_lists() {
    let load = |text: &str| {
        load_patch(PatchSource::Inline {
            name: "p.yaml".into(),
            text: text.into(),
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    assert_eq!(
        load("[{\"op\": \"frobnicate\", \"path\": \"/a\"}]"),
        Err("p.yaml:1:2: not a valid patch: operation 0: unknown op \"frobnicate\" (expected add, remove, replace, move, copy or test)".into())
    );
    assert_eq!(
        load("- op: add\n  path: /machine/install/disk\n"),
        Err("p.yaml:1:3: not a valid patch: operation 0: add: missing \"value\"".into())
    );
    assert_eq!(
        load("foo: bar\n"),
        Err("p.yaml:1:1: not a valid patch: line 1: missing kind (a typed document needs apiVersion and kind; the v1alpha1 document has machine/cluster)".into())
    );
    let yaml_error = load("machine: [\n").expect_err("bad YAML");
    assert!(
        yaml_error.starts_with("p.yaml:2:1: not a valid patch: invalid YAML:"),
        "{yaml_error}"
    );
    assert_eq!(load(""), Ok(()), "an empty patch is a no-op strategic patch");
}

#[test]
fn cluster_yaml_sysctls_merge_after_patches_as_strings() {
    let config =
        ConfigDocuments::parse("machine:\n  type: worker\n  sysctls:\n    vm.swappiness: \"10\"\n").expect("config");
    let mut sysctls = BTreeMap::new();
    sysctls.insert("net.ipv4.ip_forward".to_string(), "1".to_string());
    sysctls.insert("vm.swappiness".to_string(), "1".to_string());
    for contract in [V10, V11, V12, V13] {
        let patched = apply_sysctls(&config, &sysctls, &contract).expect("sysctls merge");
        assert_eq!(
            patched.to_yaml(),
            y(r#"
            machine:
                type: worker
                sysctls:
                    net.ipv4.ip_forward: "1"
                    vm.swappiness: "1"
            "#),
            "{contract}"
        );
    }
    let empty: BTreeMap<String, String> = BTreeMap::new();
    assert_eq!(apply_sysctls(&config, &empty, &V12).expect("no-op"), config);
}
