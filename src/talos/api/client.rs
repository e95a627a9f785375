//! The Talos API client: one TLS channel to an apid endpoint, typed calls with deadlines,
//! retries of transient failures and per-node error checks.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use tonic_prost::ProstCodec;

use super::error::{CallError, Error, Rpc};
use super::kubeconfig::extract_kubeconfig;
use super::proto::{common, google_protobuf, machine, storage};
use super::tls::{self, ClientIdentity, Connector, SpkiSha256, TlsFailure};
use crate::redact::Redacted;
use crate::retry::Policy;

/// apid's port.
pub const APID_PORT: u16 = 50000;

/// gRPC message size limit of apid (both directions), reference `talos.md` §F.5.
const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// How the client authenticates.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Maintenance mode: server-only TLS, no client certificate, no CA to verify against.
    /// Use only for nodes talos-hcloud itself just created behind its firewall. With a
    /// `pin`, the server key must match it (see [`TalosClient::server_key`]).
    Maintenance {
        /// The expected server key, if one was recorded earlier.
        pin: Option<SpkiSha256>,
    },
    /// Configured mode: mutual TLS with a talosconfig's client certificate.
    Configured(ClientIdentity),
}

/// Per-call settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallOptions {
    /// Deadline of one attempt (sent as `grpc-timeout` and enforced locally).
    pub timeout: Duration,
    /// Deadline of TCP connect.
    pub connect_timeout: Duration,
    /// Retries of transient failures.
    pub retry: Policy,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: Policy::api_call(),
        }
    }
}

/// How a machine configuration is applied (`ApplyConfigurationRequest.Mode`). talos-hcloud
/// always sets it: the protobuf default would silently mean REBOOT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// Persist and reboot (refused outside maintenance by Talos v1.14).
    Reboot,
    /// Apply live if possible, otherwise reboot.
    Auto,
    /// Apply live; fail if a reboot would be needed.
    NoReboot,
    /// Persist for the next boot.
    Staged,
    /// Apply live and revert after the try timeout.
    Try,
}

impl ApplyMode {
    fn to_proto(self) -> machine::apply_configuration_request::Mode {
        use machine::apply_configuration_request::Mode;
        match self {
            ApplyMode::Reboot => Mode::Reboot,
            ApplyMode::Auto => Mode::Auto,
            ApplyMode::NoReboot => Mode::NoReboot,
            ApplyMode::Staged => Mode::Staged,
            ApplyMode::Try => Mode::Try,
        }
    }

    fn from_proto(value: i32) -> Option<ApplyMode> {
        use machine::apply_configuration_request::Mode;
        Some(match Mode::try_from(value).ok()? {
            Mode::Reboot => ApplyMode::Reboot,
            Mode::Auto => ApplyMode::Auto,
            Mode::NoReboot => ApplyMode::NoReboot,
            Mode::Staged => ApplyMode::Staged,
            Mode::Try => ApplyMode::Try,
        })
    }
}

/// Options of [`TalosClient::apply_configuration_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// The apply mode.
    pub mode: ApplyMode,
    /// Only report what would happen.
    pub dry_run: bool,
    /// For [`ApplyMode::Try`]: when to revert (node default: 1 minute).
    pub try_timeout: Option<Duration>,
}

/// A node's answer to ApplyConfiguration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// The mode the node used. Maintenance-mode nodes before v1.13 leave the field at 0,
    /// which reads as [`ApplyMode::Reboot`]; `None` for a value this client does not know.
    pub mode: Option<ApplyMode>,
    /// The node's summary.
    pub details: String,
    /// Validation warnings.
    pub warnings: Vec<String>,
}

/// Result of [`TalosClient::bootstrap`]: both mean etcd is bootstrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapOutcome {
    /// This call bootstrapped etcd.
    Bootstrapped,
    /// etcd was already bootstrapped (`AlreadyExists`), which counts as done.
    AlreadyBootstrapped,
}

/// Which etcd view [`TalosClient::etcd_members`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberListScope {
    /// The cluster's view through the leader (fails without quorum).
    Cluster,
    /// The local member's view (serializable; answers without quorum).
    Local,
}

/// One etcd member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdMember {
    /// Member ID.
    pub id: u64,
    /// Member name (node hostname).
    pub hostname: String,
    /// Peer URLs.
    pub peer_urls: Vec<String>,
    /// Client URLs.
    pub client_urls: Vec<String>,
    /// Whether it is a non-voting learner.
    pub is_learner: bool,
}

/// The local etcd member's status (EtcdStatus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdMemberStatus {
    /// This member's ID.
    pub member_id: u64,
    /// The leader's member ID as this member sees it; `None` without a leader.
    pub leader: Option<u64>,
    /// Whether this member is a learner.
    pub is_learner: bool,
    /// Errors the member reports.
    pub errors: Vec<String>,
}

/// One Talos service as ServiceList reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    /// Service ID (`etcd`, `kubelet`, …).
    pub id: String,
    /// State (`Running`, `Waiting`, …).
    pub state: String,
    /// Health, `None` when the service has no health check.
    pub healthy: Option<bool>,
    /// Last health message.
    pub last_message: String,
}

/// A node's Version answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeVersion {
    /// Talos release tag (`v1.11.6`).
    pub tag: String,
    /// Git commit.
    pub sha: String,
    /// Architecture.
    pub arch: String,
    /// Platform name (`hcloud`).
    pub platform: String,
    /// Runtime mode (`cloud`).
    pub platform_mode: String,
    /// Whether RBAC is enforced.
    pub rbac: bool,
}

/// One disk of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskInfo {
    /// Device path.
    pub device_name: String,
    /// Size in bytes.
    pub size: u64,
    /// Model.
    pub model: String,
    /// Whether Talos is installed on it.
    pub system_disk: bool,
}

/// What a reset wipes (`ResetRequest.WipeMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WipeMode {
    /// System disk and user disks.
    All,
    /// The system disk only.
    SystemDisk,
    /// User disks only.
    UserDisks,
}

/// Options of [`TalosClient::reset`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetOptions {
    /// Leave etcd cleanly first (control planes).
    pub graceful: bool,
    /// Reboot afterwards; otherwise the node powers off.
    pub reboot: bool,
    /// What to wipe.
    pub mode: WipeMode,
    /// Only these system partitions (labels such as `STATE`, `EPHEMERAL`); empty = per mode.
    pub system_partitions: Vec<String>,
    /// User disks to wipe.
    pub user_disks: Vec<String>,
}

impl Default for ResetOptions {
    /// talosctl's defaults: graceful, reboot, wipe all.
    fn default() -> Self {
        ResetOptions {
            graceful: true,
            reboot: true,
            mode: WipeMode::All,
            system_partitions: Vec::new(),
            user_disks: Vec::new(),
        }
    }
}

/// How a reboot is done (`RebootRequest.Mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootMode {
    /// Orderly reboot.
    Default,
    /// Full power cycle.
    Powercycle,
    /// Skip graceful steps (Talos v1.12+).
    Force,
}

/// Which mode a node's apid is in, as seen from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectedMode {
    /// It answers without a client certificate: no configuration yet.
    Maintenance {
        /// The server key it presented (pin it for the ApplyConfiguration that follows).
        server_key: SpkiSha256,
    },
    /// It demands a client certificate: configured.
    Configured,
}

/// A client of one apid endpoint, optionally targeting another node through it with the
/// `node` metadata. Cheap to clone; clones share the connection.
#[derive(Debug, Clone)]
pub struct TalosClient {
    channel: Channel,
    endpoint: SocketAddr,
    node: Option<IpAddr>,
    options: CallOptions,
    server_key: Arc<Mutex<Option<SpkiSha256>>>,
}

impl TalosClient {
    /// A client of the apid at `endpoint` (usually `IP:50000`). Nothing is dialled until the
    /// first call.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime (the channel spawns its worker task).
    ///
    /// # Errors
    ///
    /// [`Error::Credentials`] when the PEM material or pin is unusable.
    pub fn new(endpoint: SocketAddr, credentials: &Credentials, options: CallOptions) -> Result<TalosClient, Error> {
        let server_key = Arc::new(Mutex::new(None));
        let config = match credentials {
            Credentials::Maintenance { pin } => tls::maintenance_config(*pin, server_key.clone()),
            Credentials::Configured(identity) => tls::configured_config(identity),
        }
        .map_err(Error::Credentials)?;
        let uri = format!("https://{endpoint}");
        let channel = Endpoint::from_shared(uri.clone())
            .map_err(|_| Error::Endpoint { endpoint: uri })?
            .connect_with_connector_lazy(Connector::new(endpoint, config, options.connect_timeout));
        Ok(TalosClient {
            channel,
            endpoint,
            node: None,
            options,
            server_key,
        })
    }

    /// The same client, with calls addressed to `node` through this endpoint (`node`
    /// metadata; the endpoint must be a control plane to forward).
    pub fn with_node(&self, node: IpAddr) -> TalosClient {
        TalosClient {
            node: Some(node),
            ..self.clone()
        }
    }

    /// The same client with other call options.
    pub fn with_options(&self, options: CallOptions) -> TalosClient {
        TalosClient {
            options,
            ..self.clone()
        }
    }

    /// The endpoint dialled.
    pub fn endpoint(&self) -> SocketAddr {
        self.endpoint
    }

    /// The node calls are for: the `node` target, else the endpoint's address.
    pub fn target(&self) -> IpAddr {
        self.node.unwrap_or(self.endpoint.ip())
    }

    /// The server key seen during the last maintenance-mode handshake (for pinning).
    pub fn server_key(&self) -> Option<SpkiSha256> {
        self.server_key.lock().ok().and_then(|slot| *slot)
    }

    /// Sends a machine configuration with an explicit mode.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` from the node (a config it refuses) is classed invalid input.
    pub async fn apply_configuration(&self, config: &[u8], mode: ApplyMode) -> Result<ApplyOutcome, Error> {
        self.apply_configuration_with(
            config,
            ApplyOptions {
                mode,
                dry_run: false,
                try_timeout: None,
            },
        )
        .await
    }

    /// Sends a machine configuration with all options.
    ///
    /// # Errors
    ///
    /// See [`TalosClient::apply_configuration`].
    pub async fn apply_configuration_with(&self, config: &[u8], options: ApplyOptions) -> Result<ApplyOutcome, Error> {
        let request = apply_request(config, options);
        let messages = self
            .call::<_, machine::ApplyConfigurationResponse>(Rpc::ApplyConfiguration, request)
            .await?;
        let first = self.first(Rpc::ApplyConfiguration, messages)?;
        Ok(ApplyOutcome {
            mode: ApplyMode::from_proto(first.mode),
            details: first.mode_details,
            warnings: first.warnings,
        })
    }

    /// Bootstraps etcd on the target (once per cluster, on one control plane).
    /// `AlreadyExists` is success ([`BootstrapOutcome::AlreadyBootstrapped`]).
    ///
    /// # Errors
    ///
    /// Any other failure, e.g. `FailedPrecondition` on a worker.
    pub async fn bootstrap(&self) -> Result<BootstrapOutcome, Error> {
        match self
            .unary::<_, machine::BootstrapResponse>(Rpc::Bootstrap, machine::BootstrapRequest::default())
            .await
        {
            Ok(response) => {
                self.messages(Rpc::Bootstrap, response)?;
                Ok(BootstrapOutcome::Bootstrapped)
            }
            Err(error) if error.code() == Some(tonic::Code::AlreadyExists) => Ok(BootstrapOutcome::AlreadyBootstrapped),
            Err(error) => Err(error),
        }
    }

    /// Fetches the admin kubeconfig (control planes only): the YAML bytes.
    ///
    /// # Errors
    ///
    /// Call failures, or [`CallError::Kubeconfig`] when the archive is unusable.
    pub async fn kubeconfig(&self) -> Result<Redacted<Vec<u8>>, Error> {
        let archive = self.stream_bytes(Rpc::Kubeconfig, google_protobuf::Empty {}).await?;
        extract_kubeconfig(&archive)
            .map(Redacted::new)
            .map_err(|source| self.error(Rpc::Kubeconfig, 1, CallError::Kubeconfig(source)))
    }

    /// Streams a snapshot of the target's etcd database (control planes only): the bytes
    /// etcd's snapshot call produces, the database followed by its SHA-256. It works without
    /// quorum, which is when it matters most.
    ///
    /// # Errors
    ///
    /// Call failures, e.g. `Unimplemented` on a worker.
    pub async fn etcd_snapshot(&self) -> Result<Redacted<Vec<u8>>, Error> {
        self.stream_bytes(Rpc::EtcdSnapshot, machine::EtcdSnapshotRequest {})
            .await
            .map(Redacted::new)
    }

    /// One server-streaming call of `common.Data` frames, concatenated, with retries of
    /// transient failures (each attempt starts the stream over).
    async fn stream_bytes<Req>(&self, rpc: Rpc, request: Req) -> Result<Vec<u8>, Error>
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
    {
        self.with_retries(rpc, || self.stream_bytes_once(rpc, request.clone()))
            .await
    }

    async fn stream_bytes_once<Req>(&self, rpc: Rpc, request: Req) -> Result<Vec<u8>, CallError>
    where
        Req: prost::Message + Send + Sync + 'static,
    {
        let mut grpc = self.grpc();
        grpc.ready().await.map_err(transport_failure)?;
        let response = grpc
            .server_streaming(
                self.request(request),
                PathAndQuery::from_static(rpc.path()),
                ProstCodec::<Req, common::Data>::default(),
            )
            .await
            .map_err(status_failure)?;
        let mut stream = response.into_inner();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.message().await.map_err(status_failure)? {
            check_metadata(chunk.metadata.as_ref(), self.target())?;
            bytes.extend_from_slice(&chunk.bytes);
        }
        Ok(bytes)
    }

    /// Lists etcd members.
    ///
    /// # Errors
    ///
    /// Call failures; without quorum the cluster view fails (the local view still answers).
    pub async fn etcd_members(&self, scope: MemberListScope) -> Result<Vec<EtcdMember>, Error> {
        let request = machine::EtcdMemberListRequest {
            query_local: scope == MemberListScope::Local,
        };
        let messages = self
            .call::<_, machine::EtcdMemberListResponse>(Rpc::EtcdMemberList, request)
            .await?;
        Ok(self
            .first(Rpc::EtcdMemberList, messages)?
            .members
            .into_iter()
            .map(|m| EtcdMember {
                id: m.id,
                hostname: m.hostname,
                peer_urls: m.peer_urls,
                client_urls: m.client_urls,
                is_learner: m.is_learner,
            })
            .collect())
    }

    /// Reads the local etcd member's status: its ID and the leader it sees.
    ///
    /// # Errors
    ///
    /// Call failures (`FailedPrecondition` where etcd does not run).
    pub async fn etcd_status(&self) -> Result<EtcdMemberStatus, Error> {
        let messages = self
            .call::<_, machine::EtcdStatusResponse>(Rpc::EtcdStatus, google_protobuf::Empty {})
            .await?;
        let status = self.first(Rpc::EtcdStatus, messages)?.member_status.unwrap_or_default();
        Ok(EtcdMemberStatus {
            member_id: status.member_id,
            leader: (status.leader != 0).then_some(status.leader),
            is_learner: status.is_learner,
            errors: status.errors,
        })
    }

    /// Removes an etcd member by ID. A `NotFound` on a retry (the first attempt went
    /// through but its answer was lost) counts as done.
    ///
    /// # Errors
    ///
    /// Call failures (e.g. no quorum, unknown member on the first attempt).
    pub async fn etcd_remove_member(&self, member_id: u64) -> Result<(), Error> {
        let request = machine::EtcdRemoveMemberByIdRequest { member_id };
        match self
            .unary::<_, machine::EtcdRemoveMemberByIdResponse>(Rpc::EtcdRemoveMemberById, request)
            .await
        {
            Ok(response) => self.messages(Rpc::EtcdRemoveMemberById, response).map(drop),
            Err(Error::Call { attempts, .. }) if attempts > 1 => {
                // Re-read instead of trusting a lost answer: gone now means removed.
                let members = self.etcd_members(MemberListScope::Cluster).await?;
                if members.iter().any(|m| m.id == member_id) {
                    Err(self.error(
                        Rpc::EtcdRemoveMemberById,
                        attempts,
                        CallError::Status(tonic::Status::unavailable("member still present after retries")),
                    ))
                } else {
                    Ok(())
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Makes the target leave the etcd cluster.
    ///
    /// # Errors
    ///
    /// Call failures.
    pub async fn etcd_leave_cluster(&self) -> Result<(), Error> {
        self.call::<_, machine::EtcdLeaveClusterResponse>(Rpc::EtcdLeaveCluster, machine::EtcdLeaveClusterRequest {})
            .await
            .map(drop)
    }

    /// Resets (wipes) the node; it answers with an action ID, then goes down.
    ///
    /// # Errors
    ///
    /// Call failures (e.g. `PermissionDenied` without `os:admin`).
    pub async fn reset(&self, options: &ResetOptions) -> Result<String, Error> {
        use machine::reset_request::WipeMode as Proto;
        let request = machine::ResetRequest {
            graceful: options.graceful,
            reboot: options.reboot,
            system_partitions_to_wipe: options
                .system_partitions
                .iter()
                .map(|label| machine::ResetPartitionSpec {
                    label: label.clone(),
                    wipe: true,
                })
                .collect(),
            user_disks_to_wipe: options.user_disks.clone(),
            mode: match options.mode {
                WipeMode::All => Proto::All,
                WipeMode::SystemDisk => Proto::SystemDisk,
                WipeMode::UserDisks => Proto::UserDisks,
            } as i32,
        };
        let messages = self.call::<_, machine::ResetResponse>(Rpc::Reset, request).await?;
        Ok(messages.into_iter().next().map(|m| m.actor_id).unwrap_or_default())
    }

    /// Reads the Talos version and platform.
    ///
    /// # Errors
    ///
    /// Call failures.
    pub async fn version(&self) -> Result<NodeVersion, Error> {
        let messages = self
            .call::<_, machine::VersionResponse>(Rpc::Version, google_protobuf::Empty {})
            .await?;
        let first = self.first(Rpc::Version, messages)?;
        let version = first.version.unwrap_or_default();
        let platform = first.platform.unwrap_or_default();
        Ok(NodeVersion {
            tag: version.tag,
            sha: version.sha,
            arch: version.arch,
            platform: platform.name,
            platform_mode: platform.mode,
            rbac: first.features.is_some_and(|f| f.rbac),
        })
    }

    /// Lists the node's services and their health.
    ///
    /// # Errors
    ///
    /// Call failures.
    pub async fn services(&self) -> Result<Vec<ServiceStatus>, Error> {
        let messages = self
            .call::<_, machine::ServiceListResponse>(Rpc::ServiceList, google_protobuf::Empty {})
            .await?;
        Ok(messages
            .into_iter()
            .flat_map(|m| m.services)
            .map(|s| {
                let health = s.health.unwrap_or_default();
                ServiceStatus {
                    id: s.id,
                    state: s.state,
                    healthy: (!health.unknown).then_some(health.healthy),
                    last_message: health.last_message,
                }
            })
            .collect())
    }

    /// Reboots the node; it answers with an action ID, then goes down.
    ///
    /// # Errors
    ///
    /// Call failures.
    pub async fn reboot(&self, mode: RebootMode) -> Result<String, Error> {
        use machine::reboot_request::Mode;
        let request = machine::RebootRequest {
            mode: match mode {
                RebootMode::Default => Mode::Default,
                RebootMode::Powercycle => Mode::Powercycle,
                RebootMode::Force => Mode::Force,
            } as i32,
        };
        let messages = self.call::<_, machine::RebootResponse>(Rpc::Reboot, request).await?;
        Ok(messages.into_iter().next().map(|m| m.actor_id).unwrap_or_default())
    }

    /// Lists the node's disks (`storage.StorageService/Disks`).
    ///
    /// # Errors
    ///
    /// Call failures.
    pub async fn disks(&self) -> Result<Vec<DiskInfo>, Error> {
        let messages = self
            .call::<_, storage::DisksResponse>(Rpc::Disks, google_protobuf::Empty {})
            .await?;
        Ok(messages
            .into_iter()
            .flat_map(|m| m.disks)
            .map(|d| DiskInfo {
                device_name: d.device_name,
                size: d.size,
                model: d.model,
                system_disk: d.system_disk,
            })
            .collect())
    }

    /// Polls Version until the node answers (e.g. after a configuration was applied in
    /// maintenance mode and the node restarted apid with the cluster's certificates).
    /// Every failure counts as "not yet" until `wait` has passed.
    ///
    /// # Errors
    ///
    /// [`Error::NotReady`] naming the last failure seen.
    pub async fn wait_ready(&self, wait: Duration) -> Result<NodeVersion, Error> {
        let started = Instant::now();
        let single = self.with_options(CallOptions {
            retry: Policy::none(),
            timeout: self.options.timeout.min(wait.max(Duration::from_millis(100))),
            ..self.options
        });
        let mut backoff = Policy::talos_wait().with_deadline(wait).backoff();
        loop {
            match single.version().await {
                Ok(version) => return Ok(version),
                Err(last) => match backoff.next() {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => {
                        return Err(Error::NotReady {
                            node: self.target().to_string(),
                            waited: started.elapsed(),
                            last: Box::new(last),
                        });
                    }
                },
            }
        }
    }

    /// One unary call with retries of transient failures, its per-node messages checked.
    async fn call<Req, Resp>(&self, rpc: Rpc, request: Req) -> Result<Vec<Resp::Message>, Error>
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
        Resp: NodeMessages,
    {
        let response: Resp = self.unary(rpc, request).await?;
        self.messages(rpc, response)
    }

    /// The messages of a response, one per node answering; a node that reported an error in
    /// its metadata (filled by a proxying apid) fails the call.
    fn messages<Resp: NodeMessages>(&self, rpc: Rpc, response: Resp) -> Result<Vec<Resp::Message>, Error> {
        let messages = response.into_messages();
        for message in &messages {
            check_metadata(Resp::metadata(message), self.target()).map_err(|failure| self.error(rpc, 1, failure))?;
        }
        Ok(messages)
    }

    /// The first node's message; a response without one is [`CallError::EmptyResponse`].
    fn first<M>(&self, rpc: Rpc, messages: Vec<M>) -> Result<M, Error> {
        messages
            .into_iter()
            .next()
            .ok_or_else(|| self.error(rpc, 1, CallError::EmptyResponse))
    }

    /// One unary call with retries of transient failures.
    async fn unary<Req, Resp>(&self, rpc: Rpc, request: Req) -> Result<Resp, Error>
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.with_retries(rpc, || self.unary_once(rpc, request.clone())).await
    }

    async fn unary_once<Req, Resp>(&self, rpc: Rpc, request: Req) -> Result<Resp, CallError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = self.grpc();
        grpc.ready().await.map_err(transport_failure)?;
        grpc.unary(
            self.request(request),
            PathAndQuery::from_static(rpc.path()),
            ProstCodec::<Req, Resp>::default(),
        )
        .await
        .map(tonic::Response::into_inner)
        .map_err(status_failure)
    }

    /// Runs `attempt` (each bounded by the call timeout) until it succeeds, fails with a
    /// non-transient error, or the retry policy gives up; the error counts the attempts.
    async fn with_retries<T, Fut>(&self, rpc: Rpc, mut attempt: impl FnMut() -> Fut) -> Result<T, Error>
    where
        Fut: Future<Output = Result<T, CallError>>,
    {
        let timeout = self.options.timeout;
        let mut backoff = self.options.retry.backoff();
        loop {
            let failure = match tokio::time::timeout(timeout, attempt()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(failure)) => failure,
                Err(_) => CallError::DeadlineExceeded(timeout),
            };
            let attempts = backoff.attempt();
            match backoff.next().filter(|_| failure.is_transient()) {
                Some(delay) => {
                    tracing::debug!(rpc = rpc.path(), node = %self.target(), attempt = attempts, error = %failure, "retrying");
                    tokio::time::sleep(delay).await;
                }
                None => return Err(self.error(rpc, attempts, failure)),
            }
        }
    }

    fn grpc(&self) -> tonic::client::Grpc<Channel> {
        tonic::client::Grpc::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    fn request<M>(&self, message: M) -> tonic::Request<M> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.options.timeout);
        if let Some(node) = self.node {
            let value = node
                .to_string()
                .parse()
                .expect("invariant: an IP address is valid ASCII metadata");
            request.metadata_mut().insert("node", value);
        }
        request
    }

    fn error(&self, rpc: Rpc, attempts: u32, source: CallError) -> Error {
        Error::Call {
            rpc,
            node: self.target().to_string(),
            attempts,
            source,
        }
    }
}

/// Looks at how a node answers without a client certificate: maintenance nodes answer
/// (`Disks`, or any gRPC status), configured nodes refuse the handshake. This is the
/// Talos Terraform provider's method (reference `talos.md` §F.5).
///
/// # Errors
///
/// The node could not be reached at all (TCP or timeout), or a pin was given and differs.
pub async fn detect_mode(endpoint: SocketAddr, options: CallOptions) -> Result<DetectedMode, Error> {
    let client = TalosClient::new(
        endpoint,
        &Credentials::Maintenance { pin: None },
        CallOptions {
            retry: Policy::none(),
            ..options
        },
    )?;
    let outcome = client.disks().await;
    let server_key = client.server_key();
    match (outcome, server_key) {
        (Ok(_), Some(server_key)) => Ok(DetectedMode::Maintenance { server_key }),
        (Err(error), _) if error.is_client_certificate_rejected() => Ok(DetectedMode::Configured),
        // The server answered over a connection without a client certificate: only a
        // maintenance apid does that, whatever the status.
        (
            Err(Error::Call {
                source: CallError::Status(status),
                ..
            }),
            Some(server_key),
        ) if status_from_server(&status) => Ok(DetectedMode::Maintenance { server_key }),
        (Err(error), _) => Err(error),
        (Ok(_), None) => Err(client.error(Rpc::Disks, 1, CallError::EmptyResponse)),
    }
}

/// Returns true if and only if a status was produced by the remote gRPC server rather than by
/// the local transport (tonic attaches the transport error as the status's source).
fn status_from_server(status: &tonic::Status) -> bool {
    use std::error::Error as _;
    status.source().is_none()
}

fn apply_request(config: &[u8], options: ApplyOptions) -> machine::ApplyConfigurationRequest {
    machine::ApplyConfigurationRequest {
        data: config.to_vec(),
        mode: options.mode.to_proto() as i32,
        dry_run: options.dry_run,
        try_mode_timeout: options.try_timeout.map(|d| google_protobuf::Duration {
            seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
        }),
    }
}

/// A unary response as apid answers it: one message per node, each with its metadata.
trait NodeMessages: prost::Message + Default + Send + Sync + 'static {
    /// The per-node message.
    type Message;
    /// The messages, in the order received.
    fn into_messages(self) -> Vec<Self::Message>;
    /// A message's metadata (node name and any per-node error).
    fn metadata(message: &Self::Message) -> Option<&common::Metadata>;
}

macro_rules! node_messages {
    ($($response:ty => $message:ty,)*) => {$(
        impl NodeMessages for $response {
            type Message = $message;
            fn into_messages(self) -> Vec<$message> {
                self.messages
            }
            fn metadata(message: &$message) -> Option<&common::Metadata> {
                message.metadata.as_ref()
            }
        }
    )*};
}

node_messages! {
    machine::ApplyConfigurationResponse => machine::ApplyConfiguration,
    machine::BootstrapResponse => machine::Bootstrap,
    machine::EtcdMemberListResponse => machine::EtcdMembers,
    machine::EtcdRemoveMemberByIdResponse => machine::EtcdRemoveMemberById,
    machine::EtcdLeaveClusterResponse => machine::EtcdLeaveCluster,
    machine::EtcdStatusResponse => machine::EtcdStatus,
    machine::ResetResponse => machine::Reset,
    machine::VersionResponse => machine::Version,
    machine::ServiceListResponse => machine::ServiceList,
    machine::RebootResponse => machine::Reboot,
    storage::DisksResponse => storage::Disks,
}

/// A per-node error inside a response (filled by a proxying apid).
fn check_metadata(metadata: Option<&common::Metadata>, target: IpAddr) -> Result<(), CallError> {
    let Some(metadata) = metadata else {
        return Ok(());
    };
    if metadata.error.is_empty() {
        return Ok(());
    }
    let node = if metadata.hostname.is_empty() {
        target.to_string()
    } else {
        metadata.hostname.clone()
    };
    Err(CallError::NodeReported {
        node,
        message: metadata.error.clone(),
        code: metadata.status.as_ref().map(|s| tonic::Code::from_i32(s.code)),
    })
}

fn status_failure(status: tonic::Status) -> CallError {
    match tls::find_tls_failure(&status) {
        Some(failure) => tls_call_error(failure),
        None => CallError::Status(status),
    }
}

fn transport_failure(error: tonic::transport::Error) -> CallError {
    match tls::find_tls_failure(&error) {
        Some(failure) => tls_call_error(failure),
        None => CallError::Status(tonic::Status::from_error(Box::new(error))),
    }
}

fn tls_call_error(failure: TlsFailure) -> CallError {
    match failure {
        TlsFailure::PinMismatch { seen, pinned } => CallError::PinMismatch { seen, pinned },
        TlsFailure::ServerNotTrusted(reason) => CallError::ServerNotTrusted { reason },
        TlsFailure::Alert(alert) => CallError::ClientCertificateRejected { alert },
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn apply_mode_is_always_on_the_wire() {
        for (mode, value) in [
            (ApplyMode::Reboot, 0),
            (ApplyMode::Auto, 1),
            (ApplyMode::NoReboot, 2),
            (ApplyMode::Staged, 3),
            (ApplyMode::Try, 4),
        ] {
            let request = apply_request(
                b"x",
                ApplyOptions {
                    mode,
                    dry_run: false,
                    try_timeout: None,
                },
            );
            assert_eq!(request.mode, value);
            assert_eq!(ApplyMode::from_proto(value), Some(mode));
        }
        let bytes = apply_request(
            b"x",
            ApplyOptions {
                mode: ApplyMode::NoReboot,
                dry_run: false,
                try_timeout: None,
            },
        )
        .encode_to_vec();
        assert_eq!(bytes, [0x0a, 0x01, b'x', 0x20, 0x02]);
    }

    #[test]
    fn metadata_error_names_the_node() {
        let target: IpAddr = "127.0.0.9".parse().expect("literal IP");
        assert!(check_metadata(None, target).is_ok());
        assert!(check_metadata(Some(&common::Metadata::default()), target).is_ok());
        let failed = common::Metadata {
            hostname: String::new(),
            error: "etcd is down".into(),
            status: Some(super::super::proto::google_rpc::Status {
                code: 14,
                message: "etcd is down".into(),
                details: Vec::new(),
            }),
        };
        match check_metadata(Some(&failed), target) {
            Err(CallError::NodeReported { node, message, code }) => {
                assert_eq!(node, "127.0.0.9");
                assert_eq!(message, "etcd is down");
                assert_eq!(code, Some(tonic::Code::Unavailable));
            }
            other => panic!("expected a node error, got {other:?}"),
        }
    }
}
