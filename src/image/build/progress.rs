//! How a build reports what it is doing, for a progress bar or log lines; the library
//! never draws (style rule 19).

use crate::spec::Architecture;

/// The phases of one architecture's build, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Checking schematic, version, extensions, image and server types.
    Preflight,
    /// Creating the builder server (with capacity fallback).
    Server,
    /// Enabling rescue and powering on.
    Rescue,
    /// Waiting for the rescue system's SSH server.
    Connect,
    /// Writing the image to `/dev/sda`.
    Write,
    /// Reading the disk back and comparing hashes.
    Verify,
    /// Powering the builder off.
    PowerOff,
    /// Taking the snapshot.
    Snapshot,
    /// Deleting the builder (and, with `--force`, the replaced snapshot).
    Cleanup,
}

impl Phase {
    /// The phase's name as shown and as the JSON report's key.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Preflight => "preflight",
            Phase::Server => "server",
            Phase::Rescue => "rescue",
            Phase::Connect => "connect",
            Phase::Write => "write",
            Phase::Verify => "verify",
            Phase::PowerOff => "power_off",
            Phase::Snapshot => "snapshot",
            Phase::Cleanup => "cleanup",
        }
    }
}

/// Receives build progress. Called from async tasks of several architectures at once:
/// keep it cheap.
pub trait BuildProgress: Send + Sync {
    /// `arch` entered `phase`.
    fn phase(&self, _arch: Architecture, _phase: Phase) {}
    /// `done` bytes of the image were written (raw bytes for `--via remote`, compressed
    /// bytes sent for `--via local`); `total` when known.
    fn bytes(&self, _arch: Architecture, _done: u64, _total: Option<u64>) {}
    /// Something worth telling the operator (a capacity fallback, a sweep).
    fn note(&self, _arch: Option<Architecture>, _message: &str) {}
}

/// Ignores all progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl BuildProgress for NoProgress {}
