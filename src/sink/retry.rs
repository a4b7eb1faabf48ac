//! Retries of transient sink failures: exponential backoff with jitter, so writers
//! that failed together (a database restart, a deadlock) do not retry in lockstep.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

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

impl Backoff {
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
