//! Retries of transient failures of sinks and sources: exponential backoff with
//! jitter, so clients that failed together (a database restart, a dropped FTP server)
//! do not retry in lockstep; and a breaker that stops hammering a store that is down.

use std::fmt::Display;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;
use tracing::warn;

/// How often and how long to retry a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Retries after the first attempt (0 = never retry).
    pub retries: u32,
    /// Delay before the first retry; doubled for each further one.
    pub base: Duration,
    /// Upper bound of any single delay.
    pub max: Duration,
}

impl Default for Backoff {
    /// 5 retries from 200 ms, at most 10 s apart: about 6 s of retrying in all.
    fn default() -> Self {
        Self {
            retries: 5,
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
        }
    }
}

/// A URL parameter's value as a whole number; the message names the parameter.
pub fn whole_number(key: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{key}={value}: expected a whole number"))
}

impl Backoff {
    /// The default backoff with a sink's `retries` and `retry_base_ms` keys, where
    /// given.
    pub fn from_options(retries: Option<u32>, retry_base_ms: Option<u64>) -> Self {
        let default = Self::default();
        Self {
            retries: retries.unwrap_or(default.retries),
            base: retry_base_ms.map_or(default.base, Duration::from_millis),
            ..default
        }
    }

    /// Takes the source URL parameters `retries` and `retry_base_ms`; `Ok(false)` for
    /// any other parameter.
    pub fn set_parameter(&mut self, key: &str, value: &str) -> Result<bool, String> {
        match key {
            "retries" => self.retries = whole_number(key, value)? as u32,
            "retry_base_ms" => self.base = Duration::from_millis(whole_number(key, value)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Delay before retry number `retry` (0-based): `base * 2^retry`, capped at `max`,
    /// then drawn uniformly from its upper half.
    pub fn delay(&self, retry: u32) -> Duration {
        let full = self
            .base
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max);
        let half = full / 2;
        half + full
            .saturating_sub(half)
            .mul_f64(rand::rng().random::<f64>())
    }

    /// Runs `operation` until it succeeds, fails with an error `transient` rejects, or
    /// the retries are used up; returns the last result. `what` names the operation in
    /// the warnings logged before each retry.
    pub async fn run<T, E, F, Fut>(
        &self,
        what: &str,
        transient: impl Fn(&E) -> bool,
        mut operation: F,
    ) -> Result<T, E>
    where
        E: Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut retry = 0;
        loop {
            match operation().await {
                Err(error) if retry < self.retries && transient(&error) => {
                    let delay = self.delay(retry);
                    warn!(what, %error, retry = retry + 1, ?delay, "transient failure; retrying");
                    tokio::time::sleep(delay).await;
                    retry += 1;
                }
                result => return result,
            }
        }
    }
}

/// Fails writes at once for a while after a store proved unreachable (retries used
/// up on a transient error), instead of letting every queued file wait through its
/// own retries.
#[derive(Debug)]
pub struct Breaker {
    store: &'static str,
    cooldown: Duration,
    open: Mutex<Option<(Instant, String)>>,
}

impl Breaker {
    /// A closed breaker for `store` (named in messages) that stays open `cooldown`.
    pub fn new(store: &'static str, cooldown: Duration) -> Self {
        Self {
            store,
            cooldown,
            open: Mutex::default(),
        }
    }

    /// `Err` with the reason while the breaker is open.
    pub fn check(&self) -> Result<(), String> {
        match &*self.open.lock().expect("breaker lock") {
            Some((until, reason)) if Instant::now() < *until => Err(format!(
                "{} unavailable, not retried for {:?} more (last error: {reason})",
                self.store,
                until.saturating_duration_since(Instant::now())
            )),
            _ => Ok(()),
        }
    }

    /// Opens the breaker for its cooldown.
    pub fn trip(&self, reason: String) {
        *self.open.lock().expect("breaker lock") = Some((Instant::now() + self.cooldown, reason));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn quick(retries: u32) -> Backoff {
        Backoff {
            retries,
            base: Duration::from_millis(1),
            max: Duration::from_millis(4),
        }
    }

    #[test]
    fn delays_double_up_to_the_cap_and_stay_in_their_upper_half() {
        let backoff = Backoff {
            retries: 10,
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        for (retry, full) in [(0, 100), (1, 200), (2, 400), (3, 800), (4, 1000), (9, 1000)] {
            let delay = backoff.delay(retry).as_millis();
            assert!(full / 2 <= delay && delay <= full, "retry {retry}: {delay}");
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success_or_exhaustion() {
        let calls = AtomicU32::new(0);
        let result: Result<u32, String> = quick(3)
            .run(
                "test",
                |_| true,
                || async {
                    match calls.fetch_add(1, Ordering::SeqCst) {
                        n if n < 2 => Err(format!("fail {n}")),
                        n => Ok(n),
                    }
                },
            )
            .await;
        assert_eq!(result, Ok(2));
        calls.store(0, Ordering::SeqCst);
        let result: Result<(), String> = quick(3)
            .run(
                "test",
                |_| true,
                || async { Err(format!("fail {}", calls.fetch_add(1, Ordering::SeqCst))) },
            )
            .await;
        assert_eq!(result, Err("fail 3".to_string()));
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), String> = quick(3)
            .run(
                "test",
                |e: &String| e != "bad data",
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err("bad data".to_string())
                },
            )
            .await;
        assert_eq!(result.unwrap_err(), "bad data");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
