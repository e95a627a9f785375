//! `node replace`: the 3 a.m. runbook as one guarded, resumable operation (issue 12).
//!
//! A node's server is deleted and created again with the same name, private IP, primary
//! IPv4, placement group, firewall and labels, and the node rejoins: for a control plane
//! after an etcd snapshot and a graceful etcd leave (or, for a dead one, removal of its
//! member through another control plane), for every node after a drain that honours
//! PodDisruptionBudgets. The steps and what they touch are [`steps`]; reading the cluster
//! is [`context`]; running them is [`run`]; every check and step is recorded with its time
//! in [`evidence`].
//!
//! Each step looks at the world before it acts, and the server carries a progress label
//! ([`LABEL_REPLACE_STEP`]) naming the last step done; while the server is deleted, its
//! absence is the record. So an interrupted run, started again with the same command,
//! continues where it stopped. The parts it is made of are [`crate::node`]'s (Kubernetes
//! client, drain, etcd snapshot and member removal), [`crate::cluster::nodes`]' (config
//! delivery, staged health) and the Hetzner client's.

pub mod context;
pub mod error;
pub mod evidence;
pub mod run;
pub mod steps;

pub use context::{Context, Inputs, LABEL_REPLACE_STEP, Target, read};
pub use error::ReplaceError;
pub use evidence::{Entry, Evidence, Outcome};
pub use run::{Options, Replaced, replace};
pub use steps::{PlannedStep, Step, plan};
