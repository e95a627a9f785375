//! HTTP: the axum router over the state model, the layer every API request passes (rate
//! limit, auth, injected faults, request log, headers), and the accept loop that can drop
//! a connection after a request was processed (fault `drop`).
//!
//! Handlers are thin: extract, call one `World` method, map the result. Routes the
//! emulator does not serve answer 501 `not_implemented` naming the route, never a silent
//! success; a wrong method on a served path answers 405 `method_not_allowed`.

mod body;
mod control;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::Shared;
use super::error::ApiError;
use super::pagination::{Page, Query, link_header};
use super::request_log::RequestRecord;

pub(crate) use body::parse_body;

/// The shared state handlers see.
pub type App = Arc<Shared>;

/// Largest request body accepted (user data is at most 32 KiB).
const BODY_LIMIT: usize = 1 << 20;

/// Closes the connection a request arrived on (inserted by the accept loop).
#[derive(Clone)]
struct ConnectionKill(CancellationToken);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if self.status == 502 {
            // What a proxy in front of the API answers: not JSON.
            return (
                status,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )
                .into_response();
        }
        (status, axum::Json(self.body())).into_response()
    }
}

/// A successful answer.
pub(crate) struct Reply {
    status: StatusCode,
    body: Option<Value>,
    link: Option<String>,
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Some(body) => (self.status, axum::Json(body)).into_response(),
            None => self.status.into_response(),
        };
        if let Some(link) = self.link.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LINK, link);
        }
        response
    }
}

/// 200 with the body.
pub(crate) fn ok(result: Result<Value, ApiError>) -> Result<Reply, ApiError> {
    result.map(|body| Reply {
        status: StatusCode::OK,
        body: Some(body),
        link: None,
    })
}

/// 201 with the body.
pub(crate) fn created(result: Result<Value, ApiError>) -> Result<Reply, ApiError> {
    result.map(|body| Reply {
        status: StatusCode::CREATED,
        body: Some(body),
        link: None,
    })
}

/// 204 without a body.
pub(crate) fn no_content(result: Result<(), ApiError>) -> Result<Reply, ApiError> {
    result.map(|()| Reply {
        status: StatusCode::NO_CONTENT,
        body: None,
        link: None,
    })
}

/// A list page: `{KEY: [...], "meta": {"pagination": …}}` plus the `Link` header.
pub(crate) fn listed(key: &str, ctx: &ListContext, result: Result<Page, ApiError>) -> Result<Reply, ApiError> {
    let page = result?;
    Ok(Reply {
        status: StatusCode::OK,
        link: Some(link_header(&ctx.base_url, &ctx.query, &page.links)),
        body: Some(json!({key: page.items, "meta": {"pagination": page.pagination}})),
    })
}

/// A path ID: non-numeric IDs name nothing (404).
pub(crate) fn path_id(kind: &str, text: &str) -> Result<u64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::new(404, "not_found", format!("{kind} with ID '{text}' not found")))
}

/// The query and the URL a list's `Link` header repeats.
pub(crate) struct ListContext {
    query: Query,
    base_url: String,
}

impl ListContext {
    /// The parsed query.
    pub(crate) fn query(&self) -> &Query {
        &self.query
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        Ok(ListContext {
            query: Query::parse(parts.uri.query().unwrap_or_default()),
            base_url: format!("http://{host}{}", parts.uri.path()),
        })
    }
}

/// The error for routes the emulator does not serve.
pub(crate) fn not_implemented(method: &Method, path: &str) -> ApiError {
    ApiError::new(
        501,
        "not_implemented",
        format!("{method} {path} is not implemented in talos-hcloud sim"),
    )
}

/// The whole router: API routes behind the API layer, control routes, fallbacks.
pub fn router(app: App) -> Router {
    let api = routes::routes()
        .method_not_allowed_fallback(|method: Method, uri: axum::http::Uri| async move {
            ApiError::new(
                405,
                "method_not_allowed",
                format!("method {method} is not allowed on {}", uri.path()),
            )
        })
        .fallback(|method: Method, uri: axum::http::Uri| async move { not_implemented(&method, uri.path()) })
        .layer(middleware::from_fn_with_state(app.clone(), api_layer));
    control::routes()
        .layer(middleware::from_fn_with_state(app.clone(), control_auth))
        .merge(api)
        .with_state(app)
}

fn authorized(app: &Shared, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|token| token == app.token)
}

async fn control_auth(State(app): State<App>, request: Request, next: Next) -> Response {
    if !authorized(&app, request.headers()) {
        return ApiError::new(401, "unauthorized", "unable to authenticate").into_response();
    }
    next.run(request).await
}

/// Rate limit → auth → injected faults → handler → drop fault; headers and the log.
async fn api_layer(State(app): State<App>, request: Request, next: Next) -> Response {
    let at = SystemTime::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let kill = request.extensions().get::<ConnectionKill>().cloned();
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let (parts, body) = request.into_parts();
    // A body over the limit is refused like any other bad request: after the rate limit and
    // the token, with the usual headers, and logged.
    let bytes = axum::body::to_bytes(body, BODY_LIMIT).await;
    let request_body = bytes
        .as_ref()
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok());

    let verdict = app.rate_limiter().take();
    let mut fault = None;
    let mut response = if !verdict.allowed {
        fault = None;
        ApiError::new(429, "rate_limit_exceeded", "limit of requests per hour reached").into_response()
    } else if !authorized(&app, &parts.headers) {
        ApiError::new(401, "unauthorized", "unable to authenticate").into_response()
    } else if let Some(error) = app.with_world(|w| w.faults.http_fault(method.as_str(), &path)) {
        fault = Some(error.status.to_string());
        error.into_response()
    } else {
        match bytes {
            Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
            Err(_) => ApiError::invalid_input(format!(
                "request body too large (at most {} MiB) or unreadable",
                BODY_LIMIT >> 20
            ))
            .into_response(),
        }
    };

    let status = response.status();
    let headers = response.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", verdict.limit.to_string()),
        ("ratelimit-remaining", verdict.remaining.to_string()),
        ("ratelimit-reset", verdict.reset.to_string()),
        ("x-correlation-id", format!("{:016x}", rand::random::<u64>())),
        ("access-control-expose-headers", "Link,X-Correlation-ID".to_string()),
        (
            "strict-transport-security",
            "max-age=15724800; includeSubDomains".to_string(),
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    let (parts, body) = response.into_parts();
    let out = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let response_body = serde_json::from_slice::<Value>(&out).ok();

    let drop_it = fault.is_none()
        && status.is_success()
        && kill.is_some()
        && app.with_world(|w| w.faults.drop_connection(method.as_str(), &path));
    app.log.push(RequestRecord {
        method: method.to_string(),
        path,
        query,
        status: if drop_it { 0 } else { status.as_u16() },
        request_body,
        response_body,
        at,
        fault: if drop_it { Some("drop".to_string()) } else { fault },
        user_agent,
    });
    if drop_it && let Some(ConnectionKill(token)) = kill {
        token.cancel();
        // The connection task drops this future with the connection: nothing is sent.
        std::future::pending::<()>().await;
    }
    Response::from_parts(parts, Body::from(out))
}

/// Accepts connections until `shutdown` is cancelled; each connection can be killed by
/// its requests (fault `drop`).
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let Ok((stream, _peer)) = accepted else { continue };
        let router = router.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let kill = CancellationToken::new();
            let token = kill.clone();
            let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectionKill(token.clone()));
                router.clone().oneshot(request.map(Body::new))
            });
            let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                () = kill.cancelled() => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
}

/// Binds `addr`.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
