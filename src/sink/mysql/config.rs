//! The MySQL sink's configuration: `mysql://user:pass@host:3306/db`, with these keys
//! in its `[[sink]]` table or as URL parameters (`?writers=8&batch_rows=500`):
//!
//! Any other key is a connection parameter of sqlx (`ssl-mode`, `ssl-ca`, …), put back
//! on the URL it connects with. pmflow's own:
//!
//! | parameter | default | meaning |
//! |---|---|---|
//! | `writers` | 4 | connections writing batches at once |
//! | `batch_rows` | 1000 | rows per `INSERT` (fewer when the 65,535-placeholder limit or `max_allowed_packet` needs it) |
//! | `auto_add_columns` | true | add a column for a new counter; when false, new counters are dropped (warning + metric) |
//! | `retries` | 5 | retries of a transient failure (connection lost, deadlock, lock wait timeout) |
//! | `retry_base_ms` | 200 | first retry delay, doubled each time, with jitter |
//! | `connect_timeout_ms` | 5000 | how long one attempt waits for a connection |
//!
//! A URL without a password takes it from `PMFLOW_MYSQL_PASSWORD`, so plan files need
//! not hold secrets.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use url::Url;

use super::MySqlSink;
use crate::retry::Backoff;
use crate::secret::Secret;
use crate::sink::Sink;
use crate::sink::registry::{SinkConfig, SinkKind, Text, options_and_rest, url_table};

/// `mysql://` URLs: required by default.
pub static KIND: SinkKind = SinkKind {
    schemes: &["mysql"],
    required_by_default: true,
    configure: |table| Ok(Arc::new(MySqlSettings::from_table(table)?)),
};

/// The keys of a MySQL sink's table.
#[derive(Deserialize)]
struct MySqlOptions {
    url: String,
    writers: Option<u64>,
    batch_rows: Option<u64>,
    auto_add_columns: Option<bool>,
    retries: Option<u32>,
    retry_base_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
}

/// Environment variable holding the password of a `mysql://` URL that has none.
pub const PASSWORD_ENV: &str = "PMFLOW_MYSQL_PASSWORD";

/// Everything the MySQL sink is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MySqlSettings {
    /// Connection URL for sqlx: pmflow's parameters removed, password included.
    pub connect_url: Secret,
    /// The URL without its password, for messages.
    pub redacted: String,
    /// Connections writing batches at once.
    pub writers: usize,
    /// Rows per `INSERT` statement at most.
    pub batch_rows: usize,
    /// Whether new counters become new columns.
    pub auto_add_columns: bool,
    /// Retries of transient failures.
    pub backoff: Backoff,
    /// How long one attempt waits for a connection.
    pub connect_timeout: Duration,
}

impl MySqlSettings {
    /// Reads a `mysql://` URL given alone; the message names the offending part.
    pub fn from_url(url: &str) -> Result<Self, String> {
        Self::from_table(url_table(url)?)
    }

    /// Reads a MySQL sink's table; the message names the offending key.
    pub fn from_table(table: toml::Table) -> Result<Self, String> {
        // Keys pmflow does not know are sqlx's connection parameters.
        let (options, connection): (MySqlOptions, _) = options_and_rest(table)?;
        let mut parsed = Url::parse(&options.url).map_err(|e| format!("url: {e}"))?;
        if parsed.scheme() != "mysql" {
            return Err(format!(
                "url: expected mysql://, got {}://",
                parsed.scheme()
            ));
        }
        if parsed.path().trim_matches('/').is_empty() {
            return Err("url: names no database (mysql://user:pass@host:3306/db)".into());
        }
        if !connection.is_empty() {
            let mut query = parsed.query_pairs_mut();
            for (key, Text(value)) in &connection {
                query.append_pair(key, value);
            }
        }
        let mut redacted = parsed.clone();
        if redacted.password().is_some() {
            let _ = redacted.set_password(Some("***"));
        }
        if parsed.password().is_none() {
            if let Ok(password) = std::env::var(PASSWORD_ENV) {
                parsed
                    .set_password(Some(&password))
                    .map_err(|_| "url: cannot carry a password".to_string())?;
            }
        }
        Ok(Self {
            connect_url: Secret::new(parsed.to_string()),
            redacted: redacted.to_string(),
            writers: options.writers.unwrap_or(4).clamp(1, 64) as usize,
            batch_rows: options.batch_rows.unwrap_or(1000).max(1) as usize,
            auto_add_columns: options.auto_add_columns.unwrap_or(true),
            backoff: Backoff::from_options(options.retries, options.retry_base_ms),
            connect_timeout: Duration::from_millis(
                options.connect_timeout_ms.unwrap_or(5000).max(1),
            ),
        })
    }
}

impl std::fmt::Display for MySqlSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mysql {}", self.redacted)
    }
}

#[async_trait]
impl SinkConfig for MySqlSettings {
    async fn build(&self, _system: &str) -> Result<Arc<dyn Sink>, String> {
        let sink = MySqlSink::new(self.clone()).map_err(|e| e.to_string())?;
        Ok(Arc::new(sink))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_parameters_are_taken_out_and_the_password_hidden() {
        let s = MySqlSettings::from_url(
            "mysql://pm:s3cret@db:3306/pm?writers=8&ssl-mode=required&auto_add_columns=false",
        )
        .unwrap();
        assert_eq!(s.writers, 8);
        assert!(!s.auto_add_columns);
        assert_eq!(
            s.connect_url.expose(),
            "mysql://pm:s3cret@db:3306/pm?ssl-mode=required"
        );
        assert_eq!(s.redacted, "mysql://pm:***@db:3306/pm?ssl-mode=required");
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let err = MySqlSettings::from_url("mysql://h/db?batch_rows=lots").unwrap_err();
        assert!(err.contains("batch_rows"), "{err}");
        assert!(MySqlSettings::from_url("mysql://h:3306").is_err());
    }
}
