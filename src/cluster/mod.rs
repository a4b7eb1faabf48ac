//! Cluster mode: many `pmflow run` processes share each system's files through a
//! Kafka consumer group, so adding a node adds capacity.
//!
//! Rule: a file leaves its folder only after every required sink acknowledged it, as
//! everywhere; a task's offset is committed only once its file and every earlier task
//! of its partition are settled ([`offsets`]). A node that dies leaves its unfinished
//! tasks to be delivered again to the others, and the sinks' idempotency makes a file
//! delivered twice harmless.
//!
//! - [`task`]: a task (one file) on the task topic `pmflow.tasks.<system>`;
//! - [`in_flight`]: the leader does not publish a file again while its task is in
//!   flight;
//! - [`publish`]: the system's leader (ZooKeeper, as without a cluster) lists the
//!   source and publishes a task per settled file;
//! - [`worker`]: every node, the leader included, consumes the tasks in the group
//!   `pmflow.<system>`, runs their files through the pipeline, retries a transient
//!   failure by publishing the task again (attempt + 1, after a backoff) and sends a
//!   quarantined file's task to `pmflow.dlq.<system>`;
//! - [`members`]: who is in the group and which partitions each one has;
//! - [`role`]: one system's share of all this in one process, as the service runs it.

pub mod in_flight;
pub mod members;
pub mod offsets;
pub mod publish;
pub mod role;
pub mod task;
pub mod worker;

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tracing::warn;

/// How a cluster is reached and how its tasks behave: `[cluster]` of `pmflow.toml`,
/// or `--cluster kafka://broker:9092[,…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Partitions of a task topic pmflow creates: the most nodes that share a system.
    pub partitions: i32,
    /// When a file still listed is published again although its task was not
    /// finished (its node died without the group noticing, or gave it up).
    pub task_timeout: Duration,
    /// Tries of a file that fails transiently before its task is dropped (the leader
    /// publishes it again after the task timeout).
    pub max_attempts: u32,
    /// Wait before the first retry, doubled for each further one.
    pub retry_backoff: Duration,
    /// Further librdkafka options of every client (security, timeouts).
    pub options: BTreeMap<String, String>,
}

impl ClusterSettings {
    /// Default partitions of a task topic.
    pub const PARTITIONS: i32 = 12;
    /// Default task timeout.
    pub const TASK_TIMEOUT: Duration = Duration::from_secs(600);
    /// Default tries of a file.
    pub const MAX_ATTEMPTS: u32 = 5;
    /// Default first retry backoff.
    pub const RETRY_BACKOFF: Duration = Duration::from_secs(5);

    /// Settings with defaults from a `kafka://host:9092[,host:9092]` URL; the message
    /// says what is wrong.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let brokers = url
            .strip_prefix("kafka://")
            .ok_or_else(|| format!("{url:?}: expected kafka://host:9092[,host:9092]"))?
            .trim_end_matches('/');
        if brokers.is_empty() || brokers.contains(['/', '?']) {
            return Err(format!(
                "{url:?}: expected kafka://host:9092[,host:9092] (options go in [cluster])"
            ));
        }
        Ok(Self {
            brokers: brokers.to_string(),
            partitions: Self::PARTITIONS,
            task_timeout: Self::TASK_TIMEOUT,
            max_attempts: Self::MAX_ATTEMPTS,
            retry_backoff: Self::RETRY_BACKOFF,
            options: BTreeMap::new(),
        })
    }

    /// The wait before try number `attempt + 1` (attempt 0 failed: the base backoff).
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.retry_backoff * 2u32.saturating_pow(attempt.min(16))
    }

    /// A librdkafka configuration with the brokers, `defaults`, and the further
    /// options (which win over the defaults).
    fn client_config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.options {
            config.set(key, value);
        }
        config
    }
}

/// A process's connection to the cluster: what the leader publishes with, what the
/// workers retry and dead-letter with, and who this process is in the group.
pub struct Cluster {
    settings: ClusterSettings,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    /// This process, as the group shows it (`host:pid`).
    node: String,
}

/// How long `/readyz` waits for the brokers.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a task message may wait for a place in the producer's queue.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

impl Cluster {
    /// Clients for `settings`; they connect in the background.
    pub fn connect(settings: ClusterSettings, node: String) -> Result<Self, KafkaError> {
        let producer = settings.client_config(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "5"),
            ("message.timeout.ms", "30000"),
        ]);
        Ok(Self {
            producer: producer.create()?,
            admin: settings.client_config(&[]).create()?,
            settings,
            node,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// This process, as the group shows it.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Creates `system`'s task and dead-letter topics unless they exist.
    pub async fn prepare(&self, system: &str) -> Result<(), String> {
        let tasks = task::tasks_topic(system);
        let dead = task::dead_letter_topic(system);
        let topics = [
            NewTopic::new(&tasks, self.settings.partitions, TopicReplication::Fixed(1)),
            NewTopic::new(&dead, 1, TopicReplication::Fixed(1)),
        ];
        let options = AdminOptions::new()
            .operation_timeout(Some(Duration::from_secs(10)))
            .request_timeout(Some(Duration::from_secs(10)));
        let results = self
            .admin
            .create_topics(&topics, &options)
            .await
            .map_err(|e| format!("cannot reach the brokers {}: {e}", self.settings.brokers))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => warn!(topic, %code, "cannot create topic"),
            }
        }
        Ok(())
    }

    /// Checks that the brokers answer with `system`'s task topic; what is wrong, if
    /// anything. Blocking: call it off the async threads.
    pub fn probe(&self, system: &str) -> Result<(), String> {
        let topic = task::tasks_topic(system);
        self.producer
            .client()
            .fetch_metadata(Some(&topic), PROBE_TIMEOUT)
            .map(|_| ())
            .map_err(|e| format!("cluster kafka://{}: {e}", self.settings.brokers))
    }

    /// Sends one message and waits for the brokers' acknowledgement.
    async fn send(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        headers: OwnedHeaders,
    ) -> Result<(), String> {
        let record = FutureRecord::to(topic)
            .key(key)
            .payload(payload)
            .headers(headers);
        self.producer
            .send(record, SEND_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|(error, _)| format!("{topic}: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_a_url_with_defaults() {
        let settings = ClusterSettings::from_url("kafka://k1:9092,k2:9092").unwrap();
        assert_eq!(settings.brokers, "k1:9092,k2:9092");
        assert_eq!(settings.partitions, 12);
        assert_eq!(settings.backoff(0), Duration::from_secs(5));
        assert_eq!(settings.backoff(2), Duration::from_secs(20));
        for bad in ["k1:9092", "kafka://", "kafka://k1:9092?partitions=3"] {
            let error = ClusterSettings::from_url(bad).unwrap_err();
            assert!(error.contains("kafka://host:9092"), "{error}");
        }
    }
}
