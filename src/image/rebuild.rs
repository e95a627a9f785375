//! `image rebuild`: the scheduled job. Resolves the target Talos release ([`super::track`]),
//! builds the snapshots that are missing for every architecture of the request
//! ([`super::build`]), then prunes the request's (schematic, arch) groups
//! ([`super::prune`]) and returns one report for automation.
//!
//! Only the groups of the request's schematic and architectures are pruned: a project may
//! hold other clusters' snapshots, which their own jobs look after.

use std::num::NonZeroUsize;

use serde::Serialize;

use super::build::{self, ArchBuild, BuildOptions, BuildRequest, Outcome};
use super::list::{self, Snapshot};
use super::prune::{self, Decision, Failed};
use super::track::{self, Track};
use crate::error::{Class, Classify};
use crate::factory::FactoryClient;
use crate::hcloud::{self, Client, RequestCount};

/// Why a rebuild stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tracked version could not be resolved.
    #[error("while resolving the target Talos version")]
    Track(#[source] track::Error),
    /// Building a snapshot failed (or was interrupted, after its cleanup).
    #[error("while building the snapshots of Talos {version}")]
    Build {
        /// The target version.
        version: String,
        /// The cause.
        #[source]
        source: build::Error,
    },
    /// A signal arrived after the build; nothing was pruned.
    #[error("interrupted before pruning; nothing was deleted")]
    Interrupted,
    /// The snapshots to prune could not be listed.
    #[error("while listing the snapshots to prune")]
    List(#[source] hcloud::Error),
}

impl Classify for Error {
    fn class(&self) -> Class {
        match self {
            Error::Track(error) => error.class(),
            Error::Build { source, .. } => source.class(),
            Error::List(error) => error.class(),
            Error::Interrupted => Class::Interrupted,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Error::Track(error) => error.hints(),
            Error::Build { source, .. } => source.hints(),
            Error::List(error) => error.hints(),
            Error::Interrupted => Vec::new(),
        }
    }
}

/// What a rebuild did: the JSON document of `image rebuild --output json`.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    /// The Talos release the snapshots were made for.
    pub target_version: String,
    /// Where it came from: `pinned` (cluster.yaml) or the `--track` value.
    pub source: String,
    /// The full schematic ID.
    pub schematic: String,
    /// Snapshots built by this run.
    pub built: Vec<ArchBuild>,
    /// Snapshots that already existed.
    pub present: Vec<ArchBuild>,
    /// Snapshots deleted by the prune.
    pub pruned: Vec<Snapshot>,
    /// Snapshots the prune kept, with the reasons.
    pub kept: Vec<Decision>,
    /// Snapshots the prune could not delete.
    pub prune_failed: Vec<Failed>,
    /// Hetzner API requests of the whole run.
    pub api_requests: RequestCount,
}

/// Runs the scheduled job for `request` (its version replaced by the newest release of
/// `track` when given): build what is missing, then keep the `keep` newest snapshots of
/// each of the request's (schematic, arch).
///
/// # Errors
/// [`Error`]: the version cannot be resolved, a build fails or is interrupted (nothing is
/// pruned then), or the snapshots cannot be listed. Failed deletions are in the report,
/// not an error.
pub async fn rebuild(
    client: &Client,
    factory: &FactoryClient,
    mut request: BuildRequest,
    track: Option<Track>,
    keep: NonZeroUsize,
    options: &BuildOptions,
) -> Result<RebuildReport, Error> {
    if let Some(track) = track {
        request.version = track::resolve(factory, track).await.map_err(Error::Track)?;
    }
    let version = request.version.to_string();
    let builds = build::build(client, factory, &request, options)
        .await
        .map_err(|source| Error::Build {
            version: version.clone(),
            source,
        })?;
    let (built, present): (Vec<ArchBuild>, Vec<ArchBuild>) =
        builds.into_iter().partition(|b| b.outcome == Outcome::Built);
    if options.interrupt.count() > 0 {
        return Err(Error::Interrupted);
    }

    let schematic = request.schematic_id.to_string();
    let short: String = schematic.chars().take(32).collect();
    let ours: Vec<Snapshot> = list::list(client)
        .await
        .map_err(Error::List)?
        .into_iter()
        .filter(|s| s.schematic == short && request.architectures.iter().any(|a| a.as_str() == s.arch))
        .collect();
    let pruned = prune::prune(client, ours, keep, false).await;
    Ok(RebuildReport {
        target_version: version,
        source: track.map_or_else(|| "pinned".to_string(), |t| t.to_string()),
        schematic,
        built,
        present,
        pruned: pruned.deleted,
        kept: pruned.kept,
        prune_failed: pruned.failed,
        api_requests: client.request_count(),
    })
}
