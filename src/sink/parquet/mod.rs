//! The Parquet archive sink: raw counters as they arrived (schema-aligned, before the
//! rules), one zstd Parquet file per source file (or part of a large one), table and
//! day.

pub mod config;

use std::collections::BTreeMap;

use arrow::array::{AsArray, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::TimestampMicrosecondType;
use async_trait::async_trait;
use bytes::Bytes;
use chrono::DateTime;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::{FailureKind, PlannedFile, Sink, SinkError};
use crate::archive::Archive;
use crate::schema;

/// Writes each file's tables to the archive, named by the file's content hash, so a
/// re-ingested file replaces its own rows instead of adding to them.
#[derive(Debug, Clone)]
pub struct ArchiveSink {
    archive: Archive,
    system: String,
}

impl ArchiveSink {
    /// A sink writing `system`'s files into `archive`.
    pub fn new(archive: Archive, system: &str) -> Self {
        Self {
            archive,
            system: system.to_string(),
        }
    }
}

/// Splits a batch by the UTC day of `period_start`, the archive's `date` partition.
fn split_by_date(
    batch: &RecordBatch,
) -> Result<BTreeMap<String, RecordBatch>, arrow::error::ArrowError> {
    let period = batch
        .column_by_name(schema::PERIOD_START)
        .expect("aligned batches carry key columns")
        .as_primitive::<TimestampMicrosecondType>();
    let mut rows_of_date: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (row, micros) in period.values().iter().enumerate() {
        let date = DateTime::from_timestamp_micros(*micros).map_or_else(
            || "invalid".to_string(),
            |t| t.format("%Y-%m-%d").to_string(),
        );
        rows_of_date.entry(date).or_default().push(row as u32);
    }
    if rows_of_date.len() == 1 {
        let (date, _) = rows_of_date.pop_first().expect("one date");
        return Ok(BTreeMap::from([(date, batch.clone())]));
    }
    rows_of_date
        .into_iter()
        .map(|(date, rows)| Ok((date, take_record_batch(batch, &UInt32Array::from(rows))?)))
        .collect()
}

/// Encodes a batch as one zstd-compressed Parquet file in memory.
pub fn encode(batch: &RecordBatch) -> Result<Bytes, parquet::errors::ParquetError> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .build();
    let mut buffer = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buffer, batch.schema(), Some(properties))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(Bytes::from(buffer))
}

#[async_trait]
impl Sink for ArchiveSink {
    fn describe(&self) -> String {
        format!("parquet://{}", self.archive.root().display())
    }

    fn kind(&self) -> &'static str {
        "parquet"
    }

    async fn probe(&self) -> Result<(), String> {
        tokio::fs::create_dir_all(self.archive.root())
            .await
            .map_err(|e| format!("{}: {e}", self.archive.root().display()))
    }

    async fn write(&self, file: &PlannedFile) -> Result<(), SinkError> {
        for table in &file.tables {
            let batch = table.batch.clone();
            let encoded = tokio::task::spawn_blocking(move || {
                split_by_date(&batch)
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|(date, part)| Ok((date, encode(&part).map_err(|e| e.to_string())?)))
                    .collect::<Result<Vec<_>, String>>()
            })
            .await
            .map_err(|e| SinkError::new(self, file, FailureKind::Transient, e.to_string()))?
            .map_err(|e| {
                let message = format!("table {}: cannot encode: {e}", table.table);
                SinkError::new(self, file, FailureKind::Rejected, message)
            })?;
            for (date, bytes) in encoded {
                let path =
                    Archive::file_path(&self.system, &table.table, &date, &file.file_id, file.part);
                self.archive.put(&path, bytes).await.map_err(|e| {
                    SinkError::new(self, file, FailureKind::Transient, e.to_string())
                })?;
            }
        }
        Ok(())
    }
}
