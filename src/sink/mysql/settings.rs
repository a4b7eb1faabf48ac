//! The MySQL sink's URL: `mysql://user:pass@host:3306/db?writers=4&batch_rows=1000`.
//!
//! Connection parameters are sqlx's (`ssl-mode`, `ssl-ca`, …); pmflow's own are:
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

use std::time::Duration;

use url::Url;

use crate::retry::{Backoff, whole_number};
use crate::secret::Secret;

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
    /// Parses a `mysql://` URL; the message names the offending parameter.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let mut parsed = Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        if parsed.scheme() != "mysql" {
            return Err(format!("expected mysql://, got {}://", parsed.scheme()));
        }
        if parsed.path().trim_matches('/').is_empty() {
            return Err("the URL names no database (mysql://user:pass@host:3306/db)".into());
        }
        let mut settings = Self {
            connect_url: Secret::new(""),
            redacted: String::new(),
            writers: 4,
            batch_rows: 1000,
            auto_add_columns: true,
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(5),
        };
        let mut passed_on = Vec::new();
        for (key, value) in parsed.query_pairs() {
            let number = || whole_number(&key, &value);
            if settings.backoff.set_parameter(&key, &value)? {
                continue;
            }
            match key.as_ref() {
                "writers" => settings.writers = number()?.clamp(1, 64) as usize,
                "batch_rows" => settings.batch_rows = number()?.max(1) as usize,
                "connect_timeout_ms" => {
                    settings.connect_timeout = Duration::from_millis(number()?.max(1))
                }
                "auto_add_columns" => {
                    settings.auto_add_columns = value
                        .parse()
                        .map_err(|_| format!("{key}={value}: expected true or false"))?
                }
                _ => passed_on.push((key.into_owned(), value.into_owned())),
            }
        }
        if passed_on.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(passed_on);
        }
        let mut redacted = parsed.clone();
        if redacted.password().is_some() {
            let _ = redacted.set_password(Some("***"));
        }
        settings.redacted = redacted.to_string();
        if parsed.password().is_none() {
            if let Ok(password) = std::env::var(PASSWORD_ENV) {
                parsed
                    .set_password(Some(&password))
                    .map_err(|_| "this URL cannot carry a password".to_string())?;
            }
        }
        settings.connect_url = Secret::new(parsed.to_string());
        Ok(settings)
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
        assert!(err.starts_with("batch_rows=lots"), "{err}");
        assert!(MySqlSettings::from_url("mysql://h:3306").is_err());
    }
}
