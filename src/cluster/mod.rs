//! The cluster as a whole: what cluster.yaml asks for ([`desired`]), what Hetzner Cloud
//! holds, found by labels ([`live`]), and the difference as a value ([`plan`]), priced
//! ([`pricing`]) and checked for what would stop an apply before its first mutation
//! ([`preflight`]); [`planning`] runs all of it against a project.
//!
//! Nothing here changes the project: reading is [`live::read`]'s job, everything else is
//! pure and deterministic, so `plan` and a later `apply` see the same steps. It calls
//! `spec` for names and labels, `talos::config` for rendered configs (hashed per node) and
//! `hcloud` for reading; printing is the command's.

pub mod desired;
pub mod error;
pub mod live;
pub mod plan;
pub mod planning;
pub mod preflight;
pub mod pricing;

pub use desired::Desired;
pub use error::Error;
pub use live::Live;
pub use plan::Plan;
pub use planning::{Inputs, Planned, plan_cluster};
