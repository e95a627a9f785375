//! Test controls under `/__sim/` (bearer token required, not rate limited, not logged):
//! read or clear the request log, dump the state, read/step/scale simulated time, read the
//! fixed timings (boot delays), add or clear fault rules, reconfigure the rate limit, make
//! a guest power itself off, crash a server, make its Talos hang and partition it from the
//! other nodes.
//!
//! `SimControl` (in `sim::control`) is the client for these routes.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::error::ApiError;
use super::super::faults::FaultSpec;
use super::{App, Reply, ok, parse_body, path_id};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scale {
    scale: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Faults {
    spec: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimit {
    limit: u64,
    refill_per_second: f64,
    remaining: Option<u64>,
}

fn time_json(app: &App) -> Value {
    let now = app.with_world(|w| (w.now(), w.timestamp(w.now())));
    json!({"now_ms": now.0, "now": now.1, "mode": app.clock.mode(), "scale": app.clock.scale()})
}

/// The emulator's fixed timings (simulated seconds) besides the actions', which the
/// actions report themselves: what a benchmark needs to compute a critical path.
fn settings_json(app: &App) -> Value {
    json!({
        "time_scale": app.clock.scale(),
        "talos_boot_seconds": crate::sim::machine::TALOS_BOOT.as_secs_f64(),
        "rescue_boot_seconds": crate::sim::machine::RESCUE_BOOT.as_secs_f64(),
    })
}

fn rate_json(app: &App) -> Value {
    let verdict = app.rate_limiter().peek();
    json!({"limit": verdict.limit, "remaining": verdict.remaining, "reset": verdict.reset})
}

/// The `/__sim` routes.
pub(super) fn routes() -> Router<App> {
    Router::new()
        .route(
            "/__sim/log",
            get(|State(app): State<App>| async move {
                ok(serde_json::to_value(app.log.snapshot())
                    .map_err(|e| ApiError::new(500, "server_error", e.to_string())))
            })
            .delete(|State(app): State<App>| async move {
                app.log.clear();
                ok(Ok(json!({"cleared": true})))
            }),
        )
        .route(
            "/__sim/state",
            get(|State(app): State<App>| async move { ok(Ok(app.with_world(|w| w.dump()))) }),
        )
        .route(
            "/__sim/time",
            get(|State(app): State<App>| async move { ok(Ok(time_json(&app))) }).post(
                |State(app): State<App>, body: Bytes| async move {
                    let request: Scale = parse_body(&body)?;
                    if !request.scale.is_finite() || request.scale < 0.0 {
                        return Err(ApiError::invalid_field("scale", "must be 0 (step mode) or positive"));
                    }
                    app.with_world(|_| ());
                    app.clock.set_scale(request.scale);
                    ok(Ok(time_json(&app)))
                },
            ),
        )
        .route(
            "/__sim/settings",
            get(|State(app): State<App>| async move { ok(Ok(settings_json(&app))) }),
        )
        .route(
            "/__sim/time/advance",
            post(|State(app): State<App>, body: Bytes| async move {
                let request: Advance = parse_body(&body)?;
                let by = Duration::try_from_secs_f64(request.seconds)
                    .map_err(|_| ApiError::invalid_field("seconds", "must be zero or positive, and less than 2^64"))?;
                app.clock.advance(by);
                ok(Ok(time_json(&app)))
            }),
        )
        .route(
            "/__sim/faults",
            get(
                |State(app): State<App>| async move { ok(Ok(json!({"rules": app.with_world(|w| w.faults.active())}))) },
            )
            .post(|State(app): State<App>, body: Bytes| async move {
                let request: Faults = parse_body(&body)?;
                let spec: FaultSpec = request
                    .spec
                    .parse()
                    .map_err(|why: String| ApiError::invalid_field("spec", why))?;
                ok(Ok(json!({"rules": app.with_world(|w| {
                    w.faults.add(&spec);
                    w.faults.active()
                })})))
            })
            .delete(|State(app): State<App>| async move {
                app.with_world(|w| w.faults.clear());
                ok(Ok(json!({"rules": []})))
            }),
        )
        .route(
            "/__sim/rate_limit",
            put(|State(app): State<App>, body: Bytes| async move {
                let request: RateLimit = parse_body(&body)?;
                app.rate_limiter()
                    .configure(request.limit, request.refill_per_second, request.remaining);
                ok(Ok(rate_json(&app)))
            })
            .get(|State(app): State<App>| async move { ok(Ok(rate_json(&app))) }),
        )
        .route(
            "/__sim/servers/{id}/guest_shutdown",
            post(|State(app): State<App>, Path(id): Path<String>| async move {
                let result: Result<Reply, ApiError> = ok(app.with_world(|w| w.guest_shutdown(path_id("server", &id)?)));
                result
            }),
        )
        .route(
            "/__sim/servers/{id}/crash",
            post(|State(app): State<App>, Path(id): Path<String>| async move {
                let result: Result<Reply, ApiError> = ok(app.with_world(|w| w.crash_server(path_id("server", &id)?)));
                result
            }),
        )
        .route(
            "/__sim/servers/{id}/hang",
            post(|State(app): State<App>, Path(id): Path<String>| async move { hang(&app, &id, true) })
                .delete(|State(app): State<App>, Path(id): Path<String>| async move { hang(&app, &id, false) }),
        )
        .route(
            "/__sim/servers/{id}/partition",
            post(|State(app): State<App>, Path(id): Path<String>| async move { partition(&app, &id, true) })
                .delete(|State(app): State<App>, Path(id): Path<String>| async move { partition(&app, &id, false) }),
        )
}

fn hang(app: &App, id: &str, hung: bool) -> Result<Reply, ApiError> {
    ok(app.with_world(|w| w.hang_server(path_id("server", id)?, hung)))
}

fn partition(app: &App, id: &str, partitioned: bool) -> Result<Reply, ApiError> {
    ok(app.with_world(|w| w.partition_server(path_id("server", id)?, partitioned)))
}
