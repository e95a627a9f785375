//! apid of the emulated node: request routing (`node` metadata), authorization (roles from
//! the client certificate, reference `talos.md` §C.3) and the MachineService / StorageService
//! handlers, over the shared wire types of `talos::api::proto`.
//!
//! Unsupported methods answer `Unimplemented` with a message naming the sim, so a test sees
//! the gap instead of a silent success.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use sha2::Digest as _;
use tonic::Status;
use tonic::body::Body;
use tonic_prost::ProstCodec;

use super::cluster::{EtcdError, MemberView};
use super::config::{AcceptedConfig, MachineType};
use super::kubeconfig::{admin_kubeconfig, talos_tarball};
use super::node::{ConfigSource, ConnContext, ConnKind, NodeShared, NodeState, Phase};
use super::proxy;
use crate::talos::api::proto::machine::apply_configuration_request::Mode as ApplyMode;
use crate::talos::api::proto::machine::reset_request::WipeMode;
use crate::talos::api::proto::{common, google_protobuf, machine, paths, storage};

const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

const ADMIN: &str = "os:admin";
const OPERATOR: &str = "os:operator";
const READER: &str = "os:reader";
const ETCD_BACKUP: &str = "os:etcd:backup";
const IMPERSONATOR: &str = "os:impersonator";

/// Handles one HTTP/2 request on an apid connection.
pub(crate) async fn handle(
    shared: Arc<NodeShared>,
    context: Arc<ConnContext>,
    request: http::Request<Incoming>,
) -> http::Response<Body> {
    let path = request.uri().path().to_string();
    if !shared.serves(context.kind) {
        // A request racing a restart on a connection that is being closed.
        return Status::unavailable("apid is restarting").into_http();
    }
    match route(&shared, &context, request.headers()) {
        Route::Local => {}
        Route::Reject(status) => return status.into_http(),
        Route::Forward(target) => {
            let roles = effective_roles(&context, request.headers());
            return proxy::forward(&shared, target, roles, request).await;
        }
    }
    let roles = effective_roles(&context, request.headers());
    if let Err(status) = authorize(&shared, &context, &path, &roles) {
        return status.into_http();
    }
    dispatch(shared, context, &path, request).await
}

enum Route {
    Local,
    Forward(IpAddr),
    Reject(Status),
}

/// The `node` / `nodes` metadata (reference `talos.md` §F.6).
fn route(shared: &NodeShared, context: &ConnContext, headers: &http::HeaderMap) -> Route {
    if headers.contains_key("proxyfrom") {
        return Route::Local;
    }
    // Only the node's own address is local: every emulated node lives on a loopback
    // address, so "any loopback address" would swallow requests meant for others.
    let is_local = |value: &str| value.trim().parse::<IpAddr>().is_ok_and(|ip| ip == shared.address);
    if let Some(nodes) = headers.get("nodes") {
        let all_local = nodes.to_str().is_ok_and(|list| list.split(',').all(is_local));
        return if all_local {
            Route::Local
        } else {
            Route::Reject(Status::unimplemented(
                "one-to-many proxying (`nodes` metadata) is not implemented in talos-hcloud sim; use `node`",
            ))
        };
    }
    let values: Vec<_> = headers.get_all("node").iter().collect();
    match values.as_slice() {
        [] => Route::Local,
        [value] => {
            let Ok(text) = value.to_str() else {
                return Route::Reject(Status::invalid_argument("node metadata is not valid text"));
            };
            if is_local(text) || context.kind == ConnKind::Maintenance {
                // Maintenance apid does no routing.
                return Route::Local;
            }
            let Ok(target) = text.trim().parse::<IpAddr>() else {
                return Route::Reject(Status::invalid_argument(format!(
                    "node metadata {text:?} is not an IP address (talos-hcloud sim routes by address)"
                )));
            };
            let can_forward = matches!(&shared.lock().phase,
                Phase::Configured(configured) if configured.tls.as_ref().is_some_and(|t| t.impersonator.is_some()));
            if can_forward {
                Route::Forward(target)
            } else {
                Route::Reject(Status::permission_denied("no request forwarding"))
            }
        }
        _ => Route::Reject(Status::invalid_argument("node metadata must be single-valued")),
    }
}

/// The caller's roles: its certificate's O values, or — from a proxying control plane whose
/// certificate carries `os:impersonator` — the `talos-role` metadata it forwards.
fn effective_roles(context: &ConnContext, headers: &http::HeaderMap) -> Vec<String> {
    let roles = context.peer.organizations.clone();
    if roles.iter().any(|r| r == IMPERSONATOR) && headers.contains_key("talos-role") {
        return headers
            .get_all("talos-role")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
    }
    roles
}

/// Roles allowed per method (machined's rule table for the methods emulated).
fn rule(path: &str) -> Option<&'static [&'static str]> {
    Some(match path {
        paths::APPLY_CONFIGURATION
        | paths::BOOTSTRAP
        | paths::KUBECONFIG
        | paths::ETCD_REMOVE_MEMBER_BY_ID
        | paths::ETCD_LEAVE_CLUSTER
        | paths::RESET
        | paths::UPGRADE => &[ADMIN],
        paths::ETCD_MEMBER_LIST | paths::ETCD_STATUS => &[ADMIN, OPERATOR, READER, ETCD_BACKUP],
        paths::ETCD_SNAPSHOT => &[ADMIN, OPERATOR, ETCD_BACKUP],
        paths::REBOOT => &[ADMIN, OPERATOR],
        paths::VERSION | paths::SERVICE_LIST | paths::DISKS => &[ADMIN, OPERATOR, READER],
        _ => return None,
    })
}

fn not_in_sim(path: &str) -> Status {
    Status::unimplemented(format!("{path} is not implemented in talos-hcloud sim"))
}

fn not_authorized() -> Status {
    Status::permission_denied("not authorized")
}

fn authorize(shared: &NodeShared, context: &ConnContext, path: &str, roles: &[String]) -> Result<(), Status> {
    let allowed = rule(path).ok_or_else(|| not_in_sim(path))?;
    match context.kind {
        ConnKind::Maintenance if !shared.version.at_least(1, 13) => {
            // v1.10–v1.12: a separate maintenance server; every caller off SideroLink is a
            // reader, so the admin-only methods it serves are "not implemented".
            match path {
                paths::APPLY_CONFIGURATION | paths::DISKS => Ok(()),
                paths::VERSION | paths::RESET | paths::UPGRADE => {
                    Err(Status::unimplemented("API is not implemented in maintenance mode"))
                }
                _ => {
                    let (service, method) = split_path(path);
                    Err(Status::unimplemented(format!(
                        "unknown method {method} for service {service}"
                    )))
                }
            }
        }
        ConnKind::Maintenance => {
            // v1.13+: apid in read-only mode; ApplyConfiguration is open while unconfigured.
            if path == paths::APPLY_CONFIGURATION || allowed.contains(&READER) {
                Ok(())
            } else {
                Err(not_authorized())
            }
        }
        ConnKind::Configured => {
            if !rbac_enforced(shared) || roles.iter().any(|r| allowed.contains(&r.as_str())) {
                Ok(())
            } else {
                Err(not_authorized())
            }
        }
    }
}

/// v1.12+ always enforce roles; before, only with `machine.features.rbac: true`.
fn rbac_enforced(shared: &NodeShared) -> bool {
    if shared.version.at_least(1, 12) {
        return true;
    }
    match &shared.lock().phase {
        Phase::Configured(configured) => configured.config.rbac == Some(true),
        _ => true,
    }
}

fn split_path(path: &str) -> (&str, &str) {
    let trimmed = path.trim_start_matches('/');
    trimmed.split_once('/').unwrap_or((trimmed, ""))
}

async fn dispatch(
    shared: Arc<NodeShared>,
    context: Arc<ConnContext>,
    path: &str,
    request: http::Request<Incoming>,
) -> http::Response<Body> {
    match path {
        paths::VERSION => unary(request, move |_: google_protobuf::Empty| version(&shared)).await,
        paths::SERVICE_LIST => unary(request, move |_: google_protobuf::Empty| service_list(&shared)).await,
        paths::DISKS => unary(request, move |_: google_protobuf::Empty| disks(&shared)).await,
        paths::APPLY_CONFIGURATION => {
            unary(request, move |req: machine::ApplyConfigurationRequest| {
                apply_configuration(&shared, &context, req)
            })
            .await
        }
        paths::BOOTSTRAP => unary(request, move |req: machine::BootstrapRequest| bootstrap(&shared, req)).await,
        paths::ETCD_MEMBER_LIST => {
            unary(request, move |req: machine::EtcdMemberListRequest| {
                etcd_member_list(&shared, req)
            })
            .await
        }
        paths::ETCD_STATUS => unary(request, move |_: google_protobuf::Empty| etcd_member_status(&shared)).await,
        paths::ETCD_REMOVE_MEMBER_BY_ID => {
            unary(request, move |req: machine::EtcdRemoveMemberByIdRequest| {
                etcd_remove_member(&shared, req)
            })
            .await
        }
        paths::ETCD_LEAVE_CLUSTER => {
            unary(request, move |_: machine::EtcdLeaveClusterRequest| etcd_leave(&shared)).await
        }
        paths::RESET => unary(request, move |req: machine::ResetRequest| reset(&shared, req)).await,
        paths::REBOOT => unary(request, move |req: machine::RebootRequest| reboot(&shared, req)).await,
        paths::KUBECONFIG => {
            data_stream(request, move |_: google_protobuf::Empty| {
                kubeconfig(&shared).map(|data| vec![data])
            })
            .await
        }
        paths::ETCD_SNAPSHOT => {
            data_stream(request, move |_: machine::EtcdSnapshotRequest| etcd_snapshot(&shared)).await
        }
        other => not_in_sim(other).into_http(),
    }
}

/// Serves one unary call with `handler`, which answers from the node's state at once.
async fn unary<Req, Resp, F>(request: http::Request<Incoming>, handler: F) -> http::Response<Body>
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + Send + 'static,
    F: FnOnce(Req) -> Result<Resp, Status> + Clone + Send + 'static,
{
    let service = tower::service_fn(move |request: tonic::Request<Req>| {
        let handler = handler.clone();
        async move { handler(request.into_inner()).map(tonic::Response::new) }
    });
    tonic::server::Grpc::new(ProstCodec::<Resp, Req>::default())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
        .unary(service, request)
        .await
}

/// Serves one server-streaming call whose answer is `common.Data` frames, computed at once.
async fn data_stream<Req, F>(request: http::Request<Incoming>, handler: F) -> http::Response<Body>
where
    Req: prost::Message + Default + Send + 'static,
    F: FnOnce(Req) -> Result<Vec<common::Data>, Status> + Clone + Send + 'static,
{
    let service = tower::service_fn(move |request: tonic::Request<Req>| {
        let handler = handler.clone();
        async move {
            let frames = handler(request.into_inner())?;
            Ok::<_, Status>(tonic::Response::new(futures::stream::iter(
                frames.into_iter().map(Ok::<_, Status>),
            )))
        }
    });
    tonic::server::Grpc::new(ProstCodec::<common::Data, Req>::default())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
        .server_streaming(service, request)
        .await
}

fn version(shared: &NodeShared) -> Result<machine::VersionResponse, Status> {
    Ok(machine::VersionResponse {
        messages: vec![machine::Version {
            metadata: None,
            version: Some(machine::VersionInfo {
                tag: shared.version.to_string(),
                sha: "talos-hcloud-sim".into(),
                built: String::new(),
                go_version: "go (talos-hcloud sim)".into(),
                os: "linux".into(),
                arch: shared.arch.clone(),
            }),
            platform: Some(machine::PlatformInfo {
                name: "hcloud".into(),
                mode: "cloud".into(),
            }),
            features: Some(machine::FeaturesInfo {
                rbac: rbac_enforced(shared),
            }),
        }],
    })
}

fn service(id: &str, state: &str, health: Option<(bool, &str)>) -> machine::ServiceInfo {
    machine::ServiceInfo {
        id: id.into(),
        state: state.into(),
        events: Some(machine::ServiceEvents::default()),
        health: Some(match health {
            Some((healthy, message)) => machine::ServiceHealth {
                unknown: false,
                healthy,
                last_message: message.into(),
                last_change: None,
            },
            None => machine::ServiceHealth {
                unknown: true,
                ..Default::default()
            },
        }),
    }
}

fn service_list(shared: &NodeShared) -> Result<machine::ServiceListResponse, Status> {
    let state = shared.lock();
    let mut services = vec![
        service("apid", "Running", Some((true, ""))),
        service("machined", "Running", Some((true, ""))),
        service("udevd", "Running", Some((true, ""))),
    ];
    if let Phase::Configured(configured) = &state.phase {
        services.push(service("containerd", "Running", Some((true, ""))));
        services.push(service("cri", "Running", Some((true, ""))));
        services.push(service("kubelet", "Running", Some((true, ""))));
        if configured.config.machine_type.is_control_plane() {
            services.push(service("trustd", "Running", Some((true, ""))));
            let cluster = &configured.cluster;
            let etcd = match cluster.member_on(shared.address) {
                Some(_) if cluster.quorum_from(shared.address).has_quorum() => {
                    service("etcd", "Running", Some((true, "")))
                }
                Some(_) => service("etcd", "Running", Some((false, "etcd has no quorum"))),
                None if !cluster.is_bootstrapped() => {
                    service("etcd", "Preparing", Some((false, "etcd is waiting to be bootstrapped")))
                }
                None => service("etcd", "Waiting", Some((false, "etcd is waiting to join the cluster"))),
            };
            services.push(etcd);
        }
        services.sort_by(|a, b| a.id.cmp(&b.id));
    }
    Ok(machine::ServiceListResponse {
        messages: vec![machine::ServiceList {
            metadata: None,
            services,
        }],
    })
}

fn disks(shared: &NodeShared) -> Result<storage::DisksResponse, Status> {
    let installed = shared.lock().installed.is_some();
    Ok(storage::DisksResponse {
        messages: vec![storage::Disks {
            metadata: None,
            disks: vec![storage::Disk {
                size: 40 * 1024 * 1024 * 1024,
                model: "QEMU HARDDISK".into(),
                device_name: "/dev/sda".into(),
                name: "QEMU HARDDISK".into(),
                serial: String::new(),
                modalias: "scsi:t-0x00".into(),
                uuid: String::new(),
                wwid: String::new(),
                r#type: storage::disk::DiskType::Hdd as i32,
                bus_path: "/pci0000:00/0000:00:05.0/virtio2/host0/target0:0:0/0:0:0:0".into(),
                system_disk: installed,
                subsystem: "/sys/class/block".into(),
            }],
        }],
    })
}

fn mode_flag(mode: ApplyMode) -> &'static str {
    match mode {
        ApplyMode::Reboot => "reboot",
        ApplyMode::Auto => "auto",
        ApplyMode::NoReboot => "no-reboot",
        ApplyMode::Staged => "staged",
        ApplyMode::Try => "try",
    }
}

fn apply_configuration(
    shared: &Arc<NodeShared>,
    context: &ConnContext,
    request: machine::ApplyConfigurationRequest,
) -> Result<machine::ApplyConfigurationResponse, Status> {
    let mode = ApplyMode::try_from(request.mode)
        .map_err(|_| Status::invalid_argument(format!("unknown apply mode {}", request.mode)))?;
    let answer = |mode: i32, details: String| machine::ApplyConfigurationResponse {
        messages: vec![machine::ApplyConfiguration {
            metadata: None,
            warnings: Vec::new(),
            mode,
            mode_details: details,
        }],
    };
    let mut state = shared.lock();
    let in_maintenance = matches!(state.phase, Phase::Maintenance { .. });
    if context.kind == ConnKind::Maintenance || in_maintenance {
        if !in_maintenance {
            return Err(Status::unavailable("apid is restarting"));
        }
        let legacy = !shared.version.at_least(1, 13);
        if legacy && !matches!(mode, ApplyMode::Auto | ApplyMode::Reboot | ApplyMode::Try) {
            return Err(Status::unimplemented(format!(
                "apply configuration --mode='{}' is not supported in maintenance mode",
                mode_flag(mode)
            )));
        }
        if request.dry_run {
            return Ok(answer(
                if legacy { 0 } else { ApplyMode::NoReboot as i32 },
                "Dry run summary:\nNode is running in maintenance mode and does not have a config yet.".into(),
            ));
        }
        let config = accept_applied(shared, &request.data)?;
        // Install and "reboot" into configured mode; this answer still goes out on the
        // connection being closed gracefully.
        state.installed = Some(config);
        shared
            .boot(&mut state)
            .map_err(|e| Status::internal(format!("cannot start apid in configured mode: {e}")))?;
        return Ok(if legacy {
            answer(0, String::new())
        } else {
            answer(
                ApplyMode::NoReboot as i32,
                "Applied configuration without a reboot".into(),
            )
        });
    }

    let current = match &state.phase {
        Phase::Configured(configured) => configured.config.clone(),
        _ => return Err(Status::unavailable("apid is restarting")),
    };
    if mode == ApplyMode::Reboot && shared.version.at_least(1, 14) {
        return Err(Status::unimplemented(
            "the REBOOT mode is not supported, please use AUTO or NO_REBOOT modes instead",
        ));
    }
    let config = accept_applied(shared, &request.data)?;
    let needs_reboot = config.machine_type != current.machine_type || config.cluster_id != current.cluster_id;
    let unchanged = config.raw == current.raw;
    let resolved = match mode {
        ApplyMode::Auto if needs_reboot && !shared.version.at_least(1, 14) => ApplyMode::Reboot,
        ApplyMode::Auto => ApplyMode::NoReboot,
        other => other,
    };
    if needs_reboot && matches!(resolved, ApplyMode::NoReboot | ApplyMode::Try) {
        return Err(Status::invalid_argument(
            "the configuration change requires a reboot (machine type or cluster changed)",
        ));
    }
    let try_timeout = request
        .try_mode_timeout
        .map(|d| {
            Duration::new(
                u64::try_from(d.seconds).unwrap_or(0),
                u32::try_from(d.nanos).unwrap_or(0),
            )
        })
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(60));
    let details = match resolved {
        ApplyMode::Reboot => "Applied configuration with a reboot".to_string(),
        ApplyMode::Staged => "Staged configuration to be applied after the next reboot".to_string(),
        ApplyMode::Try => format!(
            "Applied configuration without a reboot\nThe config is applied in 'try' mode and will be automatically reverted back in {}s",
            try_timeout.as_secs()
        ),
        ApplyMode::Auto | ApplyMode::NoReboot => "Applied configuration without a reboot".to_string(),
    };
    if request.dry_run {
        let diff = if unchanged {
            "No changes."
        } else {
            "(the diff is not computed by talos-hcloud sim)"
        };
        return Ok(answer(
            resolved as i32,
            format!("Dry run summary:\n{details} (skipped in dry-run).\nConfig diff:\n\n{diff}"),
        ));
    }
    let internal = |e: super::tls::TlsSetupError| Status::internal(format!("cannot apply the configuration: {e}"));
    match resolved {
        ApplyMode::Staged => state.staged = Some(config),
        ApplyMode::Reboot => {
            state.installed = Some(config);
            restart(shared, &mut state, "cannot apply the configuration")?;
        }
        ApplyMode::Try => {
            let previous = current;
            shared.enter_configured(&mut state, config).map_err(internal)?;
            state.try_generation += 1;
            let generation = state.try_generation;
            let shared = shared.clone();
            tokio::spawn(async move {
                shared.clock.sleep(try_timeout).await;
                let mut state = shared.lock();
                // Only the boot that took the TRY config rolls it back (a shutdown, reboot
                // or reset since then bumped the generation).
                if state.try_generation == generation
                    && matches!(state.phase, Phase::Configured(_))
                    && let Err(error) = shared.enter_configured(&mut state, previous)
                {
                    tracing::warn!(%error, "cannot revert the 'try' configuration");
                }
            });
        }
        ApplyMode::Auto | ApplyMode::NoReboot => {
            state.installed = Some(config.clone());
            shared.enter_configured(&mut state, config).map_err(internal)?;
        }
    }
    Ok(answer(resolved as i32, details))
}

fn configured_control_plane(
    shared: &NodeShared,
) -> Result<(Arc<super::cluster::TalosCluster>, MachineType, bool), Status> {
    match &shared.lock().phase {
        Phase::Configured(configured) => Ok((
            configured.cluster.clone(),
            configured.config.machine_type,
            configured.config.etcd_configured,
        )),
        _ => Err(Status::failed_precondition("the node is not configured")),
    }
}

fn etcd_status(error: EtcdError) -> Status {
    let message = error.to_string();
    match error {
        EtcdError::AlreadyBootstrapped => Status::already_exists(message),
        EtcdError::NotRunning | EtcdError::Unhealthy(_) | EtcdError::NoAdvertisedAddress(_) => {
            Status::failed_precondition(message)
        }
        EtcdError::NoQuorum(_) => Status::unavailable(message),
        EtcdError::MemberNotFound => Status::not_found(message),
    }
}

fn bootstrap(shared: &NodeShared, request: machine::BootstrapRequest) -> Result<machine::BootstrapResponse, Status> {
    if request.recover_etcd {
        return Err(Status::unimplemented(
            "bootstrap with etcd recovery is not implemented in talos-hcloud sim",
        ));
    }
    let (cluster, machine_type, etcd_configured) = configured_control_plane(shared)?;
    if shared.version.at_least(1, 14) && (!machine_type.is_control_plane() || !etcd_configured) {
        return Err(Status::invalid_argument(
            "etcd is not configured, bootstrap is not possible",
        ));
    }
    if !machine_type.is_control_plane() {
        return Err(Status::failed_precondition(
            "bootstrap can only be performed on a control plane node",
        ));
    }
    match cluster.bootstrap(shared.address) {
        Ok(_) => Ok(machine::BootstrapResponse {
            messages: vec![machine::Bootstrap { metadata: None }],
        }),
        Err(EtcdError::NotRunning) => Err(Status::failed_precondition("bootstrap is not available yet")),
        Err(error) => Err(etcd_status(error)),
    }
}

fn member_proto(member: MemberView) -> machine::EtcdMember {
    machine::EtcdMember {
        id: member.id,
        hostname: member.hostname,
        peer_urls: urls(&member.peer_addresses, 2380),
        client_urls: urls(&member.peer_addresses, 2379),
        is_learner: false,
    }
}

/// `https://ADDR:PORT` for each address (IPv6 in brackets).
fn urls(addresses: &[IpAddr], port: u16) -> Vec<String> {
    addresses
        .iter()
        .map(|ip| format!("https://{}", socket(*ip, port)))
        .collect()
}

fn socket(ip: IpAddr, port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::new(ip, port)
}

fn etcd_member_list(
    shared: &NodeShared,
    request: machine::EtcdMemberListRequest,
) -> Result<machine::EtcdMemberListResponse, Status> {
    let (cluster, _, _) = configured_control_plane(shared)?;
    let members = cluster
        .list_members(shared.address, request.query_local)
        .map_err(etcd_status)?;
    Ok(machine::EtcdMemberListResponse {
        messages: vec![machine::EtcdMembers {
            metadata: None,
            legacy_members: members.iter().map(|m| m.hostname.clone()).collect(),
            members: members.into_iter().map(member_proto).collect(),
        }],
    })
}

fn etcd_member_status(shared: &NodeShared) -> Result<machine::EtcdStatusResponse, Status> {
    let (cluster, _, _) = configured_control_plane(shared)?;
    let status = cluster.member_status(shared.address).map_err(etcd_status)?;
    Ok(machine::EtcdStatusResponse {
        messages: vec![machine::EtcdStatus {
            metadata: None,
            member_status: Some(machine::EtcdMemberStatus {
                leader: status.leader.unwrap_or(0),
                errors: status
                    .leader
                    .is_none()
                    .then(|| "etcdserver: no leader".to_string())
                    .into_iter()
                    .collect(),
                is_learner: false,
                member_id: status.member_id,
            }),
        }],
    })
}

fn etcd_remove_member(
    shared: &NodeShared,
    request: machine::EtcdRemoveMemberByIdRequest,
) -> Result<machine::EtcdRemoveMemberByIdResponse, Status> {
    let (cluster, _, _) = configured_control_plane(shared)?;
    cluster
        .remove_member(shared.address, request.member_id)
        .map_err(etcd_status)?;
    Ok(machine::EtcdRemoveMemberByIdResponse {
        messages: vec![machine::EtcdRemoveMemberById { metadata: None }],
    })
}

fn etcd_leave(shared: &NodeShared) -> Result<machine::EtcdLeaveClusterResponse, Status> {
    let (cluster, _, _) = configured_control_plane(shared)?;
    cluster.leave(shared.address).map_err(etcd_status)?;
    Ok(machine::EtcdLeaveClusterResponse {
        messages: vec![machine::EtcdLeaveCluster { metadata: None }],
    })
}

fn actor_id() -> String {
    uuid_text(rand::random())
}

/// 16 bytes in the UUID text form (`8-4-4-4-12` hex digits), as Talos's actor IDs and
/// Kubernetes's uids are written.
pub(crate) fn uuid_text(bytes: [u8; 16]) -> String {
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn reset(shared: &NodeShared, request: machine::ResetRequest) -> Result<machine::ResetResponse, Status> {
    let mode = WipeMode::try_from(request.mode)
        .map_err(|_| Status::invalid_argument(format!("unknown wipe mode {}", request.mode)))?;
    if mode == WipeMode::SystemDisk && !request.user_disks_to_wipe.is_empty() {
        return Err(Status::invalid_argument(
            "user disks cannot be wiped in SYSTEM_DISK mode",
        ));
    }
    if mode == WipeMode::UserDisks && !request.system_partitions_to_wipe.is_empty() {
        return Err(Status::invalid_argument(
            "system partitions cannot be wiped in USER_DISKS mode",
        ));
    }
    let mut state = shared.lock();
    if request.graceful
        && let Phase::Configured(configured) = &state.phase
        && configured.cluster.member_on(shared.address).is_some()
    {
        configured.cluster.leave(shared.address).map_err(|error| {
            let status = etcd_status(error);
            Status::new(
                status.code(),
                format!("failed to leave the etcd cluster: {}", status.message()),
            )
        })?;
    }
    let (wipe_state, wipe_ephemeral) = if mode == WipeMode::UserDisks {
        (false, false)
    } else if request.system_partitions_to_wipe.is_empty() {
        (true, true)
    } else {
        let wiped = |label: &str| {
            request
                .system_partitions_to_wipe
                .iter()
                .any(|p| p.wipe && p.label.eq_ignore_ascii_case(label))
        };
        (wiped("STATE"), wiped("EPHEMERAL"))
    };
    shared.wipe(&mut state, wipe_state, wipe_ephemeral);
    if request.reboot {
        restart(shared, &mut state, "cannot boot after reset")?;
    } else {
        shared.shutdown(&mut state);
    }
    Ok(machine::ResetResponse {
        messages: vec![machine::Reset {
            metadata: None,
            actor_id: actor_id(),
        }],
    })
}

/// Validates a config sent by ApplyConfiguration and records it (accepted or not) for
/// the control API; a rejection is `InvalidArgument` with the validator's text.
fn accept_applied(shared: &NodeShared, data: &[u8]) -> Result<Arc<AcceptedConfig>, Status> {
    let outcome = shared.accept(data);
    shared.record(
        data.to_vec(),
        ConfigSource::ApplyConfiguration,
        outcome.as_ref().map(|_| ()),
    );
    outcome
        .map(Arc::new)
        .map_err(|e| Status::invalid_argument(e.to_string()))
}

/// Shuts the node down and boots it again (a reboot, or the reboot after an apply or a
/// reset); a boot failure is an internal error prefixed with `context`.
fn restart(shared: &NodeShared, state: &mut NodeState, context: &str) -> Result<(), Status> {
    shared.shutdown(state);
    shared
        .boot(state)
        .map_err(|e| Status::internal(format!("{context}: {e}")))
}

fn reboot(shared: &NodeShared, _request: machine::RebootRequest) -> Result<machine::RebootResponse, Status> {
    restart(shared, &mut shared.lock(), "cannot boot")?;
    Ok(machine::RebootResponse {
        messages: vec![machine::Reboot {
            metadata: None,
            actor_id: actor_id(),
        }],
    })
}

fn kubeconfig(shared: &NodeShared) -> Result<common::Data, Status> {
    let config = match &shared.lock().phase {
        Phase::Configured(configured) => configured.config.clone(),
        _ => return Err(Status::failed_precondition("the node is not configured")),
    };
    if !config.machine_type.is_control_plane() {
        return Err(Status::failed_precondition(
            "kubeconfig is only available on control plane nodes",
        ));
    }
    let yaml = admin_kubeconfig(&config).map_err(|e| Status::internal(e.to_string()))?;
    let bytes = talos_tarball("kubeconfig", yaml.as_bytes()).map_err(|e| Status::internal(e.to_string()))?;
    Ok(common::Data { metadata: None, bytes })
}

/// The page size of etcd's bbolt database: a snapshot's database part is a whole number of
/// pages.
const DB_PAGE: usize = 4096;

/// `EtcdSnapshot`: this member's database as etcd's snapshot call streams it — the database
/// (here a text description of the cluster's etcd, padded to whole bbolt pages) followed by
/// its SHA-256, in page-sized frames. Like etcd it needs a running local member, not quorum.
fn etcd_snapshot(shared: &NodeShared) -> Result<Vec<common::Data>, Status> {
    let (cluster, machine_type, _) = configured_control_plane(shared)?;
    if !machine_type.is_control_plane() {
        return Err(Status::unimplemented(
            "etcd snapshot is only available on control plane nodes",
        ));
    }
    let members = cluster.list_members(shared.address, true).map_err(etcd_status)?;
    let mut db = format!(
        "talos-hcloud sim etcd snapshot\ncluster: {}\ntaken on: {}\nmembers:\n",
        cluster.id(),
        shared.address
    );
    for member in &members {
        db.push_str(&format!(
            "- {:016x} {} {}\n",
            member.id, member.hostname, member.address
        ));
    }
    let mut bytes = db.into_bytes();
    bytes.resize(bytes.len().div_ceil(DB_PAGE) * DB_PAGE, 0);
    let digest = sha2::Sha256::digest(&bytes);
    bytes.extend_from_slice(&digest);
    Ok(bytes
        .chunks(DB_PAGE)
        .map(|chunk| common::Data {
            metadata: None,
            bytes: chunk.to_vec(),
        })
        .collect())
}
