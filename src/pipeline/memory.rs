//! The memory budget of a pipeline: the files in flight are bounded by what they are
//! estimated to hold, not only by their count (512 files of 5 MB waiting for one
//! archive commit would hold gigabytes).
//!
//! Rule: a file takes its estimate ([`cost`]: its fetched size twice, a gzip file's ten
//! times, its content being larger) out of the budget before it is fetched and gives
//! it back once it is finished; a file estimated above the whole budget takes all of
//! it and runs alone. While a file waits for the budget, nothing more reaches the
//! sinks until files there are written: the pipeline tells them
//! (`Sink::hold_back`), so that groups of files written together do not wait for
//! files that cannot come.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::source::SourceFile;

/// The budget's unit: estimates are counted in KiB.
const UNIT: u64 = 1024;

/// What a file is estimated to hold in memory while it is in flight, in bytes: its
/// fetched bytes and the rows they become.
pub fn cost(file: &SourceFile) -> u64 {
    let gzip = file.name.to_ascii_lowercase().ends_with(".gz");
    file.size.saturating_mul(if gzip { 10 } else { 2 })
}

/// The estimated memory all files in flight may hold at once.
#[derive(Debug)]
pub struct MemoryBudget {
    units: Arc<Semaphore>,
    total: u32,
}

impl MemoryBudget {
    /// A budget of `bytes` (at least one unit).
    pub fn new(bytes: u64) -> Self {
        let total = u32::try_from(bytes / UNIT)
            .unwrap_or(u32::MAX)
            .clamp(1, Semaphore::MAX_PERMITS as u32);
        Self {
            units: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// The units `file` takes: its cost, at least one, at most the whole budget.
    fn units_of(&self, file: &SourceFile) -> u32 {
        let units = cost(file).div_ceil(UNIT);
        u32::try_from(units)
            .unwrap_or(u32::MAX)
            .clamp(1, self.total)
    }

    /// The budget of `file` if it is free now.
    pub fn try_take(&self, file: &SourceFile) -> Option<OwnedSemaphorePermit> {
        self.units
            .clone()
            .try_acquire_many_owned(self.units_of(file))
            .ok()
    }

    /// The budget of `file`, once enough of it is free.
    pub async fn take(&self, file: &SourceFile) -> OwnedSemaphorePermit {
        self.units
            .clone()
            .acquire_many_owned(self.units_of(file))
            .await
            .expect("the budget is never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64) -> SourceFile {
        SourceFile {
            folder: "in".into(),
            name: name.into(),
            size,
            modified: None,
        }
    }

    #[test]
    fn a_file_costs_twice_its_size_or_ten_times_compressed() {
        assert_eq!(cost(&file("a.xml", 1000)), 2000);
        assert_eq!(cost(&file("a.xml.GZ", 1000)), 10_000);
        assert_eq!(cost(&file("a.xml", u64::MAX)), u64::MAX);
    }

    #[test]
    fn files_take_their_cost_and_a_file_above_the_budget_takes_all_of_it() {
        let budget = MemoryBudget::new(10 * UNIT);
        let small = budget.try_take(&file("a.xml", 2 * UNIT)).unwrap();
        assert_eq!(small.num_permits(), 4);
        assert!(budget.try_take(&file("b.xml", 4 * UNIT)).is_none());
        let tiny = budget.try_take(&file("c.xml", 1)).unwrap();
        assert_eq!(tiny.num_permits(), 1);
        drop((small, tiny));
        let huge = budget.try_take(&file("d.xml.gz", 1 << 40)).unwrap();
        assert_eq!(huge.num_permits(), 10);
        assert!(budget.try_take(&file("e.xml", 1)).is_none());
    }
}
