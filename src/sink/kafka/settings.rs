//! The Kafka sink's URL:
//! `kafka://host:9092[,host2:9092]?topic=pm.{system}.{table}[&required=true][&…]`.
//!
//! | parameter | default | meaning |
//! |---|---|---|
//! | `topic` | `pm.{system}.{table}` | topic template; `{system}` and `{table}` are replaced |
//! | `format` | `json` | message format: `json` (ClickHouse's `JSONEachRow`), the only one |
//! | `required` | `false` | whether a Kafka failure holds files back |
//! | `partitions` | 3 | partitions of a topic pmflow creates |
//! | anything else | | a librdkafka producer option, e.g. `compression.type=zstd`, `security.protocol=SASL_SSL` |
//!
//! Producer defaults: `enable.idempotence=true`, `acks=all`, `compression.type=lz4`,
//! `linger.ms=5`, `batch.num.messages=10000`, `message.timeout.ms=30000`.

use std::collections::BTreeMap;

use url::form_urlencoded;

use crate::secret::Secret;

/// Everything the Kafka sink is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Topic template with `{system}` and `{table}`.
    pub topic: String,
    /// Whether a failure holds files back, when the URL says so.
    pub required: Option<bool>,
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
    /// Parses a `kafka://` URL; the message names the offending parameter.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("kafka://")
            .ok_or_else(|| "expected kafka://".to_string())?;
        let (brokers, query) = rest.split_once('?').unwrap_or((rest, ""));
        let brokers = brokers.trim_end_matches('/');
        if brokers.is_empty() {
            return Err("the URL names no broker (kafka://host:9092)".into());
        }
        let mut settings = Self {
            brokers: brokers.to_string(),
            topic: "pm.{system}.{table}".to_string(),
            required: None,
            partitions: 3,
            producer: [
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("compression.type", "lz4"),
                ("linger.ms", "5"),
                ("batch.num.messages", "10000"),
                ("message.timeout.ms", "30000"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            secrets: BTreeMap::new(),
            redacted: String::new(),
        };
        let mut shown = form_urlencoded::Serializer::new(String::new());
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if SECRET_OPTIONS.contains(&key.as_ref()) {
                shown.append_pair(&key, "***");
                settings
                    .secrets
                    .insert(key.into_owned(), Secret::new(value.into_owned()));
                continue;
            }
            shown.append_pair(&key, &value);
            match key.as_ref() {
                "topic" if value.is_empty() => return Err("topic is empty".into()),
                "topic" => settings.topic = value.into_owned(),
                "format" if value != "json" => {
                    return Err(format!(
                        "format={value}: only json (JSONEachRow) is supported"
                    ));
                }
                "format" => {}
                "required" => {
                    settings.required = Some(
                        value
                            .parse()
                            .map_err(|_| format!("required={value}: expected true or false"))?,
                    )
                }
                "partitions" => {
                    settings.partitions =
                        value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                            format!("partitions={value}: expected a positive number")
                        })?
                }
                _ => {
                    settings
                        .producer
                        .insert(key.into_owned(), value.into_owned());
                }
            }
        }
        settings
            .producer
            .insert("bootstrap.servers".into(), settings.brokers.clone());
        let shown = shown.finish();
        settings.redacted = match shown.is_empty() {
            true => format!("kafka://{brokers}"),
            false => format!("kafka://{brokers}?{shown}"),
        };
        Ok(settings)
    }

    /// The topic of `table` of `system`.
    pub fn topic_for(&self, system: &str, table: &str) -> String {
        self.topic
            .replace("{system}", system)
            .replace("{table}", table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brokers_topic_and_producer_options() {
        let s = KafkaSettings::from_url(
            "kafka://k1:9092,k2:9092?topic=pm.{table}&required=true&linger.ms=5&sasl.password=s3cret",
        )
        .unwrap();
        assert_eq!(s.producer["bootstrap.servers"], "k1:9092,k2:9092");
        assert_eq!(s.topic_for("5ga", "nrcelldu"), "pm.nrcelldu");
        assert_eq!(s.required, Some(true));
        assert_eq!(s.producer["linger.ms"], "5");
        assert_eq!(s.producer["enable.idempotence"], "true");
        assert!(!s.redacted.contains("s3cret"), "{}", s.redacted);
        assert_eq!(s.secrets["sasl.password"].expose(), "s3cret");
        assert!(!format!("{s:?}").contains("s3cret"));
        assert!(KafkaSettings::from_url("kafka://k1:9092?format=avro").is_err());
        assert!(KafkaSettings::from_url("kafka://?topic=x").is_err());
    }
}
