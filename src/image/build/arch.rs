//! Steps 4 to 7 for one architecture: builder, rescue, write, verify, power off,
//! snapshot, builder deleted. Runs beside the other architectures' pipelines.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use russh::keys::PrivateKey;

use crate::factory::FactoryClient;
use crate::factory::image_stream::StreamOptions;
use crate::hcloud::{Client, ImageId, Labels, ServerId, SshKeyId};
use crate::spec::Architecture;

use super::cleanup::{Leftovers, delete_recorded_server};
use super::error::Error;
use super::options::BuildOptions;
use super::preflight::ArchPlan;
use super::progress::Phase;
use super::request::{BuildRequest, Placement, Via};
use super::{builder, snapshot, verify, write};

/// What one run shares between its architectures.
pub(super) struct Run<'a> {
    pub client: &'a Client,
    pub factory: &'a FactoryClient,
    pub request: &'a BuildRequest,
    pub options: &'a BuildOptions,
    pub leftovers: &'a Leftovers,
    pub key: Arc<PrivateKey>,
    pub key_id: SshKeyId,
    pub labels: Labels,
    pub run_id: String,
}

/// What a finished pipeline produced.
pub(super) struct Built {
    pub image_id: ImageId,
    pub sha256: String,
    pub bytes: u64,
    pub placement: Placement,
    pub phases: BTreeMap<String, f64>,
}

/// Times the phases of one pipeline.
struct Clock {
    arch: Architecture,
    current: Option<(Phase, Instant)>,
    phases: BTreeMap<String, f64>,
}

impl Clock {
    fn enter(&mut self, phase: Phase, run: &Run<'_>) {
        self.stop();
        run.options.progress.phase(self.arch, phase);
        self.current = Some((phase, Instant::now()));
    }

    fn stop(&mut self) {
        if let Some((phase, since)) = self.current.take() {
            *self.phases.entry(phase.as_str().to_string()).or_default() += since.elapsed().as_secs_f64();
        }
    }
}

/// Builds the snapshot of `plan.arch`. On failure the builder is deleted before the error
/// returns (when the deletion fails too, the builder stays recorded in the leftovers).
pub(super) async fn build_arch(run: &Run<'_>, plan: &ArchPlan) -> Result<Built, Error> {
    let arch = plan.arch;
    let mut clock = Clock {
        arch,
        current: None,
        phases: BTreeMap::new(),
    };
    let name = format!("{}builder-{arch}-{}", run.request.prefix, run.run_id);
    clock.enter(Phase::Server, run);
    let (server, placement) = builder::create_server(
        run.client,
        run.leftovers,
        run.options.progress.as_ref(),
        arch,
        &name,
        &plan.placements,
        run.key_id,
        &run.labels,
    )
    .await?;
    let result = on_builder(run, plan, &mut clock, server, &name).await;
    clock.enter(Phase::Cleanup, run);
    let deleted = delete_recorded_server(run.client, run.leftovers, server, run.options.cleanup)
        .await
        .map_err(Error::hcloud(format!("deleting builder {name}")));
    clock.stop();
    let (image_id, sha256, bytes) = result?;
    deleted?;
    Ok(Built {
        image_id,
        sha256,
        bytes,
        placement,
        phases: clock.phases,
    })
}

/// The steps that need the builder: rescue, write, verify, power off, snapshot.
async fn on_builder(
    run: &Run<'_>,
    plan: &ArchPlan,
    clock: &mut Clock,
    server: ServerId,
    name: &str,
) -> Result<(ImageId, String, u64), Error> {
    let arch = plan.arch;
    let options = run.options;
    clock.enter(Phase::Rescue, run);
    let ip = builder::boot_rescue(run.client, server, name, run.key_id).await?;
    clock.enter(Phase::Connect, run);
    let session = builder::connect(ip, name, Arc::clone(&run.key), options.ssh_deadline).await?;
    clock.enter(Phase::Write, run);
    let written = match run.request.via {
        Via::Remote => {
            write::write_remote(
                &session,
                name,
                &plan.url,
                run.request.compression,
                arch,
                options.progress.as_ref(),
            )
            .await?
        }
        Via::Local => {
            let mut stream = StreamOptions::new(run.request.compression);
            stream.retry = options.download_retry;
            let (written, digest) = write::write_local(
                &session,
                name,
                run.factory,
                &plan.url,
                stream,
                arch,
                Arc::clone(&options.progress),
            )
            .await?;
            if written.sha256 != digest.raw_sha256 || written.bytes != digest.raw_bytes {
                return Err(Error::Verify {
                    server: name.to_string(),
                    reason: format!(
                        "the rescue decompressed {} bytes hashing to {}, talos-hcloud {} bytes hashing to {}",
                        written.bytes, written.sha256, digest.raw_bytes, digest.raw_sha256
                    ),
                });
            }
            written
        }
    };
    clock.enter(Phase::Verify, run);
    verify::verify_disk(&session, name, &written.sha256, written.bytes).await?;
    session.close().await;
    clock.enter(Phase::PowerOff, run);
    snapshot::power_off(run.client, server, name, options.status_poll).await?;
    clock.enter(Phase::Snapshot, run);
    let version = run.request.version.to_string();
    let image = snapshot::take_snapshot(
        run.client,
        server,
        name,
        &run.request.schematic_id,
        &version,
        arch,
        options.status_poll,
    )
    .await?;
    Ok((image, written.sha256, written.bytes))
}
