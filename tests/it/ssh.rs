//! The product's SSH client against Debian's real OpenSSH `sshd` (the real rescue system
//! runs OpenSSH): exit status, streams, host key pinning, refused keys.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use talos_hcloud::ssh::{self, ConnectOptions, HostKeyPin, Session};
use tokio::io::AsyncWriteExt;

use crate::sim_rescue::{TestKey, test_key, unique_loopback};

const SSHD: &str = "/usr/sbin/sshd";

/// An OpenSSH server on 127.1.x.y:22 with its own host key and authorized keys, killed on drop.
struct Sshd {
    addr: SocketAddr,
    child: std::process::Child,
    host_fingerprint: String,
    _dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts sshd, or returns `None` (after saying why) when it is not installed.
fn sshd(authorized: &[&str]) -> Option<Sshd> {
    if !Path::new(SSHD).exists() {
        eprintln!("SKIPPED: {SSHD} is not installed (apt-get install openssh-server)");
        return None;
    }
    std::fs::create_dir_all("/run/sshd").expect("privilege separation directory /run/sshd");
    let dir = tempfile::tempdir().expect("tempdir");
    let host_key = dir.path().join("host_ed25519");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&host_key)
        .output()
        .expect("ssh-keygen");
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    let fp = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(host_key.with_extension("pub"))
        .output()
        .expect("ssh-keygen -l");
    let host_fingerprint = String::from_utf8_lossy(&fp.stdout)
        .split_whitespace()
        .nth(1)
        .expect("fingerprint column")
        .to_string();
    let keys = dir.path().join("authorized_keys");
    std::fs::write(&keys, authorized.join("\n") + "\n").expect("authorized_keys");
    let addr = SocketAddr::new(unique_loopback(), 22);
    let config = dir.path().join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "ListenAddress {addr}\nHostKey {}\nAuthorizedKeysFile {}\nPidFile none\nUsePAM no\n\
             PermitRootLogin prohibit-password\nStrictModes no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nLogLevel ERROR\n",
            host_key.display(),
            keys.display()
        ),
    )
    .expect("sshd_config");
    let child = std::process::Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("start sshd");
    Some(Sshd {
        addr,
        child,
        host_fingerprint,
        _dir: dir,
    })
}

fn options(key: &TestKey, pin: &HostKeyPin) -> ConnectOptions {
    ConnectOptions {
        user: std::env::var("USER").unwrap_or_else(|_| "root".to_string()),
        key: Arc::clone(&key.key),
        deadline: Duration::from_secs(20),
        pin: pin.clone(),
    }
}

/// Sends 64 MiB of patterned bytes through `cat` and checks that exactly they come back.
pub async fn assert_streams_64_mib(session: &Session) {
    const LEN: usize = 64 << 20;
    let (mut tx, rx) = tokio::io::duplex(1 << 20);
    let writer = tokio::spawn(async move {
        let mut block = vec![0u8; 1 << 20];
        let mut hasher = Sha256::new();
        for i in 0..(LEN / block.len()) {
            for (j, b) in block.iter_mut().enumerate() {
                *b = ((i * 31 + j * 7) % 253) as u8;
            }
            hasher.update(&block);
            tx.write_all(&block).await.expect("feed stdin");
        }
        hasher.finalize()
    });
    let mut sink = HashingSink::default();
    let status = session
        .exec("cat", rx, &mut sink, tokio::io::sink())
        .await
        .expect("cat 64 MiB");
    let sent = writer.await.expect("writer");
    assert!(status.success(), "{status}");
    assert_eq!(sink.len, LEN as u64);
    assert_eq!(sink.hasher.finalize(), sent);
}

/// An `AsyncWrite` that hashes and counts instead of storing (64 MiB stays out of memory).
#[derive(Default)]
struct HashingSink {
    hasher: Sha256,
    len: u64,
}

impl tokio::io::AsyncWrite for HashingSink {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.hasher.update(buf);
        self.len += buf.len() as u64;
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_against_openssh_sshd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = test_key(dir.path(), "id");
    let Some(server) = sshd(&[&key.line]) else {
        return;
    };
    // sshd is still starting: the client's bounded retries cover it.
    let pin = HostKeyPin::new();
    let session = Session::connect(server.addr, &options(&key, &pin))
        .await
        .expect("connect to sshd");
    assert_eq!(pin.fingerprint(), Some(server.host_fingerprint.clone()));

    let (status, out, err) = session
        .output("printf out; printf err >&2; exit 42")
        .await
        .expect("exec");
    assert_eq!(status.code, Some(42));
    assert_eq!((out.as_slice(), err.as_slice()), (&b"out"[..], &b"err"[..]));
    let (status, _, _) = session.output("kill -9 $$").await.expect("exec");
    assert_eq!(status.code, None);
    assert_eq!(status.signal.as_deref(), Some("KILL"));

    assert_streams_64_mib(&session).await;
    session.close().await;

    // A second sshd with another host key on the same pin: refused.
    let Some(other) = sshd(&[&key.line]) else {
        return;
    };
    let err = Session::connect(other.addr, &options(&key, &pin))
        .await
        .expect_err("pin mismatch");
    match &err {
        ssh::Error::HostKeyMismatch { expected, offered, .. } => {
            assert_eq!(expected, &server.host_fingerprint);
            assert_eq!(offered, &other.host_fingerprint);
        }
        other => panic!("expected a host key mismatch, got {other:?}"),
    }
    assert!(err.to_string().contains(&other.addr.to_string()), "{err}");

    // A key sshd does not know: refused, not retried.
    let stranger = test_key(dir.path(), "stranger");
    let err = Session::connect(other.addr, &options(&stranger, &HostKeyPin::new()))
        .await
        .expect_err("unknown key");
    assert!(matches!(err, ssh::Error::AuthRejected { .. }), "{err:?}");
}
