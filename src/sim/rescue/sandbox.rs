//! The bubblewrap sandbox every rescue command runs in: the host's filesystem read-only,
//! `/dev/sda` bound to the server's disk file, private `/tmp`, `/root` and `/run`, no
//! capabilities, a private PID namespace, and a file-size limit of the disk's size.
//!
//! Why each piece matters (issue 9, "a write can never escape the disk"):
//! - `--ro-bind / /` and `--cap-drop ALL`: nothing of the host is writable, and the
//!   sandbox's root cannot remount it; `/proc/sys` is bound read-only again because a
//!   fresh `/proc` would leave the host's sysctls writable to uid 0.
//! - `--dev /dev` then `--remount-ro /dev`: only `null`, `zero`, `tty`, … and `sda` exist;
//!   `dd of=/dev/vda` fails instead of creating a file.
//! - `prlimit --fsize=<disk size>`: a regular file grows where a block device would say
//!   "no space left"; the limit keeps a runaway `dd` from filling the host's disk.
//! - `setsid` gives the command its own session and process group, so signals and the
//!   final kill reach every process of it, and no command can reach our terminal.
//! - The network is the host's: the rescue system downloads from the emulated factory
//!   over loopback, as a real one does from the internet.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::Error;

/// Where the rescue tools (power, `blkdiscard`, `lsblk`) live inside the sandbox; first in `PATH`.
const TOOL_DIR: &str = "/run/rescue/bin";
/// The FIFO inside the sandbox that power requests are written to.
pub(super) const POWER_FIFO: &str = "/run/rescue/power";
/// Size caps of the sandbox's private tmpfs mounts (memory is used only when written).
const TMP_BYTES: u64 = 1 << 30;
const ROOT_BYTES: u64 = 64 << 20;
const RUN_BYTES: u64 = 16 << 20;

/// Host binaries replaced by the dispatching rescue tool inside the sandbox. On Debian the
/// power commands are symlinks to `systemctl`, which is then replaced too (systemd
/// dispatches on its name the same way).
const REPLACED: &[&str] = &[
    "/usr/sbin/poweroff",
    "/usr/sbin/shutdown",
    "/usr/sbin/reboot",
    "/usr/sbin/halt",
    "/usr/sbin/blkdiscard",
    "/usr/bin/lsblk",
    "/usr/bin/systemctl",
];
/// Names the rescue tool answers to, one link each in [`TOOL_DIR`].
const TOOL_NAMES: &[&str] = &[
    "poweroff",
    "shutdown",
    "reboot",
    "halt",
    "blkdiscard",
    "lsblk",
    "systemctl",
];

/// The one script behind `poweroff`, `shutdown`, `reboot`, `halt`, `systemctl`,
/// `blkdiscard` and `lsblk`, dispatching on the name it was called by. Power requests go
/// to the rescue server through [`POWER_FIFO`], then the script waits for the machine to
/// go down (the server closes the session), as a real shutdown does.
const TOOL_SCRIPT: &str = r#"#!/bin/bash
# talos-hcloud rescue system: power, discard and block-device tools for the emulated /dev/sda.
set -u
name=${0##*/}
power() {
    printf '%s\n' "$1" > /run/rescue/power || exit 1
    exec sleep infinity
}
case "$name" in
poweroff|halt)
    power poweroff ;;
reboot)
    power reboot ;;
shutdown)
    action=poweroff
    for arg in "$@"; do
        case "$arg" in
        -r|--reboot) action=reboot ;;
        -c) echo "shutdown: no scheduled shutdown to cancel" >&2; exit 0 ;;
        esac
    done
    power "$action" ;;
systemctl)
    case "${1:-}" in
    poweroff|halt) power poweroff ;;
    reboot) power reboot ;;
    *) echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2; exit 1 ;;
    esac ;;
blkdiscard)
    offset=0; length=; device=
    while [ $# -gt 0 ]; do
        case "$1" in
        -o|--offset) offset=$2; shift ;;
        -l|--length) length=$2; shift ;;
        -f|--force|-v|--verbose|-q|--quiet) ;;
        -s|--secure) echo "blkdiscard: BLKSECDISCARD ioctl failed: Operation not supported" >&2; exit 1 ;;
        -z|--zeroout) ;;
        -*) echo "blkdiscard: invalid option -- '$1'" >&2; exit 1 ;;
        *) device=$1 ;;
        esac
        shift
    done
    if [ -z "$device" ]; then echo "blkdiscard: no device specified" >&2; exit 1; fi
    if [ "$device" != /dev/sda ]; then echo "blkdiscard: cannot open $device: No such file or directory" >&2; exit 1; fi
    size=$(stat -c %s /dev/sda) || exit 1
    [ -n "$length" ] || length=$((size - offset))
    if [ "$length" -gt 0 ]; then
        fallocate --punch-hole --keep-size --offset "$offset" --length "$length" /dev/sda || exit 1
    fi ;;
lsblk)
    bytes=0; heading=1; columns=NAME,MAJ:MIN,RM,SIZE,RO,TYPE,MOUNTPOINTS
    while [ $# -gt 0 ]; do
        case "$1" in
        -b|--bytes) bytes=1 ;;
        -n|--noheadings) heading=0 ;;
        -d|--nodeps|-p|--paths|-a|--all) ;;
        -o|--output) columns=$2; shift ;;
        -*) flags=${1#-}
            case "$flags" in *b*) bytes=1 ;; esac
            case "$flags" in *n*) heading=0 ;; esac
            case "$flags" in *o) columns=$2; shift ;; esac ;;
        /dev/sda) ;;
        *) echo "lsblk: $1: not a block device" >&2; exit 32 ;;
        esac
        shift
    done
    size=$(stat -c %s /dev/sda) || exit 1
    if [ "$bytes" = 0 ]; then size=$(numfmt --to=iec "$size"); fi
    head= row=
    IFS=, read -ra cols <<< "$columns"
    for col in "${cols[@]}"; do
        case "${col^^}" in
        NAME) v=sda ;; PATH) v=/dev/sda ;; KNAME) v=sda ;; MAJ:MIN) v=8:0 ;; RM) v=0 ;; RO) v=0 ;;
        SIZE) v=$size ;; TYPE) v=disk ;; MOUNTPOINT|MOUNTPOINTS) v= ;; MODEL) v=QEMU_HARDDISK ;;
        *) echo "lsblk: unknown column: $col" >&2; exit 1 ;;
        esac
        head="$head${head:+ }${col^^}"; row="$row${row:+ }$v"
    done
    if [ "$heading" = 1 ]; then printf '%s\n' "$head"; fi
    printf '%s\n' "$row" ;;
*)
    echo "rescue tool: unknown name $name" >&2; exit 127 ;;
esac
"#;

/// The host side of one rescue system's sandbox: the directory holding the tool script
/// and the power FIFO, removed when this is dropped.
pub(super) struct Sandbox {
    dir: tempfile::TempDir,
    disk: PathBuf,
    disk_size: u64,
}

impl Sandbox {
    /// Checks that bubblewrap works here and prepares the tool directory and power FIFO.
    ///
    /// # Errors
    /// [`Error::Sandbox`] when `bwrap`, `setsid` or `prlimit` is missing or bubblewrap
    /// cannot create its namespaces; [`Error::Disk`] when the disk is not a regular file.
    pub(super) async fn prepare(disk: &Path) -> Result<Sandbox, Error> {
        let meta = std::fs::metadata(disk).map_err(|source| Error::Disk {
            path: disk.to_path_buf(),
            source,
        })?;
        if !meta.is_file() {
            return Err(Error::Disk {
                path: disk.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
            });
        }
        let disk = std::fs::canonicalize(disk).map_err(|source| Error::Disk {
            path: disk.to_path_buf(),
            source,
        })?;
        let dir = tempfile::Builder::new()
            .prefix("talos-hcloud-rescue-")
            .tempdir()
            .map_err(|e| Error::Sandbox(format!("cannot create the sandbox directory: {e}")))?;
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).map_err(|e| Error::Sandbox(format!("cannot create {}: {e}", bin.display())))?;
        let tool = bin.join("rescue-tool");
        std::fs::write(&tool, TOOL_SCRIPT)
            .map_err(|e| Error::Sandbox(format!("cannot write {}: {e}", tool.display())))?;
        set_mode(&tool, 0o755)?;
        for name in TOOL_NAMES {
            std::os::unix::fs::symlink("rescue-tool", bin.join(name))
                .map_err(|e| Error::Sandbox(format!("cannot link the rescue tool {name}: {e}")))?;
        }
        let fifo = dir.path().join("power");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|e| Error::Sandbox(format!("cannot create the power FIFO: {e}")))?;
        let sandbox = Sandbox {
            dir,
            disk,
            disk_size: meta.len(),
        };
        sandbox.preflight().await?;
        Ok(sandbox)
    }

    /// The host path of the power FIFO.
    pub(super) fn power_fifo(&self) -> PathBuf {
        self.dir.path().join("power")
    }

    /// The disk's size when the rescue system started (a block device's size is fixed).
    pub(super) fn disk_size(&self) -> u64 {
        self.disk_size
    }

    /// The disk file on the host.
    pub(super) fn disk(&self) -> &Path {
        &self.disk
    }

    /// Runs `true` in the sandbox once, so that a missing or failing bubblewrap is a clear
    /// start error rather than a failure of the first command.
    async fn preflight(&self) -> Result<(), Error> {
        let mut cmd = self.command(Some("true"));
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let out = tokio::time::timeout(std::time::Duration::from_secs(30), cmd.output())
            .await
            .map_err(|_| Error::Sandbox("bubblewrap did not finish `true` within 30 s".to_string()))?
            .map_err(|e| {
                Error::Sandbox(format!(
                    "cannot run setsid/prlimit/bwrap ({e}); install bubblewrap and util-linux"
                ))
            })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(Error::Sandbox(format!(
                "bubblewrap failed ({}): {}; it needs root or unprivileged user namespaces",
                out.status,
                crate::excerpt::excerpt(stderr.trim()),
            )));
        }
        Ok(())
    }

    /// The command line that runs `command` with bash in the sandbox (`None`: a login
    /// shell reading stdin). Stdio is left to the caller.
    pub(super) fn command(&self, command: Option<&str>) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("setsid");
        cmd.arg("prlimit")
            .arg(format!("--fsize={}", self.disk_size))
            .arg("--")
            .arg("bwrap")
            .args(["--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"])
            .args(["--hostname", "rescue", "--cap-drop", "ALL"])
            .args(["--ro-bind", "/", "/"])
            .args(["--dev", "/dev"])
            .arg("--bind")
            .arg(&self.disk)
            .arg("/dev/sda")
            .args(["--remount-ro", "/dev"])
            .args(["--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys"])
            .args(["--ro-bind-try", "/proc/sysrq-trigger", "/proc/sysrq-trigger"])
            .args(["--size", &TMP_BYTES.to_string(), "--tmpfs", "/tmp"])
            .args(["--size", &ROOT_BYTES.to_string(), "--tmpfs", "/root"])
            .args(["--size", &RUN_BYTES.to_string(), "--tmpfs", "/run"])
            .args(["--dir", "/run/rescue"])
            .arg("--ro-bind")
            .arg(self.dir.path().join("bin"))
            .arg(TOOL_DIR)
            .arg("--bind")
            .arg(self.power_fifo())
            .arg(POWER_FIFO);
        let tool = self.dir.path().join("bin").join("rescue-tool");
        // Bind over the real binaries (the link targets where they are links) so that
        // full paths like /sbin/poweroff reach the rescue tool too.
        let targets: std::collections::BTreeSet<PathBuf> = REPLACED
            .iter()
            .filter_map(|target| std::fs::canonicalize(target).ok())
            .collect();
        for real in targets {
            cmd.arg("--ro-bind").arg(&tool).arg(real);
        }
        cmd.args(["--chdir", "/root", "--clearenv"])
            .args(["--setenv", "HOME", "/root", "--setenv", "USER", "root"])
            .args(["--setenv", "LOGNAME", "root", "--setenv", "SHELL", "/bin/bash"])
            .args(["--setenv", "LANG", "C.UTF-8", "--setenv", "TERM", "xterm-256color"])
            .args([
                "--setenv",
                "PATH",
                "/run/rescue/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ])
            .args(["--", "/bin/bash"]);
        match command {
            Some(command) => {
                cmd.arg("-c").arg(command);
            }
            None => {
                cmd.args(["-l", "-i"]);
            }
        }
        cmd.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        cmd
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::Sandbox(format!("cannot chmod {}: {e}", path.display())))
}
