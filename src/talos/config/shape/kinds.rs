//! Typed document kinds (`talos@*:pkg/machinery/config/types/{block,cri,extensions,
//! hardware,network,runtime,security,siderolink}`), with the Talos line that registers
//! each (reference `talos.md` §B.6) and per-field gates where the published schemas show a
//! field appearing.
//!
//! Every kind Talos v1.10–v1.13 documents is declared, so strict decoding can accept any
//! of them; `SysctlConfig` (v1.14) is declared for the v1.14 contract. Other v1.14 kinds are
//! not, and are rejected as not registered.

use std::sync::Arc;

use super::IntKind::{I64, U8, U32, U64};
use super::{
    DocumentKind, Field, Line, StructShape, Ty, boolean, f, int, list, list_by, map, p, string, string_map, strings,
    strukt,
};

/// Every declared kind.
pub(super) fn all() -> Vec<DocumentKind> {
    vec![
        // v1.5 – v1.10
        doc(
            "SideroLinkConfig",
            (1, 5),
            false,
            vec![f("apiUrl", string()), f("uniqueToken", string()).secret()],
        ),
        doc("EventSinkConfig", (1, 5), false, vec![f("endpoint", string())]),
        doc("KmsgLogConfig", (1, 5), true, vec![f("url", string())]),
        doc(
            "NetworkDefaultActionConfig",
            (1, 6),
            false,
            vec![f("ingress", Ty::Enum(&["accept", "block"]))],
        ),
        doc("NetworkRuleConfig", (1, 6), true, network_rule()),
        doc("ExtensionServiceConfig", (1, 7), true, extension_service()),
        doc(
            "WatchdogTimerConfig",
            (1, 7),
            false,
            vec![f("device", string()), f("timeout", Ty::Duration)],
        ),
        doc(
            "KubeSpanEndpointsConfig",
            (1, 8),
            false,
            vec![f("extraAnnouncedEndpoints", strings())],
        ),
        doc("TrustedRootsConfig", (1, 8), true, vec![f("certificates", string())]),
        doc("VolumeConfig", (1, 8), true, volume_config()),
        doc("EthernetConfig", (1, 10), true, ethernet()),
        doc(
            "PCIDriverRebindConfig",
            (1, 10),
            true,
            vec![f("targetDriver", string())],
        ),
        doc("UserVolumeConfig", (1, 10), true, user_volume()),
        // v1.11
        doc(
            "ExistingVolumeConfig",
            (1, 11),
            true,
            vec![
                p(
                    "discovery",
                    strukt(
                        "block.VolumeDiscoverySpec",
                        vec![p("volumeSelector", selector("block.VolumeSelector"))],
                    ),
                ),
                p(
                    "mount",
                    strukt(
                        "block.ExistingMountSpec",
                        vec![
                            p("readOnly", boolean()),
                            p("disableAccessTime", boolean()).since(1, 13),
                            p("secure", boolean()).since(1, 13),
                        ],
                    ),
                ),
            ],
        ),
        doc(
            "RawVolumeConfig",
            (1, 11),
            true,
            vec![p("provisioning", provisioning()), p("encryption", encryption())],
        ),
        doc(
            "SwapVolumeConfig",
            (1, 11),
            true,
            vec![p("provisioning", provisioning()), p("encryption", encryption())],
        ),
        doc(
            "ZswapConfig",
            (1, 11),
            false,
            vec![p("maxPoolPercent", int(I64)), p("shrinkerEnabled", boolean())],
        ),
        // v1.12
        doc(
            "RegistryAuthConfig",
            (1, 12),
            true,
            vec![
                f("username", string()),
                f("password", string()).secret(),
                f("auth", string()).secret(),
                f("identityToken", string()).secret(),
            ],
        ),
        doc(
            "RegistryMirrorConfig",
            (1, 12),
            true,
            vec![
                f(
                    "endpoints",
                    list(strukt(
                        "cri.RegistryEndpoint",
                        vec![f("url", string()).keep_empty(), p("overridePath", boolean())],
                    )),
                ),
                p("skipFallback", boolean()),
            ],
        ),
        doc(
            "RegistryTLSConfig",
            (1, 12),
            true,
            vec![
                p(
                    "clientIdentity",
                    strukt(
                        "cri.CertificateAndKey",
                        vec![f("crt", string()), f("key", string()).secret()],
                    ),
                ),
                f("ca", string()),
                p("insecureSkipVerify", boolean()),
            ],
        ),
        doc("BondConfig", (1, 12), true, bond()),
        doc("BridgeConfig", (1, 12), true, bridge()),
        doc("DHCPv4Config", (1, 12), true, dhcp()),
        doc("DHCPv6Config", (1, 12), true, dhcp()),
        doc(
            "DummyLinkConfig",
            (1, 12),
            true,
            [vec![f("hardwareAddr", string())], link_common()].concat(),
        ),
        doc(
            "HCloudVIPConfig",
            (1, 12),
            true,
            vec![
                f("link", string()).keep_empty(),
                f("apiToken", string()).keep_empty().secret(),
            ],
        ),
        doc(
            "HostnameConfig",
            (1, 12),
            false,
            vec![
                p("auto", Ty::Enum(&["off", "stable", "talos-addr"])),
                f("hostname", string()),
            ],
        ),
        doc("Layer2VIPConfig", (1, 12), true, vec![f("link", string()).keep_empty()]),
        doc("LinkConfig", (1, 12), true, link_common()),
        doc(
            "LinkAliasConfig",
            (1, 12),
            true,
            vec![p("selector", selector("network.LinkSelector"))],
        ),
        doc("ResolverConfig", (1, 12), false, resolver()),
        doc("StaticHostConfig", (1, 12), true, vec![f("hostnames", strings())]),
        doc("TimeSyncConfig", (1, 12), false, time_sync()),
        doc("VLANConfig", (1, 12), true, vlan()),
        doc("WireguardConfig", (1, 12), true, wireguard()),
        doc(
            "OOMConfig",
            (1, 12),
            false,
            vec![
                f("triggerExpression", string()),
                f("cgroupRankingExpression", string()),
                p("strictCgroupClassOrdering", boolean()),
                f("sampleInterval", Ty::Duration),
            ],
        ),
        // v1.13
        doc("BlackholeRouteConfig", (1, 13), true, vec![f("metric", int(U32))]),
        doc(
            "ExternalVolumeConfig",
            (1, 13),
            true,
            vec![
                f("filesystemType", string()),
                p(
                    "mount",
                    strukt(
                        "block.ExternalMountSpec",
                        vec![
                            p("readOnly", boolean()),
                            p("disableAccessTime", boolean()),
                            p("secure", boolean()),
                            p("virtiofs", strukt("block.VirtiofsMountSpec", vec![f("tag", string())])),
                        ],
                    ),
                ),
            ],
        ),
        doc("KubeSpanConfig", (1, 13), false, kubespan()),
        doc(
            "RoutingRuleConfig",
            (1, 13),
            true,
            vec![
                f("src", string()),
                f("dst", string()),
                f("table", string()),
                f("action", int(I64)),
                f("iifName", string()),
                f("oifName", string()),
                f("fwMark", int(U32)),
                f("fwMask", int(U32)),
            ],
        ),
        doc(
            "TCPProbeConfig",
            (1, 13),
            true,
            vec![
                f("interval", Ty::Duration),
                f("failureThreshold", int(I64)),
                f("endpoint", string()),
                f("timeout", Ty::Duration),
            ],
        ),
        doc("VRFConfig", (1, 13), true, vrf()),
        doc("EnvironmentConfig", (1, 13), false, vec![f("variables", string_map())]),
        // v1.14
        doc("SysctlConfig", (1, 14), false, vec![f("params", string_map())]),
    ]
}

fn doc(kind: &'static str, since: Line, named: bool, body: Vec<Field>) -> DocumentKind {
    let mut fields = vec![f("apiVersion", string()).keep_empty(), f("kind", string()).keep_empty()];
    if named {
        fields.push(f("name", string()).keep_empty());
    }
    fields.extend(body);
    DocumentKind {
        kind,
        api_version: "v1alpha1",
        named,
        since,
        root: Arc::new(StructShape::new(kind, fields)),
    }
}

/// A CEL selector (`match: ...`).
fn selector(name: &'static str) -> Ty {
    strukt(name, vec![f("match", string())])
}

fn network_rule() -> Vec<Field> {
    vec![
        p(
            "portSelector",
            strukt(
                "network.RulePortSelector",
                vec![f("ports", list(Ty::IntOrString)).replace(), f("protocol", string())],
            ),
        ),
        f(
            "ingress",
            list(strukt(
                "network.IngressRule",
                vec![f("subnet", string()), f("except", string())],
            )),
        )
        .replace(),
    ]
}

fn extension_service() -> Vec<Field> {
    vec![
        f(
            "configFiles",
            list_by(
                strukt(
                    "extensions.ConfigFile",
                    vec![
                        f("content", string()).keep_empty(),
                        f("mountPath", string()).keep_empty(),
                    ],
                ),
                "mountPath",
            ),
        ),
        f("environment", strings()),
    ]
}

fn provisioning() -> Ty {
    strukt(
        "block.ProvisioningSpec",
        vec![
            p("diskSelector", selector("block.DiskSelector")),
            p("grow", boolean()),
            f("minSize", Ty::ByteSize),
            f("maxSize", Ty::ByteSize),
        ],
    )
}

fn encryption() -> Ty {
    let key = strukt(
        "block.EncryptionKey",
        vec![
            f("slot", int(I64)),
            p(
                "static",
                strukt("block.EncryptionKeyStatic", vec![f("passphrase", string()).secret()]),
            ),
            p("nodeID", strukt("block.EncryptionKeyNodeID", Vec::new())),
            p("kms", strukt("block.EncryptionKeyKMS", vec![f("endpoint", string())])),
            p(
                "tpm",
                strukt(
                    "block.EncryptionKeyTPM",
                    vec![
                        p(
                            "options",
                            strukt("block.EncryptionKeyTPMOptions", vec![f("pcrs", list(int(I64)))]),
                        )
                        .since(1, 12),
                        p("checkSecurebootStatusOnEnroll", boolean()),
                    ],
                ),
            ),
            p("lockToState", boolean()).since(1, 11),
        ],
    );
    strukt(
        "block.EncryptionSpec",
        vec![
            f("provider", string()),
            f("keys", list(key)),
            f("cipher", string()),
            f("keySize", int(U32)),
            f("blockSize", int(U64)),
            f("options", strings()),
        ],
    )
}

fn volume_config() -> Vec<Field> {
    vec![
        p("provisioning", provisioning()),
        p("encryption", encryption()).since(1, 11),
        p("mount", strukt("block.MountSpec", vec![p("secure", boolean())])).since(1, 13),
    ]
}

fn user_volume() -> Vec<Field> {
    vec![
        f("volumeType", string()).since(1, 12),
        p("provisioning", provisioning()),
        p(
            "filesystem",
            strukt(
                "block.FilesystemSpec",
                vec![f("type", string()), p("projectQuotaSupport", boolean()).since(1, 11)],
            ),
        ),
        p("encryption", encryption()),
        p(
            "mount",
            strukt(
                "block.UserMountSpec",
                vec![p("disableAccessTime", boolean()), p("secure", boolean())],
            ),
        )
        .since(1, 13),
    ]
}

fn ethernet() -> Vec<Field> {
    let mut rings = Vec::new();
    for name in ["rx", "tx", "rx-mini", "rx-jumbo", "rx-buf-len", "cqe-size"] {
        rings.push(p(name, int(U32)));
    }
    rings.push(p("tx-push", boolean()));
    rings.push(p("rx-push", boolean()));
    rings.push(p("tx-push-buf-len", int(U32)));
    rings.push(p("tcp-data-split", boolean()));
    let mut channels = Vec::new();
    for name in ["rx", "tx", "other", "combined"] {
        channels.push(p(name, int(U32)));
    }
    vec![
        f("features", map(boolean())),
        p("rings", strukt("network.EthernetRingsConfig", rings)),
        p("channels", strukt("network.EthernetChannelsConfig", channels)),
        f("wakeOnLan", strings()).since(1, 12),
    ]
}

/// `up`, `mtu`, `addresses`, `routes`, `multicast`: the common tail of link documents.
fn link_common() -> Vec<Field> {
    vec![
        p("up", boolean()),
        f("mtu", int(U32)),
        f(
            "addresses",
            list(strukt(
                "network.AddressConfig",
                vec![f("address", string()), p("routePriority", int(U32))],
            )),
        ),
        f(
            "routes",
            list(strukt(
                "network.RouteConfig",
                vec![
                    f("destination", string()),
                    f("gateway", string()),
                    f("source", string()),
                    f("metric", int(U32)),
                    f("mtu", int(U32)),
                    f("table", string()),
                ],
            )),
        ),
        p("multicast", boolean()),
    ]
}

fn bond() -> Vec<Field> {
    let mut fields = vec![
        f("hardwareAddr", string()),
        f("links", strings()),
        f("bondMode", string()),
        p("miimon", int(U32)),
        p("updelay", int(U32)),
        p("downdelay", int(U32)),
        p("useCarrier", boolean()),
        f("xmitHashPolicy", string()),
        p("arpInterval", int(U32)),
        f("arpIpTargets", strings()),
        f("nsIp6Targets", strings()),
        f("arpValidate", string()),
        f("arpAllTargets", string()),
        f("lacpRate", string()),
        f("failOverMac", string()),
        f("adSelect", string()),
        p("adActorSysPrio", int(U32)),
        p("adUserPortKey", int(U32)),
        f("adLACPActive", string()),
        f("primaryReselect", string()),
        p("resendIGMP", int(U32)),
        p("minLinks", int(U32)),
        p("lpInterval", int(U32)),
        p("packetsPerSlave", int(U32)),
        p("numPeerNotif", int(U8)),
        p("tlbLogicalLb", int(U8)),
        p("allSlavesActive", int(U8)),
        p("peerNotifDelay", int(U32)),
        p("missedMax", int(U8)),
    ];
    fields.extend(link_common());
    fields
}

fn bridge() -> Vec<Field> {
    let mut fields = vec![
        f("hardwareAddr", string()),
        f("links", strings()),
        p("stp", strukt("network.BridgeSTPConfig", vec![p("enabled", boolean())])),
        p(
            "vlan",
            strukt("network.BridgeVLANConfig", vec![p("filtering", boolean())]),
        ),
    ];
    fields.extend(link_common());
    fields
}

fn dhcp() -> Vec<Field> {
    vec![
        f("routeMetric", int(U32)),
        p("ignoreHostname", boolean()),
        f("clientIdentifier", string()),
        f("duidRaw", string()),
    ]
}

fn resolver() -> Vec<Field> {
    vec![
        f(
            "nameservers",
            list(strukt("network.NameserverConfig", vec![f("address", string())])),
        ),
        p(
            "searchDomains",
            strukt(
                "network.SearchDomainsConfig",
                vec![f("domains", strings()), p("disableDefault", boolean())],
            ),
        ),
    ]
}

fn time_sync() -> Vec<Field> {
    vec![
        p("enabled", boolean()),
        f("bootTimeout", Ty::Duration),
        p("ntp", strukt("network.NTPConfig", vec![f("servers", strings())])),
        p("ptp", strukt("network.PTPConfig", vec![f("devices", strings())])),
    ]
}

fn vlan() -> Vec<Field> {
    let mut fields = vec![
        f("vlanID", int(super::IntKind::U16)),
        f("vlanMode", string()),
        f("parent", string()),
    ];
    fields.extend(link_common());
    fields
}

fn wireguard() -> Vec<Field> {
    let mut fields = vec![
        f("privateKey", string()).secret(),
        f("listenPort", int(I64)),
        f("firewallMark", int(I64)),
        f(
            "peers",
            list(strukt(
                "network.WireguardPeer",
                vec![
                    f("publicKey", string()),
                    f("presharedKey", string()).secret(),
                    f("endpoint", string()),
                    f("persistentKeepaliveInterval", Ty::Duration),
                    f("allowedIPs", strings()),
                ],
            )),
        ),
    ];
    fields.extend(link_common());
    fields
}

fn vrf() -> Vec<Field> {
    let mut fields = vec![f("hardwareAddr", string()), f("links", strings()), f("table", string())];
    fields.extend(link_common());
    fields
}

fn kubespan() -> Vec<Field> {
    super::v1alpha1::kubespan_fields("network.KubeSpanFiltersConfig")
}
