//! Command-line definitions (clap derive) and nothing else: parsing only, no behaviour.
//!
//! The first line of each doc comment is the short `-h` text; later paragraphs appear in
//! `--help`. Commands receive these structs through `commands::run`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Take a Talos Linux Kubernetes cluster on Hetzner Cloud from nothing to running.
///
/// talos-hcloud builds Talos snapshots from Image Factory schematics, creates the cloud
/// resources described in one cluster.yaml, generates and delivers the machine
/// configuration, bootstraps etcd and keeps the cluster converged. A built-in simulator
/// (`talos-hcloud sim`) emulates Hetzner Cloud so every command can be rehearsed offline.
///
/// Exit codes: 0 success, 1 operation failed, 2 invalid input or usage (nothing was
/// changed), 3 interrupted (after cleanup).
///
/// Example:
///
///   talos-hcloud -c cluster.yaml validate
#[derive(Debug, Parser)]
#[command(name = "talos-hcloud", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Path of the cluster description.
    #[arg(
        short = 'c',
        long = "config",
        global = true,
        default_value = "cluster.yaml",
        env = "TALOS_HCLOUD_CONFIG"
    )]
    pub config: PathBuf,

    /// Output format: human-readable text, or one JSON document on stdout for automation.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Log more (-v info, -vv debug, -vvv trace); progress bars are hidden.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print only results and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Hetzner Cloud API token (read from the environment only, never echoed).
    #[arg(
        long = "hcloud-token",
        env = "HCLOUD_TOKEN",
        hide_env_values = true,
        global = true,
        hide = true
    )]
    pub hcloud_token: Option<String>,

    /// Hetzner Cloud API endpoint.
    #[arg(
        long = "hcloud-endpoint",
        env = "HCLOUD_ENDPOINT",
        global = true,
        default_value = "https://api.hetzner.cloud/v1"
    )]
    pub hcloud_endpoint: String,

    /// Talos Image Factory URL.
    #[arg(
        long = "factory-url",
        env = "TALOS_FACTORY_URL",
        global = true,
        default_value = "https://factory.talos.dev"
    )]
    pub factory_url: String,
}

/// The output format of results on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    Text,
    /// One JSON document (and JSON log lines with -v).
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a shell completion script to stdout.
    ///
    /// Example (bash):
    ///
    ///   talos-hcloud completions bash > /etc/bash_completion.d/talos-hcloud
    Completions(CompletionsArgs),

    /// Run the local emulator of Hetzner Cloud (and, with `node`, one emulated Talos node).
    ///
    /// The emulator lets you rehearse every command without a Hetzner account: point
    /// HCLOUD_ENDPOINT at the printed endpoint and HCLOUD_TOKEN at the printed token.
    Sim(SimArgs),

    /// Print the man page (roff) to stdout.
    ///
    /// Example:
    ///
    ///   talos-hcloud man > /usr/local/share/man/man1/talos-hcloud.1
    Man,
}

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `sim`: without a subcommand it serves the Hetzner Cloud API emulator.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimArgs {
    #[command(subcommand)]
    pub command: Option<SimCommand>,

    #[command(flatten)]
    pub serve: SimServeArgs,
}

/// Subcommands of `sim`.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve one emulated Talos node until Ctrl-C.
    ///
    /// The node listens with the Talos API on ADDR:50000 and, once it is a bootstrapped
    /// control plane, the Kubernetes API on ADDR:6443. Without a configuration it boots
    /// into maintenance mode (self-signed certificate, no client certificate needed) and
    /// waits for ApplyConfiguration; with one it serves mutual TLS signed by the config's
    /// OS CA. On Linux every 127.x.y.z address works without setup, so several nodes run
    /// side by side (one process each; nodes of one process share an emulated etcd).
    ///
    /// Prints the node's address and mode once started (one JSON line with --output json),
    /// mode changes on stderr, and exits 0 on Ctrl-C.
    ///
    /// Example:
    ///
    ///   talos-hcloud sim node --address 127.0.0.2 --talos-version v1.11.6
    Node(SimNodeArgs),
}

/// Options of the Hetzner Cloud API emulator (`talos-hcloud sim`).
#[derive(Debug, Args)]
pub struct SimServeArgs {}

/// Options of `talos-hcloud sim node`.
#[derive(Debug, Args)]
pub struct SimNodeArgs {
    /// Address of the node: apid listens on ADDR:50000, the Kubernetes API on ADDR:6443.
    #[arg(long, value_name = "IP")]
    pub address: std::net::IpAddr,

    /// Talos release the node emulates (decides version-dependent behaviour).
    #[arg(long, value_name = "VERSION", default_value = talos_hcloud::sim::talos::DEFAULT_TALOS_VERSION)]
    pub talos_version: String,

    /// Machine configuration already installed on the node (it boots configured).
    ///
    /// (Named --machine-config because -c/--config is the global cluster.yaml path.)
    #[arg(long, value_name = "FILE")]
    pub machine_config: Option<PathBuf>,

    /// Hetzner user data the node reads at boot: YAML, base64, or base64 of gzip.
    #[arg(long, value_name = "FILE", conflicts_with = "machine_config")]
    pub user_data: Option<PathBuf>,
}
