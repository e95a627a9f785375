//! Forwarding a request to another node (`node` metadata), as a control-plane apid does:
//! mutual TLS with the node's `os:impersonator` certificate, the caller's roles in
//! `talos-role` metadata, `proxyfrom` set so the target serves it locally, `node` dropped.
//! One-to-one: bytes pass through verbatim and upstream errors come back as they are
//! (reference `talos.md` §F.6).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tonic::Status;
use tonic::body::Body;

use super::node::{NodeShared, Phase};

/// Forwards `request` to `target`'s apid and returns its answer.
pub(crate) async fn forward(
    shared: &NodeShared,
    target: IpAddr,
    roles: Vec<String>,
    request: http::Request<Incoming>,
) -> http::Response<Body> {
    match try_forward(shared, target, roles, request).await {
        Ok(response) => response,
        Err(status) => status.into_http(),
    }
}

async fn try_forward(
    shared: &NodeShared,
    target: IpAddr,
    roles: Vec<String>,
    request: http::Request<Incoming>,
) -> Result<http::Response<Body>, Status> {
    let client_config = match &shared.lock().phase {
        Phase::Configured(configured) => configured.tls.as_ref().and_then(|tls| tls.impersonator.clone()),
        _ => None,
    }
    .ok_or_else(|| Status::permission_denied("no request forwarding"))?;
    let addr = SocketAddr::new(target, shared.api_addr.port());
    let unavailable = |what: &str, error: &dyn std::fmt::Display| {
        Status::unavailable(format!("connection error: {what} {addr}: {error}"))
    };
    let tcp = tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|e| unavailable("connecting to", &e))?
        .map_err(|e| unavailable("connecting to", &e))?;
    let tls = tokio_rustls::TlsConnector::from(client_config)
        .connect(ServerName::IpAddress(target.into()), tcp)
        .await
        .map_err(|e| unavailable("TLS handshake with", &e))?;
    let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
        .await
        .map_err(|e| unavailable("HTTP/2 handshake with", &e))?;
    tokio::spawn(connection);

    let (mut parts, body) = request.into_parts();
    let authority = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| shared.api_addr.to_string());
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    parts.uri = format!("https://{addr}{path}")
        .parse()
        .map_err(|_| Status::internal("cannot build the forwarded URI"))?;
    parts.headers.remove("node");
    parts.headers.remove("nodes");
    parts.headers.remove("talos-role");
    if let Ok(value) = authority.parse() {
        parts.headers.insert("proxyfrom", value);
    }
    for role in roles {
        if let Ok(value) = role.parse() {
            parts.headers.append("talos-role", value);
        }
    }
    let response = sender
        .send_request(http::Request::from_parts(parts, body))
        .await
        .map_err(|e| unavailable("forwarding to", &e))?;
    Ok(response.map(Body::new))
}
