//! `up`: the one-shot bootstrap. Makes sure the Talos snapshots exist (building what is
//! missing, [`crate::image::build`]) and then applies the cluster ([`super::apply`]).

use serde::Serialize;

use super::apply::{self, ApplyError, ApplyOptions, ApplyReport};
use crate::error::{Class, Classify};
use crate::factory::FactoryClient;
use crate::hcloud::Client;
use crate::image::build::{self, ArchBuild, BuildOptions, BuildRequest};
use crate::spec::Spec;

/// What `up` did.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    /// One entry per architecture: present, or built now.
    pub images: Vec<ArchBuild>,
    /// The apply.
    pub apply: ApplyReport,
}

/// Why `up` stopped.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// The snapshot build failed (nothing of the cluster was created).
    #[error("while making sure the Talos snapshots exist")]
    Build(#[source] Box<build::Error>),
    /// The apply failed.
    #[error("while applying the cluster")]
    Apply(#[source] Box<ApplyError>),
}

impl Classify for UpError {
    fn class(&self) -> Class {
        match self {
            UpError::Build(source) => source.class(),
            UpError::Apply(source) => source.class(),
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            UpError::Build(source) => source.hints(),
            UpError::Apply(source) => source.hints(),
        }
    }
}

/// Builds the snapshots `spec` needs where they are missing, then applies it.
///
/// # Errors
/// [`UpError::Build`] before any cluster resource is made, or [`UpError::Apply`].
pub async fn up(
    client: &Client,
    factory: &FactoryClient,
    spec: &Spec,
    build_options: &BuildOptions,
    apply_options: &ApplyOptions,
    progress: &dyn apply::ApplyProgress,
) -> Result<UpReport, UpError> {
    let images = ensure_snapshots(client, factory, spec, build_options, progress).await?;
    let apply = apply::run(client, spec, apply_options, progress)
        .await
        .map_err(|e| UpError::Apply(Box::new(e)))?;
    Ok(UpReport { images, apply })
}

/// Builds the snapshots `spec` needs where they are missing; one report per architecture.
///
/// # Errors
/// [`UpError::Build`].
pub async fn ensure_snapshots(
    client: &Client,
    factory: &FactoryClient,
    spec: &Spec,
    build_options: &BuildOptions,
    progress: &dyn apply::ApplyProgress,
) -> Result<Vec<ArchBuild>, UpError> {
    let request = BuildRequest::from_spec(spec).map_err(|e| UpError::Build(Box::new(e)))?;
    let images = build::build(client, factory, &request, build_options)
        .await
        .map_err(|e| UpError::Build(Box::new(e)))?;
    for image in &images {
        let outcome = match image.outcome {
            build::Outcome::Present => "present",
            build::Outcome::Built => "built",
        };
        progress.note(format!("snapshot {} ({}): {outcome}", image.image_id, image.arch));
    }
    Ok(images)
}
