//! Talos snapshots on Hetzner Cloud: the Packer replacement (issue 10).
//!
//! [`build`] turns (schematic, Talos version, architecture) into a labelled snapshot:
//! checks before spending money, a temporary builder server booted into rescue, the image
//! written and verified, the snapshot taken, everything temporary deleted. Snapshots are
//! found again by their labels (design.md §3), never through local state, so listing
//! ([`list`]), pruning ([`prune`]) and the scheduled rebuild ([`rebuild`], whose target
//! release [`track`] resolves) work from any machine.
//!
//! It calls `factory` (schematics, versions, image streams), `hcloud` (the API) and `ssh`
//! (the rescue system); it never prints: progress goes through
//! [`build::BuildProgress`], results are values.

pub mod build;
pub mod list;
pub mod prune;
pub mod rebuild;
pub mod track;
