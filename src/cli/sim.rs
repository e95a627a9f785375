//! The arguments of `sim`: the Hetzner Cloud API emulator and one emulated Talos node.

use std::path::PathBuf;

use clap::{Args, Subcommand};

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
    /// Like Talos, the node decodes every configuration it receives strictly and validates
    /// it, with the validator talos-hcloud checks its own generated configs with: unknown
    /// keys, wrong types and semantic mistakes (a VIP on a worker, …) are refused with
    /// InvalidArgument. So only the Talos lines talos-hcloud supports (v1.10 to v1.13) can
    /// be emulated.
    ///
    /// Prints the node's address and mode once started (one JSON line with --output json),
    /// mode changes on stderr, and exits 0 on Ctrl-C (or SIGTERM).
    ///
    /// Example:
    ///
    ///   talos-hcloud sim node --address 127.0.0.2 --talos-version v1.11.6
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
    ///         limit             (answer 403 resource_limit_exceeded: a project quota)
    ///         drop              (process the request, then close the connection unanswered)
    ///         action-error      (the action ends in `error`)
    ///         slow              (the action takes `factor` times longer)
    ///         unavailable | placement-error   (server creation fails: 412 / 422)
    ///         ignore-shutdown   (the guest ignores ACPI `shutdown`: it keeps running)
    ///
    ///   on=METHOD:/PATH   route of HTTP kinds and drop; `*` = any method or one segment
    ///   command=NAME      action command of action-error and slow (create_image, …)
    ///   code=NAME         action-error: the action's error code (default action_failed)
    ///   type=NAME         server type of unavailable / placement-error
    ///   location=NAME     location of unavailable / placement-error
    ///   p=0..1            probability per match (default 1)
    ///   n=N               fire at most N times (default unlimited)
    ///   factor=F          slow: duration multiplier (default 10)
    ///
    /// Example: --faults '503,on=POST:/servers,p=0.2; locked,on=POST:/servers/*/actions/*,n=3;
    /// drop,on=POST:/servers/*/actions/create_image,n=1; unavailable,type=cax11,location=fsn1;
    /// limit,on=POST:/servers,n=1; action-error,command=create_image,code=unknown_error'
    #[arg(long, value_name = "SPEC", verbatim_doc_comment)]
    pub faults: Option<talos_hcloud::sim::FaultSpec>,

    /// Seed of every random choice (IDs, passwords, durations, faults).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,

    /// Directory for the machines' disks and snapshots (sparse files, one per server and
    /// snapshot) [default: a temporary directory removed on exit].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<std::path::PathBuf>,

    /// Raw size in bytes of the emulated Image Factory's Talos images (a multiple of 4096,
    /// 4 MiB to 1 TiB); small sizes make image builds fast in tests.
    #[arg(long, value_name = "BYTES", default_value_t = 1246 * 1024 * 1024)]
    pub image_size: u64,
}

/// Options of `talos-hcloud sim node`.
#[derive(Debug, Args)]
pub struct SimNodeArgs {
    /// Address of the node: apid listens on ADDR:50000, the Kubernetes API on ADDR:6443.
    #[arg(long, value_name = "IP")]
    pub address: std::net::IpAddr,

    /// Talos release the node emulates (decides version-dependent behaviour and the
    /// validation rules).
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
