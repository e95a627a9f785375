//! [`SimControl`]: a small client for the emulator's `/__sim/` test controls, for tests
//! and tools that reach an emulator over HTTP (a `talos-hcloud sim` in another process).

use std::time::Duration;

use serde_json::{Value, json};

use super::emulator::Error;

/// Drives the test controls of an emulator at `base_url` (without `/v1`).
#[derive(Debug, Clone)]
pub struct SimControl {
    base: String,
    token: crate::redact::Redacted<String>,
    client: reqwest::Client,
}

impl SimControl {
    /// A client for the emulator at `base_url` (e.g. `http://127.0.0.1:41234`) with its
    /// token. A `/v1` suffix is ignored.
    pub fn new(base_url: impl Into<String>, token: impl Into<String>) -> Self {
        let base: String = base_url.into();
        let base = base.trim_end_matches('/').trim_end_matches("/v1").to_string();
        SimControl {
            base,
            token: crate::redact::Redacted::new(token.into()),
            client: reqwest::Client::new(),
        }
    }

    async fn call(&self, what: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Error> {
        let fail = |source: Box<dyn std::error::Error + Send + Sync>| Error::Control {
            what: what.to_string(),
            source,
        };
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token.expose());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| fail(Box::new(e)))?;
        let status = response.status();
        let value: Value = response.json().await.map_err(|e| fail(Box::new(e)))?;
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}: {value}").into()));
        }
        Ok(value)
    }

    /// The request log as JSON records.
    pub async fn request_log(&self) -> Result<Vec<Value>, Error> {
        let log = self.call("read log", reqwest::Method::GET, "/__sim/log", None).await?;
        Ok(log.as_array().cloned().unwrap_or_default())
    }

    /// Clears the request log.
    pub async fn clear_log(&self) -> Result<(), Error> {
        self.call("clear log", reqwest::Method::DELETE, "/__sim/log", None)
            .await
            .map(|_| ())
    }

    /// The state dump.
    pub async fn state(&self) -> Result<Value, Error> {
        self.call("dump state", reqwest::Method::GET, "/__sim/state", None)
            .await
    }

    /// Advances simulated time.
    pub async fn advance(&self, by: Duration) -> Result<Value, Error> {
        let body = json!({"seconds": by.as_secs_f64()});
        self.call("advance time", reqwest::Method::POST, "/__sim/time/advance", Some(body))
            .await
    }

    /// Sets the time scale (0 = step mode).
    pub async fn set_time_scale(&self, scale: f64) -> Result<Value, Error> {
        self.call(
            "set time scale",
            reqwest::Method::POST,
            "/__sim/time",
            Some(json!({"scale": scale})),
        )
        .await
    }

    /// Adds fault rules (the `--faults` grammar); returns the active rules.
    pub async fn add_faults(&self, spec: &str) -> Result<Value, Error> {
        self.call(
            "add faults",
            reqwest::Method::POST,
            "/__sim/faults",
            Some(json!({"spec": spec})),
        )
        .await
    }

    /// Removes every fault rule.
    pub async fn clear_faults(&self) -> Result<(), Error> {
        self.call("clear faults", reqwest::Method::DELETE, "/__sim/faults", None)
            .await
            .map(|_| ())
    }

    /// Reconfigures the rate limit.
    pub async fn set_rate_limit(
        &self,
        limit: u64,
        refill_per_second: f64,
        remaining: Option<u64>,
    ) -> Result<Value, Error> {
        let body = json!({"limit": limit, "refill_per_second": refill_per_second, "remaining": remaining});
        self.call("set rate limit", reqwest::Method::PUT, "/__sim/rate_limit", Some(body))
            .await
    }

    /// Crashes a server: power lost, its system gone, Hetzner reports `off`.
    pub async fn crash_server(&self, server: u64) -> Result<Value, Error> {
        let path = format!("/__sim/servers/{server}/crash");
        self.call("crash server", reqwest::Method::POST, &path, None).await
    }

    /// Makes the Talos node on a server hang (`true`) or recover (`false`); returns the
    /// server's machine report.
    pub async fn hang_server(&self, server: u64, hung: bool) -> Result<Value, Error> {
        self.switch("hang server", server, "hang", hung).await
    }

    /// Cuts a server off from the other nodes (`true`) or heals it (`false`); returns the
    /// server's machine report.
    pub async fn partition_server(&self, server: u64, partitioned: bool) -> Result<Value, Error> {
        self.switch("partition server", server, "partition", partitioned).await
    }

    /// `POST` (on) or `DELETE` (off) `/__sim/servers/{server}/{control}`.
    async fn switch(&self, what: &str, server: u64, control: &str, on: bool) -> Result<Value, Error> {
        let method = if on {
            reqwest::Method::POST
        } else {
            reqwest::Method::DELETE
        };
        self.call(what, method, &format!("/__sim/servers/{server}/{control}"), None)
            .await
    }

    /// Makes the guest of a server power itself off.
    pub async fn guest_shutdown(&self, server: u64) -> Result<Value, Error> {
        let path = format!("/__sim/servers/{server}/guest_shutdown");
        self.call("guest shutdown", reqwest::Method::POST, &path, None).await
    }
}
