//! The ClickHouse sink's configuration: `clickhouse://user:pass@host:8123/db`, with
//! these keys in its `[[sink]]` table or as URL parameters (`?batch_rows=100000`):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `batch_rows` | 100000 | rows per `INSERT` at most |
//! | `files_at_once` | 256 | files the sink takes at once; their rows share inserts |
//! | `retries` | 5 | retries of a transient failure (network, timeouts, too many parts) |
//! | `retry_base_ms` | 200 | first retry delay, doubled each time, with jitter |
//! | `timeout_ms` | 60000 | how long one `INSERT` may take |
//!
//! The port is the HTTP interface's (8123 by default); the database defaults to
//! `default`, the user to `default`. A URL without a password takes it from
//! `PMFLOW_CLICKHOUSE_PASSWORD`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use url::Url;

use super::ClickHouseSink;
use crate::retry::Backoff;
use crate::secret::Secret;
use crate::sink::Sink;
use crate::sink::registry::{SinkConfig, SinkKind, options, url_table};

/// `clickhouse://` URLs: required by default.
pub static KIND: SinkKind = SinkKind {
    schemes: &["clickhouse"],
    required_by_default: true,
    configure: |table| Ok(Arc::new(ClickHouseSettings::from_table(table)?)),
};

/// The keys of a ClickHouse sink's table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClickHouseOptions {
    url: String,
    batch_rows: Option<u64>,
    files_at_once: Option<u64>,
    retries: Option<u32>,
    retry_base_ms: Option<u64>,
    timeout_ms: Option<u64>,
}

/// Environment variable holding the password of a `clickhouse://` URL that has none.
pub const PASSWORD_ENV: &str = "PMFLOW_CLICKHOUSE_PASSWORD";

/// Everything the ClickHouse sink is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickHouseSettings {
    /// HTTP endpoint, `http://host:port`.
    pub endpoint: String,
    /// Database the tables are made in.
    pub database: String,
    /// User name.
    pub user: String,
    /// Password, if any.
    pub password: Option<Secret>,
    /// The URL without its password, for messages.
    pub redacted: String,
    /// Rows per `INSERT` at most.
    pub batch_rows: usize,
    /// Files taken at once: the more files wait together, the larger the inserts
    /// (each file's rows stay in memory until its insert is acknowledged).
    pub files_at_once: usize,
    /// Retries of transient failures.
    pub backoff: Backoff,
    /// How long one `INSERT` may take.
    pub timeout: Duration,
}

impl ClickHouseSettings {
    /// Reads a `clickhouse://` URL given alone; the message names the offending part.
    pub fn from_url(url: &str) -> Result<Self, String> {
        Self::from_table(url_table(url)?)
    }

    /// Reads a ClickHouse sink's table; the message names the offending key.
    pub fn from_table(table: toml::Table) -> Result<Self, String> {
        let options: ClickHouseOptions = options(table)?;
        let parsed = Url::parse(&options.url).map_err(|e| format!("url: {e}"))?;
        if parsed.scheme() != "clickhouse" {
            return Err(format!(
                "url: expected clickhouse://, got {}://",
                parsed.scheme()
            ));
        }
        let host = parsed.host_str().ok_or("url: names no host")?;
        let database = match parsed.path().trim_matches('/') {
            "" => "default",
            database => database,
        };
        let mut redacted = parsed.clone();
        if redacted.password().is_some() {
            let _ = redacted.set_password(Some("***"));
        }
        Ok(Self {
            endpoint: format!("http://{host}:{}", parsed.port().unwrap_or(8123)),
            database: database.to_string(),
            user: match parsed.username() {
                "" => "default".to_string(),
                user => user.to_string(),
            },
            password: parsed
                .password()
                .map(str::to_string)
                .or_else(|| std::env::var(PASSWORD_ENV).ok())
                .map(Secret::new),
            redacted: redacted.to_string(),
            batch_rows: options.batch_rows.unwrap_or(100_000).max(1) as usize,
            files_at_once: options.files_at_once.unwrap_or(256).max(1) as usize,
            backoff: Backoff::from_options(options.retries, options.retry_base_ms),
            timeout: Duration::from_millis(options.timeout_ms.unwrap_or(60_000).max(1)),
        })
    }
}

impl std::fmt::Display for ClickHouseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "clickhouse {}", self.redacted)
    }
}

#[async_trait]
impl SinkConfig for ClickHouseSettings {
    async fn build(&self, _system: &str) -> Result<Arc<dyn Sink>, String> {
        Ok(Arc::new(ClickHouseSink::new(self.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts_and_defaults() {
        let s = ClickHouseSettings::from_url(
            "clickhouse://pm:pw@ch:8124/pm?batch_rows=500&files_at_once=8",
        )
        .unwrap();
        assert_eq!(
            (s.endpoint.as_str(), s.database.as_str(), s.user.as_str()),
            ("http://ch:8124", "pm", "pm")
        );
        assert_eq!(
            (
                s.password.as_ref().map(Secret::expose),
                s.batch_rows,
                s.files_at_once
            ),
            (Some("pw"), 500, 8)
        );
        assert_eq!(s.redacted, "clickhouse://pm:***@ch:8124/pm");
        let s = ClickHouseSettings::from_url("clickhouse://ch").unwrap();
        assert_eq!(
            (s.endpoint.as_str(), s.database.as_str(), s.files_at_once),
            ("http://ch:8123", "default", 256)
        );
        assert!(ClickHouseSettings::from_url("clickhouse://ch/db?batchrows=1").is_err());
    }
}
