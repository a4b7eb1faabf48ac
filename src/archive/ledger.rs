//! The ledger of source files an archive table holds, by date partition.
//!
//! Rule: a source file seen again adds no row. Delta's own transaction markers do
//! not reject a repeat, so the archive keeps its ledger in the data itself: every
//! row carries its source file's `file_id`, and the source files a partition holds
//! are the `file_id`s of its data files. That ledger cannot disagree with the data
//! (a commit adds both at once, `optimize` rewrites rows with their `file_id`), and
//! any engine can read it.
//!
//! This module is the pure part: which data files of a date are still unread, and
//! the set of source files read so far, kept for the few dates being written (a
//! file's rows go into the dates of their periods, so a copy of a file always meets
//! the dates its first delivery went to). Reading the `file_id` column of a data
//! file is the table's business.

use std::collections::{HashMap, HashSet};

/// How many dates a table keeps in memory: the dates of live traffic (today,
/// yesterday around midnight) and a few of late files.
const DATES_KEPT: usize = 16;

/// A source file's key in the ledger: the leading 128 bits of its content hash,
/// which is as unique as needed and a quarter of the text's size.
pub fn file_key(file_id: &str) -> u128 {
    let head = file_id.get(..32).unwrap_or(file_id);
    u128::from_str_radix(head, 16).unwrap_or_else(|_| {
        let hash = blake3::hash(file_id.as_bytes());
        u128::from_le_bytes(hash.as_bytes()[..16].try_into().expect("16 bytes"))
    })
}

/// What one date partition holds.
#[derive(Debug, Default)]
struct DateLedger {
    /// Data files whose `file_id`s were read (paths relative to the table).
    read: HashSet<String>,
    /// The source files found in them.
    files: HashSet<u128>,
    /// When this date was last used, to forget the least recently used.
    used: u64,
}

/// The source files of one archive table, for the dates in use.
#[derive(Debug, Default)]
pub struct Ledger {
    dates: HashMap<String, DateLedger>,
    clock: u64,
}

impl Ledger {
    /// The data files of `date` (of the table's current version) whose `file_id`s
    /// are not known yet, and marks the date as used.
    pub fn unread<'p>(&mut self, date: &str, paths: &'p [String]) -> Vec<&'p String> {
        self.clock += 1;
        let clock = self.clock;
        let entry = self.dates.entry(date.to_string()).or_default();
        entry.used = clock;
        let unread = paths.iter().filter(|p| !entry.read.contains(*p)).collect();
        self.forget_old();
        unread
    }

    /// Records that data file `path` of `date` holds rows of `file_ids`.
    pub fn record<'a>(
        &mut self,
        date: &str,
        path: &str,
        file_ids: impl IntoIterator<Item = &'a str>,
    ) {
        let entry = self.dates.entry(date.to_string()).or_default();
        entry.read.insert(path.to_string());
        entry.files.extend(file_ids.into_iter().map(file_key));
    }

    /// Whether `date` holds rows of source file `file_id` (as far as read).
    pub fn holds(&self, date: &str, file_id: &str) -> bool {
        self.dates
            .get(date)
            .is_some_and(|entry| entry.files.contains(&file_key(file_id)))
    }

    /// Drops the least recently used dates beyond [`DATES_KEPT`]; they are read
    /// again from the data when next needed.
    fn forget_old(&mut self) {
        while self.dates.len() > DATES_KEPT {
            let oldest = self
                .dates
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(date, _)| date.clone())
                .expect("more than DATES_KEPT dates");
            self.dates.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    const B: &str = "ffb2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

    #[test]
    fn a_date_reads_each_data_file_once_and_holds_what_they_hold() {
        let mut ledger = Ledger::default();
        let paths = vec!["d/1.parquet".to_string(), "d/2.parquet".to_string()];
        assert_eq!(ledger.unread("2026-01-05", &paths).len(), 2);
        ledger.record("2026-01-05", "d/1.parquet", [A]);
        assert_eq!(ledger.unread("2026-01-05", &paths), [&paths[1]]);
        assert!(ledger.holds("2026-01-05", A));
        assert!(!ledger.holds("2026-01-05", B));
        assert!(!ledger.holds("2026-01-06", A), "dates are apart");
    }

    #[test]
    fn the_least_recently_used_dates_are_forgotten() {
        let mut ledger = Ledger::default();
        for day in 0..=DATES_KEPT {
            let date = format!("2026-01-{:02}", day + 1);
            ledger.unread(&date, &[]);
            ledger.record(&date, "x.parquet", [A]);
        }
        assert!(!ledger.holds("2026-01-01", A), "forgotten: read again");
        assert!(ledger.holds(&format!("2026-01-{:02}", DATES_KEPT + 1), A));
    }

    #[test]
    fn keys_take_the_hash_head_and_hash_anything_else() {
        assert_eq!(file_key(A), 0xa1b2c3d4e5f60718293a4b5c6d7e8f90);
        assert_ne!(file_key("not-hex"), file_key("not-hex2"));
    }
}
