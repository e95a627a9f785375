//! The arguments of `talos`: talosctl's `gen config` and `version`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// Arguments of `talos`.
#[derive(Debug, Args)]
pub struct TalosArgs {
    #[command(subcommand)]
    pub command: TalosCommand,
}

/// Subcommands of `talos`.
#[derive(Debug, Subcommand)]
pub enum TalosCommand {
    /// Generate Talos configuration (as `talosctl gen`).
    ///
    /// Example:
    ///
    ///   talos-hcloud talos gen config prod https://203.0.113.10:6443 --talos-version v1.11
    Gen(TalosGenArgs),

    /// Print each node's Talos version, asked over the Talos API with mutual TLS.
    ///
    /// Connects to the talosconfig context's endpoints with its client certificate,
    /// verifies each node against the context's CA, and calls Version for every node in
    /// --nodes (through the endpoint, as talosctl does), or for the endpoint itself.
    ///
    /// Example:
    ///
    ///   talos-hcloud talos version --talosconfig .talos-hcloud/prod/configs/talosconfig --nodes 198.51.100.11
    Version(TalosVersionArgs),
}

/// Arguments of `talos version`.
#[derive(Debug, Args)]
pub struct TalosVersionArgs {
    /// The talosconfig file (`config gen` writes one next to the machine configs).
    #[arg(long, env = "TALOSCONFIG", value_name = "FILE")]
    pub talosconfig: PathBuf,

    /// The context to use (default: the file's current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// The nodes to ask, comma-separated IP addresses (default: the first endpoint).
    #[arg(short = 'n', long, value_delimiter = ',', value_name = "IP")]
    pub nodes: Vec<std::net::IpAddr>,
}

/// Arguments of `talos gen`.
#[derive(Debug, Args)]
pub struct TalosGenArgs {
    #[command(subcommand)]
    pub command: TalosGenCommand,
}

/// Subcommands of `talos gen`.
#[derive(Debug, Subcommand)]
pub enum TalosGenCommand {
    /// Generate machine configs as `talosctl gen config NAME ENDPOINT` does.
    ///
    /// The output is byte-identical to `talosctl gen config --with-docs=false
    /// --with-examples=false` for the same secrets bundle and flags, so configs made with
    /// talosctl can be reproduced and compared. Comments are never written (Hetzner
    /// user_data is limited to 32 KiB). Files are written with mode 0600: control-plane
    /// configs hold the cluster's CA keys.
    ///
    /// Patches (`--config-patch`, then `--config-patch-control-plane` or
    /// `--config-patch-worker`) are applied as talosctl applies them; docs/patches.md
    /// describes the forms. The talosconfig has one context named NAME with a fresh admin
    /// certificate and no endpoints.
    ///
    /// Differences from talosctl: the output folder is `-o DIR` or `--output-dir DIR`
    /// (`--output` selects text or JSON results here); `--talos-version` defaults to the
    /// newest supported line (v1.13); `--kubernetes-version` defaults to that line's
    /// Kubernetes version; an empty `--install-disk ""` or `--install-image ""` leaves the
    /// field out; existing files are replaced only with --force.
    ///
    /// Example:
    ///
    ///   talos-hcloud talos gen config prod https://203.0.113.10:6443 --with-secrets secrets.yaml -o out
    Config(Box<GenConfigArgs>),
}

/// Which files `talos gen config` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenOutputType {
    /// `controlplane.yaml`.
    Controlplane,
    /// `worker.yaml`.
    Worker,
    /// `talosconfig` (admin client config, no endpoints).
    Talosconfig,
}

/// Options of `talos gen config`, named as talosctl's.
#[derive(Debug, Args)]
pub struct GenConfigArgs {
    /// Cluster name.
    #[arg(value_name = "NAME")]
    pub cluster_name: String,

    /// Kubernetes API endpoint URL, e.g. https://203.0.113.10:6443.
    #[arg(value_name = "ENDPOINT")]
    pub endpoint: String,

    /// Talos version contract to generate for: v1.10 to v1.13, optionally with patch
    /// (v1.11.3, also used as the default installer tag). Default: v1.13.
    #[arg(long, value_name = "VERSION")]
    pub talos_version: Option<String>,

    /// Kubernetes version (a leading `v` is allowed). Default: the Talos line's default.
    #[arg(long, value_name = "VERSION")]
    pub kubernetes_version: Option<String>,

    /// Secrets bundle to use (talosctl's secrets.yaml format). Default: a new bundle that
    /// is not saved, as talosctl does (make one with `secrets gen` to keep it).
    #[arg(long, value_name = "FILE")]
    pub with_secrets: Option<PathBuf>,

    /// Extra certificate SANs for the Talos and Kubernetes APIs (comma-separated, repeatable).
    #[arg(long, value_name = "SAN", value_delimiter = ',')]
    pub additional_sans: Vec<String>,

    /// Kubernetes cluster DNS domain.
    #[arg(long, value_name = "DOMAIN", default_value = "cluster.local")]
    pub dns_domain: String,

    /// Install disk; "" leaves it out.
    #[arg(long, value_name = "DISK", default_value = "/dev/sda")]
    pub install_disk: String,

    /// Installer image; "" leaves it out. Default: ghcr.io/siderolabs/installer:<talos version>.
    #[arg(long, value_name = "IMAGE")]
    pub install_image: Option<String>,

    /// Registry mirror as HOST=URL, e.g. docker.io=https://mirror.gcr.io (repeatable).
    #[arg(long = "registry-mirror", value_name = "HOST=URL")]
    pub registry_mirrors: Vec<String>,

    /// Enable KubeSpan.
    #[arg(long)]
    pub with_kubespan: bool,

    /// Patch for all machine types, applied first: @FILE, a file name, or inline YAML/JSON
    /// (strategic merge or RFC 6902; repeatable).
    #[arg(long, value_name = "PATCH")]
    pub config_patch: Vec<String>,

    /// Patch for control-plane configs, applied after --config-patch (repeatable).
    #[arg(long, value_name = "PATCH")]
    pub config_patch_control_plane: Vec<String>,

    /// Patch for worker configs, applied after --config-patch (repeatable).
    #[arg(long, value_name = "PATCH")]
    pub config_patch_worker: Vec<String>,

    /// Files to write (comma-separated): controlplane, worker, talosconfig.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "controlplane,worker,talosconfig"
    )]
    pub output_types: Vec<GenOutputType>,

    /// Output folder, or `-` for stdout (one output type only).
    #[arg(short = 'o', long = "output-dir", value_name = "DIR", default_value = ".")]
    pub output_dir: PathBuf,

    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,

    /// Accepted for talosctl compatibility; only `false` (comments are never written).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub with_docs: Option<bool>,

    /// Accepted for talosctl compatibility; only `false` (examples are never written).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub with_examples: Option<bool>,
}
