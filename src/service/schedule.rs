//! When a system's cycles run: a cron expression with seconds, plus one run a fixed
//! delay after the service starts (so a restarted collector does not wait for the
//! next tick to catch up).

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Default cron expression: every 5 minutes, at second 50 (`sec min hour day month
/// weekday`), a little before the 15-minute files of the next period arrive.
pub const DEFAULT_CRON: &str = "50 */5 * * * *";

/// Default schedule of archive compaction (`pmflow archive optimize` of the system's
/// tables): every day at 03:30 UTC, off-peak for most networks.
pub const DEFAULT_OPTIMIZE_CRON: &str = "0 30 3 * * *";

/// The value of `optimize_cron` that turns scheduled compaction off.
pub const OFF: &str = "off";

/// Default delay of the first run after start.
pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_secs(10);

/// A system's schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    cron: cron::Schedule,
    initial_delay: Duration,
}

impl Schedule {
    /// Parses `expression` (six fields with seconds, or seven with years; evaluated in
    /// UTC); the message says what is wrong.
    pub fn new(expression: &str, initial_delay: Duration) -> Result<Self, String> {
        let fields = expression.split_whitespace().count();
        if !(6..=7).contains(&fields) {
            return Err(format!(
                "{expression:?} has {fields} fields; expected 6 (sec min hour day month weekday) \
                 or 7 (… year)"
            ));
        }
        let cron = cron::Schedule::from_str(expression)
            .map_err(|e| format!("{expression:?} is not a cron expression: {e}"))?;
        Ok(Self {
            expression: expression.to_string(),
            cron,
            initial_delay,
        })
    }

    /// The cron expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// How long after start the first run happens.
    pub fn initial_delay(&self) -> Duration {
        self.initial_delay
    }

    /// The first tick strictly after `now`, if the expression has any left.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.after(&now).next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn default_ticks_every_five_minutes_at_second_fifty() {
        let schedule = Schedule::new(DEFAULT_CRON, DEFAULT_INITIAL_DELAY).unwrap();
        let first = schedule.next_after(at("2026-12-03T10:02:00Z")).unwrap();
        assert_eq!(first, at("2026-12-03T10:05:50Z"));
        let second = schedule.next_after(first).unwrap();
        assert_eq!(second, at("2026-12-03T10:10:50Z"));
        let exact = schedule.next_after(at("2026-12-03T10:05:49Z")).unwrap();
        assert_eq!(exact, at("2026-12-03T10:05:50Z"));
    }

    #[test]
    fn seconds_field_allows_sub_minute_schedules() {
        let schedule = Schedule::new("*/2 * * * * *", Duration::ZERO).unwrap();
        let next = schedule.next_after(at("2026-12-03T10:00:01Z")).unwrap();
        assert_eq!(next, at("2026-12-03T10:00:02Z"));
    }

    #[test]
    fn five_field_and_invalid_expressions_are_refused_with_the_reason() {
        let err = Schedule::new("*/5 * * * *", Duration::ZERO).unwrap_err();
        assert!(err.contains("has 5 fields"), "{err}");
        let err = Schedule::new("61 * * * * *", Duration::ZERO).unwrap_err();
        assert!(err.contains("not a cron expression"), "{err}");
    }
}
