//! The ClickHouse sink's URL: `clickhouse://user:pass@host:8123/db?batch_rows=100000`.
//!
//! | parameter | default | meaning |
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

use std::time::Duration;

use url::Url;

use crate::retry::{Backoff, whole_number};
use crate::secret::Secret;

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
    /// Parses a `clickhouse://` URL; the message names the offending part.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let parsed = Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        if parsed.scheme() != "clickhouse" {
            return Err(format!(
                "expected clickhouse://, got {}://",
                parsed.scheme()
            ));
        }
        let host = parsed.host_str().ok_or("the URL names no host")?;
        let database = parsed.path().trim_matches('/');
        let mut settings = Self {
            endpoint: format!("http://{host}:{}", parsed.port().unwrap_or(8123)),
            database: if database.is_empty() {
                "default"
            } else {
                database
            }
            .to_string(),
            user: match parsed.username() {
                "" => "default".to_string(),
                user => user.to_string(),
            },
            password: parsed
                .password()
                .map(str::to_string)
                .or_else(|| std::env::var(PASSWORD_ENV).ok())
                .map(Secret::new),
            redacted: String::new(),
            batch_rows: 100_000,
            files_at_once: 256,
            backoff: Backoff::default(),
            timeout: Duration::from_secs(60),
        };
        for (key, value) in parsed.query_pairs() {
            if settings.backoff.set_parameter(&key, &value)? {
                continue;
            }
            match key.as_ref() {
                "batch_rows" => settings.batch_rows = whole_number(&key, &value)?.max(1) as usize,
                "files_at_once" => {
                    settings.files_at_once = whole_number(&key, &value)?.max(1) as usize
                }
                "timeout_ms" => {
                    settings.timeout = Duration::from_millis(whole_number(&key, &value)?.max(1))
                }
                _ => return Err(format!("unknown parameter {key}")),
            }
        }
        let mut redacted = parsed.clone();
        if redacted.password().is_some() {
            let _ = redacted.set_password(Some("***"));
        }
        redacted.set_query(None);
        settings.redacted = redacted.to_string();
        Ok(settings)
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
