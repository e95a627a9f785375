//! Shared helpers of the emulator tests: start an emulator in-process and talk to it over
//! real HTTP with reqwest.
//!
//! Every emulator started here judges its own traffic when the test ends: dropping an [`Api`]
//! runs the OpenAPI conformance checker over the whole request log and fails the test on any
//! violation (issue 3: every response body the suite produces validates against the
//! description). Requests a test sends off the contract on purpose (unknown routes, wrong
//! methods) go through [`Api::off_contract`], which marks exactly those records.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use talos_hcloud::sim::{RequestRecord, Sim, SimConfig};

use crate::openapi;

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Answer {
    /// The error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

/// A running emulator and a client for it; checks its traffic against the OpenAPI
/// description when dropped (unless the test already failed).
pub struct Api {
    pub sim: Sim,
    client: reqwest::Client,
    /// `(method, path with /v1, query)` of requests sent off the contract on purpose.
    off_contract: Mutex<Vec<(String, String, String)>>,
    /// The records already judged by [`Api::check_log_now`] (still at the head of the log
    /// unless a test cleared it).
    checked: Mutex<Vec<RequestRecord>>,
}

impl Drop for Api {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        self.check_log_now();
    }
}

/// Checks an emulator's request log against the OpenAPI description, leaving out the records
/// `exempt` names (one record per entry: method, path with `/v1`, query) and the exchanges
/// that never produced a response (a `drop` fault closes the connection instead of
/// answering, so nothing reached the client). Counts the validated responses process-wide.
///
/// # Panics
/// On any violation, or when an exemption matches no record (a stale mark must not hide
/// anything).
pub fn assert_emulator_conforms(mut records: Vec<RequestRecord>, exempt: &[(String, String, String)]) -> usize {
    for (method, path, query) in exempt {
        let found = records
            .iter()
            .position(|r| &r.method == method && &r.path == path && &r.query == query);
        match found {
            Some(index) => {
                records.remove(index);
            }
            None => panic!("off-contract mark {method} {path}?{query} matches no recorded request"),
        }
    }
    records.retain(|r| !(r.status == 0 && r.fault.as_deref() == Some("drop")));
    openapi::count_validated(openapi::assert_conforms(&records))
}

impl Api {
    /// An emulator with default settings (1000× time).
    pub async fn start() -> Api {
        Api::start_with(SimConfig::default()).await
    }

    /// An emulator in step mode: time moves only through `advance`.
    pub async fn stepped() -> Api {
        Api::start_with(SimConfig {
            time_scale: 0.0,
            ..SimConfig::default()
        })
        .await
    }

    /// An emulator with a given configuration.
    pub async fn start_with(config: SimConfig) -> Api {
        let sim = Sim::start(config).await.expect("the emulator starts");
        Api {
            sim,
            client: reqwest::Client::new(),
            off_contract: Mutex::new(Vec::new()),
            checked: Mutex::new(Vec::new()),
        }
    }

    /// The base URL without `/v1`.
    pub fn base(&self) -> String {
        self.sim.endpoint().trim_end_matches("/v1").to_string()
    }

    /// A request with the emulator's token; `path` relative to `/v1` (e.g. `/servers`).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call_raw(method, path, body.map(|b| b.to_string()), Some(self.sim.token()))
            .await
    }

    /// A request with an explicit raw body and token.
    pub async fn call_raw(&self, method: Method, path: &str, body: Option<String>, token: Option<&str>) -> Answer {
        let url = format!("{}{path}", self.sim.endpoint());
        let mut request = self.client.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        let response = request.send().await.expect("the emulator answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("the body arrives");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer { status, body, headers }
    }

    /// Judges the request log recorded so far (what earlier calls already judged is skipped),
    /// so a test can clear the log afterwards without losing the check. Dropping the `Api`
    /// calls it once more.
    ///
    /// # Panics
    /// On any contract violation (see [`assert_emulator_conforms`]).
    pub fn check_log_now(&self) -> usize {
        let mut checked = lock(&self.checked);
        let mut log = self.sim.request_log();
        if log.starts_with(&checked) {
            log.drain(..checked.len());
        } else {
            checked.clear();
        }
        let exempt = std::mem::take(&mut *lock(&self.off_contract));
        let validated = assert_emulator_conforms(log.clone(), &exempt);
        checked.extend(log);
        validated
    }

    /// A request the test sends off the Hetzner contract on purpose (a route or method the
    /// description does not have); its record is left out of the conformance check.
    pub async fn off_contract(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        lock(&self.off_contract).push((method.to_string(), format!("/v1{route}"), query.to_string()));
        self.call(method, path, body).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None).await
    }

    /// POST that must succeed with 201; returns the body.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let answer = self.post(path, body).await;
        assert_eq!(answer.status, 201, "POST {path}: {answer:?}");
        answer.body
    }

    /// Steps simulated time until the action is no longer running; returns it.
    pub async fn finish(&self, action: &Value) -> Value {
        let id = action["id"].as_u64().expect("an action has an ID");
        for _ in 0..10_000 {
            let now = self.get(&format!("/actions/{id}")).await;
            assert_eq!(now.status, 200, "{now:?}");
            if now.body["action"]["status"] != "running" {
                return now.body["action"].clone();
            }
            self.sim.advance(Duration::from_secs(1));
        }
        panic!("action {id} never finished");
    }

    /// Deletes server `id` as an operator would in the Cloud Console: its protection off,
    /// then the delete, each action run to its end.
    pub async fn delete_server_outside(&self, id: i64) {
        let unprotect = self
            .post(
                &format!("/servers/{id}/actions/change_protection"),
                json!({"delete": false, "rebuild": false}),
            )
            .await;
        assert_eq!(unprotect.status, 201, "{}", unprotect.body);
        self.finish(&unprotect.body["action"]).await;
        let deleted = self.delete(&format!("/servers/{id}")).await;
        assert_eq!(deleted.status, 200, "{}", deleted.body);
        self.finish(&deleted.body["action"]).await;
    }

    /// Creates a server (fsn1, cax11, ubuntu-24.04 unless the body says otherwise) and
    /// runs all its actions to completion; returns the create response.
    pub async fn server(&self, name: &str, extra: Value) -> Value {
        let mut body = json!({"name": name, "server_type": "cax11", "image": "ubuntu-24.04", "location": "fsn1"});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let created = self.create("/servers", body).await;
        self.finish(&created["action"]).await;
        for next in created["next_actions"].as_array().cloned().unwrap_or_default() {
            self.finish(&next).await;
        }
        created
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A valid ed25519 public key line whose key bytes are derived from `n`.
pub fn ssh_public_key(n: u8) -> String {
    use base64::Engine;
    let mut blob = Vec::new();
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    blob.extend_from_slice(&[n; 32]);
    format!(
        "ssh-ed25519 {} test-{n}@example",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}
