//! Keeping the archive's tables quick to read and small on disk: compaction
//! (`optimize`), removal of the files no kept version needs (`vacuum`), and what each
//! commit changed (`history`).
//!
//! Rule: maintenance never changes what a reader sees. Compaction rewrites rows with
//! their `file_id` and `ingested_at`, so the ledger and "as of" reading hold after it;
//! vacuum only deletes files that no version within the retention refers to.

use std::num::NonZeroU64;
use std::time::Duration;

use deltalake_core::operations::vacuum::VacuumMode;
use futures::TryStreamExt;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::Value;

use super::ArchiveError;
use super::table::{ArchiveTable, LINEAGE_KEY};

/// Size the compaction aims at per data file: a closed day of a table becomes one
/// file unless it is larger.
const TARGET_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// What compacting a table did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Optimized {
    /// Data files replaced.
    pub files_removed: u64,
    /// Data files written in their place.
    pub files_added: u64,
    /// Date partitions compacted.
    pub partitions: u64,
}

/// One commit of a table, as `archive history` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The table version the commit made.
    pub version: u64,
    /// When (milliseconds since the epoch).
    pub timestamp_ms: Option<i64>,
    /// The operation (`CREATE TABLE`, `WRITE`, `OPTIMIZE`, …).
    pub operation: String,
    /// Data files added.
    pub files: Option<u64>,
    /// Rows added.
    pub rows: Option<u64>,
    /// Source files whose rows the commit added.
    pub source_files: Option<u64>,
}

/// A number at `key` of a JSON object, given as a number or as text (Delta writers
/// differ).
fn number(object: Option<&Value>, key: &str) -> Option<u64> {
    match object?.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl ArchiveTable {
    /// Compacts every date partition's data files into files of up to 256 MB.
    pub async fn optimize(&self) -> Result<Optimized, ArchiveError> {
        let Some(table) = self.loaded().await? else {
            return Ok(Optimized::default());
        };
        let zstd = ZstdLevel::try_new(3).expect("a valid zstd level");
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(zstd))
            .build();
        let (_, metrics) = table
            .optimize()
            .with_target_size(NonZeroU64::new(TARGET_FILE_BYTES).expect("non-zero"))
            .with_writer_properties(properties)
            .await
            .map_err(|e| self.delta_error(e))?;
        Ok(Optimized {
            files_removed: metrics.num_files_removed,
            files_added: metrics.num_files_added,
            partitions: metrics.partitions_optimized,
        })
    }

    /// Deletes the data files that no version of the last `retain` needs (files
    /// replaced by compaction) and data files older than `retain` that no commit
    /// refers to (of a commit that failed, of a broken file's staged parts); how
    /// many.
    pub async fn vacuum(&self, retain: Duration) -> Result<usize, ArchiveError> {
        let Some(table) = self.loaded().await? else {
            return Ok(0);
        };
        let retain = chrono::Duration::from_std(retain).map_err(|e| self.delta_error(e))?;
        let (_, metrics) = table
            .vacuum()
            .with_retention_period(retain)
            .with_mode(VacuumMode::Full)
            .with_enforce_retention_duration(false)
            .await
            .map_err(|e| self.delta_error(e))?;
        Ok(metrics.files_deleted.len())
    }

    /// Every commit still in the log, newest first.
    pub async fn history(&self) -> Result<Vec<HistoryEntry>, ArchiveError> {
        let Some(table) = self.loaded().await? else {
            return Ok(Vec::new());
        };
        let latest = table.version().unwrap_or(0);
        let commits: Vec<_> = table
            .history(None)
            .try_collect()
            .await
            .map_err(|e| self.delta_error(e))?;
        Ok(commits
            .into_iter()
            .enumerate()
            .map(|(newer, info)| {
                let lineage = info.info.get(LINEAGE_KEY);
                let metrics = info.info.get("operationMetrics");
                HistoryEntry {
                    version: latest.saturating_sub(newer as u64),
                    timestamp_ms: info.timestamp,
                    operation: info.operation.unwrap_or_default(),
                    files: number(lineage, "data_files")
                        .or_else(|| number(metrics, "numFilesAdded")),
                    rows: number(lineage, "rows"),
                    source_files: number(lineage, "source_files"),
                }
            })
            .collect())
    }
}
