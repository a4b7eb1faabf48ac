//! Sinks: the stores a file's rows are delivered to.
//!
//! Every sink receives each planned file whole and acknowledges it by returning `Ok`
//! only once all of its rows are durable there. Writes must be idempotent: a file seen
//! twice leaves the store as if written once. A sink is `required` (its failure holds
//! the file back in its folder for the next cycle) or optional (its failure is logged
//! and counted, and the file still completes).

pub mod clickhouse;
pub mod kafka;
pub mod mysql;
pub mod parquet;
pub mod retry;
pub mod values;

use async_trait::async_trait;

use tracing::debug;

use crate::format::TableBatch;
use crate::schema;

pub use self::clickhouse::ClickHouseSink;
pub use self::kafka::KafkaSink;
pub use self::mysql::MySqlSink;
pub use self::parquet::ArchiveSink;

/// A file after the plan stage, as delivered to sinks.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// Source file name, for messages.
    pub name: String,
    /// Content hash of the file.
    pub file_id: String,
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
            let has_key = [schema::NE, schema::OBJECT, schema::PERIOD_START]
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
#[derive(Debug, thiserror::Error)]
#[error("table {table}: {message}")]
pub struct TableFailure {
    /// The measurement table or rule output.
    pub table: String,
    /// What the store said.
    pub message: String,
    /// Whether trying again later may succeed.
    pub transient: bool,
}

/// A sink failed to store a file.
#[derive(Debug, thiserror::Error)]
#[error("sink {sink}: file {file}: {message}")]
pub struct SinkError {
    /// The sink, described without secrets.
    pub sink: String,
    /// The source file.
    pub file: String,
    /// What went wrong.
    pub message: String,
}

/// A store that rows are delivered to.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Human-readable name, never including credentials.
    fn describe(&self) -> String;
    /// Whether a failure holds the file back.
    fn required(&self) -> bool;
    /// Stores every row of the file; `Ok` is the acknowledgement.
    async fn write(&self, file: &PlannedFile) -> Result<(), SinkError>;
}
