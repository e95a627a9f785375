//! The product's SSH client (russh): connect to a server that may still be booting,
//! authenticate with an in-memory Ed25519 key, and run commands with stdin, stdout and
//! stderr streamed and the real exit status returned.
//!
//! `image build` uses it to drive a Hetzner rescue system (issue 10); it is proven against
//! Debian's OpenSSH `sshd` as well as the emulated rescue system (`sim::rescue`).
//!
//! # Host keys
//! A rescue system's host key is generated when it boots, so it cannot be known in advance
//! and Hetzner's API does not report it. The client therefore trusts the key it sees on
//! the first connection and pins it for the rest of the session: a [`HostKeyPin`] is
//! shared by every reconnection of one job, and a different key on a later connection is
//! [`Error::HostKeyMismatch`] (someone else answering on that address). Callers can also
//! pin a key they know ([`HostKeyPin::with_key`]).
//!
//! It calls nothing else of the product; retry timing is a local backoff until the shared
//! `retry` module lands.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use russh::{ChannelMsg, Disconnect};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::retry::Policy;

/// Read size of stdin chunks sent to the remote command.
const STDIN_CHUNK: usize = 64 << 10;

/// Why an SSH operation failed; each variant names the address and, for commands, the
/// command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No TCP connection could be made before the deadline (the server never came up).
    #[error("cannot connect to {addr} over SSH after {attempts} attempts in {waited_s:.1} s")]
    Connect {
        /// The address.
        addr: SocketAddr,
        /// Connection attempts made.
        attempts: u32,
        /// Seconds spent.
        waited_s: f64,
        /// The last attempt's error.
        #[source]
        source: std::io::Error,
    },
    /// The SSH handshake failed.
    #[error("SSH handshake with {addr} failed")]
    Handshake {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: russh::Error,
    },
    /// The server's host key differs from the one pinned earlier in this session.
    #[error(
        "the host key of {addr} changed: pinned {expected}, offered {offered}; another machine may be answering on this address"
    )]
    HostKeyMismatch {
        /// The address.
        addr: SocketAddr,
        /// Fingerprint of the pinned key.
        expected: String,
        /// Fingerprint of the key the server offered.
        offered: String,
    },
    /// The server refused our key (or password).
    #[error("{addr} refused SSH login as {user}")]
    AuthRejected {
        /// The address.
        addr: SocketAddr,
        /// The user name.
        user: String,
    },
    /// Authentication could not be carried out.
    #[error("SSH authentication with {addr} failed")]
    Auth {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: russh::Error,
    },
    /// The SSH session broke while running a command.
    #[error("while running '{command}' on {addr}")]
    Exec {
        /// The command (shortened).
        command: String,
        /// The address.
        addr: std::net::IpAddr,
        /// The cause.
        #[source]
        source: russh::Error,
    },
    /// Reading the local stdin or writing the local stdout/stderr failed.
    #[error("while running '{command}' on {addr}: local stream failed")]
    LocalIo {
        /// The command (shortened).
        command: String,
        /// The address.
        addr: std::net::IpAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The channel closed before the command reported how it ended.
    #[error("while running '{command}' on {addr}: the session closed without an exit status (the machine went down?)")]
    NoExitStatus {
        /// The command (shortened).
        command: String,
        /// The address.
        addr: std::net::IpAddr,
    },
    /// A key could not be generated or encoded.
    #[error("SSH key handling failed")]
    Key(#[source] russh::keys::ssh_key::Error),
    /// The system's random number generator failed.
    #[error("cannot read random bytes for an SSH key: {0}")]
    Random(String),
}

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code, when the command exited.
    pub code: Option<u32>,
    /// The signal's name (`KILL`, `TERM`, …), when a signal ended it.
    pub signal: Option<String>,
}

impl ExitStatus {
    /// Returns true if and only if the command exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.code, &self.signal) {
            (Some(code), _) => write!(f, "exit code {code}"),
            (None, Some(signal)) => write!(f, "killed by signal {signal}"),
            (None, None) => write!(f, "no exit status"),
        }
    }
}

/// The host key trusted for one job: recorded on the first connection, then required on
/// every later one. Clones share the pin.
#[derive(Debug, Clone, Default)]
pub struct HostKeyPin(Arc<Mutex<Option<PublicKey>>>);

impl HostKeyPin {
    /// An empty pin: the first connection records the key it sees.
    pub fn new() -> HostKeyPin {
        HostKeyPin::default()
    }

    /// A pin of a key known in advance.
    pub fn with_key(key: PublicKey) -> HostKeyPin {
        HostKeyPin(Arc::new(Mutex::new(Some(key))))
    }

    /// The pinned key's fingerprint (`SHA256:…`), if one is pinned.
    pub fn fingerprint(&self) -> Option<String> {
        self.lock().as_ref().map(|k| k.fingerprint(HashAlg::Sha256).to_string())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<PublicKey>> {
        // A poisoned pin still holds a valid key (it is only ever replaced whole).
        crate::lock::lock(&self.0)
    }
}

/// How to connect: who to log in as, with which key, how long a booting server may
/// refuse connections, and the host key pin.
#[derive(Clone)]
pub struct ConnectOptions {
    /// The user (`root` for a rescue system).
    pub user: String,
    /// The private key (in memory only).
    pub key: Arc<PrivateKey>,
    /// How long to keep retrying refused or reset connections.
    pub deadline: Duration,
    /// The host key pin shared by this job's connections.
    pub pin: HostKeyPin,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("user", &self.user)
            .field("key", &self.key.public_key().fingerprint(HashAlg::Sha256).to_string())
            .field("deadline", &self.deadline)
            .field("pin", &self.pin.fingerprint())
            .finish()
    }
}

/// A fresh Ed25519 key, held in memory only (issue 10: the builder's key never touches
/// the disk).
///
/// # Errors
/// [`Error::Random`] when the system's random number generator fails.
pub fn generate_key() -> Result<PrivateKey, Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Error::Random(e.to_string()))?;
    let pair = russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&seed);
    PrivateKey::new(
        russh::keys::ssh_key::private::KeypairData::Ed25519(pair),
        "talos-hcloud",
    )
    .map_err(Error::Key)
}

/// The OpenSSH public key line of `key` (`ssh-ed25519 AAAA… comment`), as Hetzner's SSH
/// key API and `authorized_keys` take it.
///
/// # Errors
/// [`Error::Key`] when the key cannot be encoded.
pub fn public_key_line(key: &PrivateKey) -> Result<String, Error> {
    key.public_key().to_openssh().map_err(Error::Key)
}

/// An authenticated SSH connection.
pub struct Session {
    handle: client::Handle<Verifier>,
    addr: SocketAddr,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Connects to `addr` and logs in with the key, retrying refused, reset and timed-out
    /// connections with backoff until `opts.deadline` (a rescue system refuses connections
    /// until it has booted). Authentication and host key failures are not retried.
    ///
    /// # Errors
    /// [`Error::Connect`] after the deadline, [`Error::HostKeyMismatch`],
    /// [`Error::AuthRejected`], [`Error::Handshake`], [`Error::Auth`].
    pub async fn connect(addr: SocketAddr, opts: &ConnectOptions) -> Result<Session, Error> {
        let started = Instant::now();
        let mut backoff = connect_policy(opts.deadline).backoff();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let stream = match tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(addr)).await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) if is_transient(&e) => match backoff.next() {
                    Some(delay) => {
                        tracing::debug!(%addr, attempts, "SSH connect failed ({e}); retrying in {delay:?}");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    None => return Err(connect_error(addr, attempts, started, e)),
                },
                Ok(Err(e)) => return Err(connect_error(addr, attempts, started, e)),
                Err(_) => {
                    let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
                    match backoff.next() {
                        Some(delay) => {
                            tokio::time::sleep(delay).await;
                            continue;
                        }
                        None => return Err(connect_error(addr, attempts, started, e)),
                    }
                }
            };
            let _ = stream.set_nodelay(true);
            match Session::handshake(addr, stream, opts).await {
                // A server that accepted TCP but dropped the handshake is still booting.
                Err(Error::Handshake { source, .. }) if is_transient_ssh(&source) => match backoff.next() {
                    Some(delay) => {
                        tracing::debug!(%addr, attempts, "SSH handshake dropped ({source}); retrying in {delay:?}");
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(Error::Handshake { addr, source }),
                },
                other => return other,
            }
        }
    }

    async fn handshake(
        addr: SocketAddr,
        stream: tokio::net::TcpStream,
        opts: &ConnectOptions,
    ) -> Result<Session, Error> {
        let config = Arc::new(client::Config {
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 4,
            nodelay: true,
            ..Default::default()
        });
        let verifier = Verifier {
            pin: opts.pin.clone(),
            mismatch: Arc::new(Mutex::new(None)),
        };
        let mismatch = Arc::clone(&verifier.mismatch);
        let mut handle = match client::connect_stream(config, stream, verifier).await {
            Ok(handle) => handle,
            Err(source) => {
                let offered = crate::lock::lock(&mismatch).take();
                if let Some(offered) = offered {
                    return Err(Error::HostKeyMismatch {
                        addr,
                        expected: opts.pin.fingerprint().unwrap_or_default(),
                        offered,
                    });
                }
                return Err(Error::Handshake { addr, source });
            }
        };
        let hash = handle
            .best_supported_rsa_hash()
            .await
            .map_err(|source| Error::Auth { addr, source })?
            .flatten();
        let result = handle
            .authenticate_publickey(
                opts.user.clone(),
                PrivateKeyWithHashAlg::new(Arc::clone(&opts.key), hash),
            )
            .await
            .map_err(|source| Error::Auth { addr, source })?;
        if !result.success() {
            return Err(Error::AuthRejected {
                addr,
                user: opts.user.clone(),
            });
        }
        Ok(Session { handle, addr })
    }

    /// The address this session is connected to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs `command` (a shell command line, as `ssh host 'command'`), streaming `stdin`
    /// to it (then end-of-file) and its output to `stdout` and `stderr`, and returns how it
    /// ended. Streams are copied in 64 KiB chunks with SSH flow control, so gigabytes pass
    /// without being held in memory. If the command ends before reading all of stdin, the
    /// rest is not sent.
    ///
    /// # Errors
    /// [`Error::Exec`] when the session breaks, [`Error::LocalIo`] when a local stream
    /// fails, [`Error::NoExitStatus`] when the channel closes without an exit status.
    pub async fn exec<I, O, E>(
        &self,
        command: &str,
        mut stdin: I,
        mut stdout: O,
        mut stderr: E,
    ) -> Result<ExitStatus, Error>
    where
        I: AsyncRead + Unpin,
        O: AsyncWrite + Unpin,
        E: AsyncWrite + Unpin,
    {
        let ip = self.addr.ip();
        let shown = crate::excerpt::excerpt(command).into_owned();
        let exec_err = |source| Error::Exec {
            command: shown.clone(),
            addr: ip,
            source,
        };
        let local_err = |source| Error::LocalIo {
            command: shown.clone(),
            addr: ip,
            source,
        };
        let channel = self.handle.channel_open_session().await.map_err(exec_err)?;
        channel.exec(true, command).await.map_err(exec_err)?;
        let (mut read, write) = channel.split();

        let input = async {
            let mut writer = write.make_writer();
            let mut buf = vec![0u8; STDIN_CHUNK];
            loop {
                let n = stdin.read(&mut buf).await.map_err(local_err)?;
                if n == 0 {
                    break;
                }
                if writer.write_all(&buf[..n]).await.is_err() {
                    // The channel is closing (the command ended); output tells how.
                    return Ok(());
                }
            }
            let _ = writer.flush().await;
            let _ = write.eof().await;
            Ok::<(), Error>(())
        };
        let output = async {
            let mut status = ExitStatus {
                code: None,
                signal: None,
            };
            while let Some(msg) = read.wait().await {
                match msg {
                    ChannelMsg::Data { data } => {
                        stdout.write_all(&data).await.map_err(local_err)?;
                    }
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        stderr.write_all(&data).await.map_err(local_err)?;
                    }
                    ChannelMsg::ExitStatus { exit_status } => status.code = Some(exit_status),
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        status.signal = Some(format!("{signal_name:?}"));
                    }
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            stdout.flush().await.map_err(local_err)?;
            stderr.flush().await.map_err(local_err)?;
            Ok::<ExitStatus, Error>(status)
        };
        tokio::pin!(input, output);
        let mut input_done = false;
        let status = loop {
            tokio::select! {
                result = &mut input, if !input_done => {
                    input_done = true;
                    result?;
                }
                result = &mut output => break result?,
            }
        };
        if status.code.is_none() && status.signal.is_none() {
            return Err(Error::NoExitStatus {
                command: shown.clone(),
                addr: ip,
            });
        }
        Ok(status)
    }

    /// Runs `command` with empty stdin and returns its status, stdout and stderr.
    ///
    /// # Errors
    /// As [`Session::exec`].
    pub async fn output(&self, command: &str) -> Result<(ExitStatus, Vec<u8>, Vec<u8>), Error> {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let status = self.exec(command, tokio::io::empty(), &mut out, &mut err).await?;
        Ok((status, out, err))
    }

    /// Closes the connection politely.
    pub async fn close(self) {
        let _ = self.handle.disconnect(Disconnect::ByApplication, "done", "en").await;
    }
}

/// Checks the server's host key against the pin, recording it on first use.
struct Verifier {
    pin: HostKeyPin,
    mismatch: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Ok(false);
        };
        let mut pinned = self.pin.lock();
        match pinned.as_ref() {
            None => {
                *pinned = Some(key.clone());
                Ok(true)
            }
            Some(expected) if expected.key_data() == key.key_data() => Ok(true),
            Some(_) => {
                *crate::lock::lock(&self.mismatch) = Some(key.fingerprint(HashAlg::Sha256).to_string());
                Ok(false)
            }
        }
    }
}

/// Returns true if and only if a connect error means "not up yet".
fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionReset | ConnectionAborted | TimedOut | HostUnreachable | NetworkUnreachable
    )
}

/// Returns true if and only if a handshake error means the server dropped us while
/// starting (not a protocol, key or authentication problem).
fn is_transient_ssh(e: &russh::Error) -> bool {
    match e {
        russh::Error::Disconnect | russh::Error::HUP => true,
        russh::Error::IO(io) => is_transient(io) || io.kind() == std::io::ErrorKind::UnexpectedEof,
        _ => false,
    }
}

fn connect_error(addr: SocketAddr, attempts: u32, started: Instant, source: std::io::Error) -> Error {
    Error::Connect {
        addr,
        attempts,
        waited_s: started.elapsed().as_secs_f64(),
        source,
    }
}

/// How [`Session::connect`] retries a server that is not up yet: 100 ms growing to 3 s,
/// with jitter, until the caller's deadline.
fn connect_policy(deadline: Duration) -> Policy {
    Policy {
        name: "ssh connect",
        ..Policy::node_boot()
    }
    .with_delays(Duration::from_millis(100), Duration::from_secs(3))
    .with_deadline(deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_backoff_grows_to_its_cap_and_stops_at_the_deadline() {
        let mut b = connect_policy(Duration::from_secs(3600)).backoff_seeded(1);
        let delays: Vec<_> = (0..8).filter_map(|_| b.next()).collect();
        assert_eq!(delays.len(), 8);
        assert!(delays[0] >= Duration::from_millis(90) && delays[0] <= Duration::from_millis(100));
        assert!(delays[7] <= Duration::from_secs(3) && delays[7] >= Duration::from_millis(2700));
        let mut done = connect_policy(Duration::ZERO).backoff();
        assert_eq!(done.next(), None);
    }

    #[test]
    fn generated_keys_are_distinct_ed25519_with_an_openssh_line() {
        let a = generate_key().expect("key");
        let b = generate_key().expect("key");
        assert_ne!(a.public_key().key_data(), b.public_key().key_data());
        let line = public_key_line(&a).expect("line");
        assert!(line.starts_with("ssh-ed25519 AAAA"), "{line}");
        assert_eq!(
            PublicKey::from_openssh(&line).expect("parse").key_data(),
            a.public_key().key_data()
        );
    }
}
