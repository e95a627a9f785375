//! The arguments of `schematic`, `factory` and `image`: schematics, the Image Factory and
//! Talos snapshots.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Subcommands of `schematic`.
#[derive(Debug, Subcommand)]
pub enum SchematicCommand {
    /// Print a schematic's Image Factory ID (offline).
    ///
    /// The file is parsed strictly (unknown fields are errors with file:line:column),
    /// re-written in the factory's canonical YAML and hashed. Formatting, key order and
    /// JSON-vs-YAML do not change the ID; the order of list items does. With
    /// `--output json` the canonical YAML is printed too.
    ///
    /// Example:
    ///
    ///   talos-hcloud schematic id schematics/hcloud.yaml
    ///   ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515
    Id(SchematicFileArgs),

    /// Register a schematic with the Image Factory and print its ID.
    ///
    /// Sends the canonical YAML to `POST /schematics` on TALOS_FACTORY_URL (or
    /// --factory-url). Pushing again is harmless. Fails (exit 1) if the factory's ID
    /// differs from the one computed locally.
    ///
    /// Example:
    ///
    ///   TALOS_FACTORY_URL=https://factory.talos.dev talos-hcloud schematic push schematics/hcloud.yaml
    Push(SchematicFileArgs),

    /// Check that every official extension of a schematic exists for a Talos version.
    ///
    /// The factory accepts unknown extension names when a schematic is pushed and only
    /// fails when the image is built; this check fails early (exit 2) instead, naming the
    /// missing extensions and close matches.
    ///
    /// Example:
    ///
    ///   talos-hcloud schematic check schematics/hcloud.yaml --talos-version v1.11.1
    Check(SchematicCheckArgs),
}

/// A schematic file argument.
#[derive(Debug, Args)]
pub struct SchematicFileArgs {
    /// The schematic file (YAML or JSON).
    pub file: PathBuf,
}

/// Arguments of `schematic check`.
#[derive(Debug, Args)]
pub struct SchematicCheckArgs {
    /// The schematic file (YAML or JSON).
    pub file: PathBuf,

    /// The Talos version the image will be built for, e.g. v1.11.1.
    #[arg(long = "talos-version", value_name = "VERSION")]
    pub talos_version: String,
}

/// Subcommands of `factory`.
#[derive(Debug, Subcommand)]
pub enum FactoryCommand {
    /// List the Talos versions the factory can build, oldest first.
    ///
    /// Example:
    ///
    ///   talos-hcloud factory versions --output json
    Versions,

    /// List the official system extensions available for a Talos version.
    ///
    /// Example:
    ///
    ///   talos-hcloud factory extensions v1.11.1
    Extensions(FactoryExtensionsArgs),

    /// Download a Hetzner Cloud image and print its SHA-256 digests.
    ///
    /// The factory publishes no checksums for hcloud images; this computes them: the
    /// SHA-256 and size of the compressed download and of the decompressed disk image,
    /// in constant memory. Interrupted downloads resume with HTTP ranges. The schematic
    /// must have been pushed to the factory. With --output-file (-o) the raw disk image is
    /// written to that file too.
    ///
    /// Example:
    ///
    ///   talos-hcloud factory download schematics/hcloud.yaml --talos-version v1.11.1 --arch arm64
    Download(FactoryDownloadArgs),
}

/// Subcommands of `image`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Ensure a Talos snapshot exists per architecture; build the missing ones in parallel.
    ///
    /// Inputs come from cluster.yaml (`talos.version`, `talos.schematic`, the architectures
    /// of its server types, `location`); flags override them, and with --schematic,
    /// --talos-version and --arch no cluster.yaml is needed. An existing snapshot with the
    /// same labels is reported and nothing is created; --force builds a new one and deletes
    /// the old one after the new one is verified. Ctrl-C (or SIGTERM) deletes the temporary
    /// server and key before exiting (exit 3); a second Ctrl-C exits at once, saying what
    /// is left for the next run to sweep.
    ///
    /// Example (no cluster.yaml; fall back to Nuremberg and Helsinki when Falkenstein has no
    /// capacity):
    ///
    ///   talos-hcloud image build --schematic schematics/hcloud.yaml --talos-version v1.11.5 --arch arm64,amd64 --location fsn1,nbg1,hel1
    Build(ImageBuildArgs),

    /// List talos-hcloud's snapshots, newest first, and the servers created from each.
    ///
    /// Shows ID, Talos version, architecture, schematic (first 12 hex digits), size, age
    /// and which servers use it; `--output json` gives every field (full schematic label,
    /// description, creation time, protection, status).
    ///
    /// Example:
    ///
    ///   talos-hcloud image list --output json
    List,

    /// Delete old snapshots: keep the N newest of each (schematic, architecture).
    ///
    /// A snapshot a server was created from, one with delete protection and one still
    /// being created are never deleted; every snapshot kept is listed with the reason.
    /// Prints exactly what was deleted. Exit 1 if a deletion failed (the others are still
    /// tried).
    ///
    /// Example:
    ///
    ///   talos-hcloud image prune --keep 3 --dry-run
    Prune(ImagePruneArgs),

    /// The scheduled job: build the snapshots of the target Talos version, then prune.
    ///
    /// The target is cluster.yaml's `talos.version`, or with --track the newest stable
    /// release the Image Factory lists (`latest`, or of one release line such as `1.11`;
    /// never an alpha, beta or rc). Snapshots missing for any architecture of cluster.yaml
    /// are built as `image build` builds them; then that schematic's snapshots are pruned
    /// as `image prune --keep N` does. Exit 0 whether or not anything was built; with
    /// `--output json` one report: target_version, source, schematic, built, present,
    /// pruned, kept, prune_failed, api_requests. SIGINT/SIGTERM delete the temporary
    /// builder before exiting (3).
    ///
    /// Example:
    ///
    ///   talos-hcloud -c cluster.yaml image rebuild --track latest --keep 3 --output json
    Rebuild(ImageRebuildArgs),
}

/// Arguments of `image prune`.
#[derive(Debug, Args)]
pub struct ImagePruneArgs {
    /// How many snapshots of each (schematic, architecture) to keep, newest first (at
    /// least 1).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub keep: u64,

    /// Only say what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `image rebuild`.
#[derive(Debug, Args)]
pub struct ImageRebuildArgs {
    /// Follow the newest stable Talos release instead of cluster.yaml's version: `latest`,
    /// or a release line such as `1.11`.
    #[arg(long, value_name = "latest|X.Y")]
    pub track: Option<String>,

    /// How many snapshots of each architecture to keep after the build, newest first (at
    /// least 1).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub keep: u64,
}

/// Arguments of `factory extensions`.
#[derive(Debug, Args)]
pub struct FactoryExtensionsArgs {
    /// The Talos version, e.g. v1.11.1.
    #[arg(value_name = "VERSION")]
    pub talos_version: String,
}

/// Arguments of `factory download`.
#[derive(Debug, Args)]
pub struct FactoryDownloadArgs {
    /// A schematic file, or a schematic ID (64 hex digits).
    pub schematic: String,

    /// The Talos version, e.g. v1.11.1.
    #[arg(long = "talos-version", value_name = "VERSION")]
    pub talos_version: String,

    /// The architecture: amd64 or arm64.
    #[arg(long, default_value = "amd64")]
    pub arch: String,

    /// The compression to download: zstd or xz.
    #[arg(long, default_value = "zstd")]
    pub compression: String,

    /// Also write the decompressed disk image to this file (written to FILE.part, then
    /// renamed).
    #[arg(long = "output-file", short = 'o', value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

/// Arguments of `image build`.
#[derive(Debug, Args)]
pub struct ImageBuildArgs {
    /// The schematic file (default: cluster.yaml's `talos.schematic`).
    #[arg(long, value_name = "FILE")]
    pub schematic: Option<PathBuf>,

    /// The Talos version, e.g. v1.11.5 (default: cluster.yaml's `talos.version`).
    #[arg(long = "talos-version", value_name = "VERSION")]
    pub talos_version: Option<String>,

    /// Architectures, comma-separated: amd64, arm64 (default: those cluster.yaml needs).
    #[arg(long, value_delimiter = ',', value_name = "ARCH")]
    pub arch: Vec<String>,

    /// Locations to try in order when one has no capacity (default: cluster.yaml's
    /// location, then fsn1, nbg1, hel1).
    #[arg(long, value_delimiter = ',', value_name = "LOCATION")]
    pub location: Vec<String>,

    /// Builder server types to try in order; each serves its architecture (default: cax11,
    /// cax21 for arm64; cx23, cx33 for amd64).
    #[arg(long = "server-type", value_delimiter = ',', value_name = "TYPE")]
    pub server_type: Vec<String>,

    /// How the image reaches the disk: `remote` (the rescue system downloads it from the
    /// factory) or `local` (talos-hcloud downloads it and streams it over SSH, for
    /// factories the builder cannot reach).
    #[arg(long, default_value = "remote", value_parser = ["remote", "local"])]
    pub via: String,

    /// The image compression to download: zstd or xz.
    #[arg(long, default_value = "zstd")]
    pub compression: String,

    /// Build even if a snapshot exists; the old one is deleted once the new one is verified.
    #[arg(long)]
    pub force: bool,
}
