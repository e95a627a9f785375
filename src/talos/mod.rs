//! Talos Linux: the secrets bundle, machine configuration and the Talos API.
//!
//! Everything talosctl would generate is generated here natively (no talosctl needed);
//! `reference/talos.md` is the specification followed.

pub mod secrets;
