//! The legacy `v1alpha1` document (`talos@*:pkg/machinery/config/types/v1alpha1/
//! v1alpha1_types.go`), field by field in Go declaration order.
//!
//! Version gates come from the published schemas (a field first documented in v1.12 is
//! declared `since(1, 12)`); fields Talos still decodes but no longer documents are
//! `hidden_since`, fields it never documents (`docgen:nodoc`) are `hidden`. No Go field of
//! this document disappears between v1.10 and v1.13: deprecated sections keep decoding.

use std::sync::Arc;

use super::IntKind::{I64, U8, U16, U32, U64};
use super::{
    Field, ListMerge, StructShape, Ty, boolean, f, int, list, list_by, map, p, string, string_map, strings, strukt,
};

/// The root of the v1alpha1 document.
pub(super) fn config() -> Arc<StructShape> {
    Arc::new(StructShape::new(
        "v1alpha1.Config",
        vec![
            f("version", string()).keep_empty(),
            p("debug", boolean()),
            p("persist", boolean()).hidden(),
            p("machine", machine()).keep_empty(),
            p("cluster", cluster()).keep_empty(),
        ],
    ))
}

/// `x509.PEMEncodedCertificateAndKey`: base64 PEM `crt` and `key`.
fn cert_and_key() -> Ty {
    strukt(
        "x509.PEMEncodedCertificateAndKey",
        vec![
            f("crt", Ty::Base64).keep_empty(),
            f("key", Ty::Base64).keep_empty().secret(),
        ],
    )
}

/// `x509.PEMEncodedCertificate`: base64 PEM `crt`.
fn cert() -> Ty {
    strukt("x509.PEMEncodedCertificate", vec![f("crt", Ty::Base64).keep_empty()])
}

/// `extraArgs`: `map[string]string` before v1.13, `Args` (string or list per key) from it.
fn extra_args() -> [Field; 2] {
    [
        f("extraArgs", string_map()).until(1, 13),
        f("extraArgs", Ty::Args).since(1, 13),
    ]
}

fn machine() -> Ty {
    strukt(
        "v1alpha1.MachineConfig",
        vec![
            f("type", string()).keep_empty(),
            f("token", string()).keep_empty().secret(),
            p("ca", cert_and_key()),
            f("acceptedCAs", list(cert())),
            f("certSANs", strings()).keep_empty(),
            p("controlPlane", machine_control_plane()),
            p("kubelet", kubelet()),
            f("pods", list(Ty::Unstructured)),
            p("network", network()).hidden_since(1, 13),
            f("disks", list(machine_disk())).hidden(),
            p("install", install()),
            f("files", list(machine_file())),
            f("env", string_map()).hidden_since(1, 13),
            p("time", time()).hidden_since(1, 12),
            f("sysctls", string_map()),
            f("sysfs", string_map()),
            f("registries", registries()).hidden_since(1, 12),
            p("systemDiskEncryption", system_disk_encryption()).hidden_since(1, 11),
            p("features", features()),
            p("udev", strukt("v1alpha1.UdevConfig", vec![f("rules", strings())])),
            p("logging", logging()),
            p("kernel", kernel()),
            f(
                "seccompProfiles",
                list(strukt(
                    "v1alpha1.MachineSeccompProfile",
                    vec![
                        f("name", string()).keep_empty(),
                        f("value", Ty::Unstructured).keep_empty(),
                    ],
                )),
            ),
            f("baseRuntimeSpecOverrides", Ty::Unstructured),
            f("nodeLabels", string_map()),
            f("nodeAnnotations", string_map()),
            f("nodeTaints", string_map()),
        ],
    )
}

fn machine_control_plane() -> Ty {
    let disabled = || strukt("v1alpha1.MachineComponentConfig", vec![p("disabled", boolean())]);
    strukt(
        "v1alpha1.MachineControlPlaneConfig",
        vec![p("controllerManager", disabled()), p("scheduler", disabled())],
    )
}

fn kubelet() -> Ty {
    let [extra_args_old, extra_args_new] = extra_args();
    strukt(
        "v1alpha1.KubeletConfig",
        vec![
            f("image", string()),
            f("clusterDNS", strings()),
            extra_args_old,
            extra_args_new,
            f("extraMounts", list(extra_mount())),
            f("extraConfig", Ty::Unstructured),
            f("credentialProviderConfig", Ty::Unstructured),
            p("defaultRuntimeSeccompProfileEnabled", boolean()),
            p("registerWithFQDN", boolean()),
            p(
                "nodeIP",
                strukt("v1alpha1.KubeletNodeIPConfig", vec![f("validSubnets", strings())]),
            ),
            p("skipNodeRegistration", boolean()),
            p("disableManifestsDirectory", boolean()),
        ],
    )
}

fn extra_mount() -> Ty {
    let id_mapping = || {
        strukt(
            "v1alpha1.LinuxIDMapping",
            vec![
                f("containerID", int(U32)).keep_empty(),
                f("hostID", int(U32)).keep_empty(),
                f("size", int(U32)).keep_empty(),
            ],
        )
    };
    strukt(
        "v1alpha1.ExtraMount",
        vec![
            f("destination", string()).keep_empty(),
            f("type", string()),
            f("source", string()),
            f("options", strings()),
            f("uidMappings", list(id_mapping())),
            f("gidMappings", list(id_mapping())),
        ],
    )
}

fn network() -> Ty {
    strukt(
        "v1alpha1.NetworkConfig",
        vec![
            f("hostname", string()).hidden_since(1, 12),
            f("interfaces", Ty::List(Box::new(device()), ListMerge::Devices)).hidden_since(1, 12),
            f("nameservers", strings()).hidden_since(1, 12),
            f("searchDomains", strings()).hidden_since(1, 12),
            f(
                "extraHostEntries",
                list(strukt(
                    "v1alpha1.ExtraHost",
                    vec![f("ip", string()).keep_empty(), f("aliases", strings()).keep_empty()],
                )),
            )
            .hidden_since(1, 12),
            p("kubespan", network_kubespan()).hidden_since(1, 13),
            p("disableSearchDomain", boolean()).hidden_since(1, 12),
        ],
    )
}

/// `NetworkDeviceSelector` (also used in bonds).
pub(super) fn device_selector() -> Ty {
    strukt(
        "v1alpha1.NetworkDeviceSelector",
        vec![
            f("busPath", string()),
            f("hardwareAddr", string()),
            f("permanentAddr", string()),
            f("pciID", string()),
            f("driver", string()),
            p("physical", boolean()),
        ],
    )
}

fn device() -> Ty {
    strukt(
        "v1alpha1.Device",
        vec![
            f("interface", string()),
            p("deviceSelector", device_selector()),
            f("addresses", strings()),
            f("cidr", string()).hidden(),
            f("routes", list(route())),
            p("bond", bond()),
            p("bridge", bridge()),
            p("bridgePort", strukt("v1alpha1.BridgePort", vec![f("master", string())])),
            f("vlans", list_by(vlan(), "vlanId")),
            f("mtu", int(I64)),
            p("dhcp", boolean()),
            p("ignore", boolean()),
            p("dummy", boolean()),
            p("dhcpOptions", dhcp_options()),
            p("wireguard", wireguard()),
            p("vip", vip()),
        ],
    )
}

fn route() -> Ty {
    strukt(
        "v1alpha1.Route",
        vec![
            f("network", string()).keep_empty(),
            f("gateway", string()).keep_empty(),
            f("source", string()),
            f("metric", int(U32)),
            f("mtu", int(U32)),
        ],
    )
}

fn bond() -> Ty {
    let mut fields = vec![
        f("interfaces", strings()).keep_empty(),
        f("deviceSelectors", list(device_selector())),
        f("arpIPTarget", strings()),
        f("mode", string()).keep_empty(),
    ];
    for name in [
        "xmitHashPolicy",
        "lacpRate",
        "adActorSystem",
        "arpValidate",
        "arpAllTargets",
        "primary",
        "primaryReselect",
        "failOverMac",
        "adSelect",
    ] {
        fields.push(f(name, string()));
    }
    for name in [
        "miimon",
        "updelay",
        "downdelay",
        "arpInterval",
        "resendIgmp",
        "minLinks",
        "lpInterval",
        "packetsPerSlave",
    ] {
        fields.push(f(name, int(U32)));
    }
    for name in ["numPeerNotif", "tlbDynamicLb", "allSlavesActive"] {
        fields.push(f(name, int(U8)));
    }
    fields.push(p("useCarrier", boolean()));
    fields.push(f("adActorSysPrio", int(U16)));
    fields.push(f("adUserPortKey", int(U16)));
    fields.push(f("peerNotifyDelay", int(U32)));
    strukt("v1alpha1.Bond", fields)
}

fn bridge() -> Ty {
    strukt(
        "v1alpha1.Bridge",
        vec![
            f("interfaces", strings()).keep_empty(),
            p("stp", strukt("v1alpha1.STP", vec![p("enabled", boolean())])),
            p(
                "vlan",
                strukt("v1alpha1.BridgeVLAN", vec![p("vlanFiltering", boolean())]),
            ),
        ],
    )
}

fn vlan() -> Ty {
    strukt(
        "v1alpha1.Vlan",
        vec![
            f("addresses", strings()),
            f("cidr", string()).hidden(),
            f("routes", list(route())).keep_empty(),
            p("dhcp", boolean()),
            f("vlanId", int(U16)).keep_empty(),
            f("mtu", int(U32)),
            p("vip", vip()),
            p("dhcpOptions", dhcp_options()),
        ],
    )
}

fn dhcp_options() -> Ty {
    strukt(
        "v1alpha1.DHCPOptions",
        vec![
            f("routeMetric", int(U32)).keep_empty(),
            p("ipv4", boolean()),
            p("ipv6", boolean()),
            f("duidv6", string()),
        ],
    )
}

fn wireguard() -> Ty {
    strukt(
        "v1alpha1.DeviceWireguardConfig",
        vec![
            f("privateKey", string()).secret(),
            f("listenPort", int(I64)),
            f("firewallMark", int(I64)),
            f(
                "peers",
                list(strukt(
                    "v1alpha1.DeviceWireguardPeer",
                    vec![
                        f("publicKey", string()),
                        f("endpoint", string()),
                        f("persistentKeepaliveInterval", Ty::Duration),
                        f("allowedIPs", strings()),
                    ],
                )),
            ),
        ],
    )
}

fn vip() -> Ty {
    let token = |name| strukt(name, vec![f("apiToken", string()).keep_empty().secret()]);
    strukt(
        "v1alpha1.DeviceVIPConfig",
        vec![
            f("ip", string()),
            p("equinixMetal", token("v1alpha1.VIPEquinixMetalConfig")),
            p("hcloud", token("v1alpha1.VIPHCloudConfig")),
        ],
    )
}

fn network_kubespan() -> Ty {
    strukt("v1alpha1.NetworkKubeSpan", kubespan_fields("v1alpha1.KubeSpanFilters"))
}

/// KubeSpan's settings, shared by `machine.network.kubespan` and the v1.13+
/// `KubeSpanConfig` document; `filters` is the Go name of the filters struct.
pub(super) fn kubespan_fields(filters: &'static str) -> Vec<Field> {
    vec![
        p("enabled", boolean()),
        p("advertiseKubernetesNetworks", boolean()),
        p("allowDownPeerBypass", boolean()),
        p("harvestExtraEndpoints", boolean()),
        p("mtu", int(U32)),
        p(
            "filters",
            strukt(
                filters,
                vec![
                    f("endpoints", strings()),
                    f("excludeAdvertisedNetworks", strings()).since(1, 12),
                ],
            ),
        ),
    ]
}

fn install() -> Ty {
    strukt(
        "v1alpha1.InstallConfig",
        vec![
            f("disk", string()),
            p("diskSelector", install_disk_selector()),
            f("extraKernelArgs", strings()).hidden_since(1, 12),
            f("image", string()),
            f(
                "extensions",
                list(strukt(
                    "v1alpha1.InstallExtensionConfig",
                    vec![f("image", string()).keep_empty()],
                )),
            )
            .hidden(),
            p("bootloader", boolean()).hidden(),
            p("wipe", boolean()).keep_empty(),
            p("legacyBIOSSupport", boolean()),
            p("grubUseUKICmdline", boolean()).since(1, 12),
        ],
    )
}

fn install_disk_selector() -> Ty {
    let mut fields = vec![p("size", string())];
    for name in ["name", "model", "serial", "modalias", "uuid", "wwid", "type", "busPath"] {
        fields.push(f(name, string()));
    }
    strukt("v1alpha1.InstallDiskSelector", fields)
}

fn machine_file() -> Ty {
    strukt(
        "v1alpha1.MachineFile",
        vec![
            f("content", string()).keep_empty(),
            f("permissions", Ty::FileMode).keep_empty(),
            f("path", string()).keep_empty(),
            f("op", string()).keep_empty(),
        ],
    )
}

fn machine_disk() -> Ty {
    strukt(
        "v1alpha1.MachineDisk",
        vec![
            f("device", string()),
            f(
                "partitions",
                list(strukt(
                    "v1alpha1.DiskPartition",
                    vec![f("size", Ty::ByteSize), f("mountpoint", string())],
                )),
            ),
        ],
    )
}

fn time() -> Ty {
    strukt(
        "v1alpha1.TimeConfig",
        vec![
            p("disabled", boolean()),
            f("servers", strings()),
            f("bootTimeout", Ty::Duration),
        ],
    )
}

fn registries() -> Ty {
    let mirror = strukt(
        "v1alpha1.RegistryMirrorConfig",
        vec![
            f("endpoints", strings()).keep_empty(),
            p("overridePath", boolean()),
            p("skipFallback", boolean()),
        ],
    );
    let tls = strukt(
        "v1alpha1.RegistryTLSConfig",
        vec![
            p("clientIdentity", cert_and_key()),
            f("ca", Ty::Base64),
            p("insecureSkipVerify", boolean()),
        ],
    );
    let auth = strukt(
        "v1alpha1.RegistryAuthConfig",
        vec![
            f("username", string()),
            f("password", string()).secret(),
            f("auth", string()).secret(),
            f("identityToken", string()).secret(),
        ],
    );
    strukt(
        "v1alpha1.RegistriesConfig",
        vec![
            f("mirrors", map(mirror)),
            f(
                "config",
                map(strukt("v1alpha1.RegistryConfig", vec![p("tls", tls), p("auth", auth)])),
            ),
        ],
    )
}

fn system_disk_encryption() -> Ty {
    let key = strukt(
        "v1alpha1.EncryptionKey",
        vec![
            p(
                "static",
                strukt("v1alpha1.EncryptionKeyStatic", vec![f("passphrase", string()).secret()]),
            ),
            p("nodeID", strukt("v1alpha1.EncryptionKeyNodeID", Vec::new())),
            p(
                "kms",
                strukt("v1alpha1.EncryptionKeyKMS", vec![f("endpoint", string()).keep_empty()]),
            ),
            f("slot", int(I64)).keep_empty(),
            p(
                "tpm",
                strukt(
                    "v1alpha1.EncryptionKeyTPM",
                    vec![p("checkSecurebootStatusOnEnroll", boolean())],
                ),
            ),
        ],
    );
    let encryption = || {
        strukt(
            "v1alpha1.EncryptionConfig",
            vec![
                f("provider", string()).keep_empty(),
                f("keys", list(key.clone())).keep_empty(),
                f("cipher", string()),
                f("keySize", int(U32)),
                f("blockSize", int(U64)),
                f("options", strings()),
            ],
        )
    };
    strukt(
        "v1alpha1.SystemDiskEncryptionConfig",
        vec![p("state", encryption()), p("ephemeral", encryption())],
    )
}

fn features() -> Ty {
    strukt(
        "v1alpha1.FeaturesConfig",
        vec![
            p("rbac", boolean()).hidden_since(1, 12),
            p("stableHostname", boolean()).hidden_since(1, 12),
            p(
                "kubernetesTalosAPIAccess",
                strukt(
                    "v1alpha1.KubernetesTalosAPIAccessConfig",
                    vec![
                        p("enabled", boolean()),
                        f("allowedRoles", strings()),
                        f("allowedKubernetesNamespaces", strings()),
                    ],
                ),
            ),
            p("apidCheckExtKeyUsage", boolean()).hidden_since(1, 12),
            p("diskQuotaSupport", boolean()),
            p(
                "kubePrism",
                strukt("v1alpha1.KubePrism", vec![p("enabled", boolean()), f("port", int(I64))]),
            ),
            p(
                "hostDNS",
                strukt(
                    "v1alpha1.HostDNSConfig",
                    vec![
                        p("enabled", boolean()),
                        p("forwardKubeDNSToHost", boolean()),
                        p("resolveMemberNames", boolean()),
                    ],
                ),
            ),
            p(
                "imageCache",
                strukt("v1alpha1.ImageCacheConfig", vec![p("localEnabled", boolean())]),
            ),
            f("nodeAddressSortAlgorithm", string()),
        ],
    )
}

fn logging() -> Ty {
    strukt(
        "v1alpha1.LoggingConfig",
        vec![
            f(
                "destinations",
                list(strukt(
                    "v1alpha1.LoggingDestination",
                    vec![
                        p("endpoint", string()).keep_empty(),
                        f("format", string()).keep_empty(),
                        f("extraTags", string_map()),
                    ],
                )),
            )
            .keep_empty(),
        ],
    )
}

fn kernel() -> Ty {
    strukt(
        "v1alpha1.KernelConfig",
        vec![f(
            "modules",
            list(strukt(
                "v1alpha1.KernelModuleConfig",
                vec![f("name", string()).keep_empty(), f("parameters", strings())],
            )),
        )],
    )
}

fn cluster() -> Ty {
    strukt(
        "v1alpha1.ClusterConfig",
        vec![
            f("id", string()),
            f("secret", string()).secret(),
            p(
                "controlPlane",
                strukt(
                    "v1alpha1.ControlPlaneConfig",
                    vec![p("endpoint", string()).keep_empty(), f("localAPIServerPort", int(I64))],
                ),
            )
            .keep_empty(),
            f("clusterName", string()),
            p("network", cluster_network()),
            f("token", string()).secret(),
            f("aescbcEncryptionSecret", string()).secret(),
            f("secretboxEncryptionSecret", string()).secret(),
            p("ca", cert_and_key()),
            f("acceptedCAs", list(cert())),
            p("aggregatorCA", cert_and_key()),
            p(
                "serviceAccount",
                strukt("x509.PEMEncodedKey", vec![f("key", Ty::Base64).keep_empty().secret()]),
            ),
            p("apiServer", api_server()),
            p("controllerManager", controller_manager()),
            p("proxy", proxy()),
            p("scheduler", scheduler()),
            p("discovery", discovery()),
            p("etcd", etcd()),
            p(
                "coreDNS",
                strukt("v1alpha1.CoreDNS", vec![p("disabled", boolean()), f("image", string())]),
            ),
            p(
                "externalCloudProvider",
                strukt(
                    "v1alpha1.ExternalCloudProviderConfig",
                    vec![p("enabled", boolean()), f("manifests", strings())],
                ),
            ),
            f("extraManifests", strings()),
            f("extraManifestHeaders", string_map()),
            f(
                "inlineManifests",
                list(strukt(
                    "v1alpha1.ClusterInlineManifest",
                    vec![f("name", string()).keep_empty(), f("contents", string()).keep_empty()],
                )),
            ),
            p(
                "adminKubeconfig",
                strukt("v1alpha1.AdminKubeconfigConfig", vec![f("certLifetime", Ty::Duration)]),
            ),
            p("allowSchedulingOnMasters", boolean()).hidden(),
            p("allowSchedulingOnControlPlanes", boolean()),
        ],
    )
}

fn cluster_network() -> Ty {
    strukt(
        "v1alpha1.ClusterNetworkConfig",
        vec![
            p(
                "cni",
                strukt(
                    "v1alpha1.CNIConfig",
                    vec![
                        f("name", string()),
                        f("urls", strings()),
                        p(
                            "flannel",
                            strukt(
                                "v1alpha1.FlannelCNIConfig",
                                vec![
                                    f("extraArgs", strings()),
                                    p("kubeNetworkPoliciesEnabled", boolean()).since(1, 13),
                                ],
                            ),
                        ),
                    ],
                ),
            ),
            f("dnsDomain", string()).keep_empty(),
            f("podSubnets", strings()).keep_empty().replace(),
            f("serviceSubnets", strings()).keep_empty().replace(),
        ],
    )
}

fn volume_mounts() -> Field {
    f(
        "extraVolumes",
        list(strukt(
            "v1alpha1.VolumeMountConfig",
            vec![
                f("hostPath", string()).keep_empty(),
                f("mountPath", string()).keep_empty(),
                f("readonly", boolean()),
            ],
        )),
    )
}

fn resources() -> Field {
    p(
        "resources",
        strukt(
            "v1alpha1.ResourcesConfig",
            vec![f("requests", Ty::Unstructured), f("limits", Ty::Unstructured)],
        ),
    )
}

fn api_server() -> Ty {
    let [extra_args_old, extra_args_new] = extra_args();
    strukt(
        "v1alpha1.APIServerConfig",
        vec![
            f("image", string()),
            extra_args_old,
            extra_args_new,
            volume_mounts(),
            f("env", string_map()),
            f("certSANs", strings()),
            p("disablePodSecurityPolicy", boolean()).hidden_since(1, 12),
            f(
                "admissionControl",
                list_by(
                    strukt(
                        "v1alpha1.AdmissionPluginConfig",
                        vec![
                            f("name", string()).keep_empty(),
                            f("configuration", Ty::Unstructured).keep_empty(),
                        ],
                    ),
                    "name",
                ),
            ),
            f("auditPolicy", Ty::Unstructured).replace(),
            resources(),
            f(
                "authorizationConfig",
                list(strukt(
                    "v1alpha1.AuthorizationConfigAuthorizerConfig",
                    vec![
                        f("type", string()).keep_empty(),
                        f("name", string()).keep_empty(),
                        f("webhook", Ty::Unstructured),
                    ],
                )),
            ),
        ],
    )
}

fn controller_manager() -> Ty {
    let [extra_args_old, extra_args_new] = extra_args();
    strukt(
        "v1alpha1.ControllerManagerConfig",
        vec![
            f("image", string()),
            extra_args_old,
            extra_args_new,
            volume_mounts(),
            f("env", string_map()),
            resources(),
        ],
    )
}

fn proxy() -> Ty {
    let [extra_args_old, extra_args_new] = extra_args();
    strukt(
        "v1alpha1.ProxyConfig",
        vec![
            p("disabled", boolean()),
            f("image", string()),
            f("mode", string()),
            extra_args_old,
            extra_args_new,
        ],
    )
}

fn scheduler() -> Ty {
    let [extra_args_old, extra_args_new] = extra_args();
    strukt(
        "v1alpha1.SchedulerConfig",
        vec![
            f("image", string()),
            extra_args_old,
            extra_args_new,
            volume_mounts(),
            f("env", string_map()),
            resources(),
            f("config", Ty::Unstructured),
        ],
    )
}

fn discovery() -> Ty {
    strukt(
        "v1alpha1.ClusterDiscoveryConfig",
        vec![
            p("enabled", boolean()),
            f(
                "registries",
                strukt(
                    "v1alpha1.DiscoveryRegistriesConfig",
                    vec![
                        f(
                            "kubernetes",
                            strukt("v1alpha1.RegistryKubernetesConfig", vec![p("disabled", boolean())]),
                        )
                        .keep_empty(),
                        f(
                            "service",
                            strukt(
                                "v1alpha1.RegistryServiceConfig",
                                vec![p("disabled", boolean()), f("endpoint", string())],
                            ),
                        )
                        .keep_empty(),
                    ],
                ),
            )
            .keep_empty(),
        ],
    )
}

fn etcd() -> Ty {
    let [extra_args_old, extra_args_new] = extra_args();
    strukt(
        "v1alpha1.EtcdConfig",
        vec![
            f("image", string()),
            p("ca", cert_and_key()).keep_empty(),
            extra_args_old,
            extra_args_new,
            f("subnet", string()).hidden(),
            f("advertisedSubnets", strings()),
            f("listenSubnets", strings()),
        ],
    )
}
