//! The Kafka sink's configuration: `kafka://host:9092[,host2:9092]`, with these keys in
//! its `[[sink]]` table or as URL parameters (`?topic=pm.{system}.{table}&required=true`):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `topic` | `pm.{system}.{table}` | topic template; `{system}` and `{table}` are replaced |
//! | `format` | `json` | message format: `json` (ClickHouse's `JSONEachRow`), the only one |
//! | `required` | `false` | whether a Kafka failure holds files back |
//! | `partitions` | 3 | partitions of a topic pmflow creates |
//! | anything else | | a librdkafka producer option, e.g. `compression.type=zstd`, `security.protocol=SASL_SSL`; in a plan also under `[sink.kafka]` |
//!
//! Producer defaults: `enable.idempotence=true`, `acks=all`, `compression.type=lz4`,
//! `linger.ms=5`, `batch.num.messages=10000`, `message.timeout.ms=30000`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use url::form_urlencoded;

use super::KafkaSink;
use crate::secret::Secret;
use crate::sink::Sink;
use crate::sink::registry::{SinkConfig, SinkKind, Text, options_and_rest, url_table};

/// `kafka://` URLs: optional by default, so a broker outage never holds files back.
pub static KIND: SinkKind = SinkKind {
    schemes: &["kafka"],
    required_by_default: false,
    configure: |table| Ok(Arc::new(KafkaSettings::from_table(table)?)),
};

/// The keys of a Kafka sink's table.
#[derive(Deserialize)]
struct KafkaOptions {
    url: String,
    topic: Option<Text>,
    format: Option<Text>,
    partitions: Option<i32>,
    /// `[sink.kafka]`: producer options kept apart from pmflow's keys.
    #[serde(default)]
    kafka: BTreeMap<String, Text>,
}

/// Everything the Kafka sink is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Topic template with `{system}` and `{table}`.
    pub topic: String,
    /// Partitions of a topic pmflow creates.
    pub partitions: i32,
    /// librdkafka producer options, defaults included, but the secret ones.
    pub producer: BTreeMap<String, String>,
    /// librdkafka producer options whose values are secrets (`sasl.password`, …).
    pub secrets: BTreeMap<String, Secret>,
    /// The URL without secret option values, for messages.
    pub redacted: String,
}

/// librdkafka options whose values are secrets, hidden in messages.
const SECRET_OPTIONS: [&str; 4] = [
    "sasl.password",
    "ssl.key.password",
    "ssl.keystore.password",
    "sasl.oauthbearer.client.secret",
];

impl KafkaSettings {
    /// Reads a `kafka://` URL given alone; the message names the offending part.
    pub fn from_url(url: &str) -> Result<Self, String> {
        Self::from_table(url_table(url)?)
    }

    /// Reads a Kafka sink's table; the message names the offending key.
    pub fn from_table(table: toml::Table) -> Result<Self, String> {
        // Keys pmflow does not know are librdkafka's producer options.
        let (options, producer_options): (KafkaOptions, _) = options_and_rest(table)?;
        let brokers = options
            .url
            .strip_prefix("kafka://")
            .ok_or("url: expected kafka://")?
            .trim_end_matches('/');
        if brokers.is_empty() {
            return Err("url: names no broker (kafka://host:9092)".into());
        }
        match options.format {
            Some(Text(format)) if format != "json" => {
                return Err(format!(
                    "format: {format}: only json (JSONEachRow) is supported"
                ));
            }
            _ => {}
        }
        let topic = match options.topic {
            Some(Text(topic)) if topic.is_empty() => return Err("topic: empty".into()),
            Some(Text(topic)) => topic,
            None => "pm.{system}.{table}".to_string(),
        };
        let partitions = options.partitions.unwrap_or(3);
        if partitions < 1 {
            return Err(format!(
                "partitions: {partitions}: expected a positive number"
            ));
        }
        let mut producer: BTreeMap<String, String> = [
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("compression.type", "lz4"),
            ("linger.ms", "5"),
            ("batch.num.messages", "10000"),
            ("message.timeout.ms", "30000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut secrets = BTreeMap::new();
        let mut shown = form_urlencoded::Serializer::new(String::new());
        if topic != "pm.{system}.{table}" {
            shown.append_pair("topic", &topic);
        }
        for (key, Text(value)) in options.kafka.into_iter().chain(producer_options) {
            if SECRET_OPTIONS.contains(&key.as_str()) {
                shown.append_pair(&key, "***");
                secrets.insert(key, Secret::new(value));
            } else {
                shown.append_pair(&key, &value);
                producer.insert(key, value);
            }
        }
        producer.insert("bootstrap.servers".into(), brokers.to_string());
        let shown = shown.finish();
        Ok(Self {
            brokers: brokers.to_string(),
            topic,
            partitions,
            producer,
            secrets,
            redacted: match shown.is_empty() {
                true => format!("kafka://{brokers}"),
                false => format!("kafka://{brokers}?{shown}"),
            },
        })
    }

    /// The topic of `table` of `system`.
    pub fn topic_for(&self, system: &str, table: &str) -> String {
        self.topic
            .replace("{system}", system)
            .replace("{table}", table)
    }
}

impl std::fmt::Display for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "kafka {}", self.redacted)
    }
}

#[async_trait]
impl SinkConfig for KafkaSettings {
    async fn build(&self, system: &str) -> Result<Arc<dyn Sink>, String> {
        let sink = KafkaSink::new(self.clone(), system).map_err(|e| e.to_string())?;
        Ok(Arc::new(sink))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brokers_topic_and_producer_options() {
        let s = KafkaSettings::from_url(
            "kafka://k1:9092,k2:9092?topic=pm.{table}&linger.ms=5&sasl.password=s3cret",
        )
        .unwrap();
        assert_eq!(s.producer["bootstrap.servers"], "k1:9092,k2:9092");
        assert_eq!(s.topic_for("5ga", "nrcelldu"), "pm.nrcelldu");
        assert_eq!(s.producer["linger.ms"], "5");
        assert_eq!(s.producer["enable.idempotence"], "true");
        assert!(!s.redacted.contains("s3cret"), "{}", s.redacted);
        assert_eq!(s.secrets["sasl.password"].expose(), "s3cret");
        assert!(!format!("{s:?}").contains("s3cret"));
        assert!(KafkaSettings::from_url("kafka://k1:9092?format=avro").is_err());
        assert!(KafkaSettings::from_url("kafka://?topic=x").is_err());
    }
}
