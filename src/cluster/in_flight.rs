//! The leader's memory of the tasks it published: a file is not published again
//! while its task is in flight, and is published again when it is still listed a
//! task timeout after it was (the node that had it died, or gave it up).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Files published, by path, and when.
#[derive(Debug)]
pub struct InFlight {
    published: HashMap<String, Instant>,
    timeout: Duration,
}

impl InFlight {
    /// An empty memory whose tasks time out after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            published: HashMap::new(),
            timeout,
        }
    }

    /// Whether the file at `path`, listed at `now`, is to be published; if so it is
    /// remembered as published at `now`.
    pub fn take(&mut self, path: &str, now: Instant) -> bool {
        match self.published.get_mut(path) {
            Some(at) if now.duration_since(*at) < self.timeout => false,
            Some(at) => {
                *at = now;
                true
            }
            None => {
                self.published.insert(path.to_string(), now);
                true
            }
        }
    }

    /// The file at `path` could not be published: it is to be published next time.
    pub fn forget(&mut self, path: &str) {
        self.published.remove(path);
    }

    /// Forgets every file a whole listing no longer had: it left its folder.
    pub fn keep_listed(&mut self, listed: &std::collections::HashSet<String>) {
        self.published.retain(|path, _| listed.contains(path));
    }

    /// Tasks in flight.
    pub fn len(&self) -> usize {
        self.published.len()
    }

    /// Whether no task is in flight.
    pub fn is_empty(&self) -> bool {
        self.published.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn a_file_is_published_again_only_after_its_task_timed_out() {
        let start = Instant::now();
        let mut in_flight = InFlight::new(Duration::from_secs(60));
        assert!(in_flight.take("/pm/a.xml", start));
        assert!(!in_flight.take("/pm/a.xml", start + Duration::from_secs(59)));
        assert!(in_flight.take("/pm/a.xml", start + Duration::from_secs(60)));
        assert!(!in_flight.take("/pm/a.xml", start + Duration::from_secs(61)));
    }

    #[test]
    fn files_no_longer_listed_or_not_published_are_forgotten() {
        let start = Instant::now();
        let mut in_flight = InFlight::new(Duration::from_secs(60));
        assert!(in_flight.take("/pm/a.xml", start));
        assert!(in_flight.take("/pm/b.xml", start));
        in_flight.forget("/pm/b.xml");
        assert!(in_flight.take("/pm/b.xml", start));
        in_flight.keep_listed(&HashSet::from(["/pm/b.xml".to_string()]));
        assert_eq!(in_flight.len(), 1);
        assert!(in_flight.take("/pm/a.xml", start));
    }
}
