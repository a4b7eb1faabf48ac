//! Files held back by transient failures are never quarantined for their age (a
//! store down for a day must not cost a day of files), but how long the oldest has
//! waited is what an operator alerts on. This remembers since when each file has been
//! held, from one cycle's outcomes to the next.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Since when each file (by `folder/name`) has been held, over consecutive cycles.
#[derive(Debug, Default)]
pub struct HeldFiles {
    since: HashMap<String, Instant>,
}

impl HeldFiles {
    /// Takes the files a cycle held at `now` (a file no longer held is forgotten) and
    /// returns how long the oldest of them has been held (zero when none is).
    pub fn update(&mut self, held: Vec<String>, now: Instant) -> Duration {
        let since: HashMap<String, Instant> = held
            .into_iter()
            .map(|file| {
                let first = self.since.get(&file).copied().unwrap_or(now);
                (file, first)
            })
            .collect();
        self.since = since;
        self.since
            .values()
            .map(|first| now.duration_since(*first))
            .max()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_held_file_ages_until_it_is_no_longer_held() {
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let mut held = HeldFiles::default();
        assert_eq!(held.update(vec!["in/a".into()], start), Duration::ZERO);
        let both = held.update(vec!["in/a".into(), "in/b".into()], start + minute);
        assert_eq!(both, minute);
        let b_alone = held.update(vec!["in/b".into()], start + 3 * minute);
        assert_eq!(b_alone, 2 * minute);
        assert_eq!(held.update(vec![], start + 4 * minute), Duration::ZERO);
        assert_eq!(
            held.update(vec!["in/b".into()], start + 5 * minute),
            Duration::ZERO
        );
    }
}
