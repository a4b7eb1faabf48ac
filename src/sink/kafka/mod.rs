//! The Kafka sink: one message per row, in `JSONEachRow` form for ClickHouse's Kafka
//! engine, keyed `table|ne|object|period_start`, on the topic the template names,
//! through an idempotent producer (`acks=all`).
//!
//! - [`config`]: the `kafka://` URL and keys and producer options;
//! - [`json`]: rows → JSON objects and message keys.
//!
//! A file is acknowledged once the broker confirmed every one of its messages. A full
//! producer queue is backpressure: the sink waits for earlier deliveries, then goes
//! on. By default Kafka is optional (`required=false`): its failures are logged and
//! counted and the file still completes, so a broker outage never holds back the
//! database sinks; after a failure, following files skip Kafka for a while instead of
//! each waiting for its own delivery timeout.

pub mod config;
pub mod json;

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use tracing::{debug, warn};

pub use self::config::KafkaSettings;
use self::json::JsonRows;
use super::{FailureKind, PlannedFile, Sink, SinkError};
use crate::retry::Breaker;

/// How long a readiness probe waits for the brokers' metadata.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes files as messages to Kafka.
pub struct KafkaSink {
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    settings: KafkaSettings,
    system: String,
    known_topics: Mutex<HashSet<String>>,
    breaker: Breaker,
}

impl KafkaSink {
    /// A sink for `system`'s files; the producer connects in the background.
    pub fn new(settings: KafkaSettings, system: &str) -> Result<Self, KafkaError> {
        let mut config = ClientConfig::new();
        let mut admin_config = ClientConfig::new();
        for (key, value) in &settings.producer {
            config.set(key, value);
            if reaches_the_broker(key) {
                admin_config.set(key, value);
            }
        }
        // Every secret option is a connection's (SASL, SSL).
        for (key, secret) in &settings.secrets {
            config.set(key, secret.expose());
            admin_config.set(key, secret.expose());
        }
        let producer: FutureProducer = config.create()?;
        let admin = admin_config.create()?;
        Ok(Self {
            producer,
            admin,
            breaker: Breaker::new("Kafka", Duration::from_secs(30)),
            settings,
            system: system.to_string(),
            known_topics: Mutex::default(),
        })
    }

    /// Creates `topic` unless this sink already saw it; a topic that exists, or a
    /// broker that refuses creation (topics made by operators), is no error. A broker
    /// that does not answer is: the file's messages could not be delivered either.
    async fn ensure_topic(&self, topic: &str) -> Result<(), String> {
        if self
            .known_topics
            .lock()
            .expect("topics lock")
            .contains(topic)
        {
            return Ok(());
        }
        let new = NewTopic::new(topic, self.settings.partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new()
            .operation_timeout(Some(Duration::from_secs(5)))
            .request_timeout(Some(Duration::from_secs(5)));
        let results = self
            .admin
            .create_topics([&new], &options)
            .await
            .map_err(|e| format!("topic {topic}: cannot reach the brokers: {e}"))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => warn!(topic, %code, "cannot create topic"),
            }
        }
        self.known_topics
            .lock()
            .expect("topics lock")
            .insert(topic.to_string());
        Ok(())
    }

    async fn send_file(&self, file: &PlannedFile) -> Result<u64, (FailureKind, String)> {
        let mut pending: VecDeque<DeliveryFuture> = VecDeque::new();
        let mut sent = 0;
        let (mut key, mut payload) = (String::new(), String::new());
        for table in file.keyed_tables() {
            let topic = self.settings.topic_for(&self.system, &table.table);
            self.ensure_topic(&topic)
                .await
                .map_err(|message| (FailureKind::Transient, message))?;
            let rows = JsonRows::new(&table.batch)
                .map_err(|e| (FailureKind::Rejected, format!("table {}: {e}", table.table)))?;
            for row in 0..table.batch.num_rows() {
                rows.key(&table.table, row, &mut key);
                rows.row(row, &mut payload);
                let mut record = FutureRecord::to(&topic).key(&key).payload(&payload);
                loop {
                    match self.producer.send_result(record) {
                        Ok(delivery) => {
                            pending.push_back(delivery);
                            break;
                        }
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                            // Backpressure: wait for the oldest message in flight.
                            record = r;
                            match pending.pop_front() {
                                Some(delivery) => confirm(delivery).await?,
                                None => tokio::time::sleep(Duration::from_millis(10)).await,
                            }
                        }
                        Err((error, _)) => {
                            return Err((kind_of(&error), format!("topic {topic}: {error}")));
                        }
                    }
                }
                sent += 1;
            }
        }
        for delivery in pending {
            confirm(delivery).await?;
        }
        Ok(sent)
    }
}

/// Whether a producer option is one the admin client (topic creation) needs too: how
/// to reach and authenticate to the brokers, not how to produce.
fn reaches_the_broker(key: &str) -> bool {
    key == "bootstrap.servers"
        || key == "client.id"
        || ["security.", "sasl.", "ssl."]
            .iter()
            .any(|prefix| key.starts_with(prefix))
}

/// Whether a failed send may pass: a message the broker refuses for its size or
/// form is refused again; anything else (broker down, timeouts) may pass.
fn kind_of(error: &KafkaError) -> FailureKind {
    let refused = [
        RDKafkaErrorCode::MessageSizeTooLarge,
        RDKafkaErrorCode::InvalidMessage,
        RDKafkaErrorCode::InvalidMessageSize,
        RDKafkaErrorCode::InvalidRecord,
    ];
    match error.rdkafka_error_code() {
        Some(code) if refused.contains(&code) => FailureKind::Rejected,
        _ => FailureKind::Transient,
    }
}

/// Waits for the broker's delivery report of one message.
async fn confirm(delivery: DeliveryFuture) -> Result<(), (FailureKind, String)> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((error, message))) => {
            use rdkafka::Message;
            let text = format!("topic {}: {error}", message.topic());
            Err((kind_of(&error), text))
        }
        Err(_) => Err((
            FailureKind::Transient,
            "the producer was dropped before delivery".into(),
        )),
    }
}

#[async_trait]
impl Sink for KafkaSink {
    fn describe(&self) -> String {
        self.settings.redacted.clone()
    }

    fn kind(&self) -> &'static str {
        "kafka"
    }

    async fn probe(&self) -> Result<(), String> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, PROBE_TIMEOUT)
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }

    async fn write(&self, file: &PlannedFile) -> Result<(), SinkError> {
        self.breaker
            .check()
            .map_err(|message| SinkError::new(self, file, FailureKind::Transient, message))?;
        match self.send_file(file).await {
            Ok(messages) => {
                debug!(file = file.name, messages, "delivered to Kafka");
                Ok(())
            }
            Err((kind, message)) => {
                if kind == FailureKind::Transient {
                    self.breaker.trip(message.clone());
                }
                Err(SinkError::new(self, file, kind, message))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_client_gets_the_connection_options_only() {
        for key in [
            "bootstrap.servers",
            "client.id",
            "security.protocol",
            "sasl.mechanism",
            "ssl.ca.location",
        ] {
            assert!(reaches_the_broker(key), "{key}");
        }
        for key in [
            "enable.idempotence",
            "acks",
            "linger.ms",
            "compression.type",
        ] {
            assert!(!reaches_the_broker(key), "{key}");
        }
    }
}
