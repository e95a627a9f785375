//! Talos Linux: the secrets bundle, machine configuration, talosconfig and the Talos API.
//!
//! Everything talosctl would generate is generated here natively (no talosctl needed);
//! `reference/talos.md` is the specification followed.

pub mod api;
pub mod config;
pub mod contract;
pub mod machine_type;
pub mod pki;
pub mod secret_yaml;
pub mod secrets;
pub mod talosconfig;
pub mod version;
