//! Talos API wire types: the protobuf messages of `machine.proto`, `common.proto` and
//! `storage.proto` that talos-hcloud uses, written with prost derives (no protoc at build
//! time), and the full gRPC method paths.
//!
//! Field numbers follow `reference/talos.md` §F.1–F.3 (identical in Talos v1.10–v1.14);
//! `storage.Disks` follows `api/storage/storage.proto`. These are shared wire types: the
//! emulated Talos node (`sim::talos`) serves the same messages. Only what talos-hcloud
//! calls is declared; unknown fields sent by a newer Talos are skipped by prost.

/// Full gRPC method paths (`/package.Service/Method`).
pub mod paths {
    /// `MachineService.ApplyConfiguration` (unary).
    pub const APPLY_CONFIGURATION: &str = "/machine.MachineService/ApplyConfiguration";
    /// `MachineService.Bootstrap` (unary).
    pub const BOOTSTRAP: &str = "/machine.MachineService/Bootstrap";
    /// `MachineService.Kubeconfig` (server streaming of `common.Data`).
    pub const KUBECONFIG: &str = "/machine.MachineService/Kubeconfig";
    /// `MachineService.EtcdMemberList` (unary).
    pub const ETCD_MEMBER_LIST: &str = "/machine.MachineService/EtcdMemberList";
    /// `MachineService.EtcdRemoveMemberByID` (unary).
    pub const ETCD_REMOVE_MEMBER_BY_ID: &str = "/machine.MachineService/EtcdRemoveMemberByID";
    /// `MachineService.EtcdLeaveCluster` (unary).
    pub const ETCD_LEAVE_CLUSTER: &str = "/machine.MachineService/EtcdLeaveCluster";
    /// `MachineService.EtcdStatus` (unary, request `google.protobuf.Empty`): the local
    /// member's ID and the leader it sees.
    pub const ETCD_STATUS: &str = "/machine.MachineService/EtcdStatus";
    /// `MachineService.EtcdSnapshot` (server streaming of `common.Data`: the etcd database).
    pub const ETCD_SNAPSHOT: &str = "/machine.MachineService/EtcdSnapshot";
    /// `MachineService.Reset` (unary).
    pub const RESET: &str = "/machine.MachineService/Reset";
    /// `MachineService.Version` (unary, request `google.protobuf.Empty`).
    pub const VERSION: &str = "/machine.MachineService/Version";
    /// `MachineService.ServiceList` (unary, request `google.protobuf.Empty`).
    pub const SERVICE_LIST: &str = "/machine.MachineService/ServiceList";
    /// `MachineService.Reboot` (unary).
    pub const REBOOT: &str = "/machine.MachineService/Reboot";
    /// `MachineService.Upgrade` (unary; deprecated from v1.13, not called by talos-hcloud).
    pub const UPGRADE: &str = "/machine.MachineService/Upgrade";
    /// `StorageService.Disks` (unary, request `google.protobuf.Empty`); used to detect
    /// maintenance mode, as the Talos Terraform provider does.
    pub const DISKS: &str = "/storage.StorageService/Disks";
}

/// `google.protobuf` well-known types.
pub mod google_protobuf {
    /// `google.protobuf.Empty`.
    #[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
    pub struct Empty {}

    /// `google.protobuf.Duration`.
    #[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
    pub struct Duration {
        /// Whole seconds.
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        /// Nanoseconds within the second.
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }

    /// `google.protobuf.Timestamp`.
    #[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
    pub struct Timestamp {
        /// Seconds since the Unix epoch.
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        /// Nanoseconds within the second.
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }

    /// `google.protobuf.Any`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct Any {
        /// The type URL of the packed message.
        #[prost(string, tag = "1")]
        pub type_url: String,
        /// The packed message.
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }
}

/// `google.rpc` types.
pub mod google_rpc {
    /// `google.rpc.Status`: a gRPC status carried inside a message (per-node errors of a
    /// proxying apid).
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct Status {
        /// The gRPC status code.
        #[prost(int32, tag = "1")]
        pub code: i32,
        /// The error message.
        #[prost(string, tag = "2")]
        pub message: String,
        /// Error details.
        #[prost(message, repeated, tag = "3")]
        pub details: Vec<super::google_protobuf::Any>,
    }
}

/// `common.proto`.
pub mod common {
    /// `common.Metadata`: which node answered and whether it failed. Filled only by an apid
    /// that proxies to several nodes (`nodes` metadata); empty for a direct answer.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct Metadata {
        /// The node that answered.
        #[prost(string, tag = "1")]
        pub hostname: String,
        /// The error text when that node failed.
        #[prost(string, tag = "2")]
        pub error: String,
        /// The error as a gRPC status when that node failed.
        #[prost(message, optional, tag = "3")]
        pub status: Option<super::google_rpc::Status>,
    }

    /// `common.Data`: one chunk of a byte stream.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct Data {
        /// Per-node metadata.
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<Metadata>,
        /// The bytes of this chunk.
        #[prost(bytes = "vec", tag = "2")]
        pub bytes: Vec<u8>,
    }
}

/// `machine.proto` (service `machine.MachineService`).
pub mod machine {
    use super::common::Metadata;

    /// `machine.ApplyConfigurationRequest`. Fields 2 and 3 were removed upstream and must
    /// not be reused.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct ApplyConfigurationRequest {
        /// The complete machine configuration (YAML, possibly multi-document).
        #[prost(bytes = "vec", tag = "1")]
        pub data: Vec<u8>,
        /// How to apply; the proto default (0) is REBOOT, so always set it explicitly.
        #[prost(enumeration = "apply_configuration_request::Mode", tag = "4")]
        pub mode: i32,
        /// Validate and report only; change nothing.
        #[prost(bool, tag = "5")]
        pub dry_run: bool,
        /// How long a TRY apply lasts before it is reverted.
        #[prost(message, optional, tag = "6")]
        pub try_mode_timeout: Option<super::google_protobuf::Duration>,
    }

    /// Nested types of [`ApplyConfigurationRequest`].
    pub mod apply_configuration_request {
        /// `machine.ApplyConfigurationRequest.Mode`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
        #[repr(i32)]
        pub enum Mode {
            /// Persist and reboot (deprecated in v1.14).
            Reboot = 0,
            /// Let the node decide: live if possible, else reboot.
            Auto = 1,
            /// Apply live; fail if a reboot would be needed.
            NoReboot = 2,
            /// Persist for the next boot.
            Staged = 3,
            /// Apply live and revert after a timeout.
            Try = 4,
        }
    }

    /// `machine.ApplyConfiguration`: one node's answer.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct ApplyConfiguration {
        /// Per-node metadata.
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<Metadata>,
        /// Validation warnings.
        #[prost(string, repeated, tag = "2")]
        pub warnings: Vec<String>,
        /// The mode actually used.
        #[prost(enumeration = "apply_configuration_request::Mode", tag = "3")]
        pub mode: i32,
        /// A human-readable summary.
        #[prost(string, tag = "4")]
        pub mode_details: String,
    }

    /// `machine.ApplyConfigurationResponse`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct ApplyConfigurationResponse {
        /// One entry per node.
        #[prost(message, repeated, tag = "1")]
        pub messages: Vec<ApplyConfiguration>,
    }

    /// `machine.BootstrapRequest`.
    #[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
    pub struct BootstrapRequest {
        /// Recover etcd from an uploaded snapshot.
        #[prost(bool, tag = "1")]
        pub recover_etcd: bool,
        /// Skip the snapshot hash check when recovering.
        #[prost(bool, tag = "2")]
        pub recover_skip_hash_check: bool,
    }

    /// `machine.Bootstrap`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct Bootstrap {
        /// Per-node metadata.
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<Metadata>,
    }

    /// `machine.BootstrapResponse`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct BootstrapResponse {
        /// One entry per node.
        #[prost(message, repeated, tag = "1")]
        pub messages: Vec<Bootstrap>,
    }

    /// `machine.EtcdMemberListRequest`.
    #[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
    pub struct EtcdMemberListRequest {
        /// Answer from the local etcd member (serializable read; works without quorum).
        #[prost(bool, tag = "1")]
        pub query_local: bool,
    }

    /// `machine.EtcdMember` (there is no field 1).
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct EtcdMember {
        /// The etcd member ID.
        #[prost(uint64, tag = "2")]
        pub id: u64,
        /// The member's name (the node's hostname).
        #[prost(string, tag = "3")]
        pub hostname: String,
        /// Peer URLs (`https://IP:2380`).
        #[prost(string, repeated, tag = "4")]
        pub peer_urls: Vec<String>,
        /// Client URLs (`https://IP:2379`).
        #[prost(string, repeated, tag = "5")]
        pub client_urls: Vec<String>,
        /// Whether the member is a learner (not yet voting).
        #[prost(bool, tag = "6")]
        pub is_learner: bool,
    }

    /// `machine.EtcdMembers`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct EtcdMembers {
        /// Per-node metadata.
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<Metadata>,
        /// Member hostnames (legacy form).
        #[prost(string, repeated, tag = "2")]
        pub legacy_members: Vec<String>,
        /// The members.
        #[prost(message, repeated, tag = "3")]
        pub members: Vec<EtcdMember>,
    }

    /// `machine.EtcdMemberListResponse`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct EtcdMemberListResponse {
        /// One entry per node.
        #[prost(message, repeated, tag = "1")]
        pub messages: Vec<EtcdMembers>,
    }

    /// `machine.EtcdMemberStatus` (the fields talos-hcloud reads; the others are skipped).
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct EtcdMemberStatus {
        /// The leader's member ID as this member sees it (0: no leader).
        #[prost(uint64, tag = "4")]
        pub leader: u64,
        /// Errors the member reports (`etcdserver: no leader`, alarms).
        #[prost(string, repeated, tag = "8")]
        pub errors: Vec<String>,
        /// Whether the member is a learner.
        #[prost(bool, tag = "9")]
        pub is_learner: bool,
        /// This member's ID.
        #[prost(uint64, tag = "10")]
        pub member_id: u64,
    }

    /// `machine.EtcdStatus`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct EtcdStatus {
        /// Per-node metadata.
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<Metadata>,
        /// The local member's status.
        #[prost(message, optional, tag = "2")]
        pub member_status: Option<EtcdMemberStatus>,
    }

    /// `machine.EtcdStatusResponse`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct EtcdStatusResponse {
        /// One entry per node.
        #[prost(message, repeated, tag = "1")]
        pub messages: Vec<EtcdStatus>,
    }

    /// `machine.EtcdRemoveMemberByIDRequest`.
    #[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
    pub struct EtcdRemoveMemberByIdRequest {
        /// The member to remove.
        #[prost(uint64, tag = "1")]
        pub member_id: u64,
    }

    /// `machine.EtcdRemoveMemberByID`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct EtcdRemoveMemberById {
        /// Per-node metadata.
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<Metadata>,
    }

    /// `machine.EtcdRemoveMemberByIDResponse`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct EtcdRemoveMemberByIdResponse {
        /// One entry per node.
        #[prost(message, repeated, tag = "1")]
        pub messages: Vec<EtcdRemoveMemberById>,
    }

    /// `machine.EtcdLeaveClusterRequest` (no fields).
    #[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
    pub struct EtcdLeaveClusterRequest {}

    /// `machine.EtcdSnapshotRequest` (no fields; the answer is a stream of `common.Data`).
    #[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
    pub struct EtcdSnapshotRequest {}

    /// `machine.EtcdLeaveCluster`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct EtcdLeaveCluster {
        /// Per-node metadata.
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<Metadata>,
    }

    /// `machine.EtcdLeaveClusterResponse`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct EtcdLeaveClusterResponse {
        /// One entry per node.
        #[prost(message, repeated, tag = "1")]
        pub messages: Vec<EtcdLeaveCluster>,
    }

    /// `machine.ResetPartitionSpec`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct ResetPartitionSpec {
        /// Partition label (`STATE`, `EPHEMERAL`, …).
        #[prost(string, tag = "1")]
        pub label: String,
        /// Wipe the partition.
        #[prost(bool, tag = "2")]
        pub wipe: bool,
    }

    /// `machine.ResetRequest`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct ResetRequest {
        /// Leave etcd and drain cleanly first.
        #[prost(bool, tag = "1")]
        pub graceful: bool,
        /// Reboot afterwards (otherwise power off).
        #[prost(bool, tag = "2")]
        pub reboot: bool,
        /// System partitions to wipe (empty: all, per `mode`).
        #[prost(message, repeated, tag = "3")]
        pub system_partitions_to_wipe: Vec<ResetPartitionSpec>,
        /// User disks to wipe.
        #[prost(string, repeated, tag = "4")]
        pub user_disks_to_wipe: Vec<String>,
        /// What to wipe.
        #[prost(enumeration = "reset_request::WipeMode", tag = "5")]
        pub mode: i32,
    }

    /// Nested types of [`ResetRequest`].
    pub mod reset_request {
        /// `machine.ResetRequest.WipeMode`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
        #[repr(i32)]
        pub enum WipeMode {
            /// System disk and user disks.
            All = 0,
            /// The system disk only.
            SystemDisk = 1,
            /// User disks only.
            UserDisks = 2,
        }
    }

    /// `machine.Reset`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct Reset {
        /// Per-node metadata.
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<Metadata>,
        /// ID of the asynchronous action.
        #[prost(string, tag = "2")]
        pub actor_id: String,
    }

    /// `machine.ResetResponse`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct ResetResponse {
        /// One entry per node.
        #[prost(message, repeated, tag = "1")]
        pub messages: Vec<Reset>,
    }

    /// `machine.VersionInfo`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct VersionInfo {
        /// Release tag (`v1.11.6`).
        #[prost(string, tag = "1")]
        pub tag: String,
        /// Git commit.
        #[prost(string, tag = "2")]
        pub sha: String,
        /// Build time.
        #[prost(string, tag = "3")]
        pub built: String,
        /// Go version.
        #[prost(string, tag = "4")]
        pub go_version: String,
        /// Operating system (`linux`).
        #[prost(string, tag = "5")]
        pub os: String,
        /// Architecture (`amd64`, `arm64`).
        #[prost(string, tag = "6")]
        pub arch: String,
    }

    /// `machine.PlatformInfo`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct PlatformInfo {
        /// Platform name (`hcloud`).
        #[prost(string, tag = "1")]
        pub name: String,
        /// Runtime mode (`cloud`).
        #[prost(string, tag = "2")]
        pub mode: String,
    }

    /// `machine.FeaturesInfo`.
    #[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
    pub struct FeaturesInfo {
        /// Whether role-based access control is enforced.
        #[prost(bool, tag = "1")]
        pub rbac: bool,
    }

    /// `machine.Version`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct Version {
        /// Per-node metadata.
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<Metadata>,
        /// Build information.
        #[prost(message, optional, tag = "2")]
        pub version: Option<VersionInfo>,
        /// Platform information.
        #[prost(message, optional, tag = "3")]
        pub platform: Option<PlatformInfo>,
        /// Enabled features.
        #[prost(message, optional, tag = "4")]
        pub features: Option<FeaturesInfo>,
    }

    /// `machine.VersionResponse`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct VersionResponse {
        /// One entry per node.
        #[prost(message, repeated, tag = "1")]
        pub messages: Vec<Version>,
    }

    /// `machine.ServiceEvent`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct ServiceEvent {
        /// Event message.
        #[prost(string, tag = "1")]
        pub msg: String,
        /// Service state at the event.
        #[prost(string, tag = "2")]
        pub state: String,
        /// When it happened.
        #[prost(message, optional, tag = "3")]
        pub ts: Option<super::google_protobuf::Timestamp>,
    }

    /// `machine.ServiceEvents`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct ServiceEvents {
        /// The events, oldest first.
        #[prost(message, repeated, tag = "1")]
        pub events: Vec<ServiceEvent>,
    }

    /// `machine.ServiceHealth`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct ServiceHealth {
        /// Health is not known (no health check).
        #[prost(bool, tag = "1")]
        pub unknown: bool,
        /// The service is healthy.
        #[prost(bool, tag = "2")]
        pub healthy: bool,
        /// Last health check message.
        #[prost(string, tag = "3")]
        pub last_message: String,
        /// When health last changed.
        #[prost(message, optional, tag = "4")]
        pub last_change: Option<super::google_protobuf::Timestamp>,
    }

    /// `machine.ServiceInfo`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct ServiceInfo {
        /// Service ID (`etcd`, `kubelet`, `apid`, …).
        #[prost(string, tag = "1")]
        pub id: String,
        /// State (`Running`, `Waiting`, `Failed`, …).
        #[prost(string, tag = "2")]
        pub state: String,
        /// Recent events.
        #[prost(message, optional, tag = "3")]
        pub events: Option<ServiceEvents>,
        /// Health.
        #[prost(message, optional, tag = "4")]
        pub health: Option<ServiceHealth>,
    }

    /// `machine.ServiceList`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct ServiceList {
        /// Per-node metadata.
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<Metadata>,
        /// The services.
        #[prost(message, repeated, tag = "2")]
        pub services: Vec<ServiceInfo>,
    }

    /// `machine.ServiceListResponse`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct ServiceListResponse {
        /// One entry per node.
        #[prost(message, repeated, tag = "1")]
        pub messages: Vec<ServiceList>,
    }

    /// `machine.RebootRequest`.
    #[derive(Clone, Copy, PartialEq, Eq, ::prost::Message)]
    pub struct RebootRequest {
        /// How to reboot.
        #[prost(enumeration = "reboot_request::Mode", tag = "1")]
        pub mode: i32,
    }

    /// Nested types of [`RebootRequest`].
    pub mod reboot_request {
        /// `machine.RebootRequest.Mode`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
        #[repr(i32)]
        pub enum Mode {
            /// Orderly reboot (kexec when possible).
            Default = 0,
            /// Full power cycle.
            Powercycle = 1,
            /// Skip graceful shutdown steps (v1.12+).
            Force = 2,
        }
    }

    /// `machine.Reboot`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct Reboot {
        /// Per-node metadata.
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<Metadata>,
        /// ID of the asynchronous action.
        #[prost(string, tag = "2")]
        pub actor_id: String,
    }

    /// `machine.RebootResponse`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct RebootResponse {
        /// One entry per node.
        #[prost(message, repeated, tag = "1")]
        pub messages: Vec<Reboot>,
    }
}

/// `storage.proto` (service `storage.StorageService`).
pub mod storage {
    use super::common::Metadata;

    /// `storage.Disk`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct Disk {
        /// Size in bytes.
        #[prost(uint64, tag = "1")]
        pub size: u64,
        /// Model.
        #[prost(string, tag = "2")]
        pub model: String,
        /// Device path (`/dev/sda`).
        #[prost(string, tag = "3")]
        pub device_name: String,
        /// `/sys/block/<dev>/device/name`.
        #[prost(string, tag = "4")]
        pub name: String,
        /// Serial number.
        #[prost(string, tag = "5")]
        pub serial: String,
        /// Modalias.
        #[prost(string, tag = "6")]
        pub modalias: String,
        /// UUID.
        #[prost(string, tag = "7")]
        pub uuid: String,
        /// WWID.
        #[prost(string, tag = "8")]
        pub wwid: String,
        /// Disk type.
        #[prost(enumeration = "disk::DiskType", tag = "9")]
        pub r#type: i32,
        /// Bus path.
        #[prost(string, tag = "10")]
        pub bus_path: String,
        /// Whether Talos is installed on it.
        #[prost(bool, tag = "11")]
        pub system_disk: bool,
        /// Subsystem symlink path.
        #[prost(string, tag = "12")]
        pub subsystem: String,
    }

    /// Nested types of [`Disk`].
    pub mod disk {
        /// `storage.Disk.DiskType`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
        #[repr(i32)]
        pub enum DiskType {
            /// Unknown.
            Unknown = 0,
            /// SSD.
            Ssd = 1,
            /// HDD.
            Hdd = 2,
            /// NVMe.
            Nvme = 3,
            /// SD card.
            Sd = 4,
        }
    }

    /// `storage.Disks`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct Disks {
        /// Per-node metadata.
        #[prost(message, optional, tag = "1")]
        pub metadata: Option<Metadata>,
        /// The disks.
        #[prost(message, repeated, tag = "2")]
        pub disks: Vec<Disk>,
    }

    /// `storage.DisksResponse`.
    #[derive(Clone, PartialEq, Eq, ::prost::Message)]
    pub struct DisksResponse {
        /// One entry per node.
        #[prost(message, repeated, tag = "1")]
        pub messages: Vec<Disks>,
    }
}
