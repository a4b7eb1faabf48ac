//! Sinks: the stores a file's rows are delivered to.
//!
//! Every sink receives each planned file whole and acknowledges it by returning `Ok`
//! only once all of its rows are durable there. Writes must be idempotent: a file seen
//! twice leaves the store as if written once. A sink is `required` (its failure holds
//! the file back in its folder for the next cycle) or optional (its failure is logged
//! and counted, and the file still completes).

pub mod mysql;
pub mod parquet;
pub mod retry;
pub mod values;

use async_trait::async_trait;

use crate::format::TableBatch;

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
