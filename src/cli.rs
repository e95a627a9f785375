//! Command-line definitions (clap derive) and nothing else: parsing only, no behaviour.
//!
//! The first line of each doc comment is the short `-h` text; later paragraphs appear in
//! `--help`. Commands receive these structs through `commands::run`.

mod image;
mod sim;

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use talos_hcloud::redact::Redacted;

pub use image::{
    FactoryCommand, FactoryDownloadArgs, ImageBuildArgs, ImageCommand, ImagePruneArgs, ImageRebuildArgs,
    SchematicCommand,
};
pub use sim::{SimArgs, SimCommand, SimNodeArgs, SimServeArgs};

/// Parses the process's command line into [`Cli`].
///
/// An environment variable that is set but empty counts as unset: `export
/// TALOS_HCLOUD_CONFIG=` in a runbook or an empty CI variable means "use the default", as
/// operators expect from most tools. clap alone would take the empty text as the value
/// (and reject it as "a value is required for '--config'").
pub fn parse() -> Result<Cli, clap::Error> {
    let mut command = without_empty_env(Cli::command());
    let mut matches = command.try_get_matches_from_mut(std::env::args_os())?;
    Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut command))
}

/// `command` (and its subcommands, recursively) with the environment fallback removed from
/// every argument whose variable is set to the empty string.
fn without_empty_env(mut command: clap::Command) -> clap::Command {
    let empty: Vec<String> = command
        .get_arguments()
        .filter(|arg| {
            arg.get_env()
                .and_then(std::env::var_os)
                .is_some_and(|value| value.is_empty())
        })
        .map(|arg| arg.get_id().to_string())
        .collect();
    for id in empty {
        command = command.mut_arg(id, |arg| arg.env(None));
    }
    let subcommands: Vec<String> = command.get_subcommands().map(|sub| sub.get_name().to_owned()).collect();
    for name in subcommands {
        command = command.mut_subcommand(name, without_empty_env);
    }
    command
}

/// Wraps the token as soon as it is parsed, so no `Debug` of the arguments shows it.
fn redacted_token(text: &str) -> Result<Redacted<String>, std::convert::Infallible> {
    Ok(Redacted::new(text.to_string()))
}

/// Take a Talos Linux Kubernetes cluster on Hetzner Cloud from nothing to running.
///
/// talos-hcloud works from one cluster.yaml: it checks it (`validate`), computes and pushes
/// Image Factory schematics, generates the cluster's secrets and every node's machine
/// configuration (`secrets gen`, `config gen`), and ships a simulator of Hetzner Cloud and
/// of Talos nodes (`sim`) so every step can be rehearsed offline. Creating and converging
/// the cloud resources (`plan`, `apply`, `up`) comes next.
///
/// Exit codes: 0 success, 1 operation failed, 2 invalid input or usage (nothing was
/// changed), 3 interrupted (after cleanup).
///
/// Environment: HCLOUD_TOKEN (Hetzner Cloud API token; never printed), HCLOUD_ENDPOINT,
/// TALOS_FACTORY_URL, TALOS_HCLOUD_CONFIG (like -c), TALOS_HCLOUD_LOG (log filter). A
/// variable set to the empty string counts as unset.
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
        hide = true,
        value_parser = redacted_token
    )]
    pub hcloud_token: Option<Redacted<String>>,

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

    /// Check cluster.yaml and print a summary of the cluster it describes.
    ///
    /// Runs every check talos-hcloud makes before it touches anything: YAML syntax, unknown
    /// keys (with "did you mean"), types, CIDRs and overlaps, names and Hetzner's limits,
    /// server types and locations against the network zone, architectures, load balancers,
    /// versions, the schematic file and the patch globs. All problems are listed at once,
    /// each as `file:line:column: field: message`. Then each patch file is loaded as
    /// `config gen` loads it and decoded strictly for `talos.version`. No network access;
    /// no token needed.
    ///
    /// Exit codes: 0 valid, 2 invalid or unreadable (the diagnostics are on stderr; with
    /// `--output json` they are in the error document's `details.diagnostics`).
    ///
    /// Example:
    ///
    ///   talos-hcloud -c clusters/prod.yaml validate
    Validate,

    /// Run the local emulator of Hetzner Cloud (and, with `node`, one emulated Talos node).
    ///
    /// The emulator lets you rehearse every command without a Hetzner account: point
    /// HCLOUD_ENDPOINT at the printed endpoint and HCLOUD_TOKEN at the printed token.
    ///
    /// Example (100× faster than real time, one in five server creations failing with 503,
    /// reproducibly):
    ///
    ///   talos-hcloud sim --time-scale 100 --seed 7 --faults '503,on=POST:/servers,p=0.2'
    Sim(SimArgs),

    /// Talos tools that mirror talosctl (config generation), for operators migrating.
    ///
    /// `talos gen config` is `talosctl gen config` reimplemented (same flags, byte-identical
    /// output for Talos v1.10 to v1.13), so configs made with talosctl can be reproduced
    /// from the same secrets bundle. Needs no cluster.yaml, no token and no network.
    ///
    /// Example:
    ///
    ///   talos-hcloud talos gen config prod https://203.0.113.10:6443 --with-secrets secrets.yaml
    Talos(TalosArgs),

    /// Generate or check the cluster's secrets bundle (CAs, keys, tokens).
    ///
    /// The secrets bundle is the one file that cannot be re-derived: it holds the
    /// cluster's certificate authorities. It uses talosctl's secrets.yaml layout, so a
    /// bundle from `talosctl gen secrets` or the Talos Terraform provider can be used.
    ///
    /// Example:
    ///
    ///   talos-hcloud -c cluster.yaml secrets gen
    Secrets(SecretsArgs),

    /// Render the cluster's machine configs and talosconfig.
    ///
    /// Reads cluster.yaml, the secrets bundle (`secrets gen`) and, for an `endpoint:
    /// floating-ip` cluster, HCLOUD_TOKEN (written into the control-plane configs for the
    /// Talos VIP; never printed). The Kubernetes API endpoint is looked up live (the
    /// floating IP or API load balancer `apply` created) unless --endpoint gives it.
    ///
    /// Example:
    ///
    ///   HCLOUD_TOKEN=… talos-hcloud config gen --talos-endpoint 198.51.100.11
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Show what apply would change: cluster.yaml against the live project, by labels.
    ///
    /// Reads the cluster's resources from Hetzner Cloud by their `talos-hcloud/cluster`
    /// label (there is no state file) and prints a terraform-like diff: `+` create, `~`
    /// update in place, `-/+` replace (with the reason), `-` delete; then the nodes whose
    /// machine config would be applied, the monthly cost (gross) of what exists and of what
    /// the plan adds and removes, and anything that would stop an apply (missing snapshot,
    /// server type not available, rate-limit budget). Changes nothing.
    ///
    /// Needs HCLOUD_TOKEN (HCLOUD_ENDPOINT to use another API, e.g. `talos-hcloud sim`).
    /// Exit codes: 0 success, 1 failure, 2 invalid input; with --detailed-exitcode, 0 no
    /// changes, 2 changes pending (terraform's convention).
    ///
    /// Example:
    ///
    ///   HCLOUD_TOKEN=… talos-hcloud -c cluster.yaml plan --detailed-exitcode
    Plan(PlanArgs),

    /// Converge the cluster to cluster.yaml: servers, configs, etcd, kubeconfig.
    ///
    /// Creates what plan shows, delivers the machine configs, bootstraps etcd once, waits
    /// until the cluster is healthy and writes the kubeconfig and talosconfig.
    ///
    /// Runs the same plan as `plan` and stops before any change (exit 2) on a pre-flight
    /// blocker (missing snapshot: run `image build`), on a replacement without
    /// --allow-replace and on a delete without --allow-delete. Creates in dependency order,
    /// firewalls attached at server creation; updates firewalls, load balancers and labels in
    /// place; rolls changed machine configs out node by node (control planes one at a time).
    /// The secrets bundle is created on the first run (0600) and never regenerated. Needs
    /// HCLOUD_TOKEN.
    ///
    /// Safe to run again at any time, also after a failure or a kill: it continues from
    /// what exists. Ctrl-C stops it at once (exit 3), except during a node replacement,
    /// which stops after its running step (a second Ctrl-C stops that at once too).
    ///
    /// Example:
    ///
    ///   HCLOUD_TOKEN=… talos-hcloud -c cluster.yaml apply
    Apply(ApplyArgs),

    /// The one-shot bootstrap: image build where the snapshot is missing, then apply.
    ///
    /// With --sim it starts the emulator in-process (Hetzner API, Image Factory, machines)
    /// and runs the whole job against it: no account needed. --serve keeps that emulator
    /// running afterwards (until Ctrl-C) so the kubeconfig and talosconfig can be tried.
    ///
    /// Example:
    ///
    ///   talos-hcloud -c cluster.yaml up --sim
    Up(UpArgs),

    /// Compute, check and push Image Factory schematics.
    ///
    /// A schematic (YAML or JSON) says what the Image Factory bakes into a Talos image:
    /// system extensions, kernel arguments, META values. Its ID is the SHA-256 of the
    /// factory's canonical form, so it can be computed offline.
    ///
    /// Example:
    ///
    ///   talos-hcloud schematic id schematics/hcloud.yaml
    #[command(subcommand)]
    Schematic(SchematicCommand),

    /// Query the Talos Image Factory (TALOS_FACTORY_URL, default https://factory.talos.dev).
    ///
    /// Example:
    ///
    ///   talos-hcloud factory versions
    #[command(subcommand)]
    Factory(FactoryCommand),

    /// Build, list and prune the Talos snapshots that servers are created from.
    ///
    /// `image build` makes sure a snapshot exists for the schematic, Talos version and each
    /// architecture (from cluster.yaml, or the flags): it checks everything before spending
    /// money, boots a temporary builder into the rescue system, writes and verifies the
    /// image, snapshots it and deletes the builder. `image rebuild` is the scheduled job
    /// (target version, build, prune). Snapshots are found by their labels (`os=talos`,
    /// `talos-hcloud/talos-version`, `talos-hcloud/arch`, `talos-hcloud/schematic`). Needs
    /// HCLOUD_TOKEN.
    ///
    /// Example:
    ///
    ///   HCLOUD_TOKEN=… talos-hcloud -c cluster.yaml image build --arch arm64,amd64
    #[command(subcommand)]
    Image(ImageCommand),

    /// Print the man page (roff) to stdout, or write every command's page to a folder.
    ///
    /// The main page lists one page per subcommand (`talos-hcloud-validate(1)`, …);
    /// `--all DIR` writes all of them, the main page included.
    ///
    /// Example:
    ///
    ///   talos-hcloud man > /usr/local/share/man/man1/talos-hcloud.1
    ///
    ///   talos-hcloud man --all /usr/local/share/man/man1
    Man(ManArgs),

    /// Delete every Hetzner resource labelled with the cluster (asks first).
    ///
    /// Lists what goes, grouped by kind, then asks for the cluster name on a terminal.
    /// Without a terminal it refuses (exit 2) unless --yes is given. Resources with delete
    /// protection stop it before anything changes, unless --disable-protection turns the
    /// protection off first. Deletes in reverse dependency order: load balancers, servers,
    /// floating IPs, primary IPs, placement groups, firewalls, network, SSH keys. Talos
    /// snapshots and the local secrets bundle are kept. Running it again finds nothing and
    /// exits 0.
    ///
    /// Example:
    ///
    ///   HCLOUD_TOKEN=… talos-hcloud -c cluster.yaml destroy
    Destroy(DestroyArgs),

    /// Read-only checks of what apply needs; exit 1 on a blocker.
    ///
    /// Checks the token, the rate-limit budget, the server types of cluster.yaml in their
    /// locations, the Image Factory and its Talos versions, the Talos snapshot, and whether
    /// the admin CIDRs include this machine. One screen, each ok, warn or fail with its reason. Exit 1 when a check
    /// fails (a blocker for `apply`), 0 otherwise; nothing is created or changed.
    ///
    /// Example:
    ///
    ///   HCLOUD_TOKEN=… talos-hcloud -c cluster.yaml doctor
    Doctor,

    /// Show the cluster as it is: nodes, Talos, etcd, endpoint; exit 1 when degraded.
    ///
    /// Per node: the server's Hetzner status and addresses, the Talos version (asked over
    /// mutual TLS with the talosconfig under .talos-hcloud/<cluster>/), whether its machine
    /// config label matches the config cluster.yaml renders now (needs the secrets bundle),
    /// its etcd role (leader, member, learner, none) and the kubelet's state. For the
    /// cluster: the endpoint (floating IP or load balancer) and its /readyz through the
    /// kubeconfig, etcd quorum (healthy members of all), and servers missing from or extra
    /// to cluster.yaml. Every node is asked at once; one that does not answer within
    /// --timeout is reported, not fatal. Reads only: nothing is changed.
    ///
    /// Exit codes: 0 healthy; 1 degraded (a node not running or not answering, etcd without
    /// a member or quorum, the endpoint not ready, a server missing — each listed under
    /// `problems`) or the API failed; 2 invalid input. A config not yet applied or an extra
    /// server is a notice, not a failure. With --output json the report is the document
    /// (under `error.details` when degraded). Needs HCLOUD_TOKEN.
    ///
    /// Example:
    ///
    ///   HCLOUD_TOKEN=… talos-hcloud -c cluster.yaml status
    Status(StatusArgs),

    /// Operate on one node of the cluster (`node replace`).
    #[command(subcommand)]
    Node(NodeCommand),
}

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Secrets bundle, for the machine-config comparison [default:
    /// .talos-hcloud/<cluster>/secrets.yaml beside cluster.yaml].
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,

    /// Seconds each node (and /readyz) may take to answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub timeout: u64,
}

/// Subcommands of `node`.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Replace a node's server: drain, leave etcd, delete, recreate identically, rejoin.
    ///
    /// Prints the plan (every step, what it touches, what it checks), checks the cluster
    /// (the other nodes answer; etcd keeps quorum without a control plane; a snapshot exists
    /// for the configured Talos version) and asks for the node name. For a control plane it
    /// saves an etcd snapshot (0600) under .talos-hcloud/<cluster>/, has the node leave etcd
    /// and resets it; a dead node (--dead, its Talos API does not answer, or its server is
    /// gone) is removed from etcd through another control plane instead. The node is cordoned and drained (Pod
    /// disruption budgets honoured, --drain-timeout), its server deleted and created again
    /// with the same name, private IP, primary IPv4, placement group, firewall and labels,
    /// its machine config delivered, and the cluster's health checked (apid, etcd members,
    /// kube-apiserver, kubelet) before it is uncordoned and protected again.
    ///
    /// The server's `talos-hcloud/replace-step` label records the last step done: after a
    /// failure or Ctrl-C (exit 3, between steps), run the same command again to continue.
    /// Needs HCLOUD_TOKEN and the secrets bundle.
    ///
    /// Example:
    ///
    ///   HCLOUD_TOKEN=… talos-hcloud -c cluster.yaml node replace cp-2 --dry-run
    Replace(NodeReplaceArgs),
}

/// Arguments of `node replace`.
#[derive(Debug, Args)]
pub struct NodeReplaceArgs {
    /// The node (cluster.yaml's name, e.g. `cp-2`, or its server name).
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Print the plan and run the checks; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// The node is dead: skip the drain and the graceful etcd leave, remove its etcd member
    /// through another control plane.
    #[arg(long)]
    pub dead: bool,

    /// Replace a control plane even though etcd has no quorum while it is gone (e.g. one of
    /// two control planes, or another control plane is dead: its member is removed first).
    #[arg(long)]
    pub force_quorum_loss: bool,

    /// Create the server from this image ID instead of the configured version's snapshot.
    #[arg(long, value_name = "ID")]
    pub image: Option<i64>,

    /// How long PodDisruptionBudgets may refuse evictions before the drain gives up (Go
    /// duration: `90s`, `5m`, `1h30m`).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = go_duration)]
    pub drain_timeout: std::time::Duration,

    /// Secrets bundle [default: .talos-hcloud/<cluster>/secrets.yaml beside cluster.yaml].
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,

    /// Do not ask for confirmation (scripts).
    #[arg(long)]
    pub yes: bool,
}

/// A Go duration (`5m`, `90s`) as a [`std::time::Duration`].
fn go_duration(text: &str) -> Result<std::time::Duration, String> {
    talos_hcloud::talos::config::shape::go_values::parse_duration(text)
        .and_then(|nanos| u64::try_from(nanos).ok())
        .map(std::time::Duration::from_nanos)
        .ok_or_else(|| format!("{text:?} is not a duration such as 90s, 5m or 1h30m"))
}

/// Arguments of `destroy`.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Do not ask for the cluster name (for scripts and CI).
    #[arg(long)]
    pub yes: bool,

    /// Turn delete protection off first instead of refusing.
    #[arg(long)]
    pub disable_protection: bool,
}

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write every command's man page (`talos-hcloud.1`, `talos-hcloud-validate.1`, …) into
    /// this folder (created if missing) instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub all: Option<PathBuf>,
}

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

/// Subcommands of `config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Render every node's machine config and the talosconfig into a folder.
    ///
    /// For each node of cluster.yaml: the config Talos generates for `talos.version`
    /// (cluster name, Kubernetes version, pod and service subnets, the endpoint), the
    /// Hetzner settings (installer factory.talos.dev/hcloud-installer/<schematic
    /// ID>:<version>, install disk, hostname = node name, and on control planes of an
    /// `endpoint: floating-ip` cluster the Talos VIP), the patch files of `patches.all` and
    /// of its role, then `sysctls:`; the result is checked as a Talos node would check it.
    /// Files: <node>.yaml for every node and `talosconfig`, mode 0600 (control-plane
    /// configs hold the cluster's CA keys). Everything is rendered before the first file is
    /// written: any problem writes nothing (exit 2). Existing files are replaced only with
    /// --force.
    ///
    /// The output is deterministic for a given secrets bundle, so a diff between two runs
    /// shows real changes only: the talosconfig's admin certificate is derived from the
    /// bundle and changes only every 4380 hours (docs/machine-config.md).
    ///
    /// The Kubernetes API endpoint is the address of the floating IP (`endpoint:
    /// floating-ip`) or of the API load balancer (`endpoint: load-balancer`). Without
    /// --endpoint it is looked up in the project with HCLOUD_TOKEN (HCLOUD_ENDPOINT for
    /// another API), by the cluster label: one read-only request, nothing is changed. Before
    /// the first `apply` it does not exist yet: run `apply` first or pass --endpoint. With
    /// --endpoint nothing is sent anywhere.
    ///
    /// With `endpoint: floating-ip` the control-plane configs carry a Hetzner Cloud API
    /// token for the VIP, read from HCLOUD_TOKEN (never printed). Use a dedicated token.
    ///
    /// Example:
    ///
    ///   HCLOUD_TOKEN=… talos-hcloud config gen --talos-endpoint 198.51.100.11
    Gen(ConfigGenArgs),
}

/// Arguments of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Secrets bundle, for the machine-config comparison [default:
    /// .talos-hcloud/<cluster>/secrets.yaml beside cluster.yaml].
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,

    /// Exit 0 when nothing would change and 2 when changes are pending (1 on errors).
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// Arguments of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Secrets bundle, created here on the first run [default:
    /// .talos-hcloud/<cluster>/secrets.yaml beside cluster.yaml].
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,

    /// Allow changes that need a new server (type, location, image): each such node is
    /// replaced through the `node replace` runbook, one at a time, after the rest converged.
    #[arg(long)]
    pub allow_replace: bool,

    /// Allow deleting what the plan marks `- delete` (a node removed from cluster.yaml: it is
    /// drained, its etcd member removed, then its server and its primary IPv4 are deleted and
    /// the address released). Without it such a plan changes nothing. Removing control planes
    /// below an etcd quorum of today's members is refused.
    #[arg(long)]
    pub allow_delete: bool,

    /// Also merge the cluster's entries into this kubeconfig (e.g. ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub merge_kubeconfig: Option<PathBuf>,

    /// Deliver machine configs as server user_data instead of the Talos API in
    /// maintenance mode.
    #[arg(long)]
    pub user_data: bool,

    /// Leave delete and rebuild protection off on new control planes.
    #[arg(long)]
    pub no_protection: bool,
}

/// Arguments of `up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Everything `apply` takes.
    #[command(flatten)]
    pub apply: ApplyArgs,

    /// Run against an emulator started in-process instead of HCLOUD_ENDPOINT.
    #[arg(long)]
    pub sim: bool,

    /// With --sim: keep serving the emulator after the job, until Ctrl-C.
    #[arg(long, requires = "sim")]
    pub serve: bool,
}

/// Arguments of `config gen`.
#[derive(Debug, Args)]
pub struct ConfigGenArgs {
    /// Output folder [default: .talos-hcloud/<cluster>/configs beside cluster.yaml].
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Secrets bundle [default: .talos-hcloud/<cluster>/secrets.yaml beside cluster.yaml].
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,

    /// Kubernetes API endpoint: the floating IP's address (or the API load balancer's),
    /// as IP, host or URL; written as https://HOST:6443 [default: looked up live with
    /// HCLOUD_TOKEN, by the cluster label].
    #[arg(long, value_name = "HOST|URL")]
    pub endpoint: Option<String>,

    /// Talos API endpoints for the talosconfig: the control planes' public IPs
    /// (comma-separated, repeatable; none is allowed, as with talosctl). Never the floating
    /// IP: Talos holds the VIP through an etcd election, so it vanishes exactly when etcd
    /// or the API server is unhealthy, which is when the Talos API is needed.
    #[arg(long = "talos-endpoint", value_name = "IP", value_delimiter = ',')]
    pub talos_endpoints: Vec<String>,

    /// Replace existing files.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `secrets`.
#[derive(Debug, Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub command: SecretsCommand,
}

/// Subcommands of `secrets`.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Generate a new secrets bundle into a file (mode 0600), never overwriting one.
    ///
    /// Makes the etcd, Kubernetes and aggregator CAs (ECDSA P-256), the Talos API CA
    /// (Ed25519), the service-account key (RSA-4096), the bootstrap and trustd tokens, the
    /// cluster ID and secret and the secretbox encryption secret, exactly as `talosctl gen
    /// secrets --talos-version` would. The file is written atomically with mode 0600; an
    /// existing file is never replaced unless --force is given (exit 2, nothing changed).
    /// Prints the path, or with --output json the path and the CA fingerprints (never
    /// private material).
    ///
    /// Without -o the bundle goes to the cluster's local folder,
    /// `.talos-hcloud/<name>/secrets.yaml` beside the cluster.yaml named by -c, and
    /// --talos-version defaults to its `talos.version`. With -o no cluster.yaml is read and
    /// the default is v1.13.
    ///
    /// Example:
    ///
    ///   talos-hcloud -c clusters/prod/cluster.yaml secrets gen
    ///
    ///   talos-hcloud secrets gen -o /secure/prod-secrets.yaml --talos-version v1.11
    Gen(SecretsGenArgs),

    /// Load and validate a secrets bundle; print its CAs' subjects, keys and expiry.
    ///
    /// Accepts talosctl's secrets.yaml and the Talos Terraform provider's machine_secrets
    /// (YAML or JSON). Exits 2 with every problem listed if the bundle is incomplete or
    /// holds unusable keys or certificates; warns about expired or soon expiring CAs and
    /// about files readable by others.
    ///
    /// Example:
    ///
    ///   talos-hcloud secrets check secrets.yaml
    Check(SecretsCheckArgs),
}

/// Arguments of `secrets gen`.
#[derive(Debug, Args)]
pub struct SecretsGenArgs {
    /// File to write the bundle to (parent directories are created with mode 0700), or `-`
    /// for stdout as talosctl does [default: .talos-hcloud/<cluster>/secrets.yaml beside
    /// cluster.yaml].
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Replace an existing file (its CAs are lost: clusters made from it become unmanageable).
    ///
    /// A symlink is itself replaced by a regular file; the file it points to is left as it
    /// was. A directory is never replaced (exit 2).
    #[arg(long)]
    pub force: bool,

    /// Talos version whose generation rules to follow (v1.10 to v1.14) [default: talos.version
    /// of cluster.yaml, or v1.13 with -o].
    #[arg(long = "talos-version", value_name = "VERSION")]
    pub talos_version: Option<String>,
}

/// Arguments of `secrets check`.
#[derive(Debug, Args)]
pub struct SecretsCheckArgs {
    /// The secrets bundle to check.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}
