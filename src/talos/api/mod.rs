//! The Talos API (apid) client: gRPC over TLS to port 50000, in maintenance mode (no client
//! certificate, optional server-key pin) and configured mode (mutual TLS with a
//! talosconfig's admin certificate, server verified against the OS CA by IP SAN).
//!
//! It knows the wire ([`proto`]), TLS ([`tls`]), and the calls talos-hcloud makes
//! ([`TalosClient`]): apply a machine configuration, bootstrap etcd, fetch the admin
//! kubeconfig, manage etcd membership, reset, reboot, read versions and service health.
//! Every call has a deadline, retries only transient failures (by a [`crate::retry::Policy`]), checks each node's
//! `metadata.error` and fails with an [`Error`] naming the call and the node. It leaves
//! to others what to call when (`cluster`, `node`), the talosconfig file format
//! (`talos::talosconfig`; [`TalosconfigTarget`] reads a parsed context into endpoints and
//! a [`ClientIdentity`]) and certificate issuing and PEM parsing (`talos::pki`).
//!
//! Specification: `reference/talos.md` §F (paths, field numbers, modes, TLS, `node`).

mod client;
mod error;
pub mod kubeconfig;
pub mod proto;
mod target;
pub mod tls;

pub use client::{
    APID_PORT, ApplyMode, ApplyOptions, ApplyOutcome, BootstrapOutcome, CallOptions, Credentials, DetectedMode,
    DiskInfo, EtcdMember, EtcdMemberStatus, MemberListScope, NodeVersion, RebootMode, ResetOptions, ServiceStatus,
    TalosClient, WipeMode, detect_mode,
};
pub use error::{CallError, Error, Rpc};
pub use kubeconfig::{KubeconfigError, extract_kubeconfig};
pub use target::{TalosconfigError, TalosconfigTarget};
pub use tls::{ClientIdentity, CredentialsError, SpkiSha256};
