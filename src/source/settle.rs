//! When a listed file is complete enough to take: the rule that keeps pmflow from
//! collecting a file its writer is still writing.
//!
//! Many network elements and mediation servers write (or upload) under the final name,
//! so a listing alone cannot tell a finished file from one half-written. The rule:
//!
//! - names matching a temporary pattern (`*.tmp`, `*.part`, `*.filepart`, `.*` by
//!   default) are never listed (see [`super::NameFilter`]);
//! - a file is *settled*, and taken, when its size and modification time are the same
//!   in two listings at least `settle` apart, or when its modification time is older
//!   than `min_age` (plus the source's clock uncertainty: an FTP `LIST` gives the time
//!   in the server's zone, to the minute);
//! - a file not yet settled is listed again within the same cycle, `settle` later,
//!   until it settles or `settle_max` has passed; then it is left for the next cycle.
//!
//! [`Observations`] is the pure part: what each listing saw, and which files a new
//! listing makes ready. The pipeline lists, asks, and waits.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use super::SourceFile;
use crate::retry::whole_number;

/// How long files must be stable before they are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettleRules {
    /// A file whose size and time are unchanged over this long is taken
    /// (`Duration::ZERO`: every listed file is taken at once).
    pub settle: Duration,
    /// A file modified longer ago than this is taken at its first listing.
    pub min_age: Duration,
    /// How long a cycle keeps listing files that have not settled yet.
    pub settle_max: Duration,
}

impl Default for SettleRules {
    /// Stable for 3 s, or untouched for 60 s; a cycle waits at most 30 s for files.
    fn default() -> Self {
        Self {
            settle: Duration::from_secs(3),
            min_age: Duration::from_secs(60),
            settle_max: Duration::from_secs(30),
        }
    }
}

impl SettleRules {
    /// Rules that take every listed file at once: for folders nothing writes into.
    pub const NONE: Self = Self {
        settle: Duration::ZERO,
        min_age: Duration::ZERO,
        settle_max: Duration::ZERO,
    };

    /// Whether files are taken as soon as they are listed.
    pub fn disabled(&self) -> bool {
        self.settle.is_zero()
    }

    /// Takes the source keys and URL parameters `settle_s`, `min_age_s` and
    /// `settle_max_s`; `Ok(false)` for any other key.
    pub fn set_parameter(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let seconds = || whole_number(key, value).map(Duration::from_secs);
        match key {
            "settle_s" => self.settle = seconds()?,
            "min_age_s" => self.min_age = seconds()?,
            "settle_max_s" => self.settle_max = seconds()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl std::fmt::Display for SettleRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.disabled() {
            return write!(f, "every listed file taken at once");
        }
        write!(
            f,
            "a file is taken once unchanged for {} s or untouched for {} s; a cycle waits up to {} s",
            self.settle.as_secs(),
            self.min_age.as_secs(),
            self.settle_max.as_secs()
        )
    }
}

/// What a listing saw of a file: its size and modification time, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Observation {
    size: u64,
    modified: Option<SystemTime>,
    /// When this size and time were first listed.
    since: Instant,
}

/// The files a listing makes ready, and how many must wait.
#[derive(Debug, PartialEq, Eq)]
pub struct Sorted {
    /// Settled files, to be taken.
    pub ready: Vec<SourceFile>,
    /// Files listed but not settled yet.
    pub waiting: usize,
}

/// What the listings of one source saw, kept between listings and between cycles (so a
/// file seen unchanged by the previous cycle is settled at once).
#[derive(Debug, Default)]
pub struct Observations {
    seen: HashMap<(String, String), Observation>,
}

impl Observations {
    /// Sorts a new listing, taken at `now` (`wall_now` on the wall clock), into ready
    /// and waiting files and remembers it. Files no longer listed are forgotten.
    /// `clock_error` is how far the source's modification times may be from the
    /// truth (their time zone and precision).
    pub fn sort(
        &mut self,
        rules: &SettleRules,
        clock_error: Duration,
        listing: Vec<SourceFile>,
        now: Instant,
        wall_now: SystemTime,
    ) -> Sorted {
        let mut seen = HashMap::with_capacity(listing.len());
        let mut sorted = Sorted {
            ready: Vec::with_capacity(listing.len()),
            waiting: 0,
        };
        let old_enough = |modified: Option<SystemTime>| {
            modified.is_some_and(|modified| {
                wall_now
                    .duration_since(modified)
                    .is_ok_and(|age| age >= rules.min_age.saturating_add(clock_error))
            })
        };
        for file in listing {
            let key = (file.folder.clone(), file.name.clone());
            let observation = match self.seen.remove(&key) {
                Some(before) if before.size == file.size && before.modified == file.modified => {
                    before
                }
                _ => Observation {
                    size: file.size,
                    modified: file.modified,
                    since: now,
                },
            };
            let stable = now.duration_since(observation.since) >= rules.settle;
            if rules.disabled() || stable || old_enough(file.modified) {
                sorted.ready.push(file);
            } else {
                sorted.waiting += 1;
            }
            seen.insert(key, observation);
        }
        self.seen = seen;
        sorted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn file(name: &str, size: u64, modified: SystemTime) -> SourceFile {
        SourceFile {
            folder: "/in".into(),
            name: name.into(),
            size,
            modified: Some(modified),
        }
    }

    fn names(sorted: &Sorted) -> Vec<&str> {
        sorted.ready.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn a_fresh_file_waits_until_two_listings_settle_apart_agree() {
        let rules = SettleRules::default();
        let (start, wall) = (Instant::now(), SystemTime::now());
        let mut seen = Observations::default();
        let listing = || vec![file("a.xml", 10, wall)];
        let first = seen.sort(&rules, Duration::ZERO, listing(), start, wall);
        assert_eq!((names(&first), first.waiting), (vec![], 1));
        let early = seen.sort(
            &rules,
            Duration::ZERO,
            listing(),
            start + rules.settle / 2,
            wall,
        );
        assert_eq!((names(&early), early.waiting), (vec![], 1));
        let later = seen.sort(
            &rules,
            Duration::ZERO,
            listing(),
            start + rules.settle,
            wall,
        );
        assert_eq!((names(&later), later.waiting), (vec!["a.xml"], 0));
    }

    #[test]
    fn a_growing_file_restarts_its_wait() {
        let rules = SettleRules::default();
        let (start, wall) = (Instant::now(), SystemTime::now());
        let mut seen = Observations::default();
        seen.sort(
            &rules,
            Duration::ZERO,
            vec![file("a", 10, wall)],
            start,
            wall,
        );
        let grown = seen.sort(
            &rules,
            Duration::ZERO,
            vec![file("a", 20, wall)],
            start + rules.settle,
            wall,
        );
        assert_eq!(grown.waiting, 1);
        let touched = seen.sort(
            &rules,
            Duration::ZERO,
            vec![file("a", 20, wall + MINUTE)],
            start + rules.settle * 2,
            wall,
        );
        assert_eq!(touched.waiting, 1, "a new time restarts the wait too");
        let settled = seen.sort(
            &rules,
            Duration::ZERO,
            vec![file("a", 20, wall + MINUTE)],
            start + rules.settle * 3,
            wall,
        );
        assert_eq!(names(&settled), ["a"]);
    }

    #[test]
    fn an_old_file_is_taken_at_once_unless_the_clock_is_uncertain() {
        let rules = SettleRules::default();
        let (now, wall) = (Instant::now(), SystemTime::now());
        let listing = || {
            vec![
                file("old", 1, wall - 2 * MINUTE),
                file("new", 1, wall - MINUTE / 2),
            ]
        };
        let sorted = Observations::default().sort(&rules, Duration::ZERO, listing(), now, wall);
        assert_eq!((names(&sorted), sorted.waiting), (vec!["old"], 1));
        let uncertain = Observations::default().sort(&rules, 5 * MINUTE, listing(), now, wall);
        assert_eq!((names(&uncertain), uncertain.waiting), (vec![], 2));
        let future = vec![file("skewed", 1, wall + MINUTE)];
        let sorted = Observations::default().sort(&rules, Duration::ZERO, future, now, wall);
        assert_eq!(sorted.waiting, 1, "a time in the future is not old");
    }

    #[test]
    fn disabled_rules_take_everything_and_unlisted_files_are_forgotten() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut seen = Observations::default();
        let sorted = seen.sort(
            &SettleRules::NONE,
            Duration::ZERO,
            vec![file("a", 1, wall)],
            now,
            wall,
        );
        assert_eq!(names(&sorted), ["a"]);
        seen.sort(&SettleRules::NONE, Duration::ZERO, vec![], now, wall);
        assert!(seen.seen.is_empty());
    }

    #[test]
    fn parameters_name_themselves() {
        let mut rules = SettleRules::default();
        assert_eq!(rules.set_parameter("settle_s", "0"), Ok(true));
        assert!(rules.disabled());
        assert_eq!(rules.set_parameter("min_age_s", "5"), Ok(true));
        assert_eq!(rules.min_age, Duration::from_secs(5));
        assert_eq!(rules.set_parameter("pool", "5"), Ok(false));
        let err = rules.set_parameter("settle_max_s", "x").unwrap_err();
        assert!(err.starts_with("settle_max_s=x"), "{err}");
    }
}
