//! Load balancer health checks: a TCP connect, or an HTTP request whose status (and body
//! text, when configured) must match, repeated every `interval` simulated seconds.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::sim::hcloud::state::load_balancers::{HealthCheckSpec, HttpCheckSpec};

/// What the health checks say about one target of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Not checked yet: gets no connections.
    Unknown,
    /// The last check passed.
    Healthy,
    /// `retries` checks in a row failed (or the first check did).
    Unhealthy,
}

/// The running verdict of one target: consecutive failures decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) health: Health,
    failures: u32,
}

impl Default for Verdict {
    fn default() -> Self {
        Verdict {
            health: Health::Unknown,
            failures: 0,
        }
    }
}

impl Verdict {
    /// Folds in one check: a pass makes the target healthy; a failure makes an unchecked
    /// target unhealthy at once and a healthy one after `retries` failures in a row.
    pub(crate) fn record(&mut self, passed: bool, retries: u32) {
        if passed {
            self.failures = 0;
            self.health = Health::Healthy;
        } else {
            self.failures = self.failures.saturating_add(1);
            if self.health == Health::Unknown || self.failures >= retries.max(1) {
                self.health = Health::Unhealthy;
            }
        }
    }
}

/// Runs one check against `target` within `timeout` (real time).
pub(crate) async fn probe(target: SocketAddr, spec: &HealthCheckSpec, timeout: Duration) -> bool {
    tokio::time::timeout(timeout, probe_inner(target, spec.http.as_ref()))
        .await
        .unwrap_or(false)
}

async fn probe_inner(target: SocketAddr, http: Option<&HttpCheckSpec>) -> bool {
    let Ok(mut stream) = TcpStream::connect(target).await else {
        return false;
    };
    let Some(http) = http else {
        return true;
    };
    let host = http.domain.clone().unwrap_or_else(|| target.ip().to_string());
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: hcloud-lb-healthcheck\r\nConnection: close\r\n\r\n",
        http.path
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    // A health check reads a bounded answer: status line, headers and the start of the body.
    let mut answer = Vec::new();
    let _ = (&mut stream).take(64 * 1024).read_to_end(&mut answer).await;
    http_answer_passes(&answer, http)
}

/// Whether an HTTP answer passes: its status matches one of the patterns (`2??`, `302`)
/// and, when a response text is configured, the body contains it.
pub(crate) fn http_answer_passes(answer: &[u8], http: &HttpCheckSpec) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some(status) = text
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .filter(|code| code.len() == 3)
    else {
        return false;
    };
    let status_ok = http
        .status_codes
        .iter()
        .any(|pattern| pattern.len() == 3 && pattern.chars().zip(status.chars()).all(|(p, c)| p == '?' || p == c));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    status_ok && (http.response.is_empty() || body.contains(&http.response))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(codes: &[&str], response: &str) -> HttpCheckSpec {
        HttpCheckSpec {
            domain: None,
            path: "/".into(),
            response: response.into(),
            status_codes: codes.iter().map(|c| (*c).to_string()).collect(),
            tls: false,
        }
    }

    #[test]
    fn status_patterns_and_body_text_decide() {
        let ok = b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n";
        assert!(http_answer_passes(ok, &http(&["2??", "3??"], "")));
        assert!(!http_answer_passes(ok, &http(&["200"], "")));
        let body = b"HTTP/1.1 200 OK\r\n\r\nstatus: ready";
        assert!(http_answer_passes(body, &http(&["2??"], "ready")));
        assert!(!http_answer_passes(body, &http(&["2??"], "alive")));
        assert!(!http_answer_passes(b"garbage", &http(&["2??"], "")));
    }

    #[test]
    fn a_first_failure_is_unhealthy_later_ones_need_retries() {
        let mut verdict = Verdict::default();
        verdict.record(false, 3);
        assert_eq!(verdict.health, Health::Unhealthy);
        verdict.record(true, 3);
        assert_eq!(verdict.health, Health::Healthy);
        verdict.record(false, 3);
        verdict.record(false, 3);
        assert_eq!(verdict.health, Health::Healthy);
        verdict.record(false, 3);
        assert_eq!(verdict.health, Health::Unhealthy);
    }
}
