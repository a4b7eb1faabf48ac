//! Service mode (`pmflow run`): every configured system on its own schedule, leader
//! election among processes, HTTP health and metrics, and a clean stop on SIGTERM.
//!
//! - [`config`]: `pmflow.toml`, environment overrides and flags;
//! - [`schedule`]: cron with seconds plus a run shortly after start;
//! - [`system`]: one system's loop and cycles (never two at once) and its status;
//! - [`leader`]: ZooKeeper leader election per system;
//! - in cluster mode ([`crate::cluster`]) the leader's cycles publish tasks and every
//!   process consumes them;
//! - [`replays`]: replays asked for over HTTP, beside the cycles;
//! - [`http`]: `/healthz`, `/readyz`, `/metrics`, `/api/v1/systems`, `/api/v1/replays`,
//!   with a bearer token for every request that changes something.
//!
//! Stopping (SIGTERM or SIGINT): no new cycle starts and running cycles fetch no
//! further file; files already fetched are delivered and completed (each moves to
//! `Done/` only after its acknowledgements, as always). After the grace period the
//! rest is abandoned: such a file was not moved and is simply processed again.

pub mod config;
pub mod http;
pub mod leader;
pub mod replays;
pub mod schedule;
pub mod system;

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{BuildError as MetricsError, PrometheusBuilder};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::config::ServiceConfig;
use self::system::SystemRunner;
use crate::cluster::Cluster;
use crate::cluster::members::Membership;
use crate::cluster::role::ClusterRole;
use crate::pipeline::{BuildError, Pipeline};
use crate::telemetry;

/// Histogram buckets, in seconds, of stage and cycle durations.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// How often the metrics recorder drains its histograms.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// The service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A system's pipeline could not be built.
    #[error("system {system}: {source}")]
    Build { system: String, source: BuildError },
    /// The metrics recorder could not be installed.
    #[error("metrics: {0}")]
    Metrics(#[from] MetricsError),
    /// SIGTERM and SIGINT could not be taken over.
    #[error("cannot handle signals: {0}")]
    Signal(std::io::Error),
    /// The cluster's clients could not be made from its settings.
    #[error("cluster: {0}")]
    Cluster(String),
    /// The HTTP address could not be bound.
    #[error("http {address}: {source}")]
    Http {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Runs the service until SIGTERM or SIGINT, then stops cleanly.
pub async fn run(config: ServiceConfig) -> Result<(), ServiceError> {
    let stop_signal = stop_signal().map_err(ServiceError::Signal)?;
    let metrics = PrometheusBuilder::new()
        .set_buckets(DURATION_BUCKETS)?
        .install_recorder()?;
    telemetry::describe();
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(METRICS_UPKEEP).await;
            upkeep.run_upkeep();
        }
    });
    let stop = CancellationToken::new();
    let cluster = match &config.cluster {
        Some(settings) => Some(Arc::new(
            Cluster::connect(settings.clone(), leader::process_name())
                .map_err(|e| ServiceError::Cluster(e.to_string()))?,
        )),
        None => None,
    };
    let mut runners = Vec::new();
    let mut campaigns = Vec::new();
    for system in &config.systems {
        let name = system.plan.system.clone();
        let pipeline =
            Pipeline::build(&system.plan)
                .await
                .map_err(|source| ServiceError::Build {
                    system: name.clone(),
                    source,
                })?;
        telemetry::register_system(&name, &pipeline.sink_labels());
        if cluster.is_some() {
            telemetry::register_cluster(&name);
        }
        let membership = cluster.as_ref().map(|_| Arc::new(Membership::default()));
        let leadership = match &config.zookeeper {
            Some(zookeeper) => {
                let (leadership, task) = leader::campaign(
                    zookeeper.clone(),
                    name.clone(),
                    membership.clone(),
                    stop.clone(),
                );
                campaigns.push(task);
                leadership
            }
            None => leader::sole_leader(&name),
        };
        runners.push(Arc::new(SystemRunner::new(
            &system.plan,
            pipeline,
            system.schedule.clone(),
            system.optimize.clone(),
            leadership,
            cluster
                .clone()
                .zip(membership)
                .map(|(c, m)| ClusterRole::new(c, m)),
            stop.clone(),
        )));
    }
    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .map_err(|source| ServiceError::Http {
            address: config.http,
            source,
        })?;
    let address = listener.local_addr().unwrap_or(config.http);
    let plans: Vec<_> = config.systems.iter().map(|s| s.plan.clone()).collect();
    let app = http::router(Arc::new(http::AppState {
        systems: runners.clone(),
        metrics,
        replays: Arc::new(replays::Replays::new(&plans, stop.clone())),
        api_token: config.api_token.clone(),
    }));
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );
    let loops: Vec<_> = runners
        .iter()
        .flat_map(|runner| {
            [
                tokio::spawn(runner.clone().run()),
                tokio::spawn(runner.clone().run_worker()),
            ]
        })
        .collect();
    for runner in &runners {
        tokio::spawn(runner.clone().run_maintenance());
    }
    info!(
        http = %address,
        systems = ?runners.iter().map(|r| r.system()).collect::<Vec<_>>(),
        "pmflow service started"
    );
    stop_signal.await;
    info!("stopping: no new files are fetched; finishing the files in flight");
    stop.cancel();
    let finished = tokio::time::timeout(config.shutdown_grace, futures::future::join_all(loops));
    if finished.await.is_err() {
        warn!(grace = ?config.shutdown_grace, "files still in flight after the grace period are abandoned; they stay in their folders");
    }
    futures::future::join_all(campaigns).await;
    let _ = server.await;
    info!("pmflow service stopped");
    Ok(())
}

/// Takes over SIGTERM and SIGINT (Ctrl-C) now; the future completes on either.
fn stop_signal() -> std::io::Result<impl Future<Output = ()>> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
