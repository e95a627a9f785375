//! The official Python client scenario against talos-hcloud's emulator; the emulator's whole
//! request log is then judged by the OpenAPI conformance checker (and counted, like every
//! emulator test's traffic).

use crate::openapi::{assert_conforms, count_validated};
use talos_hcloud::sim::{Sim, SimConfig};

use super::{expected_lifecycle, interpreter, lifecycle, python_command};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_client_scenario_passes_against_the_emulator() {
    let python = interpreter();
    let sim = Sim::start(SimConfig::default()).await.expect("the emulator starts");
    // The scenario wants the API base (`…/v1`), whichever form `endpoint()` has.
    let endpoint = sim.endpoint().to_string();
    let endpoint = endpoint.trim_end_matches('/');
    let endpoint = if endpoint.ends_with("/v1") {
        endpoint.to_owned()
    } else {
        format!("{endpoint}/v1")
    };

    let output = python_command(&python, "scenario.py", sim.token())
        .args([
            "--endpoint",
            &endpoint,
            "--poll-interval",
            "0.05",
            "--poll-max-retries",
            "2400",
        ])
        .output()
        .await
        .expect("the test Python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "scenario.py failed against the emulator\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains(": all steps passed"), "{stdout}");

    let records = sim.request_log();
    let validated = count_validated(assert_conforms(&records));
    assert!(validated >= 50, "only {validated} API exchanges recorded");
    assert_eq!(
        lifecycle(&records),
        expected_lifecycle(),
        "created/deleted per collection"
    );
}
