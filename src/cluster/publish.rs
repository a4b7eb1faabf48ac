//! The leader's part: list the system's source as a cycle does and publish a task for
//! every settled file not already in flight.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rdkafka::message::OwnedHeaders;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::Cluster;
use super::in_flight::InFlight;
use super::task::{Task, tasks_topic};
use crate::pipeline::Pipeline;
use crate::source::SourceError;
use crate::telemetry;

/// What one round of publishing did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    /// Settled files listed.
    pub listed: u64,
    /// Tasks published.
    pub published: u64,
    /// Tasks that could not be published (tried again next round).
    pub failed: u64,
}

/// Lists `pipeline`'s source and publishes a task per settled file that `in_flight`
/// does not hold; forgets the files no longer listed once the listing was whole.
pub async fn publish_settled(
    cluster: &Cluster,
    pipeline: &Pipeline,
    in_flight: &Mutex<InFlight>,
    stop: &CancellationToken,
) -> Result<Published, SourceError> {
    let system = pipeline.system();
    let topic = &tasks_topic(system);
    let source = pipeline.source_name();
    let (files_tx, mut files) = mpsc::unbounded_channel();
    let listing = pipeline.list_settled(files_tx, stop);
    let mut listed = HashSet::new();
    let mut result = Published::default();
    let publishing = async {
        let mut sends = FuturesUnordered::new();
        loop {
            tokio::select! {
                file = files.recv() => {
                    let Some(file) = file else { break };
                    let path = file.path();
                    listed.insert(path.clone());
                    let due = lock(in_flight).take(&path, Instant::now());
                    if due {
                        let task = Task::of(&source, &file);
                        sends.push(async move {
                            let sent = cluster.send(topic, &task.key(), &task.encode(), OwnedHeaders::new()).await;
                            (path, sent)
                        });
                    }
                }
                Some((path, sent)) = sends.next() => count(&mut result, in_flight, system, &path, sent),
            }
        }
        while let Some((path, sent)) = sends.next().await {
            count(&mut result, in_flight, system, &path, sent);
        }
    };
    let (listing, ()) = futures::join!(listing, publishing);
    listing?;
    result.listed = listed.len() as u64;
    if !stop.is_cancelled() {
        lock(in_flight).keep_listed(&listed);
    }
    Ok(result)
}

/// Counts a task sent, or forgets a file whose task could not be.
fn count(
    result: &mut Published,
    in_flight: &Mutex<InFlight>,
    system: &str,
    path: &str,
    sent: Result<(), String>,
) {
    match sent {
        Ok(()) => {
            result.published += 1;
            telemetry::cluster_task(system, telemetry::TaskEvent::Published);
        }
        Err(error) => {
            warn!(
                system,
                file = path,
                error,
                "cannot publish a task; it is tried next round"
            );
            lock(in_flight).forget(path);
            result.failed += 1;
        }
    }
}

fn lock(in_flight: &Mutex<InFlight>) -> std::sync::MutexGuard<'_, InFlight> {
    in_flight
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
