//! Group commit, shared by the sinks that gain from writing many files together: the
//! rows of files delivered at the same time go into a table in one write. A store that
//! pays per write rather than per row — a ClickHouse part costs tens of milliseconds
//! whatever its size, a Parquet file or a Delta commit likewise — spends most of its
//! time on overhead when files are written one by one.
//!
//! A sink opts in twice: it asks the pipeline for many files at once
//! ([`Sink::files_at_once`](super::Sink::files_at_once)), and it submits each file's
//! batch of a table (or of any key, such as a table and a day) here. One write per key
//! runs at a time; batches that arrive meanwhile wait and then go in together, up to
//! `max_rows` rows, led by the oldest of them. By default there is no timer: an idle
//! sink writes a file at once. A sink that wants the files delivered together in one
//! write (the archive: one commit per cycle) also has groups wait for the files the
//! pipeline announced ([`Sink::announce`](super::Sink::announce)) until none is on its
//! way, a group's worth of files wait, or a time limit passed — and not at all while
//! the pipeline holds files back for want of memory
//! ([`Sink::hold_back`](super::Sink::hold_back)): nothing more can come until the
//! files in the sink are written. Such a sink takes twice
//! a group's worth of files at once ([`GroupCommit::files_at_once`]), so that the next
//! group fills while one is written instead of the pipeline stalling on each write.
//! Every file still learns the outcome of the write that carried its
//! rows before it is acknowledged. When a group fails for a reason that will not pass
//! (bad data), its files are written one by one, so one bad file never fails the good
//! ones it happened to travel with.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use arrow::array::RecordBatch;
use futures::future::join_all;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::sink::TableFailure;

/// What a waiting file is told.
enum Turn {
    /// Lead the next group (the file's rows are its first).
    Lead,
    /// The write that carried the file's rows ended so.
    Done(Result<(), TableFailure>),
}

/// A file's rows waiting for their key's turn.
struct Waiting {
    batch: RecordBatch,
    turn: mpsc::UnboundedSender<Turn>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    /// Whether a group of this key is being written.
    busy: bool,
}

impl Queue {
    fn rows(&self) -> usize {
        self.waiting.iter().map(|w| w.batch.num_rows()).sum()
    }
}

#[derive(Default)]
struct Shared {
    queues: HashMap<String, Queue>,
    /// Files announced (see [`GroupCommit::announce`]) that have not arrived yet.
    on_the_way: usize,
    /// Files submitted and not yet told their outcome.
    in_sink: usize,
    /// Files the pipeline holds back until memory is free (see
    /// [`GroupCommit::hold_back`]).
    held_back: usize,
}

/// Groups the writes of each key (a table, or a table and a day).
pub struct GroupCommit {
    shared: Mutex<Shared>,
    changed: Notify,
    /// Files in a group: a group waiting for files on their way closes when this many
    /// wait for its key, or twice as many are in the sink (no more can come in).
    group_files: usize,
    /// How long a group waits at most for files on their way.
    max_wait: Duration,
}

impl Default for GroupCommit {
    /// Groups without waiting: a group is whatever waited while the last one was
    /// written.
    fn default() -> Self {
        Self::waiting_for_files(usize::MAX, Duration::ZERO)
    }
}

impl GroupCommit {
    /// Groups that also wait for the files announced to be on their way (a cycle's
    /// files, as the pipeline announces them), until `group_files` files wait or
    /// `max_wait` passed: the files delivered together go in one write.
    pub fn waiting_for_files(group_files: usize, max_wait: Duration) -> Self {
        Self {
            shared: Mutex::default(),
            changed: Notify::new(),
            group_files: group_files.max(1),
            max_wait,
        }
    }

    /// Files the sink should take at once: two groups' worth, one being written and
    /// the next filling meanwhile.
    pub fn files_at_once(&self) -> usize {
        self.group_files.saturating_mul(2)
    }

    /// `files` more files are on their way (or, negative, announced files will not
    /// come): groups wait for them.
    pub fn announce(&self, files: isize) {
        let mut shared = self.shared.lock().expect("group lock");
        shared.on_the_way = shared.on_the_way.saturating_add_signed(files);
        drop(shared);
        self.changed.notify_waiters();
    }

    /// `files` more files (negative: fewer) wait for memory that files in the sinks
    /// hold: while any does, groups close without waiting for files on their way.
    pub fn hold_back(&self, files: isize) {
        let mut shared = self.shared.lock().expect("group lock");
        shared.held_back = shared.held_back.saturating_add_signed(files);
        drop(shared);
        self.changed.notify_waiters();
    }

    /// Writes `batch` under `key` with `insert`, in one call with the batches of
    /// other files that wait at the same time (up to `max_rows` rows); the outcome of
    /// the write that carried `batch`.
    pub async fn submit<F, Fut>(
        &self,
        key: &str,
        batch: RecordBatch,
        max_rows: usize,
        insert: F,
    ) -> Result<(), TableFailure>
    where
        F: Fn(Vec<RecordBatch>) -> Fut,
        Fut: Future<Output = Result<(), TableFailure>>,
    {
        let entries = vec![(key.to_string(), batch)];
        self.submit_file(entries, max_rows, |_, batches| insert(batches))
            .await
    }

    /// Writes a file's batches, each under its key, as [`submit`](Self::submit) does
    /// for one; the file counts as one of those announced. The first failure, if any.
    pub async fn submit_file<F, Fut>(
        &self,
        entries: Vec<(String, RecordBatch)>,
        max_rows: usize,
        insert: F,
    ) -> Result<(), TableFailure>
    where
        F: Fn(&str, Vec<RecordBatch>) -> Fut,
        Fut: Future<Output = Result<(), TableFailure>>,
    {
        let mut turns = Vec::with_capacity(entries.len());
        {
            let mut shared = self.shared.lock().expect("group lock");
            shared.in_sink += 1;
            shared.on_the_way = shared.on_the_way.saturating_sub(1);
            for (key, batch) in entries {
                let (turn, receiver) = mpsc::unbounded_channel();
                let queue = shared.queues.entry(key.clone()).or_default();
                queue.waiting.push_back(Waiting { batch, turn });
                let lead = !std::mem::replace(&mut queue.busy, true);
                turns.push((key, receiver, lead));
            }
        }
        self.changed.notify_waiters();
        let insert = &insert;
        let outcomes = join_all(turns.into_iter().map(
            |(key, mut receiver, mut lead)| async move {
                loop {
                    let next = if std::mem::take(&mut lead) {
                        Turn::Lead
                    } else {
                        receiver
                            .recv()
                            .await
                            .expect("the leader reports to every file")
                    };
                    match next {
                        Turn::Done(result) => return result,
                        Turn::Lead => self.lead(&key, max_rows, insert).await,
                    }
                }
            },
        ))
        .await;
        self.shared.lock().expect("group lock").in_sink -= 1;
        self.changed.notify_waiters();
        outcomes.into_iter().find(Result::is_err).unwrap_or(Ok(()))
    }

    /// Waits until the group of `key` may close: no announced file is on its way,
    /// a group's worth of files wait, the sink is full, the group has `max_rows`
    /// rows, files are held back for memory, or `max_wait` passed.
    async fn wait_for_group(&self, key: &str, max_rows: usize) {
        let deadline = Instant::now() + self.max_wait;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let shared = self.shared.lock().expect("group lock");
                let queue = shared.queues.get(key);
                let (files, rows) = queue.map_or((0, 0), |q| (q.waiting.len(), q.rows()));
                let sink_full = shared.in_sink >= self.files_at_once();
                if shared.on_the_way == 0
                    || files >= self.group_files
                    || sink_full
                    || rows >= max_rows
                    || shared.held_back > 0
                {
                    return;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// Writes groups of `key` until another file takes the lead or none is left.
    async fn lead<F, Fut>(&self, key: &str, max_rows: usize, insert: &F)
    where
        F: Fn(&str, Vec<RecordBatch>) -> Fut,
        Fut: Future<Output = Result<(), TableFailure>>,
    {
        loop {
            self.wait_for_group(key, max_rows).await;
            let group = self.take_group(key, max_rows);
            let batches: Vec<RecordBatch> = group.iter().map(|w| w.batch.clone()).collect();
            match insert(key, batches).await {
                Err(failure) if !failure.transient && group.len() > 1 => {
                    for waiting in &group {
                        let alone = insert(key, vec![waiting.batch.clone()]).await;
                        waiting.turn.send(Turn::Done(alone)).ok();
                    }
                }
                result => {
                    for waiting in &group {
                        waiting.turn.send(Turn::Done(result.clone())).ok();
                    }
                }
            }
            let mut shared = self.shared.lock().expect("group lock");
            let queue = shared.queues.get_mut(key).expect("queue of a busy key");
            match queue.waiting.front() {
                None => {
                    queue.busy = false;
                    return;
                }
                // The oldest waiting file leads the next group; if it was abandoned,
                // this leader inserts its rows too.
                Some(next) if next.turn.send(Turn::Lead).is_ok() => return,
                Some(_) => {}
            }
        }
    }

    /// The oldest waiting batches of `key` up to `max_rows` rows (at least one).
    fn take_group(&self, key: &str, max_rows: usize) -> Vec<Waiting> {
        let mut shared = self.shared.lock().expect("group lock");
        let queue = shared.queues.get_mut(key).expect("queue of a busy key");
        let mut group = Vec::new();
        let mut rows = 0;
        while let Some(next) = queue.waiting.front() {
            let more = next.batch.num_rows();
            if !group.is_empty() && rows + more > max_rows {
                break;
            }
            rows += more;
            group.push(queue.waiting.pop_front().expect("front exists"));
        }
        group
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(values: &[i64]) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("v", DataType::Int64, false)]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(Int64Array::from(values.to_vec()))],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_group_closes_at_its_size_and_the_next_fills_while_it_is_written() {
        let groups = GroupCommit::waiting_for_files(2, Duration::from_secs(60));
        assert_eq!(groups.files_at_once(), 4);
        groups.announce(4);
        let inserts: Mutex<Vec<Vec<i64>>> = Mutex::default();
        let insert = |batches: Vec<RecordBatch>| {
            let values = batches
                .iter()
                .map(|b| {
                    b.column(0)
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .unwrap()
                        .value(0)
                })
                .collect();
            inserts.lock().unwrap().push(values);
            tokio::time::sleep(Duration::from_millis(50))
        };
        let submit = |value: i64, delay: u64| {
            let (groups, insert) = (&groups, &insert);
            async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                groups
                    .submit("t", batch(&[value]), 100, |b| async {
                        insert(b).await;
                        Ok(())
                    })
                    .await
            }
        };
        let outcomes = tokio::join!(submit(1, 0), submit(2, 5), submit(3, 10), submit(4, 15));
        assert!(matches!(outcomes, (Ok(()), Ok(()), Ok(()), Ok(()))));
        // Two files are a group although two more are on their way; those two
        // arrive while the first group is written and go in together.
        assert_eq!(*inserts.lock().unwrap(), [vec![1, 2], vec![3, 4]]);
    }

    #[tokio::test]
    async fn a_group_waiting_for_files_on_their_way_closes_while_files_are_held_back() {
        // A minute's wait for ten announced files, but one is held back for memory:
        // the file in the sink is written at once.
        let groups = GroupCommit::waiting_for_files(100, Duration::from_secs(60));
        groups.announce(10);
        groups.hold_back(1);
        let written = tokio::time::timeout(
            Duration::from_secs(30),
            groups.submit("t", batch(&[1]), 100, |_| async { Ok(()) }),
        )
        .await;
        assert!(matches!(written, Ok(Ok(()))), "the group did not wait");
    }

    #[tokio::test]
    async fn files_arriving_during_an_insert_go_in_together_and_bad_data_fails_alone() {
        let groups = GroupCommit::default();
        let inserts: Mutex<Vec<Vec<i64>>> = Mutex::default();
        let insert = |batches: Vec<RecordBatch>| {
            let values: Vec<i64> = batches
                .iter()
                .flat_map(|b| {
                    let column = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                    column.values().to_vec()
                })
                .collect();
            inserts.lock().unwrap().push(values.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                match values.contains(&-1) {
                    true => Err(TableFailure::new("t", "bad data", false)),
                    false => Ok(()),
                }
            }
        };
        let submit = |values: &'static [i64], delay: u64| {
            let (groups, insert) = (&groups, &insert);
            async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                groups.submit("t", batch(values), 3, insert).await
            }
        };
        let (a, b, c, d, e) = tokio::join!(
            submit(&[1], 0),
            submit(&[2], 10),
            submit(&[-1], 15),
            submit(&[3, 4], 20),
            submit(&[5], 30),
        );
        assert!(a.is_ok() && b.is_ok() && d.is_ok() && e.is_ok());
        assert_eq!(c.unwrap_err().message, "bad data");
        assert_eq!(
            *inserts.lock().unwrap(),
            [
                vec![1],     // alone: nothing waited
                vec![2, -1], // waited during the first; [3, 4] would exceed 3 rows
                vec![2],     // bad data: one by one
                vec![-1],
                vec![3, 4, 5], // waited during the second
            ]
        );
    }
}
