//! The result of one architecture's build, as the command prints it (text or JSON).

use std::collections::BTreeMap;

use crate::hcloud::ImageId;
use crate::spec::Architecture;

use super::request::{Placement, Via};

/// What happened for one architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A snapshot already existed; nothing was created.
    Present,
    /// A new snapshot was built.
    Built,
}

/// The per-architecture report of `image build` (issue 10 step 9).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ArchBuild {
    /// The architecture.
    pub arch: Architecture,
    /// Built now or already present.
    pub outcome: Outcome,
    /// The snapshot to create servers from.
    pub image_id: ImageId,
    /// The full schematic ID.
    pub schematic: String,
    /// The Talos version (`v1.11.5`).
    pub version: String,
    /// Raw image bytes written and verified (0 when present).
    pub bytes: u64,
    /// SHA-256 of the raw image as verified on the disk (empty when present).
    pub sha256: String,
    /// Seconds from the start of the build to this architecture's end.
    pub duration_s: f64,
    /// Seconds spent in each phase (by [`super::Phase::as_str`]).
    pub phases: BTreeMap<String, f64>,
    /// Hetzner API requests of the whole run, retries included (the architectures share
    /// one client, so this is the run's count, not this architecture's share).
    pub api_requests: u64,
    /// Where the builder ran (`None` when present).
    pub placement: Option<Placement>,
    /// How the image was written (`None` when present).
    pub via: Option<Via>,
    /// Snapshots this one replaced (`--force`), deleted after it was verified.
    pub replaced: Vec<ImageId>,
}
