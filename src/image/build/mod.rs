//! `image build`: ensure a snapshot exists for (schematic, Talos version, arch), building
//! the missing ones in parallel (issue 10 steps 1–9).
//!
//! [`build`] runs the steps in order: [`preflight`] (fail fast, nothing created), the
//! idempotency check ([`snapshot::find_snapshot`]), one temporary SSH key for the run,
//! the [`sweep`] of older runs' leftovers, then per architecture at once: a builder
//! ([`builder`]) booted into rescue, the image written ([`write`]) and read back
//! ([`verify`]), powered off and snapshotted ([`snapshot`]), the builder deleted. Every
//! temporary resource is recorded and deleted on every way out ([`cleanup`]), SIGINT and
//! SIGTERM included. Each module does one step; this one only orders them.

mod arch;
pub mod builder;
pub mod cleanup;
mod error;
mod options;
pub mod preflight;
mod progress;
mod report;
pub mod request;
pub mod snapshot;
pub mod sweep;
pub mod verify;
pub mod write;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use hcloud::models::image::Status as ImageStatus;

use crate::factory::FactoryClient;
use crate::hcloud::{Client, ImageId};
use crate::spec::Architecture;

pub use cleanup::Leftovers;
pub use error::Error;
pub use options::BuildOptions;
pub use progress::{BuildProgress, NoProgress, Phase};
pub use report::{ArchBuild, Outcome};
pub use request::{BuildRequest, Placement, Via};
pub use snapshot::{find_snapshot, find_snapshots, snapshot_description, snapshot_labels};

/// Ensures a verified snapshot exists for each architecture of `request`; returns one
/// report per architecture, in the request's order.
///
/// Nothing is created before every check passed. Existing snapshots are reported without
/// any create call (unless `request.force`; the old snapshot is then deleted only after
/// the new one is verified and available).
///
/// # Errors
/// [`Error`]: invalid input before anything was created (class invalid input), a failed
/// step (naming the architecture), or [`Error::Interrupted`] after the cleanup.
pub async fn build(
    client: &Client,
    factory: &FactoryClient,
    request: &BuildRequest,
    options: &BuildOptions,
) -> Result<Vec<ArchBuild>, Error> {
    let started = Instant::now();
    let interrupt = &options.interrupt;
    let checked = tokio::select! {
        checked = check(client, factory, request, options, started) => checked?,
        () = interrupt.fired(1) => {
            return Err(Error::Interrupted {
                cleaned: Vec::new(),
                left: Vec::new(),
            });
        }
    };
    let Checked {
        mut reports,
        to_build,
        mut replace,
    } = checked;
    if to_build.is_empty() {
        return Ok(reports);
    }
    let version = request.version.to_string();
    let preflight_s = started.elapsed().as_secs_f64();

    let leftovers = Leftovers::default();
    let run_id = builder::new_run_id()?;
    let work = build_missing(
        client, factory, request, options, &leftovers, &run_id, &to_build, started,
    );
    let outcome = tokio::select! {
        outcome = work => Some(outcome),
        () = interrupt.fired(1) => None,
    };
    if outcome.as_ref().is_none_or(Result::is_err) {
        // An interrupted or failed create may have left something unrecorded: find the
        // run's resources by label too.
        if let Err(error) = cleanup::record_run(client, &leftovers, &run_id).await {
            tracing::warn!(error = %error, "cannot look up this run's temporary resources");
        }
    }
    let cleaned = cleanup::delete_all(client, &leftovers, options.cleanup, interrupt, 2).await;
    let left = leftovers.describe();
    let built = match outcome {
        None => return Err(Error::Interrupted { cleaned, left }),
        Some(Err(error)) => {
            if !left.is_empty() {
                options.progress.note(
                    None,
                    &format!("left behind (the next run sweeps them): {}", left.join(", ")),
                );
            }
            return Err(error);
        }
        Some(Ok(built)) => built,
    };
    for (arch, (mut built, seconds)) in built {
        built.phases.insert(Phase::Preflight.as_str().to_string(), preflight_s);
        let old = replace.remove(&arch).unwrap_or_default();
        let mut replaced = Vec::new();
        for id in old {
            match client.delete_image(id).await {
                Ok(_) => replaced.push(id),
                Err(error) => options.progress.note(
                    Some(arch),
                    &format!("cannot delete the replaced snapshot {id}: {error}"),
                ),
            }
        }
        reports.push(ArchBuild {
            arch,
            outcome: Outcome::Built,
            image_id: built.image_id,
            schematic: request.schematic_id.to_string(),
            version: version.clone(),
            bytes: built.bytes,
            sha256: built.sha256,
            duration_s: seconds,
            phases: built.phases,
            api_requests: client.request_count().total,
            placement: Some(built.placement),
            via: Some(request.via),
            replaced,
        });
    }
    let order = |a: &ArchBuild| request.architectures.iter().position(|x| *x == a.arch);
    reports.sort_by_key(order);
    Ok(reports)
}

/// What the checks decided: the reports of snapshots already present, the
/// architectures to build, and the snapshots each new one replaces (`--force`).
struct Checked {
    reports: Vec<ArchBuild>,
    to_build: Vec<preflight::ArchPlan>,
    replace: BTreeMap<Architecture, Vec<ImageId>>,
}

/// Preflight and the idempotency check: reads only.
async fn check(
    client: &Client,
    factory: &FactoryClient,
    request: &BuildRequest,
    options: &BuildOptions,
    started: Instant,
) -> Result<Checked, Error> {
    for &arch in &request.architectures {
        options.progress.phase(arch, Phase::Preflight);
    }
    let images = preflight::check_factory(factory, request).await?;
    let plans = preflight::check_placements(client, request, images).await?;
    let version = request.version.to_string();
    let mut checked = Checked {
        reports: Vec::new(),
        to_build: Vec::new(),
        replace: BTreeMap::new(),
    };
    for plan in plans {
        let existing: Vec<_> = find_snapshots(client, &request.schematic_id, &version, plan.arch)
            .await?
            .into_iter()
            .filter(|image| image.status == ImageStatus::Available)
            .collect();
        match existing.first() {
            Some(image) if !request.force => {
                let id = ImageId::new(image.id);
                checked.reports.push(present(request, plan.arch, id, client, started));
            }
            _ => {
                let ids = existing.iter().map(|i| ImageId::new(i.id)).collect();
                checked.replace.insert(plan.arch, ids);
                checked.to_build.push(plan);
            }
        }
    }
    Ok(checked)
}

/// The report of a snapshot that already exists.
fn present(
    request: &BuildRequest,
    arch: Architecture,
    image_id: ImageId,
    client: &Client,
    started: Instant,
) -> ArchBuild {
    ArchBuild {
        arch,
        outcome: Outcome::Present,
        image_id,
        schematic: request.schematic_id.to_string(),
        version: request.version.to_string(),
        bytes: 0,
        sha256: String::new(),
        duration_s: started.elapsed().as_secs_f64(),
        phases: BTreeMap::new(),
        api_requests: client.request_count().total,
        placement: None,
        via: None,
        replaced: Vec::new(),
    }
}

/// Key, sweep, and every architecture's pipeline at once; returns each architecture's
/// result with the seconds since `started` when it ended.
#[allow(clippy::too_many_arguments)]
async fn build_missing(
    client: &Client,
    factory: &FactoryClient,
    request: &BuildRequest,
    options: &BuildOptions,
    leftovers: &Leftovers,
    run_id: &str,
    plans: &[preflight::ArchPlan],
    started: Instant,
) -> Result<Vec<(Architecture, (arch::Built, f64))>, Error> {
    let labels = builder::temporary_labels(request.cluster.as_deref(), run_id)?;
    let key = Arc::new(crate::ssh::generate_key().map_err(Error::key)?);
    let key_name = format!("{}builder-{run_id}", request.prefix);
    let (key_id, created) = builder::create_key(client, leftovers, &key_name, &key, &labels).await?;
    let now = sweep::api_now(&created)?;
    let swept = sweep::sweep(client, now, options.sweep_grace, run_id, options.cleanup).await?;
    if !swept.is_empty() {
        options.progress.note(
            None,
            &format!("deleted leftovers of earlier runs: {}", swept.join(", ")),
        );
    }
    let run = arch::Run {
        client,
        factory,
        request,
        options,
        leftovers,
        key,
        key_id,
        labels,
        run_id: run_id.to_string(),
    };
    let results = futures::future::join_all(plans.iter().map(|plan| {
        let run = &run;
        async move {
            let result = arch::build_arch(run, plan).await;
            (plan.arch, result, started.elapsed().as_secs_f64())
        }
    }))
    .await;
    let mut built = Vec::new();
    let mut first_error = None;
    for (arch, result, seconds) in results {
        match result {
            Ok(b) => built.push((arch, (b, seconds))),
            Err(source) => {
                let error = Error::Arch {
                    arch,
                    source: Box::new(source),
                };
                if first_error.is_none() {
                    first_error = Some(error);
                } else {
                    options
                        .progress
                        .note(Some(arch), &crate::error::chain(&error).join(": "));
                }
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(built),
    }
}
