//! Which offsets a node may commit, when tasks finish out of order.
//!
//! Rule: an offset is committed only when its task and every earlier task of the
//! partition received by this node are settled, so a node that dies leaves every
//! unfinished task to be delivered again (Vector's ordered finalizer is the model).
//! Partitions are forgotten when revoked and start afresh when assigned, since another
//! node may have moved their committed offset meanwhile.

use std::collections::{BTreeMap, HashMap};

/// The received tasks of each assigned partition, by offset, and whether each is
/// settled.
#[derive(Debug, Default)]
pub struct OrderedOffsets {
    partitions: HashMap<i32, BTreeMap<i64, bool>>,
}

impl OrderedOffsets {
    /// The partitions were assigned to this node: they start afresh.
    pub fn assign(&mut self, partitions: &[i32]) {
        for partition in partitions {
            self.partitions.insert(*partition, BTreeMap::new());
        }
    }

    /// The partitions were taken from this node: their tasks no longer commit here.
    pub fn revoke(&mut self, partitions: &[i32]) {
        for partition in partitions {
            self.partitions.remove(partition);
        }
    }

    /// A task was received at `offset`.
    pub fn received(&mut self, partition: i32, offset: i64) {
        self.partitions
            .entry(partition)
            .or_default()
            .insert(offset, false);
    }

    /// The task at `offset` is settled; the offset to commit for its partition (the
    /// next one to consume) when settling it moved the partition's committed point.
    pub fn settle(&mut self, partition: i32, offset: i64) -> Option<i64> {
        let pending = self.partitions.get_mut(&partition)?;
        *pending.get_mut(&offset)? = true;
        let mut committed = None;
        while let Some(entry) = pending.first_entry() {
            if !*entry.get() {
                break;
            }
            committed = Some(*entry.key() + 1);
            entry.remove();
        }
        committed
    }

    /// Tasks received and not yet committable, over all partitions.
    pub fn pending(&self) -> usize {
        self.partitions.values().map(BTreeMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_commits_only_after_every_earlier_one() {
        let mut offsets = OrderedOffsets::default();
        offsets.assign(&[0, 1]);
        for offset in 10..14 {
            offsets.received(0, offset);
        }
        offsets.received(1, 3);
        assert_eq!(offsets.settle(0, 12), None);
        assert_eq!(offsets.settle(0, 11), None);
        assert_eq!(offsets.settle(1, 3), Some(4));
        assert_eq!(offsets.settle(0, 10), Some(13));
        assert_eq!(offsets.pending(), 1);
        assert_eq!(offsets.settle(0, 13), Some(14));
        assert_eq!(offsets.pending(), 0);
    }

    #[test]
    fn offsets_need_not_be_contiguous() {
        let mut offsets = OrderedOffsets::default();
        offsets.received(2, 5);
        offsets.received(2, 9);
        assert_eq!(offsets.settle(2, 9), None);
        assert_eq!(offsets.settle(2, 5), Some(10));
    }

    #[test]
    fn a_revoked_partition_commits_nothing_and_starts_afresh_when_assigned_again() {
        let mut offsets = OrderedOffsets::default();
        offsets.assign(&[0]);
        offsets.received(0, 1);
        offsets.received(0, 2);
        offsets.revoke(&[0]);
        assert_eq!(offsets.settle(0, 1), None);
        offsets.assign(&[0]);
        // Another node committed up to 7 meanwhile.
        offsets.received(0, 7);
        assert_eq!(offsets.settle(0, 2), None);
        assert_eq!(offsets.settle(0, 7), Some(8));
    }

    #[test]
    fn settling_twice_or_unknown_offsets_changes_nothing() {
        let mut offsets = OrderedOffsets::default();
        offsets.received(0, 1);
        offsets.received(0, 2);
        assert_eq!(offsets.settle(0, 5), None);
        assert_eq!(offsets.settle(0, 1), Some(2));
        assert_eq!(offsets.settle(0, 1), None);
        assert_eq!(offsets.settle(3, 1), None);
    }
}
