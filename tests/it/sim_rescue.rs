//! The emulated rescue system over real SSH (issue 9): Debian's OpenSSH client and the
//! product's client log in, run real tools in the sandbox, write `/dev/sda`, and cannot
//! write anywhere else. Binding port 22 on 127.1.x.y needs root (as here and in CI).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use talos_hcloud::sim::rescue::{Error, PowerRequest, Rescue, RescueConfig};
use talos_hcloud::ssh::{self, ConnectOptions, HostKeyPin, Session};

/// A loopback address no other test uses: 127.1.<random>.<random> (the servers' range).
pub fn unique_loopback() -> IpAddr {
    let a: u8 = rand::random_range(1..=254);
    let b: u8 = rand::random_range(1..=254);
    IpAddr::V4(Ipv4Addr::new(127, 1, a, b))
}

/// A key pair: the private key in memory, its OpenSSH files on disk for `ssh -i`.
pub struct TestKey {
    pub key: Arc<russh::keys::PrivateKey>,
    pub line: String,
    pub file: PathBuf,
}

pub fn test_key(dir: &Path, name: &str) -> TestKey {
    use std::os::unix::fs::PermissionsExt;
    let key = ssh::generate_key().expect("generate key");
    let line = ssh::public_key_line(&key).expect("public key line");
    let file = dir.join(name);
    let pem = key
        .to_openssh(russh::keys::ssh_key::LineEnding::LF)
        .expect("encode key");
    std::fs::write(&file, pem.as_bytes()).expect("write key");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
    TestKey {
        key: Arc::new(key),
        line,
        file,
    }
}

/// A rescue system on a fresh address with an 8 MiB disk, recording power requests.
struct Stand {
    dir: tempfile::TempDir,
    disk: PathBuf,
    key: TestKey,
    rescue: Rescue,
    power: Arc<Mutex<Vec<PowerRequest>>>,
}

const DISK_BYTES: u64 = 8 << 20;

async fn stand(password: Option<&str>) -> Stand {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = dir.path().join("disk.raw");
    std::fs::File::create(&disk)
        .and_then(|f| f.set_len(DISK_BYTES))
        .expect("disk");
    let key = test_key(dir.path(), "id_ed25519");
    let power = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&power);
    let rescue = Rescue::start(
        RescueConfig {
            listen: SocketAddr::new(unique_loopback(), 22),
            disk: disk.clone(),
            authorized_keys: vec![key.line.clone()],
            root_password: password.map(str::to_string),
            host_key_seed: rand::random(),
        },
        Arc::new(move |req| seen.lock().expect("power log").push(req)),
    )
    .await
    .expect("rescue starts");
    Stand {
        dir,
        disk,
        key,
        rescue,
        power,
    }
}

/// Runs Debian's `ssh` against the stand with the given identity and command.
pub(crate) fn openssh(addr: SocketAddr, identity: &Path, command: &str) -> Output {
    std::process::Command::new("ssh")
        .args(ssh_common_args(addr))
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i"])
        .arg(identity)
        .arg(format!("root@{}", addr.ip()))
        .arg(command)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ssh")
}

fn ssh_common_args(addr: SocketAddr) -> Vec<String> {
    [
        "-F",
        "/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=10",
        "-p",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([addr.port().to_string()])
    .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssh_writes_the_disk_and_nothing_else() {
    let s = stand(None).await;
    let addr = s.rescue.addr();
    let id = s.key.file.clone();

    let out = tokio::task::spawn_blocking(move || {
        openssh(
            addr,
            &id,
            "printf abc | dd of=/dev/sda bs=4M conv=sparse,notrunc && sync",
        )
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let disk = std::fs::read(&s.disk).expect("read disk");
    assert_eq!(disk.len() as u64, DISK_BYTES);
    assert_eq!(&disk[..3], b"abc");
    assert!(disk[3..].iter().all(|b| *b == 0));

    // Writes anywhere but /dev/sda, /tmp (and /root, /run) fail; the host is untouched.
    let evil = format!("/etc/talos-hcloud-evil-{}", rand::random::<u32>());
    let swappiness = std::fs::read_to_string("/proc/sys/vm/swappiness").expect("swappiness");
    let attempts = [
        format!("echo x > {evil}"),
        "dd if=/dev/zero of=/dev/vda bs=512 count=1".to_string(),
        "echo 1 > /proc/sys/vm/swappiness".to_string(),
        format!("touch {}/escaped", s.dir.path().display()),
        "mount -t tmpfs none /mnt".to_string(),
    ];
    for attempt in attempts {
        let id = s.key.file.clone();
        let cmd = attempt.clone();
        let out = tokio::task::spawn_blocking(move || openssh(addr, &id, &cmd))
            .await
            .expect("join");
        assert_ne!(out.status.code(), Some(0), "{attempt} succeeded");
        assert_ne!(
            out.status.code(),
            Some(255),
            "{attempt}: ssh failed: {}",
            text(&out.stderr)
        );
    }
    assert!(!Path::new(&evil).exists());
    assert!(!s.dir.path().join("escaped").exists());
    assert_eq!(
        std::fs::read_to_string("/proc/sys/vm/swappiness").expect("swappiness"),
        swappiness
    );

    // The real tools see the disk as the rescue system's sda; /tmp is private and works.
    let id = s.key.file.clone();
    let tmp_name = format!("rescue-probe-{}", rand::random::<u32>());
    let cmd = format!(
        "set -e; lsblk -bdno SIZE /dev/sda; head -c 3 /dev/sda | sha256sum; echo hi > /tmp/{tmp_name}; cat /tmp/{tmp_name}; \
         blkdiscard /dev/sda; head -c 3 /dev/sda | od -An -tx1; printf q | dd of=/dev/sda bs=1 seek=100 2>/dev/null; \
         zstd -q -c /etc/hostname | zstd -dc >/dev/null; xz -c /etc/hostname | xz -dc >/dev/null; echo done"
    );
    let out = tokio::task::spawn_blocking(move || openssh(addr, &id, &cmd))
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let abc = hex::encode(Sha256::digest(b"abc"));
    assert_eq!(
        text(&out.stdout),
        format!("{DISK_BYTES}\n{abc}  -\nhi\n 00 00 00\ndone\n")
    );
    assert!(!Path::new("/tmp").join(&tmp_name).exists());
    // `dd` without notrunc truncated the file; the disk keeps its size and the byte.
    let disk = std::fs::read(&s.disk).expect("read disk");
    assert_eq!(disk.len() as u64, DISK_BYTES);
    assert_eq!(disk[100], b'q');
    assert!(disk[..100].iter().all(|b| *b == 0));

    // Writing past the end of the disk fails instead of growing the file.
    let id = s.key.file.clone();
    let out = tokio::task::spawn_blocking(move || {
        openssh(addr, &id, "head -c 9M /dev/zero | dd of=/dev/sda bs=1M conv=notrunc")
    })
    .await
    .expect("join");
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(std::fs::metadata(&s.disk).expect("disk").len(), DISK_BYTES);
    assert!(s.power.lock().expect("power").is_empty());
    s.rescue.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_refused_and_the_root_password_works() {
    let s = stand(Some("s3cret-Rescue")).await;
    let addr = s.rescue.addr();
    let other = test_key(s.dir.path(), "other");
    let out = tokio::task::spawn_blocking(move || openssh(addr, &other.file, "echo in"))
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("Permission denied"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());

    let askpass = s.dir.path().join("askpass");
    std::fs::write(&askpass, "#!/bin/sh\necho s3cret-Rescue\n").expect("askpass");
    std::fs::set_permissions(&askpass, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let login = move |askpass: PathBuf| {
        std::process::Command::new("ssh")
            .args(ssh_common_args(addr))
            .args([
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "PreferredAuthentications=password",
            ])
            .args(["-o", "NumberOfPasswordPrompts=1"])
            .arg(format!("root@{}", addr.ip()))
            .arg("echo in as $(id -un)")
            .env("SSH_ASKPASS", askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run ssh")
    };
    let good = askpass.clone();
    let out = tokio::task::spawn_blocking(move || login(good)).await.expect("join");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "in as root\n");

    let wrong = s.dir.path().join("askpass-wrong");
    std::fs::write(&wrong, "#!/bin/sh\necho guess\n").expect("askpass");
    std::fs::set_permissions(&wrong, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let out = tokio::task::spawn_blocking(move || login(wrong)).await.expect("join");
    assert_eq!(out.status.code(), Some(255));
    s.rescue.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poweroff_inside_calls_on_power_and_takes_ssh_down() {
    let s = stand(None).await;
    let addr = s.rescue.addr();
    let id = s.key.file.clone();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || openssh(addr, &id, "sync && poweroff"))
        .await
        .expect("join");
    // The machine goes down under the session: no exit status, as with a real poweroff.
    assert_eq!(out.status.code(), Some(255), "stderr: {}", text(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(*s.power.lock().expect("power"), vec![PowerRequest::PowerOff]);
    let refused = tokio::net::TcpStream::connect(addr).await;
    assert!(refused.is_err(), "still listening after poweroff");
    s.rescue.stop().await;

    let s = stand(None).await;
    let addr = s.rescue.addr();
    let id = s.key.file.clone();
    let _ = tokio::task::spawn_blocking(move || openssh(addr, &id, "/sbin/shutdown -r now"))
        .await
        .expect("join");
    assert_eq!(*s.power.lock().expect("power"), vec![PowerRequest::Reboot]);
    s.rescue.stop().await;
}

fn options(key: &TestKey, pin: &HostKeyPin) -> ConnectOptions {
    ConnectOptions {
        user: "root".to_string(),
        key: Arc::clone(&key.key),
        deadline: Duration::from_secs(20),
        pin: pin.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_runs_commands_and_streams_64_mib_through_the_rescue() {
    let s = stand(None).await;
    let pin = HostKeyPin::new();
    let session = Session::connect(s.rescue.addr(), &options(&s.key, &pin))
        .await
        .expect("connect");
    assert_eq!(pin.fingerprint(), Some(s.rescue.host_key_fingerprint()));
    assert!(s.rescue.host_key_fingerprint().starts_with("SHA256:"));

    let (status, out, err) = session.output("echo out; echo err >&2; exit 7").await.expect("exec");
    assert_eq!(status.code, Some(7));
    assert_eq!((out.as_slice(), err.as_slice()), (&b"out\n"[..], &b"err\n"[..]));

    crate::ssh::assert_streams_64_mib(&session).await;

    // Streamed onto the disk: the image-writing path of `image build --via local`.
    let data: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut out = Vec::new();
    let status = session
        .exec(
            "dd of=/dev/sda bs=4M conv=sparse,notrunc iflag=fullblock status=none && sync && head -c 3145728 /dev/sda | sha256sum",
            &data[..],
            &mut out,
            tokio::io::sink(),
        )
        .await
        .expect("exec");
    assert!(status.success(), "{status}");
    assert_eq!(text(&out), format!("{}  -\n", hex::encode(Sha256::digest(&data))));
    let disk = std::fs::read(&s.disk).expect("disk");
    assert_eq!(&disk[..data.len()], &data[..]);
    session.close().await;

    // The same address with another host key (a new boot, or someone else) is refused.
    let addr = s.rescue.addr();
    s.rescue.stop().await;
    let other = Rescue::start(
        RescueConfig {
            listen: addr,
            disk: s.disk.clone(),
            authorized_keys: vec![s.key.line.clone()],
            root_password: None,
            host_key_seed: 7,
        },
        Arc::new(|_| {}),
    )
    .await
    .expect("second rescue");
    let err = Session::connect(addr, &options(&s.key, &pin))
        .await
        .expect_err("pinned key must not match");
    match &err {
        ssh::Error::HostKeyMismatch { expected, offered, .. } => {
            assert_eq!(Some(expected.clone()), pin.fingerprint());
            assert_eq!(offered, &other.host_key_fingerprint());
        }
        other => panic!("expected a host key mismatch, got {other:?}"),
    }
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_waits_for_a_booting_rescue_and_gives_up_at_its_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = test_key(dir.path(), "id");
    let addr = SocketAddr::new(unique_loopback(), 22);

    // Nothing listens: refused until the deadline, then a Connect error naming the address.
    let started = Instant::now();
    let mut opts = options(&key, &HostKeyPin::new());
    opts.deadline = Duration::from_millis(800);
    let err = Session::connect(addr, &opts).await.expect_err("nothing listens");
    let elapsed = started.elapsed();
    assert!(
        matches!(err, ssh::Error::Connect { attempts, .. } if attempts >= 3),
        "{err:?}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    assert!(
        elapsed >= Duration::from_millis(700) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );

    // The rescue system comes up 1 s after the client started trying.
    let disk = dir.path().join("disk");
    std::fs::File::create(&disk)
        .and_then(|f| f.set_len(1 << 20))
        .expect("disk");
    let line = key.line.clone();
    let boot = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Rescue::start(
            RescueConfig {
                listen: addr,
                disk,
                authorized_keys: vec![line],
                root_password: None,
                host_key_seed: 1,
            },
            Arc::new(|_| {}),
        )
        .await
        .expect("rescue starts")
    });
    let session = Session::connect(addr, &options(&key, &HostKeyPin::new()))
        .await
        .expect("connects once booted");
    let (status, out, _) = session.output("hostname").await.expect("exec");
    assert!(status.success());
    assert_eq!(text(&out), "rescue\n");
    session.close().await;
    boot.await.expect("join").stop().await;
}

#[tokio::test]
async fn bad_configurations_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = test_key(dir.path(), "id");
    let cfg = RescueConfig {
        listen: SocketAddr::new(unique_loopback(), 22),
        disk: dir.path().join("missing.raw"),
        authorized_keys: vec![key.line.clone()],
        root_password: None,
        host_key_seed: 1,
    };
    let err = Rescue::start(cfg.clone(), Arc::new(|_| {})).await.expect_err("no disk");
    assert!(matches!(err, Error::Disk { .. }), "{err:?}");

    let err = Rescue::start(
        RescueConfig {
            authorized_keys: vec!["ssh-ed25519 notbase64".to_string()],
            ..cfg.clone()
        },
        Arc::new(|_| {}),
    )
    .await
    .expect_err("bad key");
    assert_eq!(err.to_string(), "authorized key #1 is not an OpenSSH public key line");

    let err = Rescue::start(
        RescueConfig {
            authorized_keys: vec![],
            ..cfg
        },
        Arc::new(|_| {}),
    )
    .await
    .expect_err("no credentials");
    assert!(matches!(err, Error::NoCredentials), "{err:?}");
}
