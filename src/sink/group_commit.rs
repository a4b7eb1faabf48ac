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
//! `max_rows` rows, led by the oldest of them. There is no timer: an idle sink writes
//! a file at once. Every file still learns the outcome of the write that carried its
//! rows before it is acknowledged. When a group fails for a reason that will not pass
//! (bad data), its files are written one by one, so one bad file never fails the good
//! ones it happened to travel with.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use arrow::array::RecordBatch;
use tokio::sync::mpsc;

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

/// Groups the writes of each key (a table, or a table and a day).
#[derive(Default)]
pub struct GroupCommit {
    queues: Mutex<HashMap<String, Queue>>,
}

impl GroupCommit {
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
        let (turn, mut turns) = mpsc::unbounded_channel();
        let mut lead = {
            let mut queues = self.queues.lock().expect("queues lock");
            let queue = queues.entry(key.to_string()).or_default();
            queue.waiting.push_back(Waiting { batch, turn });
            !std::mem::replace(&mut queue.busy, true)
        };
        loop {
            let next = if std::mem::take(&mut lead) {
                Turn::Lead
            } else {
                turns
                    .recv()
                    .await
                    .expect("the leader reports to every file")
            };
            match next {
                Turn::Done(result) => return result,
                Turn::Lead => self.lead(key, max_rows, &insert).await,
            }
        }
    }

    /// Writes groups of `key` until another file takes the lead or none is left.
    async fn lead<F, Fut>(&self, key: &str, max_rows: usize, insert: &F)
    where
        F: Fn(Vec<RecordBatch>) -> Fut,
        Fut: Future<Output = Result<(), TableFailure>>,
    {
        loop {
            let group = self.take_group(key, max_rows);
            let batches: Vec<RecordBatch> = group.iter().map(|w| w.batch.clone()).collect();
            match insert(batches).await {
                Err(failure) if !failure.transient && group.len() > 1 => {
                    for waiting in &group {
                        let alone = insert(vec![waiting.batch.clone()]).await;
                        waiting.turn.send(Turn::Done(alone)).ok();
                    }
                }
                result => {
                    for waiting in &group {
                        waiting.turn.send(Turn::Done(result.clone())).ok();
                    }
                }
            }
            let mut queues = self.queues.lock().expect("queues lock");
            let queue = queues.get_mut(key).expect("queue of a busy key");
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
        let mut queues = self.queues.lock().expect("queues lock");
        let queue = queues.get_mut(key).expect("queue of a busy key");
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
