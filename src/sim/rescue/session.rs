//! SSH sessions of the rescue system: authentication, and one sandboxed bash per session
//! channel with its stdin, stdout, stderr and exit status carried over the channel.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use russh::keys::PublicKey;
use russh::server::{Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelId, ChannelMsg, Sig};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::sandbox::Sandbox;

/// Bytes of client data queued for a command's stdin before the client is held back.
const STDIN_QUEUE_BYTES: usize = 4 << 20;
/// Read size of the command's stdout and stderr.
const OUTPUT_CHUNK: usize = 64 << 10;

/// What every session of one rescue system shares.
pub(super) struct Context {
    pub(super) authorized: Vec<PublicKey>,
    pub(super) root_password: Option<String>,
    pub(super) sandbox: Arc<Sandbox>,
    pub(super) shutdown: watch::Receiver<bool>,
}

/// Accepts connections until shutdown; each runs as its own russh session, disconnected
/// on shutdown.
pub(super) async fn accept_loop(listener: TcpListener, config: Arc<russh::server::Config>, ctx: Arc<Context>) {
    let mut shutdown = ctx.shutdown.clone();
    let mut sessions = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => accepted,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!("rescue accept failed: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = Handler {
            ctx: Arc::clone(&ctx),
            channels: JoinSet::new(),
        };
        let config = Arc::clone(&config);
        let mut shutdown = ctx.shutdown.clone();
        sessions.spawn(async move {
            let running = match russh::server::run_stream(config, stream, handler).await {
                Ok(running) => running,
                Err(e) => {
                    tracing::debug!(%peer, "rescue SSH handshake failed: {e}");
                    return;
                }
            };
            let handle = running.handle();
            tokio::pin!(running);
            tokio::select! {
                result = &mut running => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, "rescue SSH session ended: {e}");
                    }
                }
                _ = stopped(&mut shutdown) => {
                    let _ = handle
                        .disconnect(russh::Disconnect::ByApplication, "the server is going down".into(), "en".into())
                        .await;
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), running).await;
                }
            }
        });
    }
    drop(listener);
    while sessions.join_next().await.is_some() {}
}

/// One SSH connection: checks credentials, and runs a channel task per session channel.
struct Handler {
    ctx: Arc<Context>,
    /// Channel tasks; dropping the handler (connection gone) aborts them, which kills
    /// their commands (`kill_on_drop`).
    channels: JoinSet<()>,
}

impl russh::server::Handler for Handler {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let ok = user == "root"
            && self
                .ctx
                .root_password
                .as_deref()
                .is_some_and(|expected| Sha256::digest(expected.as_bytes()) == Sha256::digest(password.as_bytes()));
        Ok(if ok { Auth::Accept } else { Auth::reject() })
    }

    async fn auth_publickey_offered(&mut self, user: &str, key: &PublicKey) -> Result<Auth, Self::Error> {
        Ok(if self.allows(user, key) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_publickey(&mut self, user: &str, key: &PublicKey) -> Result<Auth, Self::Error> {
        Ok(if self.allows(user, key) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        let ctx = Arc::clone(&self.ctx);
        self.channels.spawn(serve_channel(channel, ctx));
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Accepted so that `ssh` and `hcloud server ssh` proceed; the shell runs without a
        // terminal (see the module's limits).
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // OpenSSH's sshd refuses variables not in AcceptEnv, as does the rescue system.
        session.channel_failure(channel)
    }
}

impl Handler {
    /// Returns true if and only if `user` is root and `key` is one of the authorized keys.
    fn allows(&self, user: &str, key: &PublicKey) -> bool {
        user == "root"
            && self
                .ctx
                .authorized
                .iter()
                .any(|allowed| allowed.key_data() == key.key_data())
    }
}

/// Serves one session channel: waits for `exec` or `shell`, runs it in the sandbox and
/// carries data both ways until the command ends or the channel closes.
async fn serve_channel(channel: Channel<Msg>, ctx: Arc<Context>) {
    let (mut read, write) = channel.split();
    let mut shutdown = ctx.shutdown.clone();
    let command = loop {
        let msg = tokio::select! {
            _ = stopped(&mut shutdown) => return,
            msg = read.wait() => msg,
        };
        match msg {
            Some(ChannelMsg::Exec { command, .. }) => {
                break Some(String::from_utf8_lossy(&command).into_owned());
            }
            Some(ChannelMsg::RequestShell { .. }) => break None,
            Some(ChannelMsg::Eof | ChannelMsg::Close) | None => return,
            Some(_) => continue,
        }
    };
    tracing::debug!(command = command.as_deref().unwrap_or("<shell>"), "rescue command");

    let mut cmd = ctx.sandbox.command(command.as_deref());
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let msg = format!("rescue: cannot start the command sandbox: {e}\n");
            let _ = write.extended_data_bytes(1, Bytes::from(msg)).await;
            let _ = write.exit_status(255).await;
            let _ = write.eof().await;
            let _ = write.close().await;
            return;
        }
    };
    let pid = child.id();
    let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        tracing::error!("spawned rescue command has no pipes");
        return;
    };

    // Output waiting for the client's window must never be blocked behind our reading of
    // client data (the session loop does both): while any output is pending, client data
    // is read and queued regardless of the queue's size.
    let pending_output = Arc::new(AtomicUsize::new(0));
    let output_waits = Arc::new(Notify::new());
    let out_task = tokio::spawn(pump(
        stdout,
        write.make_writer(),
        Arc::clone(&pending_output),
        Arc::clone(&output_waits),
    ));
    let err_task = tokio::spawn(pump(
        stderr,
        write.make_writer_ext(Some(1)),
        Arc::clone(&pending_output),
        Arc::clone(&output_waits),
    ));
    let sandbox = Arc::clone(&ctx.sandbox);
    let finish = async move {
        let _ = out_task.await;
        let _ = err_task.await;
        let status = child.wait().await;
        restore_disk_size(&sandbox);
        match status {
            Ok(status) => status
                .code()
                .or_else(|| status.signal().map(|s| 128 + s))
                .and_then(|c| u32::try_from(c).ok())
                .unwrap_or(255),
            Err(e) => {
                tracing::warn!("waiting for a rescue command failed: {e}");
                255
            }
        }
    };
    tokio::pin!(finish);

    let mut stdin = Some(stdin);
    let mut queue: VecDeque<Bytes> = VecDeque::new();
    let mut queued = 0usize;
    let mut client_eof = false;
    let mut channel_open = true;
    let code = loop {
        if client_eof && queue.is_empty() {
            // Closing stdin is the command's end-of-file.
            stdin = None;
        }
        let may_read =
            channel_open && !client_eof && (queued < STDIN_QUEUE_BYTES || pending_output.load(Ordering::Acquire) > 0);
        tokio::select! {
            code = &mut finish => break Some(code),
            _ = stopped(&mut shutdown) => break None,
            msg = read.wait(), if may_read => match msg {
                Some(ChannelMsg::Data { data }) => {
                    if stdin.is_some() {
                        queued += data.len();
                        queue.push_back(data);
                    }
                }
                Some(ChannelMsg::Eof) => client_eof = true,
                Some(ChannelMsg::Signal { signal }) => signal_group(pid, &signal),
                Some(ChannelMsg::Close) | None => {
                    channel_open = false;
                    break None;
                }
                Some(_) => {}
            },
            written = write_front(stdin.as_mut(), &queue), if stdin.is_some() && !queue.is_empty() => {
                match written {
                    Ok(n) => {
                        queued -= n;
                        if let Some(front) = queue.front_mut() {
                            if n >= front.len() {
                                queue.pop_front();
                            } else {
                                *front = front.slice(n..);
                            }
                        }
                    }
                    Err(_) => {
                        // The command closed its stdin (it exited or does not read):
                        // further client data is dropped, as sshd does.
                        stdin = None;
                        queue.clear();
                        queued = 0;
                    }
                }
            }
            _ = output_waits.notified(), if !may_read => {}
        }
    };
    match code {
        Some(code) => {
            let _ = write.exit_status(code).await;
            let _ = write.eof().await;
            let _ = write.close().await;
        }
        None => {
            // The client went away or the machine goes down: the whole sandbox dies.
            signal_group(pid, &Sig::KILL);
            drop(stdin);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), finish).await;
            if channel_open {
                let _ = write.close().await;
            }
        }
    }
}

/// Resolves once the rescue system is shutting down.
pub(super) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Writes some of the queue's first chunk to the command's stdin.
async fn write_front(
    stdin: Option<&mut tokio::process::ChildStdin>,
    queue: &VecDeque<Bytes>,
) -> std::io::Result<usize> {
    match (stdin, queue.front()) {
        (Some(stdin), Some(front)) => stdin.write(front).await,
        _ => std::future::pending().await,
    }
}

/// Copies a command's output to the channel, counting itself in `pending` while it waits
/// for the client (see [`serve_channel`]).
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    pending: Arc<AtomicUsize>,
    waits: Arc<Notify>,
) {
    let mut buf = vec![0u8; OUTPUT_CHUNK];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.fetch_add(1, Ordering::AcqRel);
        waits.notify_one();
        let sent = to.write_all(&buf[..n]).await;
        pending.fetch_sub(1, Ordering::AcqRel);
        if sent.is_err() {
            // The channel is gone; keep draining so the command is not stuck on a pipe.
            while matches!(from.read(&mut buf).await, Ok(n) if n > 0) {}
            break;
        }
    }
    let _ = to.flush().await;
}

/// Sends `signal` to the command's whole process group (its sandbox: `setsid` made the
/// sandbox's first process the group leader).
fn signal_group(pid: Option<u32>, signal: &Sig) {
    use nix::sys::signal::Signal;
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    let signal = match signal {
        Sig::ABRT => Signal::SIGABRT,
        Sig::ALRM => Signal::SIGALRM,
        Sig::FPE => Signal::SIGFPE,
        Sig::HUP => Signal::SIGHUP,
        Sig::ILL => Signal::SIGILL,
        Sig::INT => Signal::SIGINT,
        Sig::KILL => Signal::SIGKILL,
        Sig::PIPE => Signal::SIGPIPE,
        Sig::QUIT => Signal::SIGQUIT,
        Sig::SEGV => Signal::SIGSEGV,
        Sig::TERM => Signal::SIGTERM,
        Sig::USR1 => Signal::SIGUSR1,
        Sig::Custom(name) => match name.as_str() {
            "USR2" => Signal::SIGUSR2,
            _ => return,
        },
    };
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), signal);
}

/// Brings the disk file back to its block-device size after a command truncated it
/// (`dd` without `conv=notrunc`); see the module's limits.
fn restore_disk_size(sandbox: &Sandbox) {
    let path = sandbox.disk();
    let size = sandbox.disk_size();
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() != size => {
            let result = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f| f.set_len(size));
            if let Err(e) = result {
                tracing::warn!(disk = %path.display(), "cannot restore the disk's size: {e}");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(disk = %path.display(), "cannot read the disk's size: {e}"),
    }
}
