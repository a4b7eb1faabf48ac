//! Formats: turning the bytes of one counter file into Arrow record batches, one per
//! measurement table.
//!
//! `decompress` undoes transport compression (by magic bytes), `builder` accumulates
//! rows into Arrow arrays with widening counter types, `threegpp` is the streaming
//! parser for TS 32.435 `measCollecFile` and TS 28.532 `measDataFile`.

pub mod builder;
pub mod decompress;
pub mod naming;
pub mod threegpp;

use arrow::record_batch::RecordBatch;

/// Why a file could not be parsed: always names the file, and the line where known,
/// so the `.reason` file beside a quarantined file tells an operator where to look.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct ParseError {
    /// Name of the source file.
    pub file: String,
    /// 1-based line of the problem, when the parser knows it.
    pub line: Option<u64>,
    /// What was wrong.
    pub message: String,
}

/// Who and what a file is, as far as a parser needs to know.
#[derive(Debug, Clone)]
pub struct FileContext {
    /// The plan (system) the file belongs to, written into the `system` column.
    pub system: String,
    /// The file's name (no directory), used in errors and as the node-name fallback.
    pub file_name: String,
    /// Stable id of the file's content, written into the `file_id` column.
    pub file_id: String,
}

/// One measurement table's rows from one file.
#[derive(Debug, Clone)]
pub struct TableBatch {
    /// Table name, derived by the rule of [`naming`].
    pub table: String,
    /// Key columns followed by one column per counter.
    pub batch: RecordBatch,
}

/// Everything a parser extracted from one file.
#[derive(Debug, Clone, Default)]
pub struct ParsedFile {
    /// One batch per measurement table, in order of first appearance.
    pub tables: Vec<TableBatch>,
    /// Number of counter values read (nulls included), for statistics.
    pub counter_values: u64,
}

impl ParsedFile {
    /// Total rows over all tables.
    pub fn rows(&self) -> usize {
        self.tables.iter().map(|t| t.batch.num_rows()).sum()
    }
}

/// Content-hash id of a file: the first 16 hex digits of the BLAKE3 hash of its
/// decompressed bytes, so the same content gets the same id however it was
/// compressed or named, and re-ingesting it overwrites rather than duplicates.
pub fn file_id(content: &[u8]) -> String {
    let hash = blake3::hash(content);
    hash.to_hex()[..16].to_string()
}
