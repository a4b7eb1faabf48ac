//! A node's part: consume `system`'s tasks in the group, run their files through the
//! pipeline, and settle each task: commit it in order ([`OrderedOffsets`]), publish it
//! again when its file failed transiently (attempt + 1, after a backoff, never
//! blocking the partition), or send it to the dead-letter topic when its file was
//! quarantined.

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::pin;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::Cluster;
use super::offsets::OrderedOffsets;
use super::task::{Task, dead_letter_topic, group, tasks_topic};
use crate::pipeline::{FileOutcome, FileReport, Pipeline};
use crate::source::SourceFile;
use crate::telemetry;

/// Consumer settings the group needs on this broker: without a short poll interval a
/// consumer's first join waits out the whole rebalance timeout (minutes).
const CONSUMER_DEFAULTS: [(&str, &str); 7] = [
    ("enable.auto.commit", "false"),
    ("auto.offset.reset", "earliest"),
    ("max.poll.interval.ms", "10000"),
    ("session.timeout.ms", "6000"),
    ("heartbeat.interval.ms", "1000"),
    ("statistics.interval.ms", "5000"),
    ("partition.assignment.strategy", "range"),
];

/// A change of this node's partitions, as the consumer's rebalance callback saw it.
enum Rebalanced {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
}

/// What the consumer's callbacks tell the worker and the metrics.
struct GroupContext {
    system: String,
    rebalances: mpsc::UnboundedSender<Rebalanced>,
    /// The partitions this node has now, for the members' list.
    partitions: watch::Sender<Vec<i32>>,
}

impl ClientContext for GroupContext {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&tasks_topic(&self.system)) else {
            return;
        };
        for (partition, stats) in &topic.partitions {
            if *partition >= 0 {
                telemetry::cluster_lag(&self.system, *partition, lag(stats));
            }
        }
    }
}

/// Tasks of a partition this node has not consumed yet: librdkafka's lag once it
/// knows the partition's position; before (nothing consumed nor committed yet, as in
/// an empty partition) everything the partition holds; 0 for a partition this node
/// does not have (another node reports it).
fn lag(stats: &rdkafka::statistics::Partition) -> i64 {
    if !stats.desired {
        return 0;
    }
    if stats.consumer_lag >= 0 {
        return stats.consumer_lag;
    }
    let consumed = stats.committed_offset.max(stats.lo_offset).max(0);
    (stats.hi_offset - consumed).max(0)
}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions = |list: &TopicPartitionList| -> Vec<i32> {
            list.elements().iter().map(|e| e.partition()).collect()
        };
        let event = match rebalance {
            Rebalance::Assign(list) => Rebalanced::Assigned(partitions(list)),
            Rebalance::Revoke(list) => Rebalanced::Revoked(partitions(list)),
            Rebalance::Error(error) => {
                return warn!(system = self.system, %error, "rebalance failed");
            }
        };
        self.partitions.send_modify(|mine| {
            match &event {
                Rebalanced::Assigned(assigned) => mine.extend(assigned),
                Rebalanced::Revoked(revoked) => mine.retain(|p| !revoked.contains(p)),
            }
            mine.sort_unstable();
            mine.dedup();
            info!(system = self.system, partitions = ?mine, "task partitions of this node");
            telemetry::cluster_partitions(&self.system, mine.len());
        });
        let _ = self.rebalances.send(event);
    }
}

/// A task received and not yet settled.
struct Received {
    partition: i32,
    offset: i64,
    task: Task,
}

/// The tasks of one node and what it does when their files finish.
struct Tasks<'a> {
    cluster: &'a Cluster,
    pipeline: &'a Pipeline,
    consumer: &'a StreamConsumer<GroupContext>,
    offsets: OrderedOffsets,
    /// Tasks not settled yet, by their file's path (a file is processed once however
    /// many of its tasks arrive meanwhile).
    waiting: HashMap<String, Vec<Received>>,
    /// Files due and not started, with their partition: taken a few at a time, so
    /// that a partition revoked in a rebalance takes its files not started with it.
    ready: VecDeque<(i32, SourceFile)>,
    /// Files in the pipeline, by path.
    running: HashSet<String>,
    /// How many files may be in the pipeline at once.
    capacity: usize,
}

/// Consumes `pipeline`'s system's tasks until `stop`; files already fetched are
/// finished and their tasks committed, the rest are left to the group. `partitions`
/// learns which task partitions this node has.
pub async fn run(
    cluster: &Cluster,
    pipeline: &Pipeline,
    partitions: watch::Sender<Vec<i32>>,
    stop: &CancellationToken,
) -> Result<(), KafkaError> {
    let system = pipeline.system();
    let (rebalances_tx, mut rebalances) = mpsc::unbounded_channel();
    let mut config = cluster.settings.client_config(&CONSUMER_DEFAULTS);
    config
        .set("group.id", group(system))
        .set("client.id", cluster.node());
    let consumer: StreamConsumer<GroupContext> = config.create_with_context(GroupContext {
        system: system.to_string(),
        rebalances: rebalances_tx,
        partitions,
    })?;
    consumer.subscribe(&[&tasks_topic(system)])?;
    let mut tasks = Tasks {
        cluster,
        pipeline,
        consumer: &consumer,
        offsets: OrderedOffsets::default(),
        waiting: HashMap::new(),
        ready: VecDeque::new(),
        running: HashSet::new(),
        capacity: pipeline.files_at_once(),
    };
    let (files_tx, files_rx) = mpsc::unbounded_channel::<SourceFile>();
    let mut files_tx = Some(files_tx);
    let (reports_tx, mut reports) = mpsc::unbounded_channel::<FileReport>();
    let files = futures::stream::unfold(files_rx, |mut rx| async move {
        let file = rx.recv().await?;
        Some((file, rx))
    });
    let mut processing = pin!(pipeline.process(files, stop, move |report| {
        let _ = reports_tx.send(report);
    }));
    let mut delayed = FuturesUnordered::new();
    loop {
        if let Some(files) = &files_tx {
            tasks.start_ready(files);
        }
        tokio::select! {
            biased;
            Some(event) = rebalances.recv() => tasks.rebalanced(event),
            Some(report) = reports.recv() => tasks.finished(report).await,
            left = &mut processing => {
                // Files not fetched stay uncommitted: the group delivers them again.
                debug!(system, files = left.len(), "stopping: tasks left to the group");
                break;
            }
            () = stop.cancelled(), if files_tx.is_some() => files_tx = None,
            Some(due) = delayed.next(), if files_tx.is_some() => tasks.ready.push_back(due),
            message = consumer.recv(), if files_tx.is_some() => match message {
                Ok(message) => {
                    let Some((partition, file, wait)) = tasks.received(&message).await else {
                        continue;
                    };
                    if wait.is_zero() {
                        tasks.ready.push_back((partition, file));
                    } else {
                        delayed.push(async move {
                            tokio::time::sleep(wait).await;
                            (partition, file)
                        });
                    }
                }
                Err(error) => warn!(system, %error, "cannot consume tasks"),
            },
        }
    }
    while let Ok(report) = reports.try_recv() {
        tasks.finished(report).await;
    }
    Ok(())
}

impl Tasks<'_> {
    /// Takes in a task message: its partition, its file and how long until it is
    /// due, unless a task of the same file is already waiting (or the message is no
    /// task, which is dead-lettered).
    async fn received(
        &mut self,
        message: &BorrowedMessage<'_>,
    ) -> Option<(i32, SourceFile, Duration)> {
        let system = self.pipeline.system();
        let (partition, offset) = (message.partition(), message.offset());
        self.offsets.received(partition, offset);
        let task = match Task::decode(message.payload().unwrap_or_default()) {
            Ok(task) => task,
            Err(error) => {
                let reason = format!("not a task: {error}");
                warn!(
                    system,
                    partition, offset, reason, "dead-lettering a message"
                );
                let payload = message.payload().unwrap_or_default();
                self.dead_letter(payload, &reason, 0).await;
                self.commit(partition, offset);
                return None;
            }
        };
        telemetry::cluster_task(system, telemetry::TaskEvent::Consumed);
        let file = task.file();
        let path = file.path();
        let wait = task.wait(SystemTime::now());
        let waiting = self.waiting.entry(path.clone()).or_default();
        waiting.push(Received {
            partition,
            offset,
            task,
        });
        let first = waiting.len() == 1 && !self.running.contains(&path);
        first.then_some((partition, file, wait))
    }

    /// Sends files due to the pipeline while it has room; files whose tasks all
    /// went with a revoked partition are dropped.
    fn start_ready(&mut self, files: &mpsc::UnboundedSender<SourceFile>) {
        while self.running.len() < self.capacity {
            let Some((_, file)) = self.ready.pop_front() else {
                return;
            };
            let path = file.path();
            if !self.waiting.contains_key(&path) || !self.running.insert(path) {
                continue;
            }
            self.pipeline.announce(1);
            // The receiver lives as long as the loop.
            let _ = files.send(file);
        }
    }

    /// A rebalance: a revoked partition's tasks are no longer this node's to settle,
    /// and its files not started are left to the new owner.
    fn rebalanced(&mut self, event: Rebalanced) {
        match event {
            Rebalanced::Assigned(assigned) => self.offsets.assign(&assigned),
            Rebalanced::Revoked(revoked) => {
                self.offsets.revoke(&revoked);
                for tasks in self.waiting.values_mut() {
                    tasks.retain(|t| !revoked.contains(&t.partition));
                }
                self.waiting.retain(|_, tasks| !tasks.is_empty());
                self.ready.retain(|(p, _)| !revoked.contains(p));
            }
        }
    }

    /// Settles every task of a finished file.
    async fn finished(&mut self, report: FileReport) {
        self.running.remove(&report.file);
        let Some(tasks) = self.waiting.remove(&report.file) else {
            return;
        };
        let reason = report.reason.as_deref().unwrap_or("unknown");
        if let Some(first) = tasks.first() {
            let task = &first.task;
            match report.outcome {
                FileOutcome::Done | FileOutcome::Gone => {}
                FileOutcome::Failed => {
                    self.dead_letter(&task.encode(), reason, task.attempt + 1)
                        .await;
                }
                FileOutcome::Held => self.retry(task, reason).await,
            }
        }
        for Received {
            partition, offset, ..
        } in tasks
        {
            self.commit(partition, offset);
        }
    }

    /// Publishes a transiently failed task again, after its backoff, unless it used
    /// its attempts (the leader publishes the file again after the task timeout).
    async fn retry(&self, task: &Task, reason: &str) {
        let system = self.pipeline.system();
        let settings = &self.cluster.settings;
        let file = task.file().path();
        if task.attempt + 1 >= settings.max_attempts {
            return warn!(
                system,
                file,
                attempts = task.attempt + 1,
                reason,
                "giving the task up; the leader publishes the file again after the task timeout"
            );
        }
        let retry = task.retry(SystemTime::now(), settings.backoff(task.attempt));
        let topic = tasks_topic(system);
        let sent = self
            .cluster
            .send(&topic, &retry.key(), &retry.encode(), OwnedHeaders::new())
            .await;
        match sent {
            Ok(()) => {
                debug!(
                    system,
                    file,
                    attempt = retry.attempt,
                    reason,
                    "task published again"
                );
                telemetry::cluster_task(system, telemetry::TaskEvent::Retried);
            }
            Err(error) => warn!(
                system,
                file,
                error,
                "cannot publish the task again; the leader will after the task timeout"
            ),
        }
    }

    /// Sends a task (or a message that is none) to the dead-letter topic with the
    /// reason and the attempts in its headers.
    async fn dead_letter(&self, payload: &[u8], reason: &str, attempts: u32) {
        let system = self.pipeline.system();
        let attempts = attempts.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "reason",
                value: Some(reason),
            })
            .insert(Header {
                key: "attempts",
                value: Some(&attempts),
            })
            .insert(Header {
                key: "node",
                value: Some(self.cluster.node()),
            });
        let key = Task::decode(payload).map(|t| t.key()).unwrap_or_default();
        let topic = dead_letter_topic(system);
        match self.cluster.send(&topic, &key, payload, headers).await {
            Ok(()) => telemetry::cluster_task(system, telemetry::TaskEvent::DeadLettered),
            // The file itself is in `Failed/` with its reason: nothing is lost.
            Err(error) => warn!(system, error, "cannot send a task to the dead-letter topic"),
        }
    }

    /// Settles a task and commits its partition up to where every task is settled.
    fn commit(&mut self, partition: i32, offset: i64) {
        let Some(next) = self.offsets.settle(partition, offset) else {
            return;
        };
        let mut list = TopicPartitionList::new();
        let topic = tasks_topic(self.pipeline.system());
        if let Err(error) = list.add_partition_offset(&topic, partition, Offset::Offset(next)) {
            return warn!(%error, "cannot name an offset to commit");
        }
        if let Err(error) = self.consumer.commit(&list, CommitMode::Async) {
            // The partition moved to another node: it delivers the task again.
            debug!(partition, next, %error, "commit refused");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(desired: bool, lag_of_librdkafka: i64, lo: i64, hi: i64, committed: i64) -> i64 {
        let stats = serde_json::json!({
            "partition": 0, "broker": 1, "leader": 1, "desired": desired, "unknown": false,
            "msgq_cnt": 0, "msgq_bytes": 0, "xmit_msgq_cnt": 0, "xmit_msgq_bytes": 0,
            "fetchq_cnt": 0, "fetchq_size": 0, "fetch_state": "active", "query_offset": 0,
            "next_offset": 0, "app_offset": -1001, "stored_offset": -1001,
            "committed_offset": committed, "eof_offset": -1001, "lo_offset": lo,
            "hi_offset": hi, "ls_offset": hi, "consumer_lag": lag_of_librdkafka,
            "consumer_lag_stored": -1, "txmsgs": 0, "txbytes": 0, "rxmsgs": 0,
            "rxbytes": 0, "msgs": 0, "rx_ver_drops": 0, "msgs_inflight": 0,
            "next_ack_seq": 0, "next_err_seq": 0, "acked_msgid": 0
        });
        lag(&serde_json::from_value(stats).expect("partition statistics"))
    }

    #[test]
    fn lag_is_librdkafkas_once_known_else_what_the_partition_holds() {
        assert_eq!(partition(true, 7, 0, 20, 13), 7);
        assert_eq!(partition(true, -1, 0, 0, -1001), 0, "an empty partition");
        assert_eq!(partition(true, -1, 0, 5, -1001), 5, "nothing consumed yet");
        assert_eq!(partition(true, -1, 0, 9, 6), 3);
        assert_eq!(partition(false, 4, 0, 9, 5), 0, "another node's partition");
    }
}
