//! Shared test helpers: running the built binary and capturing its output, where the
//! repository and the reference data are, signals to a running one, and the permission bits
//! of a written file.

use std::path::Path;
use std::process::{Command, Output};

/// The result of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `talos-hcloud ARGS` in `dir` with a clean environment (no HCLOUD_* leaking in).
pub fn talos_hcloud_in(dir: &Path, args: &[&str]) -> Run {
    talos_hcloud_env(dir, args, &[])
}

/// [`talos_hcloud_env`] for async tests: the run blocks a worker thread, not the runtime
/// that serves the emulator it talks to.
pub async fn talos_hcloud_env_async(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        talos_hcloud_env(&dir, &args, &env)
    })
    .await
    .expect("the run finishes")
}

/// Runs `talos-hcloud ARGS` in `dir` with extra environment variables.
pub fn talos_hcloud_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let Output { status, stdout, stderr } = talos_hcloud_command(dir, args, env)
        .output()
        .expect("the talos-hcloud binary runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// The command `talos-hcloud ARGS` in `dir` with a clean environment plus `env`, for tests
/// that watch or signal the running process.
pub fn talos_hcloud_command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_talos-hcloud"));
    command.args(args).current_dir(dir);
    for var in [
        "HCLOUD_TOKEN",
        "HCLOUD_ENDPOINT",
        "TALOS_FACTORY_URL",
        "TALOS_HCLOUD_CONFIG",
        "TALOS_HCLOUD_LOG",
    ] {
        command.env_remove(var);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// The repository root (where the shipped cluster.yaml, schematics/ and machine-patches/ live).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shared reference folder (`reference/` beside the repository): Talos golden configs
/// and JSON schemas, the Hetzner OpenAPI description. Read at test time, never copied.
///
/// Looks at `$TALOS_HCLOUD_REFERENCE`, then `../shared/reference` beside the checkout, then
/// `/work/shared/reference`; panics if none exists, so a test never silently skips.
pub fn reference_dir() -> std::path::PathBuf {
    let candidates = [
        std::env::var_os("TALOS_HCLOUD_REFERENCE").map(std::path::PathBuf::from),
        Some(repo_root().join("../shared/reference")),
        Some(std::path::PathBuf::from("/work/shared/reference")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|dir| dir.join("hcloud-openapi.json").is_file())
        .expect("reference data not found: set TALOS_HCLOUD_REFERENCE to the shared reference folder")
}

/// The permission bits of a file or folder (`0o600`), for the checks that secrets stay private.
#[cfg(unix)]
pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// Sends `SIGNAL` (`INT`, `TERM`) to a process with `kill`, as an operator's Ctrl-C or a
/// service manager would.
pub fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{signal} {pid} failed");
}
