//! Sinks: the stores a file's rows are delivered to.
//!
//! Every sink receives each planned file — whole, or a large file part by part — and
//! acknowledges it by returning `Ok` only once all of its rows are durable there. Writes must be idempotent: a file seen
//! twice leaves the store as if written once. A failure says what kind it is
//! ([`FailureKind`]): transient (the store is down or busy: trying again later may
//! succeed) or a rejection (the store refuses this data for good). What follows for
//! the file is the pipeline's business (see `pipeline::tracker`), since whether a sink
//! is required is the plan's, not the sink's.

pub mod archive;
pub mod clickhouse;
pub mod group_commit;
pub mod kafka;
pub mod mysql;
pub mod registry;
pub mod values;

use async_trait::async_trait;

use std::future::Future;

use tracing::debug;

use crate::format::TableBatch;
use crate::retry::Breaker;
use crate::schema;

pub use self::archive::ArchiveSink;
pub use self::clickhouse::ClickHouseSink;
pub use self::kafka::KafkaSink;
pub use self::mysql::MySqlSink;
pub use self::registry::{SINKS, SinkConfig, SinkKind};

/// A file after the plan stage, as delivered to sinks.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// Source file name, for messages.
    pub name: String,
    /// Content hash of the file.
    pub file_id: String,
    /// Which part of a large file this is (0 for a file delivered whole); a file is
    /// stored once every part was (see `format::parts`).
    pub part: u32,
    /// Whether this is the file's last part (true for a file delivered whole): a sink
    /// that stores a file in one transaction commits with it.
    pub last_part: bool,
    /// Measurement tables as parsed and aligned to their current schemas, before rules:
    /// what the archive keeps, so history can be replayed through new rules.
    pub tables: Vec<TableBatch>,
    /// Output of the SQL rules, one batch per rule that applied.
    pub derived: Vec<TableBatch>,
}

impl PlannedFile {
    /// The tables a database sink writes: every measurement table, and every rule
    /// output that has the row key `(ne, object, period_start)` (others are left to
    /// the archive and `query`).
    pub fn keyed_tables(&self) -> impl Iterator<Item = &TableBatch> {
        let keyed = |t: &&TableBatch| {
            let schema = t.batch.schema();
            let has_key = schema::ROW_KEY
                .iter()
                .all(|k| schema.field_with_name(k).is_ok());
            if !has_key {
                debug!(rule = t.table, "rule output lacks the row key; not written");
            }
            has_key
        };
        self.tables.iter().chain(self.derived.iter().filter(keyed))
    }
}

/// One table of a file could not be written to a database.
#[derive(Debug, Clone, thiserror::Error)]
#[error("table {table}: {message}")]
pub struct TableFailure {
    /// The measurement table or rule output.
    pub table: String,
    /// What the store said.
    pub message: String,
    /// Whether trying again later may succeed.
    pub transient: bool,
}

impl TableFailure {
    /// `table` failed with `error`; `transient` when trying again may succeed.
    pub fn new(table: &str, error: impl std::fmt::Display, transient: bool) -> Self {
        Self {
            table: table.to_string(),
            message: error.to_string(),
            transient,
        }
    }
}

impl TableFailure {
    /// The kind of failure this is for the file.
    pub fn kind(&self) -> FailureKind {
        if self.transient {
            FailureKind::Transient
        } else {
            FailureKind::Rejected
        }
    }
}

/// How the database sinks write a file: its keyed tables one after another with
/// `write_table`, failing at once while `breaker` is open and opening it when a
/// table fails in a way that may last (retries used up on a transient error).
pub async fn write_keyed_tables<'f, F, Fut>(
    sink: &dyn Sink,
    file: &'f PlannedFile,
    breaker: &Breaker,
    mut write_table: F,
) -> Result<(), SinkError>
where
    F: FnMut(&'f TableBatch) -> Fut,
    Fut: Future<Output = Result<(), TableFailure>>,
{
    let error = |kind, message: String| SinkError::new(sink, file, kind, message);
    breaker
        .check()
        .map_err(|message| error(FailureKind::Transient, message))?;
    for table in file.keyed_tables() {
        if let Err(failure) = write_table(table).await {
            if failure.transient {
                breaker.trip(failure.to_string());
            }
            return Err(error(failure.kind(), failure.to_string()));
        }
    }
    Ok(())
}

/// Whether a sink's failure to store a file may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The store is down, busy or timed out: the same write may succeed later.
    Transient,
    /// The store refuses this data (too long, out of range, malformed): writing it
    /// again cannot succeed.
    Rejected,
}

impl FailureKind {
    /// The kind's name in metric labels and messages.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Transient => "transient",
            FailureKind::Rejected => "rejected",
        }
    }
}

/// A sink failed to store a file.
#[derive(Debug, thiserror::Error)]
#[error("sink {sink}: file {file}: {message}")]
pub struct SinkError {
    /// The sink, described without secrets.
    pub sink: String,
    /// The source file.
    pub file: String,
    /// Whether the failure may pass.
    pub kind: FailureKind,
    /// What went wrong, with the table where one is concerned and the store's own
    /// message.
    pub message: String,
}

impl SinkError {
    /// `sink` failed to store `file`.
    pub fn new(
        sink: &dyn Sink,
        file: &PlannedFile,
        kind: FailureKind,
        message: impl Into<String>,
    ) -> Self {
        Self {
            sink: sink.describe(),
            file: file.name.clone(),
            kind,
            message: message.into(),
        }
    }
}

/// A store that rows are delivered to.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Human-readable name, never including credentials.
    fn describe(&self) -> String;
    /// The kind of store (`archive`, `mysql`, `clickhouse`, `kafka`), for metric labels.
    fn kind(&self) -> &'static str;
    /// Checks that the store answers, without writing: what `GET /readyz` asks.
    async fn probe(&self) -> Result<(), String>;
    /// How many files this sink takes at once, when it wants more (or fewer) than
    /// the pipeline's `workers.deliver`: a sink that merges the rows of files written
    /// together into larger writes gains from seeing many at a time.
    fn files_at_once(&self) -> Option<usize> {
        None
    }
    /// Whether the sink stores the rules' outputs ([`PlannedFile::derived`]): when no
    /// sink of a pipeline does, the rules are not run while ingesting (their results
    /// would go nowhere; `query` still computes them over the archive).
    fn takes_rule_outputs(&self) -> bool {
        true
    }
    /// Whether the sink keeps a large file's parts invisible until the file's last
    /// part, and forgets them when the file comes again (whole, or from its first
    /// part) or when told ([`Sink::drop_parts`]): parts may then reach it before the
    /// whole file was checked, which saves a pass over the file (see
    /// `format::parts`).
    fn stages_parts(&self) -> bool {
        false
    }
    /// The pipeline's notice that the parts of the file `file_id` delivered so far
    /// will never be completed (the file turned out broken): a sink that stages
    /// parts forgets them.
    fn drop_parts(&self, _file_id: &str) {}
    /// The pipeline's notice that `files` more files are on their way to this sink
    /// (or, negative, that files announced will not come): a sink whose groups of
    /// files wait for those delivered together counts them; others ignore it.
    fn announce(&self, _files: isize) {}
    /// The pipeline's notice that `files` more files (negative: fewer) wait for
    /// memory that files in the sinks hold: a sink whose groups wait for files on
    /// their way writes them without waiting while any does, since nothing more
    /// can come until they are written.
    fn hold_back(&self, _files: isize) {}
    /// Stores every row of the file; `Ok` is the acknowledgement.
    async fn write(&self, file: &PlannedFile) -> Result<(), SinkError>;
}
