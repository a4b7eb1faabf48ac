//! The service's HTTP endpoints, for orchestrators, Prometheus and operators:
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /healthz` | 200 while the process serves |
//! | `GET /readyz` | 200 when every system's source and required sinks (and, in cluster mode, the brokers) answer, else 503 with what does not |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /api/v1/systems` | each system's status and last cycle (JSON, no secrets) |
//! | `POST /api/v1/systems/{name}/scan` | 202: a cycle started; 404 unknown system; 409 not the leader or already running |
//! | `GET /api/v1/systems/{name}/completeness?from=&to=` | each ROP's nodes expected, received, missing, late, partial (see [`crate::completeness`]) |
//! | `POST /api/v1/replays` | 202 `{"id"}`: a replay queued (see [`super::replays`]); 400 invalid; 404 unknown system |
//! | `GET /api/v1/replays`, `GET /api/v1/replays/{id}` | the replays, or one: `{"id", "system", "state", "files", "rows", "error"}` |
//! | `DELETE /api/v1/replays/{id}` | 200: cancelled (it stops between files), with its status; 404 unknown |
//!
//! Every request that changes something (`POST`, `DELETE`) needs `Authorization:
//! Bearer <service.api_token>` when a token is configured, else 401; reading needs none.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;

use super::replays::{ReplayBody, ReplayStatus, Replays, RequestError};
use super::system::{Refusal, SystemRunner, SystemStatus};
use crate::archive::Archive;
use crate::completeness::{self, Rules};
use crate::replay::parse_moment;
use crate::secret::Secret;

/// How long `/readyz` waits for the probes.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handlers share.
pub struct AppState {
    /// Every system of the service.
    pub systems: Vec<Arc<SystemRunner>>,
    /// The Prometheus recorder's handle, rendered by `/metrics`.
    pub metrics: PrometheusHandle,
    /// Replays asked for over HTTP.
    pub replays: Arc<Replays>,
    /// The token requests that change something must bear, if any.
    pub api_token: Option<Secret>,
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/v1/systems", get(systems))
        .route("/api/v1/systems/{name}/scan", post(scan))
        .route("/api/v1/systems/{name}/completeness", get(completeness))
        .route("/api/v1/replays", get(list_replays).post(start_replay))
        .route("/api/v1/replays/{id}", get(replay).delete(cancel_replay))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state)
}

/// Lets a request that changes something (anything but `GET`/`HEAD`) through only
/// with the configured bearer token.
async fn authorize(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let reading = matches!(*request.method(), Method::GET | Method::HEAD);
    match &state.api_token {
        Some(token) if !reading && !bears(request.headers(), token) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is needed: Authorization: Bearer <service.api_token>\n",
        )
            .into_response(),
        _ => next.run(request).await,
    }
}

/// Whether the request's `Authorization` header bears `token`, compared in time
/// independent of where they differ (so the comparison leaks nothing of the token).
fn bears(headers: &HeaderMap, token: &Secret) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default()
        .as_bytes();
    let expected = token.expose().as_bytes();
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let probes = futures::future::join_all(state.systems.iter().map(|system| async move {
        let problems = tokio::time::timeout(PROBE_TIMEOUT, system.probe())
            .await
            .unwrap_or_else(|_| vec![format!("no answer within {PROBE_TIMEOUT:?}")]);
        problems
            .into_iter()
            .map(|problem| format!("{}: {problem}\n", system.system()))
            .collect::<String>()
    }))
    .await;
    let problems: String = probes.concat();
    if problems.is_empty() {
        (StatusCode::OK, "ready\n".to_string()).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, problems).into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn systems(State(state): State<Arc<AppState>>) -> Json<Vec<SystemStatus>> {
    Json(state.systems.iter().map(|s| s.status()).collect())
}

async fn scan(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let Some(system) = state.systems.iter().find(|s| s.system() == name) else {
        return (StatusCode::NOT_FOUND, format!("no system {name:?}\n")).into_response();
    };
    match system.clone().request_cycle() {
        Ok(()) => (StatusCode::ACCEPTED, "cycle started\n".to_string()).into_response(),
        Err(refusal @ (Refusal::NotLeader | Refusal::Busy)) => {
            (StatusCode::CONFLICT, format!("{refusal}\n")).into_response()
        }
        Err(refusal @ Refusal::Stopping) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("{refusal}\n")).into_response()
        }
    }
}

async fn start_replay(
    State(state): State<Arc<AppState>>,
    body: Result<Json<ReplayBody>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => {
            return (StatusCode::BAD_REQUEST, format!("{rejection}\n")).into_response();
        }
    };
    match state.replays.start(body) {
        Ok(id) => (StatusCode::ACCEPTED, Json(serde_json::json!({ "id": id }))).into_response(),
        Err(error @ RequestError::UnknownSystem(_)) => {
            (StatusCode::NOT_FOUND, format!("{error}\n")).into_response()
        }
        Err(error @ RequestError::Invalid(_)) => {
            (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response()
        }
        Err(error @ RequestError::Stopping) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response()
        }
    }
}

async fn list_replays(State(state): State<Arc<AppState>>) -> Json<Vec<ReplayStatus>> {
    Json(state.replays.list())
}

async fn replay(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    found(state.replays.get(&id), &id)
}

async fn cancel_replay(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    found(state.replays.cancel(&id), &id)
}

/// A replay's status as JSON, or 404.
fn found(status: Option<ReplayStatus>, id: &str) -> Response {
    match status {
        Some(status) => Json(status).into_response(),
        None => (StatusCode::NOT_FOUND, format!("no replay {id:?}\n")).into_response(),
    }
}

/// The range `GET …/completeness` reports.
#[derive(Debug, serde::Deserialize)]
struct Range {
    from: String,
    to: String,
}

async fn completeness(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(range): Query<Range>,
) -> Response {
    let Some(system) = state.systems.iter().find(|s| s.system() == name) else {
        return (StatusCode::NOT_FOUND, format!("no system {name:?}\n")).into_response();
    };
    let bad = |message: String| (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response();
    let (from, to) = match (parse_moment(&range.from), parse_moment(&range.to)) {
        (Ok(from), Ok(to)) if from < to => (from, to),
        (Ok(_), Ok(_)) => return bad("from must be before to".into()),
        (Err(e), _) => return bad(format!("from: {e}")),
        (_, Err(e)) => return bad(format!("to: {e}")),
    };
    let Some(url) = system.archive() else {
        return (
            StatusCode::CONFLICT,
            format!("system {name} has no archive\n"),
        )
            .into_response();
    };
    let ledger = match Archive::open(url) {
        Ok(archive) => {
            let rules = system.expectations().rules(Rules::with_defaults(from, to));
            completeness::completeness(&archive, &name, &rules).await
        }
        Err(error) => Err(error.into()),
    };
    match ledger {
        Ok(ledger) => Json(ledger).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")).into_response(),
    }
}
