//! `talos-hcloud sim` as a process: prints its endpoint and token, serves real requests,
//! documents its options, rejects bad fault specs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::{repo_root, signal, talos_hcloud_in};
use crate::openapi::{RecordedExchange, assert_conforms, count_validated};

/// Kills the child when the test ends, whatever happens.
struct Child(std::process::Child);

impl Child {
    /// Starts `talos-hcloud ARGS` (no token from the environment), stdout piped.
    fn start(args: &[&str]) -> Child {
        Child(
            Command::new(env!("CARGO_BIN_EXE_talos-hcloud"))
                .args(args)
                .env_remove("TALOS_HCLOUD_SIM_TOKEN")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("the binary starts"),
        )
    }

    /// The first `count` lines the child prints, read off the async runtime.
    async fn first_lines(&mut self, count: usize) -> String {
        let stdout = self.0.stdout.take().expect("stdout is piped");
        tokio::task::spawn_blocking(move || {
            let mut reader = BufReader::new(stdout);
            let mut text = String::new();
            for _ in 0..count {
                reader.read_line(&mut text).expect("a line arrives");
            }
            text
        })
        .await
        .expect("the reader thread ends")
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn standalone_sim_prints_its_endpoint_and_serves() {
    let mut child = Child::start(&[
        "--output",
        "json",
        "sim",
        "--listen",
        "127.0.0.1:0",
        "--time-scale",
        "100",
        "--seed",
        "7",
        "--token",
        "tok-0123456789",
        "--faults",
        "503,on=GET:/server_types,n=1",
    ]);
    let line = child.first_lines(1).await;
    let info: Value = serde_json::from_str(&line).expect("one JSON line");
    let endpoint = info["endpoint"].as_str().unwrap();
    assert!(
        endpoint.starts_with("http://127.0.0.1:") && endpoint.ends_with("/v1"),
        "{endpoint}"
    );
    assert_eq!(info["token"], "tok-0123456789");
    assert_eq!(
        (info["seed"].as_u64(), info["time_scale"].as_f64()),
        (Some(7), Some(100.0))
    );

    let client = reqwest::Client::new();
    let with_token = |url: String| client.get(url).bearer_auth("tok-0123456789").send();
    let locations: Value = with_token(format!("{endpoint}/locations"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        locations["locations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == "fsn1")
    );
    let faulted = with_token(format!("{endpoint}/server_types")).await.unwrap();
    assert_eq!(faulted.status(), 503, "the --faults rule is active");
    let unauthorized = client.get(format!("{endpoint}/locations")).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    let log: Value = with_token(format!("{}/__sim/log", endpoint.trim_end_matches("/v1")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log.as_array().unwrap().len(), 3);
    // The standalone emulator's traffic conforms too, like every in-process one.
    let records: Vec<RecordedExchange> = serde_json::from_value(log).expect("the log has the record shape");
    assert_eq!(count_validated(assert_conforms(&records)), 3);
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_the_sim_with_exit_0() {
    let mut child = Child::start(&["sim", "--listen", "127.0.0.1:0"]);
    let text = child.first_lines(2).await;
    assert!(text.starts_with("endpoint: http://127.0.0.1:"), "{text}");
    assert!(text.contains("\ntoken: "), "{text}");
    signal(child.0.id(), "TERM");
    let status = child.0.wait().expect("the sim exits");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn help_documents_every_option_and_the_fault_grammar() {
    let run = talos_hcloud_in(repo_root(), &["sim", "--help"]);
    assert_eq!(run.code, 0, "{run:?}");
    for needle in [
        "--listen",
        "--token",
        "--time-scale",
        "--faults",
        "--seed",
        "action-error",
        "limit",
        "code=NAME",
        "ignore-shutdown",
        "p=0..1",
        "Example: --faults",
        "talos-hcloud sim --time-scale 100 --seed 7",
    ] {
        assert!(run.stdout.contains(needle), "missing {needle} in:\n{}", run.stdout);
    }
}

#[test]
fn a_bad_fault_spec_is_invalid_input() {
    let run = talos_hcloud_in(repo_root(), &["sim", "--faults", "418,on=GET:/x"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("unknown fault kind '418'"), "{}", run.stderr);
}
