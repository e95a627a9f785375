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
    Node(SimNodeArgs),
}

/// Options of the Hetzner Cloud API emulator (`talos-hcloud sim`).
///
/// The emulator prints its endpoint and token (with `--output json`: one JSON line) and
/// serves until Ctrl-C, then exits 0. Test controls live under `/__sim/` on the same port
/// (see docs/simulator.md).
#[derive(Debug, Args)]
pub struct SimServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,

    /// Bearer token clients must send [default: a random 64-character token].
    #[arg(long, value_name = "T", env = "TALOS_HCLOUD_SIM_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Simulated seconds per real second: 1 is realistic (a server takes about 70 s to
    /// start), 100 makes minutes into seconds, 0 freezes time (step mode: time moves only
    /// through POST /__sim/time/advance).
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    pub time_scale: f64,

    /// Fault rules, seeded and reproducible.
    ///
    /// SPEC is rules separated by `;`; a rule is a KIND followed by `,key=value` options:
    ///
    ///   KIND: 500 | 502 | 503 | 504 | 429 | locked | conflict   (answer instead of the API)
    ///         drop              (process the request, then close the connection unanswered)
    ///         action-error      (the action ends in `error`)
    ///         slow              (the action takes `factor` times longer)
    ///         unavailable | placement-error   (server creation fails: 412 / 422)
    ///
    ///   on=METHOD:/PATH   route of HTTP kinds and drop; `*` = any method or one segment
    ///   command=NAME      action command of action-error and slow (create_image, …)
    ///   type=NAME         server type of unavailable / placement-error
    ///   location=NAME     location of unavailable / placement-error
    ///   p=0..1            probability per match (default 1)
    ///   n=N               fire at most N times (default unlimited)
    ///   factor=F          slow: duration multiplier (default 10)
    ///
    /// Example: --faults '503,on=POST:/servers,p=0.2; locked,on=POST:/servers/*/actions/*,n=3;
    /// drop,on=POST:/servers/*/actions/create_image,n=1; unavailable,type=cax11,location=fsn1'
    #[arg(long, value_name = "SPEC", verbatim_doc_comment)]
    pub faults: Option<talos_hcloud::sim::FaultSpec>,

    /// Seed of every random choice (IDs, passwords, durations, faults).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
}

/// Options of `talos-hcloud sim node`.
#[derive(Debug, Args)]
pub struct SimNodeArgs {}
