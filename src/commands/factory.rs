//! `factory versions|extensions|download`: what the Image Factory offers, and a verified
//! download of a Hetzner Cloud image with its digests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::ProgressBar;
use serde_json::json;
use talos_hcloud::factory::image_stream::{self, ImageProgress, StreamOptions};
use talos_hcloud::factory::{Compression, FactoryClient, Schematic, SchematicId};
use talos_hcloud::redact::redacted_url;
use talos_hcloud::spec::Architecture;

use super::CliError;
use crate::cli::{FactoryCommand, FactoryDownloadArgs, GlobalArgs};
use crate::printer::{Printer, Report};

/// Runs a `factory` subcommand.
pub async fn run(command: FactoryCommand, global: &GlobalArgs, printer: &Printer) -> Result<(), CliError> {
    let client = FactoryClient::new(&global.factory_url)?;
    match command {
        FactoryCommand::Versions => {
            let versions = client.versions().await?;
            printer.result(&Report::new(versions.join("\n"), json!(versions)));
            Ok(())
        }
        FactoryCommand::Extensions(args) => {
            let extensions = client.official_extensions(&args.talos_version).await?;
            let width = extensions.iter().map(|e| e.name.len()).max().unwrap_or(0);
            let text = extensions
                .iter()
                .map(|e| format!("{:width$}  {}", e.name, e.reference))
                .collect::<Vec<_>>()
                .join("\n");
            printer.result(&Report::new(text, json!(extensions)));
            Ok(())
        }
        FactoryCommand::Download(args) => download(&client, args, printer).await,
    }
}

/// Renders download progress with the printer's byte bar.
struct BarProgress(ProgressBar);

impl ImageProgress for BarProgress {
    fn total(&self, bytes: Option<u64>) {
        if let Some(bytes) = bytes {
            self.0.set_length(bytes);
        }
    }

    fn advanced(&self, done: u64) {
        self.0.set_position(done);
    }

    fn retrying(&self, attempt: u32, offset: u64, reason: &str) {
        self.0.println(format!(
            "download interrupted (attempt {attempt}, {offset} bytes): {reason}; resuming"
        ));
    }
}

async fn download(client: &FactoryClient, args: FactoryDownloadArgs, printer: &Printer) -> Result<(), CliError> {
    let arch: Architecture = args
        .arch
        .parse()
        .map_err(|e| CliError::invalid(format!("--arch: {e}")))?;
    let compression: Compression = args
        .compression
        .parse()
        .map_err(|e| CliError::invalid(format!("--compression: {e}")))?;
    let id = match args.schematic.parse::<SchematicId>() {
        Ok(id) => id,
        Err(_) => Schematic::load(Path::new(&args.schematic))?.id()?,
    };
    let url = client.image_url(&id, &args.talos_version, arch, compression)?;
    // HEAD first: the factory builds the image before answering, and the size lets the
    // progress bar show a total. A failing HEAD is not fatal; the GET reports the error.
    let shown_url = redacted_url(url.as_str()).into_owned();
    printer.status(format!("requesting {shown_url}"));
    let size = client.head_image(&url).await.ok().and_then(|head| head.content_length);
    let bar = printer.bytes_bar(size, format!("hcloud-{arch}"));
    let progress = Arc::new(BarProgress(bar.clone()));
    let options = StreamOptions::new(compression);
    let digest = match &args.output_file {
        None => image_stream::digest(client, url.clone(), options, progress).await,
        Some(path) => {
            let partial = partial_path(path);
            // Removes the partial file on every way out but success, Ctrl-C included (the
            // interrupted command's future is dropped).
            let mut cleanup = RemoveOnDrop(Some(partial.clone()));
            let file = tokio::fs::File::create(&partial)
                .await
                .map_err(|e| CliError::failed(format!("cannot create {}: {e}", partial.display())))?;
            // Decompress, hash and write sparsely on dedicated threads (1 MiB blocks).
            let sink = image_stream::SparseFile::new(file.into_std().await);
            let downloaded = image_stream::download_to(client, url.clone(), options, progress, sink).await;
            if let Ok((_, sink)) = &downloaded {
                sink.file()
                    .sync_all()
                    .map_err(|e| CliError::failed(format!("cannot write {}: {e}", partial.display())))?;
                tokio::fs::rename(&partial, path).await.map_err(|e| {
                    CliError::failed(format!(
                        "cannot rename {} to {}: {e}",
                        partial.display(),
                        path.display()
                    ))
                })?;
                cleanup.0 = None;
            }
            downloaded.map(|(digest, _)| digest)
        }
    };
    bar.finish_and_clear();
    let digest = digest?;
    let text = format!(
        "url                {shown_url}\ncompressed sha256  {}  ({} bytes)\nraw sha256         {}  ({} bytes)",
        digest.compressed_sha256, digest.compressed_bytes, digest.raw_sha256, digest.raw_bytes
    );
    printer.result(&Report::new(
        text,
        json!({
            "url": shown_url,
            "schematic": id,
            "talos_version": args.talos_version,
            "arch": arch,
            "compression": compression,
            "digest": digest,
            "output_file": args.output_file,
        }),
    ));
    Ok(())
}

/// Deletes a file when dropped, unless disarmed by taking the path out.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".part");
    path.with_file_name(name)
}
