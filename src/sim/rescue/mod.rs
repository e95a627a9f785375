//! The emulated Hetzner rescue system: a real SSH server on a server's address, port 22,
//! that runs each command with real bash and real tools in a bubblewrap sandbox where
//! `/dev/sda` is the server's disk file (issue 9, "Rescue system over real SSH").
//!
//! The machines (`sim::machine`) start a [`Rescue`] when a server with rescue enabled
//! boots and stop it when the server powers off, reboots or is deleted. What a client sees
//! is what Hetzner's rescue shows an operator or `image build`: key or root-password login
//! as `root`, `wget`/`curl` to the (emulated) factory over loopback, `xz`, `zstd`, `dd`,
//! `sync`, `sha256sum`, `openssl`, `head`, plus `blkdiscard` and `lsblk` on `/dev/sda`, and
//! `poweroff`/`shutdown`/`reboot`, which reach the machines through `on_power`.
//!
//! # Privileges
//! Binding port 22 on 127.x.y.z needs root or `CAP_NET_BIND_SERVICE`; the sandbox needs
//! bubblewrap (`bwrap`) with either root or unprivileged user namespaces, and util-linux's
//! `setsid` and `prlimit`. Each missing piece is a start [`Error`], never a hang.
//!
//! # Limits of the emulation
//! - `/dev/sda` is a regular file: a `dd` without `conv=notrunc` truncates it, so after
//!   every command the file is brought back to the disk's size (the bytes past the write
//!   read as zeros, as after the `blkdiscard` an image build does first). Writing past the
//!   end fails with "File size limit exceeded" rather than "No space left on device".
//! - Interactive sessions get bash without a terminal (no pty): line-based use works, full
//!   screen programs do not.
//! - Data from the client is buffered only while the command's output waits for the
//!   client's window; otherwise the client is held back (TCP backpressure), so a 1 GiB
//!   `cat | dd` never sits in memory.

mod sandbox;
mod session;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::{HashAlg, PrivateKey, PublicKey};
use sha2::{Digest, Sha256};
use tokio::io::AsyncBufReadExt;
use tokio::sync::watch;
use tokio::task::JoinSet;

use sandbox::Sandbox;

/// How long [`Rescue::stop`] waits for sessions and commands to end before it gives up on
/// them (they are killed either way; this only bounds the wait).
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What a rescue system is started with; the machines fill it from the server's state and
/// the `enable_rescue` call.
#[derive(Debug, Clone)]
pub struct RescueConfig {
    /// The address to listen on: the server's IP, port 22.
    pub listen: SocketAddr,
    /// The server's disk file; it is `/dev/sda` inside the rescue system.
    pub disk: PathBuf,
    /// OpenSSH public key lines (`ssh-ed25519 AAAA… comment`) allowed to log in as root.
    pub authorized_keys: Vec<String>,
    /// The root password `enable_rescue` returned, if any.
    pub root_password: Option<String>,
    /// Seed of the Ed25519 host key, so that a rescue system's host key is reproducible
    /// (a real one is new on every boot; the machines vary the seed per boot).
    pub host_key_seed: u64,
}

/// A power request made from inside the rescue system (`poweroff`, `shutdown`, `reboot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerRequest {
    /// `poweroff`, `halt`, `shutdown [-h|-P] …`: the server goes off.
    PowerOff,
    /// `reboot`, `shutdown -r …`: the server restarts (from its disk; rescue is one-shot).
    Reboot,
}

/// Why a rescue system could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address could not be bound (port 22 needs root or CAP_NET_BIND_SERVICE).
    #[error("cannot listen on {addr} for the rescue system's SSH server (port 22 needs root or CAP_NET_BIND_SERVICE)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The disk file is missing or not a regular file.
    #[error("the rescue system's disk {} is unusable", path.display())]
    Disk {
        /// The disk file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An authorized key line is not an OpenSSH public key.
    #[error("authorized key #{index} is not an OpenSSH public key line")]
    AuthorizedKey {
        /// Its position in [`RescueConfig::authorized_keys`], from 1.
        index: usize,
        /// The parse error.
        #[source]
        source: russh::keys::ssh_key::Error,
    },
    /// Neither a key nor a password would let anybody in.
    #[error("the rescue system needs at least one authorized key or a root password")]
    NoCredentials,
    /// The command sandbox (bubblewrap) is missing or does not work here.
    #[error("the rescue sandbox does not work: {0}")]
    Sandbox(String),
    /// The host key could not be built from its seed.
    #[error("cannot build the rescue host key")]
    HostKey(#[source] russh::keys::ssh_key::Error),
}

/// A running rescue system: the SSH server and its sessions.
pub struct Rescue {
    addr: SocketAddr,
    fingerprint: String,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    _sandbox: Arc<Sandbox>,
}

impl std::fmt::Debug for Rescue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rescue")
            .field("addr", &self.addr)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Rescue {
    /// Starts the rescue system's SSH server on `cfg.listen`.
    ///
    /// `on_power` is called (from a tokio task) when a command inside asks to power off or
    /// reboot; the rescue system then closes its sessions and stops listening, as the
    /// machine goes down. [`Rescue::stop`] is still to be called to release it.
    ///
    /// # Errors
    /// [`Error::Bind`] when port 22 cannot be bound, [`Error::Sandbox`] when bubblewrap is
    /// missing or failing, [`Error::Disk`], [`Error::AuthorizedKey`],
    /// [`Error::NoCredentials`] for bad configuration.
    pub async fn start(cfg: RescueConfig, on_power: Arc<dyn Fn(PowerRequest) + Send + Sync>) -> Result<Rescue, Error> {
        let authorized = cfg
            .authorized_keys
            .iter()
            .enumerate()
            .map(|(i, line)| {
                PublicKey::from_openssh(line.trim()).map_err(|source| Error::AuthorizedKey { index: i + 1, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if authorized.is_empty() && cfg.root_password.is_none() {
            return Err(Error::NoCredentials);
        }
        let host_key = host_key(cfg.host_key_seed)?;
        let fingerprint = host_key.public_key().fingerprint(HashAlg::Sha256).to_string();
        let sandbox = Arc::new(Sandbox::prepare(&cfg.disk).await?);
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: cfg.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: cfg.listen,
            source,
        })?;

        let (shutdown, shutdown_rx) = watch::channel(false);
        let ctx = Arc::new(session::Context {
            authorized,
            root_password: cfg.root_password,
            sandbox: Arc::clone(&sandbox),
            shutdown: shutdown_rx.clone(),
        });
        let config = Arc::new(russh::server::Config {
            server_id: russh::SshId::Standard("SSH-2.0-OpenSSH_9.2p1 talos-hcloud-rescue".into()),
            keys: vec![host_key],
            auth_rejection_time: Duration::from_millis(200),
            auth_rejection_time_initial: Some(Duration::ZERO),
            inactivity_timeout: Some(Duration::from_secs(3600)),
            methods: russh::MethodSet::from(&[russh::MethodKind::PublicKey, russh::MethodKind::Password][..]),
            nodelay: true,
            ..Default::default()
        });

        let mut tasks = JoinSet::new();
        tasks.spawn(session::accept_loop(listener, config, Arc::clone(&ctx)));
        tasks.spawn(power_loop(
            sandbox.power_fifo(),
            on_power,
            shutdown.clone(),
            shutdown_rx,
        ));
        tracing::info!(%addr, %fingerprint, disk = %sandbox.disk().display(), "rescue system up");
        Ok(Rescue {
            addr,
            fingerprint,
            shutdown,
            tasks,
            _sandbox: sandbox,
        })
    }

    /// The address the SSH server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The host key's fingerprint as `ssh-keygen -l` prints it (`SHA256:…`), for the
    /// `known_hosts` line or the log an operator compares against.
    pub fn host_key_fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// Stops the SSH server: no new connections, every session closed and every running
    /// command killed (their whole sandbox). Returns within a few seconds in any case.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        let drained = tokio::time::timeout(STOP_GRACE, async { while self.tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(addr = %self.addr, "rescue sessions did not end in time; aborting them");
            self.tasks.abort_all();
        }
    }
}

/// The host key of a rescue boot: Ed25519 from SHA-256 of the seed, so a seed gives the
/// same key every time.
fn host_key(seed: u64) -> Result<PrivateKey, Error> {
    let mut hasher = Sha256::new();
    hasher.update(b"talos-hcloud rescue host key\0");
    hasher.update(seed.to_be_bytes());
    let bytes: [u8; 32] = hasher.finalize().into();
    let pair = russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&bytes);
    PrivateKey::new(russh::keys::ssh_key::private::KeypairData::Ed25519(pair), "rescue").map_err(Error::HostKey)
}

/// Reads power requests the rescue tool writes to the FIFO, hands them to `on_power` and
/// takes the rescue system down (the machine is going off).
async fn power_loop(
    fifo: PathBuf,
    on_power: Arc<dyn Fn(PowerRequest) + Send + Sync>,
    shutdown: watch::Sender<bool>,
    mut shutdown_rx: watch::Receiver<bool>,
) {
    // Read-write, so the FIFO never reports end-of-file between writers.
    let receiver = match tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(&fifo)
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(fifo = %fifo.display(), "cannot open the rescue power FIFO: {e}");
            return;
        }
    };
    let mut lines = tokio::io::BufReader::new(receiver).lines();
    loop {
        let line = tokio::select! {
            _ = session::stopped(&mut shutdown_rx) => return,
            line = lines.next_line() => line,
        };
        let request = match line {
            Ok(Some(line)) => match line.trim() {
                "poweroff" => PowerRequest::PowerOff,
                "reboot" => PowerRequest::Reboot,
                other => {
                    tracing::warn!("unknown rescue power request {other:?}");
                    continue;
                }
            },
            Ok(None) => return,
            Err(e) => {
                tracing::error!("reading the rescue power FIFO failed: {e}");
                return;
            }
        };
        tracing::info!(?request, "power request from the rescue system");
        on_power(request);
        let _ = shutdown.send(true);
        return;
    }
}
