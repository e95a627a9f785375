//! The cluster lifecycle behind `plan`, `apply`, `status` and `destroy`.
//!
//! This part holds the Talos side of `apply`: [`nodes`] (config delivery, etcd bootstrap,
//! staged health, rolling config updates) and the operator's files ([`files`], with the
//! kubeconfig document in [`kubeconfig`]). The Hetzner side (desired and live state, the
//! plan) lives beside it; the commands only wire them together and print.

pub mod files;
pub mod kubeconfig;
pub mod nodes;
