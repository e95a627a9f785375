//! The HTTP layer of the Hetzner client: one request with the token, the shared rate-limit
//! budget, bounded jittered retries ([`crate::retry::Policy::api_call`]) and counting.
//!
//! Why raw reqwest with the `hcloud` crate's serde models instead of the crate's generated
//! functions: the generated functions hide the response headers (`RateLimit-*`,
//! `X-Correlation-Id`) and return the error body as an unparsed string, and two of them
//! cannot follow the live API (unassigned primary IPs, the action of a load balancer
//! delete; docs/simulator.md). Building the few requests we need here keeps one code path
//! for budget, retries and counting, while the crate still defines the wire types.
//!
//! Which requests are retried: reads, `PUT`/`DELETE` and actions that can be repeated are
//! retried on every retryable error and on dropped connections. A create is never sent
//! twice blindly: an answer that proves nothing happened (429, `locked`, `conflict`) is
//! retried, but after an ambiguous failure (the connection dropped after sending, a 5xx)
//! the caller looks the resource up by name or label first ([`Client::create`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::retry::{Backoff, Policy};

use super::actions::ActionBoard;
use super::budget::{Budget, RateLimit, RequestCount};
use super::credentials::Credentials;
use super::error::{Error, ErrorCode, RequestError};

/// How the client retries and waits.
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    /// Retries of one request.
    pub retry: Policy,
    /// Polling of running actions: the least and largest interval between two polls, and
    /// the deadline of one wait.
    pub action_poll: Policy,
    /// Timeout of one HTTP exchange.
    pub request_timeout: Duration,
}

impl Default for ClientOptions {
    /// [`Policy::api_call`] retries, [`Policy::action_progress`] polling, 60 s per request.
    fn default() -> Self {
        ClientOptions {
            retry: Policy::api_call(),
            action_poll: Policy::action_progress(),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// A Hetzner Cloud API client; cheap to clone, clones share the budget, the counters and
/// the action poller.
#[derive(Clone)]
pub struct Client {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    http: reqwest::Client,
    credentials: Credentials,
    pub(super) options: ClientOptions,
    budget: Budget,
    pub(super) actions: ActionBoard,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.credentials.endpoint)
            .field("token", &self.inner.credentials.token)
            .finish_non_exhaustive()
    }
}

/// How a request may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Repeat {
    /// Sending it twice does no harm (GET, PUT, DELETE, power and rescue actions).
    Safe,
    /// It creates something: never sent again after an ambiguous failure.
    Create,
}

/// One request to send.
#[derive(Debug, Clone)]
pub(super) struct Call {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) body: Option<Value>,
    pub(super) repeat: Repeat,
}

impl Call {
    pub(super) fn get(path: impl Into<String>) -> Call {
        Call {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            repeat: Repeat::Safe,
        }
    }

    pub(super) fn delete(path: impl Into<String>) -> Call {
        Call {
            method: Method::DELETE,
            ..Call::get(path)
        }
    }

    pub(super) fn put(path: impl Into<String>, body: Value) -> Call {
        Call {
            method: Method::PUT,
            body: Some(body),
            ..Call::get(path)
        }
    }

    /// A POST that can be repeated (an action such as `poweron`).
    pub(super) fn action(path: impl Into<String>, body: Value) -> Call {
        Call {
            method: Method::POST,
            body: Some(body),
            ..Call::get(path)
        }
    }

    /// A POST that creates something.
    pub(super) fn create(path: impl Into<String>, body: Value) -> Call {
        Call {
            repeat: Repeat::Create,
            ..Call::action(path, body)
        }
    }

    pub(super) fn query(mut self, key: &str, value: impl ToString) -> Call {
        self.query.push((key.to_string(), value.to_string()));
        self
    }
}

/// Outcome of one exchange.
enum Failure {
    /// The API answered with an error.
    Answer(RequestError, Option<u16>),
    /// No (complete) answer.
    Transport(reqwest::Error),
}

impl Client {
    /// A client for `credentials` with default options.
    ///
    /// # Errors
    /// [`Error::Setup`] when the TLS stack cannot be initialised.
    pub fn new(credentials: Credentials) -> Result<Client, Error> {
        Client::with_options(credentials, ClientOptions::default())
    }

    /// A client with explicit retry and polling policies.
    ///
    /// # Errors
    /// [`Error::Setup`] when the TLS stack cannot be initialised.
    pub fn with_options(credentials: Credentials, options: ClientOptions) -> Result<Client, Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("talos-hcloud/", env!("CARGO_PKG_VERSION")))
            .timeout(options.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(Error::Setup)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                credentials,
                options,
                budget: Budget::default(),
                actions: ActionBoard::default(),
            }),
        })
    }

    /// A client from `HCLOUD_TOKEN` and `HCLOUD_ENDPOINT`.
    ///
    /// # Errors
    /// As [`Credentials::from_env`] and [`Client::new`].
    pub fn from_env() -> Result<Client, Error> {
        Client::new(Credentials::from_env()?)
    }

    /// Requests sent so far by this client and its clones (for the run summary).
    pub fn request_count(&self) -> RequestCount {
        self.inner.budget.count()
    }

    /// The budget the last answer reported, if any answer carried the headers.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.inner.budget.last()
    }

    /// Sends `call` with retries and decodes the answer (an empty body decodes as `null`).
    pub(super) async fn request<T: DeserializeOwned>(&self, call: &Call) -> Result<T, RequestError> {
        let mut backoff = self.inner.options.retry.backoff();
        let mut retry = false;
        loop {
            let wait = self.inner.budget.wait_before_send();
            if !wait.is_zero() {
                tracing::debug!(?wait, "hcloud: request budget used up, waiting for a refill");
                tokio::time::sleep(wait).await;
            }
            self.inner.budget.count_sent(call.method.as_str(), retry);
            retry = true;
            let failure = match self.exchange(call).await {
                Ok(body) => return decode(call, &body),
                Err(failure) => failure,
            };
            let (error, delay) = match failure {
                Failure::Transport(source) => {
                    let maybe_sent = !source.is_connect() && !source.is_builder();
                    if call.repeat == Repeat::Create && maybe_sent {
                        return Err(ambiguous(call, "the connection closed before the answer arrived"));
                    }
                    let error = RequestError::Transport {
                        method: call.method.to_string(),
                        path: call.path.clone(),
                        source: source.without_url(),
                    };
                    (error, next(&mut backoff, None))
                }
                Failure::Answer(error, status) => {
                    if !error.is_retryable() {
                        return Err(error);
                    }
                    let status = status.unwrap_or_default();
                    if call.repeat == Repeat::Create && status >= 500 {
                        let code = error.code().map(ToString::to_string).unwrap_or_default();
                        return Err(ambiguous(call, &format!("{status} {code}")));
                    }
                    let server_delay = (error.code() == Some(&ErrorCode::RateLimitExceeded))
                        .then(|| self.inner.budget.rate_limited_delay());
                    (error, next(&mut backoff, server_delay))
                }
            };
            match delay {
                Some(delay) => {
                    tracing::debug!(method = %call.method, path = %call.path, attempt = backoff.attempt(), ?delay, error = %error, "hcloud: retrying");
                    tokio::time::sleep(delay).await;
                }
                None => return Err(error),
            }
        }
    }

    /// Sends a create; after an ambiguous failure calls `lookup` and returns what it
    /// finds, and only sends the create again when it finds nothing.
    pub(super) async fn create<T, F, Fut>(&self, call: &Call, lookup: F) -> Result<T, RequestError>
    where
        T: DeserializeOwned,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>, RequestError>>,
    {
        let mut backoff = self.inner.options.retry.backoff();
        loop {
            match self.request::<T>(call).await {
                Err(error @ RequestError::Ambiguous { .. }) => {
                    tracing::debug!(path = %call.path, error = %error, "hcloud: ambiguous create, looking it up");
                    if let Some(found) = lookup().await? {
                        return Ok(found);
                    }
                    match backoff.next() {
                        Some(delay) => tokio::time::sleep(delay).await,
                        None => return Err(error),
                    }
                }
                other => return other,
            }
        }
    }

    /// Every item of a paginated list (`key` is the array's name, e.g. `servers`).
    pub(super) async fn list<T: DeserializeOwned>(&self, call: Call, key: &str) -> Result<Vec<T>, RequestError> {
        let mut items = Vec::new();
        let mut page = 1_i64;
        loop {
            let paged = call.clone().query("page", page).query("per_page", 50);
            let mut answer: Value = self.request(&paged).await?;
            let list = answer.get_mut(key).map(Value::take).unwrap_or(Value::Null);
            let batch: Vec<T> = serde_json::from_value(list).map_err(|source| RequestError::Decode {
                method: call.method.to_string(),
                path: call.path.clone(),
                source,
            })?;
            items.extend(batch);
            match answer.pointer("/meta/pagination/next_page").and_then(Value::as_i64) {
                Some(next) if next > page => page = next,
                _ => return Ok(items),
            }
        }
    }

    /// One HTTP exchange: the body of a 2xx answer, or why not.
    async fn exchange(&self, call: &Call) -> Result<Vec<u8>, Failure> {
        let url = self.inner.credentials.endpoint.join(&call.path);
        let mut request = self.inner.http.request(call.method.clone(), url).header(
            AUTHORIZATION,
            format!("Bearer {}", self.inner.credentials.token.expose()),
        );
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(Failure::Transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        self.inner.budget.record_answer(&headers, status.as_u16() == 429);
        let body = response.bytes().await.map_err(Failure::Transport)?;
        tracing::debug!(method = %call.method, path = %call.path, status = status.as_u16(), "hcloud: answer");
        if status.is_success() {
            return Ok(body.to_vec());
        }
        Err(Failure::Answer(
            api_error(call, status.as_u16(), &headers, &body),
            Some(status.as_u16()),
        ))
    }
}

fn next(backoff: &mut Backoff, server_delay: Option<std::time::Duration>) -> Option<Duration> {
    match server_delay {
        Some(delay) => backoff.next_after(delay),
        None => backoff.next(),
    }
}

fn ambiguous(call: &Call, reason: &str) -> RequestError {
    RequestError::Ambiguous {
        method: call.method.to_string(),
        path: call.path.clone(),
        reason: reason.to_string(),
    }
}

fn decode<T: DeserializeOwned>(call: &Call, body: &[u8]) -> Result<T, RequestError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"null".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|source| RequestError::Decode {
        method: call.method.to_string(),
        path: call.path.clone(),
        source,
    })
}

/// The error of a non-2xx answer: the Hetzner envelope when there is one, else a code
/// derived from the status (502/504 often come with an HTML body from a proxy).
fn api_error(call: &Call, status: u16, headers: &HeaderMap, body: &[u8]) -> RequestError {
    let envelope: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        envelope
            .as_ref()
            .and_then(|v| v.pointer(&format!("/error/{name}")))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let code = field("code").map_or_else(
        || match status {
            429 => ErrorCode::RateLimitExceeded,
            423 => ErrorCode::Locked,
            409 => ErrorCode::Conflict,
            404 => ErrorCode::NotFound,
            401 => ErrorCode::Unauthorized,
            502 => ErrorCode::BadGateway,
            503 => ErrorCode::Unavailable,
            504 => ErrorCode::Timeout,
            500..=599 => ErrorCode::ServerError,
            _ => ErrorCode::UnknownError,
        },
        |code| ErrorCode::parse(&code),
    );
    let message = field("message").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    RequestError::Api {
        method: call.method.to_string(),
        path: call.path.clone(),
        status,
        code,
        message: crate::excerpt::excerpt(message.trim()).into_owned(),
        correlation_id: headers
            .get("x-correlation-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_are_read_from_the_envelope_or_the_status() {
        let call = Call::create("/servers", serde_json::json!({}));
        let mut headers = HeaderMap::new();
        headers.insert("x-correlation-id", reqwest::header::HeaderValue::from_static("abc123"));
        let body = br#"{"error":{"code":"uniqueness_error","message":"server name is already used","details":{}}}"#;
        match api_error(&call, 409, &headers, body) {
            RequestError::Api {
                status,
                code,
                message,
                correlation_id,
                ..
            } => {
                assert_eq!((status, code), (409, ErrorCode::UniquenessError));
                assert_eq!(message, "server name is already used");
                assert_eq!(correlation_id.as_deref(), Some("abc123"));
            }
            other => panic!("{other:?}"),
        }
        // A proxy's HTML 502: the code comes from the status, the body is shortened.
        let html = format!("<html>{}</html>", "x".repeat(500));
        let error = api_error(&call, 502, &HeaderMap::new(), html.as_bytes());
        assert_eq!(error.code(), Some(&ErrorCode::BadGateway));
        assert!(error.is_retryable());
        assert!(error.to_string().len() < 200, "{error}");
    }

    #[test]
    fn an_empty_body_decodes_as_null() {
        let call = Call::delete("/ssh_keys/1");
        let value: Value = decode(&call, b"").unwrap();
        assert_eq!(value, Value::Null);
        let error = decode::<Vec<i64>>(&call, b"{").unwrap_err();
        assert_eq!(error.to_string(), "DELETE /ssh_keys/1: the answer could not be read");
    }
}
