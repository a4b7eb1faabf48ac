//! Prometheus metrics: their names, help texts and the functions that record them, so
//! that every metric pmflow exposes is declared in one place.
//!
//! Recording goes through the `metrics` facade: without an installed recorder (as in
//! `pmflow ingest`) it costs nothing; `pmflow run` installs the Prometheus recorder and
//! serves it on `GET /metrics`. Every metric carries the `system` label.

use std::time::Duration;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

use crate::completeness::RopCompleteness;
use crate::pipeline::{CycleStats, FileOutcome, FileReport};
use crate::sink::FailureKind;

/// Files listed by a scan.
pub const FILES_SCANNED: &str = "pmflow_files_scanned_total";
/// Files of the running cycle not finished yet.
pub const FILES_QUEUED: &str = "pmflow_files_queued";
/// Files listed but not taken yet: their size or time is still changing.
pub const FILES_SETTLING: &str = "pmflow_files_settling";
/// Files completed into `Done/`.
pub const FILES_PROCESSED: &str = "pmflow_files_processed_total";
/// Files quarantined into `Failed/`.
pub const FILES_FAILED: &str = "pmflow_files_failed_total";
/// Files left in their folder for the next cycle.
pub const FILES_SKIPPED: &str = "pmflow_files_skipped_total";
/// Bytes fetched.
pub const BYTES: &str = "pmflow_bytes_total";
/// Rows parsed.
pub const ROWS: &str = "pmflow_rows_total";
/// Counter values parsed.
pub const COUNTER_VALUES: &str = "pmflow_counter_values_total";
/// Time spent per file in each stage (`stage` = fetch, parse, plan, sink).
pub const STAGE_SECONDS: &str = "pmflow_stage_duration_seconds";
/// Failed sink writes (`sink` = archive, mysql, clickhouse, kafka; `required`;
/// `outcome` = transient, rejected).
pub const SINK_ERRORS: &str = "pmflow_sink_errors_total";
/// How long the oldest file still held back has been held.
pub const OLDEST_HELD: &str = "pmflow_oldest_held_file_age_seconds";
/// Parsed files waiting for delivery.
pub const QUEUE_DEPTH: &str = "pmflow_queue_depth";
/// Wall-clock time of a cycle.
pub const CYCLE_SECONDS: &str = "pmflow_cycle_duration_seconds";
/// Cycles run.
pub const CYCLES: &str = "pmflow_cycles_total";
/// Scheduled runs skipped because the previous cycle was still running.
pub const CYCLES_SKIPPED: &str = "pmflow_cycles_skipped_total";
/// Cycles that could not list their source.
pub const CYCLE_ERRORS: &str = "pmflow_cycle_errors_total";
/// 1 while this process leads the system, else 0.
pub const LEADER: &str = "pmflow_leader";
/// When the last cycle finished (Unix time, seconds; 0 before the first).
pub const LAST_CYCLE: &str = "pmflow_last_cycle_timestamp_seconds";
/// Nodes of the system's last closed ROP, by `state` (expected, received, missing,
/// late, partial): see `completeness`.
pub const LAST_ROP_NODES: &str = "pmflow_last_rop_nodes";
/// Nodes missing in each of the system's last four closed ROPs (silent nodes).
pub const SILENT_NODES: &str = "pmflow_silent_nodes";
/// Begin of the system's last closed ROP (Unix time, seconds; 0 before it is known).
pub const LAST_ROP_START: &str = "pmflow_last_rop_period_start_seconds";
/// Files a replay delivered again (`outcome` = done, failed, held).
pub const REPLAY_FILES: &str = "pmflow_replay_files_total";
/// Rows a replay delivered again.
pub const REPLAY_ROWS: &str = "pmflow_replay_rows_total";
/// Replays ended (`state` = done, failed, cancelled).
pub const REPLAYS: &str = "pmflow_replays_total";
/// Wall-clock time of a replay, queued time excluded.
pub const REPLAY_SECONDS: &str = "pmflow_replay_duration_seconds";

/// Cluster tasks, by `event`: published (by the leader), consumed, retried,
/// dead_lettered.
pub const CLUSTER_TASKS: &str = "pmflow_cluster_tasks_total";
/// Tasks of a partition not yet consumed by this node (`partition` label).
pub const CLUSTER_LAG: &str = "pmflow_cluster_consumer_lag";
/// Task partitions this node has.
pub const CLUSTER_PARTITIONS: &str = "pmflow_cluster_partitions";

/// Registers the help text and unit of every metric (shown by `GET /metrics`).
pub fn describe() {
    describe_counter!(
        CLUSTER_TASKS,
        "Cluster tasks by event: published, consumed, retried, dead_lettered"
    );
    describe_gauge!(
        CLUSTER_LAG,
        "Tasks of a partition this node has that it has not consumed yet"
    );
    describe_gauge!(CLUSTER_PARTITIONS, "Task partitions this node has");
    describe_counter!(FILES_SCANNED, "Files listed by a scan");
    describe_gauge!(FILES_QUEUED, "Files of the running cycle not finished yet");
    describe_gauge!(
        FILES_SETTLING,
        "Files listed but not taken yet: still being written (size or time changing)"
    );
    describe_counter!(FILES_PROCESSED, "Files completed into Done/");
    describe_counter!(FILES_FAILED, "Files quarantined into Failed/");
    describe_counter!(
        FILES_SKIPPED,
        "Files left in their folder for the next cycle (fetch, required sink or move failed)"
    );
    describe_counter!(BYTES, Unit::Bytes, "Bytes fetched");
    describe_counter!(ROWS, "Rows parsed");
    describe_counter!(COUNTER_VALUES, "Counter values parsed");
    describe_histogram!(
        STAGE_SECONDS,
        Unit::Seconds,
        "Time spent per file in a stage"
    );
    describe_counter!(SINK_ERRORS, "Failed sink writes");
    describe_gauge!(QUEUE_DEPTH, "Parsed files waiting for delivery");
    describe_gauge!(
        OLDEST_HELD,
        Unit::Seconds,
        "How long the oldest file held back (required sink, fetch or move failed) has been held"
    );
    describe_histogram!(CYCLE_SECONDS, Unit::Seconds, "Wall-clock time of a cycle");
    describe_counter!(CYCLES, "Cycles run");
    describe_counter!(
        CYCLES_SKIPPED,
        "Scheduled runs skipped because the previous cycle was still running"
    );
    describe_counter!(CYCLE_ERRORS, "Cycles that could not list their source");
    describe_gauge!(LEADER, "1 while this process leads the system");
    describe_gauge!(
        LAST_CYCLE,
        Unit::Seconds,
        "When the last cycle finished (Unix time; 0 before the first)"
    );
    describe_gauge!(
        LAST_ROP_NODES,
        "Nodes of the last closed ROP: expected, received, missing, late, partial"
    );
    describe_gauge!(
        SILENT_NODES,
        "Nodes expected and missing in each of the last four closed ROPs"
    );
    describe_gauge!(
        LAST_ROP_START,
        Unit::Seconds,
        "Begin of the last closed ROP (Unix time)"
    );
    describe_counter!(REPLAY_FILES, "Files a replay delivered again, by outcome");
    describe_counter!(REPLAY_ROWS, "Rows a replay delivered again");
    describe_counter!(REPLAYS, "Replays ended, by state");
    describe_histogram!(REPLAY_SECONDS, Unit::Seconds, "Wall-clock time of a replay");
}

/// Registers every metric family of `system` at zero, with the labels of its `sinks`
/// (each sink's kind and whether it is required), so that the first scrape already
/// shows them and `rate()` and absence alerts behave.
pub fn register_system(system: &str, sinks: &[(&'static str, bool)]) {
    let label = || ("system", system.to_string());
    for name in [
        FILES_SCANNED,
        FILES_PROCESSED,
        FILES_FAILED,
        FILES_SKIPPED,
        BYTES,
        ROWS,
        COUNTER_VALUES,
        CYCLES,
        CYCLES_SKIPPED,
        CYCLE_ERRORS,
        REPLAY_ROWS,
    ] {
        counter!(name, &[label()]).increment(0);
    }
    for name in [
        FILES_QUEUED,
        FILES_SETTLING,
        OLDEST_HELD,
        QUEUE_DEPTH,
        LEADER,
        LAST_CYCLE,
        LAST_ROP_START,
        SILENT_NODES,
    ] {
        gauge!(name, &[label()]).set(0.0);
    }
    for state in ROP_STATES {
        gauge!(LAST_ROP_NODES, "system" => system.to_string(), "state" => state).set(0.0);
    }
    // A histogram's handle, taken, is served empty (count 0) until its first value.
    for stage in STAGES {
        let _registered =
            histogram!(STAGE_SECONDS, "system" => system.to_string(), "stage" => stage);
    }
    for name in [CYCLE_SECONDS, REPLAY_SECONDS] {
        let _registered = histogram!(name, &[label()]);
    }
    for outcome in ["done", "failed", "held"] {
        counter!(REPLAY_FILES, "system" => system.to_string(), "outcome" => outcome).increment(0);
    }
    for state in ["done", "failed", "cancelled"] {
        counter!(REPLAYS, "system" => system.to_string(), "state" => state).increment(0);
    }
    for &(sink, required) in sinks {
        for kind in [FailureKind::Transient, FailureKind::Rejected] {
            sink_errors(system, sink, required, kind).increment(0);
        }
    }
}

/// What happened to a cluster task, the `event` label of [`CLUSTER_TASKS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEvent {
    /// The leader published it.
    Published,
    /// A node received it.
    Consumed,
    /// Its file failed transiently and it was published again.
    Retried,
    /// Its file was quarantined and it went to the dead-letter topic.
    DeadLettered,
}

impl TaskEvent {
    const ALL: [TaskEvent; 4] = [
        TaskEvent::Published,
        TaskEvent::Consumed,
        TaskEvent::Retried,
        TaskEvent::DeadLettered,
    ];

    fn label(self) -> &'static str {
        match self {
            TaskEvent::Published => "published",
            TaskEvent::Consumed => "consumed",
            TaskEvent::Retried => "retried",
            TaskEvent::DeadLettered => "dead_lettered",
        }
    }
}

/// Registers `system`'s cluster metrics at zero (in cluster mode only).
pub fn register_cluster(system: &str) {
    for event in TaskEvent::ALL {
        cluster_task_counter(system, event).increment(0);
    }
    gauge!(CLUSTER_PARTITIONS, "system" => system.to_string()).set(0.0);
}

fn cluster_task_counter(system: &str, event: TaskEvent) -> metrics::Counter {
    counter!(CLUSTER_TASKS, "system" => system.to_string(), "event" => event.label())
}

/// Records one cluster task event.
pub fn cluster_task(system: &str, event: TaskEvent) {
    cluster_task_counter(system, event).increment(1);
}

/// Sets how many tasks of `partition` this node has not consumed yet.
pub fn cluster_lag(system: &str, partition: i32, lag: i64) {
    gauge!(CLUSTER_LAG, "system" => system.to_string(), "partition" => partition.to_string())
        .set(lag as f64);
}

/// Sets how many task partitions this node has.
pub fn cluster_partitions(system: &str, partitions: usize) {
    gauge!(CLUSTER_PARTITIONS, "system" => system.to_string()).set(partitions as f64);
}

/// The `stage` labels of [`STAGE_SECONDS`].
const STAGES: [&str; 4] = ["fetch", "parse", "plan", "sink"];

/// The states of [`LAST_ROP_NODES`].
const ROP_STATES: [&str; 5] = ["expected", "received", "missing", "late", "partial"];

/// Records the completeness of the system's last closed ROP, which began at
/// `period_start` (microseconds), and how many nodes went silent.
pub fn last_closed_rop(system: &str, period_start: i64, rop: &RopCompleteness, silent: usize) {
    gauge!(SILENT_NODES, "system" => system.to_string()).set(silent as f64);
    gauge!(LAST_ROP_START, "system" => system.to_string()).set(period_start as f64 / 1e6);
    let counts = [
        rop.expected,
        rop.received,
        rop.missing.len(),
        rop.late,
        rop.partial,
    ];
    for (state, nodes) in ROP_STATES.into_iter().zip(counts) {
        gauge!(LAST_ROP_NODES, "system" => system.to_string(), "state" => state).set(nodes as f64);
    }
}

/// Records the start of a cycle: no file of it is queued yet.
pub fn cycle_started(system: &str) {
    gauge!(FILES_QUEUED, "system" => system.to_string()).set(0.0);
}

/// Records that a scan took `files` more files, now queued.
pub fn scanned(system: &str, files: u64) {
    counter!(FILES_SCANNED, "system" => system.to_string()).increment(files);
    gauge!(FILES_QUEUED, "system" => system.to_string()).increment(files as f64);
}

/// Sets how many listed files wait to settle.
pub fn settling(system: &str, files: usize) {
    gauge!(FILES_SETTLING, "system" => system.to_string()).set(files as f64);
}

/// Records one finished file.
pub fn file_finished(system: &str, report: &FileReport) {
    let label = || ("system", system.to_string());
    let outcome = match report.outcome {
        FileOutcome::Done => Some(FILES_PROCESSED),
        FileOutcome::Failed => Some(FILES_FAILED),
        FileOutcome::Held => Some(FILES_SKIPPED),
        // Counted by the process that completed it.
        FileOutcome::Gone => None,
    };
    if let Some(outcome) = outcome {
        counter!(outcome, &[label()]).increment(1);
    }
    gauge!(FILES_QUEUED, &[label()]).decrement(1.0);
    counter!(BYTES, &[label()]).increment(report.bytes);
    counter!(ROWS, &[label()]).increment(report.rows);
    counter!(COUNTER_VALUES, &[label()]).increment(report.counter_values);
    let times = [report.fetch, report.parse, report.plan, report.sink];
    for (stage, time) in STAGES.into_iter().zip(times) {
        if !time.is_zero() {
            histogram!(STAGE_SECONDS, "system" => system.to_string(), "stage" => stage)
                .record(time.as_secs_f64());
        }
    }
}

/// Records a failed write to a sink of kind `sink`, of `kind` (transient or
/// rejected).
pub fn sink_error(system: &str, sink: &'static str, required: bool, kind: FailureKind) {
    sink_errors(system, sink, required, kind).increment(1);
}

/// The counter of failed writes to a sink of kind `sink` of `kind`.
fn sink_errors(
    system: &str,
    sink: &'static str,
    required: bool,
    kind: FailureKind,
) -> metrics::Counter {
    counter!(
        SINK_ERRORS,
        "system" => system.to_string(),
        "sink" => sink,
        "required" => if required { "true" } else { "false" },
        "outcome" => kind.label()
    )
}

/// Sets how many parsed files wait for delivery.
pub fn queue_depth(system: &str, files: usize) {
    gauge!(QUEUE_DEPTH, "system" => system.to_string()).set(files as f64);
}

/// Records a finished cycle.
pub fn cycle_finished(stats: &CycleStats) {
    let system = stats.system.clone();
    gauge!(OLDEST_HELD, "system" => system.clone()).set(stats.oldest_held.as_secs_f64());
    counter!(CYCLES, "system" => system.clone()).increment(1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    gauge!(LAST_CYCLE, "system" => system.clone()).set(now.as_secs_f64());
    histogram!(CYCLE_SECONDS, "system" => system).record(stats.wall.as_secs_f64());
}

/// Records a cycle that could not list its source, after `wall`.
pub fn cycle_failed(system: &str, wall: Duration) {
    counter!(CYCLE_ERRORS, "system" => system.to_string()).increment(1);
    histogram!(CYCLE_SECONDS, "system" => system.to_string()).record(wall.as_secs_f64());
}

/// Records a scheduled run skipped because the previous cycle still runs.
pub fn cycle_skipped(system: &str) {
    counter!(CYCLES_SKIPPED, "system" => system.to_string()).increment(1);
}

/// Records whether this process leads `system`.
pub fn leader(system: &str, leading: bool) {
    gauge!(LEADER, "system" => system.to_string()).set(if leading { 1.0 } else { 0.0 });
}

/// Records one file a replay delivered.
pub fn replay_file(system: &str, report: &FileReport) {
    let outcome = match report.outcome {
        FileOutcome::Done => "done",
        FileOutcome::Failed => "failed",
        FileOutcome::Held => "held",
        FileOutcome::Gone => "gone",
    };
    counter!(REPLAY_FILES, "system" => system.to_string(), "outcome" => outcome).increment(1);
    counter!(REPLAY_ROWS, "system" => system.to_string()).increment(report.rows);
}

/// Records a replay that ended in `state` after `wall`.
pub fn replay_finished(system: &str, state: &'static str, wall: Duration) {
    counter!(REPLAYS, "system" => system.to_string(), "state" => state).increment(1);
    histogram!(REPLAY_SECONDS, "system" => system.to_string()).record(wall.as_secs_f64());
}
