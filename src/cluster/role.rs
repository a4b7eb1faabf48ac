//! A system's share of a cluster in one process: what its leader publishes, the
//! worker that consumes its tasks (restarted after connection failures), whether the
//! brokers answer, and the status `/api/v1/systems` shows.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::in_flight::InFlight;
use super::members::{Member, Membership};
use super::publish::{Published, publish_settled};
use super::{Cluster, worker};
use crate::pipeline::Pipeline;
use crate::source::SourceError;

/// A system's cluster as this process sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    /// This process in the group (`host:pid`).
    pub node: String,
    /// The task partitions this process has.
    pub partitions: Vec<i32>,
    /// The cluster's members and their partitions.
    pub members: Vec<Member>,
    /// Files the leader published and whose tasks have not ended (this process, when
    /// it leads).
    pub tasks_in_flight: usize,
    /// What the last round of publishing did, when this process led it.
    pub last_published: Option<Published>,
}

/// A system's share of a cluster: the leader publishes its files as tasks, every
/// process consumes them.
pub struct ClusterRole {
    cluster: Arc<Cluster>,
    membership: Arc<Membership>,
    in_flight: Mutex<InFlight>,
    last_published: Mutex<Option<Published>>,
}

/// Longest wait before the worker connects again.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

impl ClusterRole {
    /// The role of a process connected to `cluster`, sharing `membership` with its
    /// leader election's session.
    pub fn new(cluster: Arc<Cluster>, membership: Arc<Membership>) -> Self {
        let timeout = cluster.settings().task_timeout;
        Self {
            cluster,
            membership,
            in_flight: Mutex::new(InFlight::new(timeout)),
            last_published: Mutex::default(),
        }
    }

    /// The leader's round: publishes `pipeline`'s settled files as tasks.
    pub async fn publish(
        &self,
        pipeline: &Pipeline,
        stop: &CancellationToken,
    ) -> Result<Published, SourceError> {
        let published = publish_settled(&self.cluster, pipeline, &self.in_flight, stop).await?;
        info!(
            system = pipeline.system(),
            listed = published.listed,
            published = published.published,
            failed = published.failed,
            "tasks published"
        );
        *lock(&self.last_published) = Some(published);
        Ok(published)
    }

    /// Consumes the system's tasks through `pipeline` until `stop`; connection
    /// failures are logged and retried with a growing pause.
    pub async fn work(&self, pipeline: &Pipeline, stop: &CancellationToken) {
        let system = pipeline.system();
        let mut delay = Duration::from_secs(1);
        while !stop.is_cancelled() {
            let ran = match self.cluster.prepare(system).await {
                Ok(()) => {
                    let partitions = self.membership.partitions.clone();
                    worker::run(&self.cluster, pipeline, partitions, stop)
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(error) => Err(error),
            };
            if let Err(error) = ran {
                warn!(system, error, "cluster worker failed; retrying");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stop.cancelled() => {}
                }
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }

    /// Checks that the brokers answer; what is wrong, if anything.
    pub async fn probe(&self, system: &str) -> Result<(), String> {
        let cluster = self.cluster.clone();
        let system = system.to_string();
        tokio::task::spawn_blocking(move || cluster.probe(&system))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
    }

    /// The status of the system's cluster.
    pub fn status(&self) -> ClusterStatus {
        ClusterStatus {
            node: self.cluster.node().to_string(),
            partitions: self.membership.partitions.borrow().clone(),
            members: self.membership.members.borrow().clone(),
            tasks_in_flight: lock(&self.in_flight).len(),
            last_published: *lock(&self.last_published),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
