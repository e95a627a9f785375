//! Cluster lifecycle operations on Hetzner, read by label (design.md §3).

pub mod destroy;
pub mod doctor;
