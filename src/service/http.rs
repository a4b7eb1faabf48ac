//! The service's HTTP endpoints, for orchestrators, Prometheus and operators:
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /healthz` | 200 while the process serves |
//! | `GET /readyz` | 200 when every system's source and required sinks answer, else 503 with what does not |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /api/v1/systems` | each system's status and last cycle (JSON, no secrets) |
//! | `POST /api/v1/systems/{name}/scan` | 202: a cycle started; 404 unknown system; 409 not the leader or already running |

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;

use super::system::{Refusal, SystemRunner, SystemStatus};

/// How long `/readyz` waits for the probes.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handlers share.
pub struct AppState {
    /// Every system of the service.
    pub systems: Vec<Arc<SystemRunner>>,
    /// The Prometheus recorder's handle, rendered by `/metrics`.
    pub metrics: PrometheusHandle,
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/v1/systems", get(systems))
        .route("/api/v1/systems/{name}/scan", post(scan))
        .with_state(state)
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
