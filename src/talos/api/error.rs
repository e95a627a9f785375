//! Errors of the Talos API client: which call on which node, and why.

use std::time::Duration;

use crate::error::{Class, Classify};

use super::kubeconfig::KubeconfigError;
use super::tls::{CredentialsError, SpkiSha256};

/// A Talos API call, named for error messages by what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rpc {
    /// `ApplyConfiguration`.
    ApplyConfiguration,
    /// `Bootstrap`.
    Bootstrap,
    /// `Kubeconfig`.
    Kubeconfig,
    /// `EtcdMemberList`.
    EtcdMemberList,
    /// `EtcdRemoveMemberByID`.
    EtcdRemoveMemberById,
    /// `EtcdLeaveCluster`.
    EtcdLeaveCluster,
    /// `EtcdSnapshot`.
    EtcdSnapshot,
    /// `EtcdStatus`.
    EtcdStatus,
    /// `Reset`.
    Reset,
    /// `Version`.
    Version,
    /// `ServiceList`.
    ServiceList,
    /// `Reboot`.
    Reboot,
    /// `storage.StorageService/Disks`.
    Disks,
}

impl Rpc {
    /// The full gRPC method path.
    pub fn path(self) -> &'static str {
        use super::proto::paths;
        match self {
            Rpc::ApplyConfiguration => paths::APPLY_CONFIGURATION,
            Rpc::Bootstrap => paths::BOOTSTRAP,
            Rpc::Kubeconfig => paths::KUBECONFIG,
            Rpc::EtcdMemberList => paths::ETCD_MEMBER_LIST,
            Rpc::EtcdRemoveMemberById => paths::ETCD_REMOVE_MEMBER_BY_ID,
            Rpc::EtcdLeaveCluster => paths::ETCD_LEAVE_CLUSTER,
            Rpc::EtcdSnapshot => paths::ETCD_SNAPSHOT,
            Rpc::EtcdStatus => paths::ETCD_STATUS,
            Rpc::Reset => paths::RESET,
            Rpc::Version => paths::VERSION,
            Rpc::ServiceList => paths::SERVICE_LIST,
            Rpc::Reboot => paths::REBOOT,
            Rpc::Disks => paths::DISKS,
        }
    }

    /// What the call does, for "while … on NODE".
    pub fn activity(self) -> &'static str {
        match self {
            Rpc::ApplyConfiguration => "applying the machine configuration",
            Rpc::Bootstrap => "bootstrapping etcd",
            Rpc::Kubeconfig => "fetching the admin kubeconfig",
            Rpc::EtcdMemberList => "listing etcd members",
            Rpc::EtcdRemoveMemberById => "removing an etcd member",
            Rpc::EtcdLeaveCluster => "leaving the etcd cluster",
            Rpc::EtcdSnapshot => "taking an etcd snapshot",
            Rpc::EtcdStatus => "reading the etcd status",
            Rpc::Reset => "resetting the node",
            Rpc::Version => "reading the Talos version",
            Rpc::ServiceList => "listing services",
            Rpc::Reboot => "rebooting the node",
            Rpc::Disks => "listing disks",
        }
    }
}

/// An error of the Talos API client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The credentials (talosconfig material, pin) are unusable; nothing was sent.
    #[error("invalid Talos API credentials")]
    Credentials(#[source] CredentialsError),
    /// The endpoint address cannot be used for a gRPC channel.
    #[error("invalid Talos API endpoint {endpoint}")]
    Endpoint {
        /// The endpoint as given.
        endpoint: String,
    },
    /// A call failed on a node.
    #[error("while {} on {node}", rpc.activity())]
    Call {
        /// The call.
        rpc: Rpc,
        /// The node the call was for (the `node` target, else the endpoint).
        node: String,
        /// Attempts made (retries of transient failures included).
        attempts: u32,
        /// Why it failed.
        #[source]
        source: CallError,
    },
    /// A node did not become reachable in configured mode in time.
    #[error("{node} did not answer the Talos API within {waited:?}")]
    NotReady {
        /// The node waited for.
        node: String,
        /// How long it was waited for.
        waited: Duration,
        /// The last failure seen.
        #[source]
        last: Box<Error>,
    },
}

/// Why one call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The node (or the transport) answered with a gRPC status.
    #[error("{}", status_text(.0))]
    Status(tonic::Status),
    /// No answer within the call's deadline.
    #[error("no answer within {0:?}")]
    DeadlineExceeded(Duration),
    /// The node refused the TLS client certificate (wrong CA, wrong key usage, or no
    /// certificate where one is required).
    #[error("the node refused the TLS client certificate (TLS alert {alert})")]
    ClientCertificateRejected {
        /// The TLS alert received.
        alert: String,
    },
    /// The node's TLS certificate is not trusted (not signed by the OS CA, or no SAN for
    /// the dialled address).
    #[error("the node's TLS certificate is not trusted: {reason}")]
    ServerNotTrusted {
        /// rustls's reason.
        reason: String,
    },
    /// The maintenance-mode server key differs from the pinned one.
    #[error("the node's public key {seen} differs from the pinned key {pinned}")]
    PinMismatch {
        /// The key presented.
        seen: SpkiSha256,
        /// The key expected.
        pinned: SpkiSha256,
    },
    /// A node answered inside the response with an error (a proxying apid reports per-node
    /// failures in `messages[].metadata`).
    #[error("{node} reported: {message}")]
    NodeReported {
        /// The node that failed (metadata hostname).
        node: String,
        /// Its error text.
        message: String,
        /// Its gRPC code, when given.
        code: Option<tonic::Code>,
    },
    /// The response held no message where one was needed.
    #[error("the node sent an empty response")]
    EmptyResponse,
    /// The kubeconfig stream was unusable.
    #[error("the kubeconfig stream is unusable")]
    Kubeconfig(#[source] KubeconfigError),
}

fn status_text(status: &tonic::Status) -> String {
    let message = status.message();
    if message.is_empty() {
        format!("{:?}", status.code())
    } else {
        format!("{:?}: {message}", status.code())
    }
}

impl CallError {
    /// The gRPC code a gRPC client would report for this failure: TLS failures surface as
    /// `Unavailable` (as grpc-go reports a failed handshake), local timeouts as
    /// `DeadlineExceeded`.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            CallError::Status(status) => Some(status.code()),
            CallError::DeadlineExceeded(_) => Some(tonic::Code::DeadlineExceeded),
            CallError::ClientCertificateRejected { .. }
            | CallError::ServerNotTrusted { .. }
            | CallError::PinMismatch { .. } => Some(tonic::Code::Unavailable),
            CallError::NodeReported { code, .. } => *code,
            CallError::EmptyResponse | CallError::Kubeconfig(_) => None,
        }
    }

    /// Returns true if and only if trying again may help: `Unavailable` or
    /// `DeadlineExceeded` from the transport or the node, never a TLS identity failure.
    pub fn is_transient(&self) -> bool {
        match self {
            CallError::Status(status) => {
                matches!(status.code(), tonic::Code::Unavailable | tonic::Code::DeadlineExceeded)
            }
            CallError::DeadlineExceeded(_) => true,
            CallError::ClientCertificateRejected { .. }
            | CallError::ServerNotTrusted { .. }
            | CallError::PinMismatch { .. }
            | CallError::NodeReported { .. }
            | CallError::EmptyResponse
            | CallError::Kubeconfig(_) => false,
        }
    }
}

impl Error {
    /// The gRPC code behind this error, if any (see [`CallError::code`]).
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            Error::Call { source, .. } => source.code(),
            Error::NotReady { last, .. } => last.code(),
            Error::Credentials(_) | Error::Endpoint { .. } => None,
        }
    }

    /// The call failure, if this is one.
    pub fn call_error(&self) -> Option<&CallError> {
        match self {
            Error::Call { source, .. } => Some(source),
            Error::NotReady { last, .. } => last.call_error(),
            Error::Credentials(_) | Error::Endpoint { .. } => None,
        }
    }

    /// Returns true if and only if the node refused our client certificate at the TLS level.
    pub fn is_client_certificate_rejected(&self) -> bool {
        matches!(self.call_error(), Some(CallError::ClientCertificateRejected { .. }))
    }
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::Credentials(_) | Error::Endpoint { .. } => Class::InvalidInput,
            // A machine config the node refuses: nothing was changed, the input is wrong.
            Error::Call {
                rpc: Rpc::ApplyConfiguration,
                source: CallError::Status(status),
                ..
            } if status.code() == tonic::Code::InvalidArgument => Class::InvalidInput,
            Error::Call { .. } | Error::NotReady { .. } => Class::Failed,
        }
    }

    fn hints(&self) -> Vec<String> {
        let Some(source) = self.call_error() else {
            return Vec::new();
        };
        let hint = match source {
            CallError::ClientCertificateRejected { .. } => {
                "the node accepts only client certificates signed by the cluster's OS CA with the clientAuth usage alone: \
                 is the talosconfig from this cluster's secrets.yaml?"
            }
            CallError::ServerNotTrusted { .. } => {
                "the node's certificate is not from the talosconfig's CA: a node still in maintenance mode, \
                 or a talosconfig of another cluster?"
            }
            CallError::PinMismatch { .. } => {
                "a different machine answers at this address than the one first seen; \
                 check the server in the Hetzner console before sending it a configuration"
            }
            CallError::Status(status) if status.code() == tonic::Code::PermissionDenied => {
                "the client certificate lacks the role this call needs (os:admin for changes)"
            }
            CallError::Status(status)
                if matches!(status.code(), tonic::Code::Unavailable | tonic::Code::DeadlineExceeded) =>
            {
                "check that the node runs and that port 50000 is reachable from here (firewall admin_cidrs)"
            }
            _ => return Vec::new(),
        };
        vec![hint.to_string()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::chain;

    /// A call to `node` answered with `status` on its first attempt.
    fn refused(rpc: Rpc, node: &str, status: tonic::Status) -> Error {
        Error::Call {
            rpc,
            node: node.into(),
            attempts: 1,
            source: CallError::Status(status),
        }
    }

    #[test]
    fn names_the_call_and_node_without_repeating_the_cause() {
        let error = refused(
            Rpc::Bootstrap,
            "127.0.0.11",
            tonic::Status::failed_precondition("bootstrap can only be performed on a control plane node"),
        );
        assert_eq!(
            chain(&error),
            [
                "while bootstrapping etcd on 127.0.0.11",
                "FailedPrecondition: bootstrap can only be performed on a control plane node"
            ]
        );
        assert_eq!(error.class(), Class::Failed);
        assert_eq!(error.code(), Some(tonic::Code::FailedPrecondition));
    }

    #[test]
    fn rejected_config_is_invalid_input_and_permission_has_a_hint() {
        let error = refused(
            Rpc::ApplyConfiguration,
            "127.0.0.2",
            tonic::Status::invalid_argument("bad"),
        );
        assert_eq!(error.class(), Class::InvalidInput);
        let denied = refused(
            Rpc::Reset,
            "127.0.0.2",
            tonic::Status::permission_denied("not authorized"),
        );
        assert_eq!(denied.class(), Class::Failed);
        assert!(denied.hints()[0].contains("os:admin"));
    }

    #[test]
    fn only_unavailable_and_deadline_are_transient() {
        assert!(CallError::Status(tonic::Status::unavailable("x")).is_transient());
        assert!(CallError::Status(tonic::Status::deadline_exceeded("x")).is_transient());
        assert!(CallError::DeadlineExceeded(Duration::from_secs(1)).is_transient());
        for status in [
            tonic::Status::invalid_argument("x"),
            tonic::Status::permission_denied("x"),
            tonic::Status::failed_precondition("x"),
            tonic::Status::already_exists("x"),
            tonic::Status::unimplemented("x"),
        ] {
            assert!(!CallError::Status(status).is_transient());
        }
        assert!(!CallError::ClientCertificateRejected { alert: "x".into() }.is_transient());
    }
}
