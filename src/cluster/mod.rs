//! The cluster lifecycle behind `plan`, `apply`, `status`, `destroy` and `doctor`.
//!
//! The Hetzner side: what cluster.yaml asks for ([`desired`]), what Hetzner Cloud holds,
//! found by labels ([`live`]), and the difference as a value ([`plan`]), priced
//! ([`pricing`]) and checked for what would stop an apply before its first mutation
//! ([`preflight`]); [`planning`] runs all of it against a project. Reading is
//! [`live::read`]'s job; everything else there is pure and deterministic, so `plan` and
//! `apply` see the same steps.
//!
//! The Talos side: [`nodes`] (config delivery, etcd bootstrap, staged health, rolling
//! config updates) and the operator's files ([`files`], with the kubeconfig document in
//! [`kubeconfig`]). Around them: [`destroy`] (everything labelled with the cluster, in
//! reverse order), [`doctor`] (read-only checks before a first run) and [`update`] (the
//! plan's in-place changes). Printing is the commands' job.

pub mod apply;
pub mod desired;
pub mod destroy;
pub mod doctor;
pub mod endpoint;
pub mod error;
pub mod files;
pub mod kubeconfig;
pub mod live;
pub mod nodes;
pub mod plan;
pub mod planning;
pub mod preflight;
pub mod pricing;
pub mod status;
pub mod up;
pub mod update;

pub use desired::Desired;
pub use error::Error;
pub use live::Live;
pub use plan::Plan;
pub use planning::{Inputs, Planned, plan_cluster, price};
