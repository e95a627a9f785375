//! The official Hetzner Python client (hcloud-python, pinned 2.27.0) as the emulator's second
//! witness.
//!
//! `tests/python/scenario.py` drives an endpoint through the official client the way an
//! ordinary user script would. Here it runs against `tests/python/selftest.py` — a throwaway
//! API made of the description's own examples — so the scenario, this wrapper and the
//! conformance checker are proven on real official-client traffic independently of the
//! emulator; `python_client/sim.rs` runs the same scenario against the emulator.
//! A missing interpreter or package fails the test with a hint to run `scripts/test.sh`;
//! nothing here skips.

mod rescue;
mod sim;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::{reference_dir, repo_root};
use crate::openapi::{Exchange, OpenApi, RecordedExchange, conformance};

/// The hcloud-python version scripts/test.sh installs and the scenario is written against.
pub const HCLOUD_PYTHON_VERSION: &str = "2.27.0";

/// What one successful scenario run creates and deletes, per collection:
/// `(collection, created, deleted)`, counted from 2xx exchanges by [`lifecycle`].
pub const SCENARIO_LIFECYCLE: &[(&str, usize, usize)] = &[
    ("firewalls", 1, 1),
    ("floating_ips", 1, 1),
    ("images", 1, 1),
    ("load_balancers", 1, 1),
    ("networks", 1, 1),
    ("placement_groups", 1, 1),
    ("servers", 2, 2),
    ("ssh_keys", 1, 1),
];

/// The Python interpreter with hcloud-python installed: `$TALOS_HCLOUD_TEST_PYTHON`, else
/// `target/py/bin/python` (where scripts/test.sh puts it).
///
/// # Panics
/// When the interpreter is missing or lacks hcloud-python [`HCLOUD_PYTHON_VERSION`]: the
/// witness is part of the suite, so its absence is a failure with instructions, not a skip.
pub fn interpreter() -> PathBuf {
    let python = std::env::var_os("TALOS_HCLOUD_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/py/bin/python"));
    let hint = format!(
        "run scripts/test.sh (it creates target/py with hcloud=={HCLOUD_PYTHON_VERSION}) or set \
         TALOS_HCLOUD_TEST_PYTHON to a Python that has it"
    );
    let probe = Command::new(&python)
        .args(["-c", "import hcloud, sys; sys.stdout.write(hcloud.__version__)"])
        .output()
        .unwrap_or_else(|error| panic!("cannot run the test Python {}: {error}; {hint}", python.display()));
    assert!(
        probe.status.success(),
        "{} cannot import hcloud: {}; {hint}",
        python.display(),
        String::from_utf8_lossy(&probe.stderr).trim()
    );
    let version = String::from_utf8_lossy(&probe.stdout);
    assert_eq!(
        version,
        HCLOUD_PYTHON_VERSION,
        "{} has hcloud {version}; {hint}",
        python.display()
    );
    python
}

/// `tests/python/<name>`.
pub fn python_script(name: &str) -> PathBuf {
    repo_root().join("tests/python").join(name)
}

/// `python tests/python/<script>` for an API with `token`: the token travels in the
/// environment (not on a command line other users can read), no `HCLOUD_ENDPOINT` is
/// inherited, no bytecode is written, and the process dies with the test.
pub fn python_command(python: &Path, script: &str, token: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(python);
    command
        .arg(python_script(script))
        .env("HCLOUD_TOKEN", token)
        .env_remove("HCLOUD_ENDPOINT")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true);
    command
}

/// `(created, deleted)` per collection, counted from successful exchanges: `POST /v1/<kind>`,
/// `DELETE /v1/<kind>/<id>`, and `create_image` as an image creation. Failed attempts that a
/// client retried are not counted twice.
pub fn lifecycle<E: Exchange>(records: &[E]) -> BTreeMap<String, (usize, usize)> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for record in records.iter().filter(|r| (200..300).contains(&r.status())) {
        let Some(rest) = record.path().strip_prefix("/v1/") else {
            continue;
        };
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        match (record.method(), segments.as_slice()) {
            ("POST", [kind]) => counts.entry((*kind).to_owned()).or_default().0 += 1,
            ("POST", ["servers", _, "actions", "create_image"]) => {
                counts.entry("images".to_owned()).or_default().0 += 1
            }
            ("DELETE", [kind, _]) => counts.entry((*kind).to_owned()).or_default().1 += 1,
            _ => {}
        }
    }
    counts
}

/// [`SCENARIO_LIFECYCLE`] as the map [`lifecycle`] returns.
pub fn expected_lifecycle() -> BTreeMap<String, (usize, usize)> {
    SCENARIO_LIFECYCLE
        .iter()
        .map(|(kind, created, deleted)| ((*kind).to_owned(), (*created, *deleted)))
        .collect()
}

/// A finished `selftest.py` run: the process output and the exchanges it logged.
struct SelfTest {
    output: Output,
    records: Vec<RecordedExchange>,
}

impl SelfTest {
    fn run(fault: Option<&str>) -> SelfTest {
        let dir = tempfile::tempdir().expect("a temporary directory can be created");
        let log = dir.path().join("exchanges.jsonl");
        let mut command = Command::new(interpreter());
        command
            .arg(python_script("selftest.py"))
            .arg("--spec")
            .arg(reference_dir().join("hcloud-openapi.json"))
            .arg("--log")
            .arg(&log)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("HCLOUD_TOKEN")
            .env_remove("HCLOUD_ENDPOINT");
        if let Some(fault) = fault {
            command.args(["--fault", fault]);
        }
        let output = command.output().expect("the test Python runs");
        SelfTest {
            output,
            records: read_log(&log),
        }
    }

    fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn describe(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

fn read_log(path: &Path) -> Vec<RecordedExchange> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("bad log line {line:?}: {error}")))
        .collect()
}

#[test]
fn scenario_passes_and_official_client_traffic_conforms() {
    let run = SelfTest::run(None);
    assert_eq!(run.code(), Some(0), "{}", run.describe());
    assert!(run.stdout().contains(": all steps passed"), "{}", run.describe());
    assert!(
        run.stdout().contains("  server: created 2, deleted 2"),
        "{}",
        run.describe()
    );

    let (validated, violations) = conformance(OpenApi::get(), &run.records);
    assert!(
        violations.is_empty(),
        "official-client traffic breaks the contract:\n{}",
        violations.join("\n")
    );
    assert_eq!(validated, run.records.len());
    assert!(
        validated >= 50,
        "only {validated} exchanges recorded\n{}",
        run.describe()
    );
    assert_eq!(lifecycle(&run.records), expected_lifecycle());
    // The client really waited: at least one action poll per created server.
    let polls = run
        .records
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/v1/actions/"))
        .count();
    assert!(polls >= 2, "only {polls} action polls");
}

#[test]
fn scenario_fails_when_rescue_returns_no_password() {
    let run = SelfTest::run(Some("no-rescue-password"));
    assert_eq!(run.code(), Some(1), "{}", run.describe());
    assert!(
        run.stderr().contains(
            "error: scenario failed at step 'enable rescue on server 1' (check failed): enable_rescue returned root password None"
        ),
        "{}",
        run.describe()
    );
    // The best-effort cleanup ran: every server it had created was deleted.
    assert_eq!(
        lifecycle(&run.records).get("servers"),
        Some(&(2, 2)),
        "{}",
        run.describe()
    );
    assert!(run.stdout().is_empty(), "no summary on failure: {}", run.describe());
}

#[test]
fn scenario_notices_resources_left_behind() {
    let run = SelfTest::run(Some("leak-server"));
    assert_eq!(run.code(), Some(1), "{}", run.describe());
    assert!(
        run.stderr().contains(
            "error: scenario failed at step 'check nothing is left' (check failed): left behind: server matching"
        ),
        "{}",
        run.describe()
    );
}

#[test]
fn scenario_needs_the_live_load_balancer_delete() {
    // Before 2026-10-05 the API answered 204; hcloud-python 2.27.0 then has no action to wait on.
    let run = SelfTest::run(Some("lb-delete-204"));
    assert_eq!(run.code(), Some(1), "{}", run.describe());
    assert!(run.stderr().contains("(KeyError): 'action'"), "{}", run.describe());
    let (_, violations) = conformance(OpenApi::get(), &run.records);
    assert!(
        violations
            .iter()
            .any(|v| v.contains("DELETE /v1/load_balancers/") && v.contains("status 204 is not documented")),
        "{violations:#?}"
    );
}

#[test]
fn checker_flags_an_unknown_status_in_official_client_traffic() {
    let run = SelfTest::run(Some("booting"));
    assert_eq!(run.code(), Some(1), "{}", run.describe());
    assert!(
        run.stderr().contains("is 'booting' after creation"),
        "{}",
        run.describe()
    );
    let (_, violations) = conformance(OpenApi::get(), &run.records);
    assert!(!violations.is_empty());
    assert!(
        violations
            .iter()
            .all(|v| v.contains("/server/status: \"booting\" is not one of")
                || v.contains("/servers/0/status: \"booting\" is not one of")),
        "{violations:#?}"
    );
}

#[test]
fn lifecycle_counts_successful_creates_and_deletes_only() {
    let record = |method: &str, path: &str, status: u16| RecordedExchange {
        method: method.to_owned(),
        path: path.to_owned(),
        query: String::new(),
        status,
        request_body: None,
        response_body: None,
    };
    let records = [
        record("POST", "/v1/servers", 201),
        record("POST", "/v1/servers", 409), // retried by the client
        record("POST", "/v1/servers", 201),
        record("POST", "/v1/servers/7/actions/create_image", 201),
        record("POST", "/v1/servers/7/actions/poweron", 201),
        record("GET", "/v1/servers", 200),
        record("DELETE", "/v1/images/9", 204),
        record("DELETE", "/v1/servers/7", 200),
        record("POST", "/__sim/advance", 200),
    ];
    let counts = lifecycle(&records);
    assert_eq!(
        counts,
        BTreeMap::from([("images".to_owned(), (1, 1)), ("servers".to_owned(), (2, 1))])
    );
}
