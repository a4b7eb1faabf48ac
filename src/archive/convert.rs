//! Converting the tables of an archive written before the Delta layout (hive folders
//! of Parquet files, `system=<s>/table=<t>/date=<d>/<file_id>[-<part>].parquet`, no
//! `_delta_log`) into Delta tables where they lie.
//!
//! Rule: a hive file is deleted only after the commit holding its rows landed, and a
//! table finds the source files it holds by their `file_id` (its ledger), so a
//! conversion cut short is finished by running it again, with nothing doubled. Text
//! counters of the old files (vectors were text then) are typed again as parsing
//! types them ([`crate::format::column::retype`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Schema};
use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt as _};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{Archive, ArchiveError, DATE_PARTITION};
use crate::plan::align::align_batch;
use crate::schema;

/// Source files converted per commit.
const SOURCE_FILES_PER_COMMIT: usize = 256;

/// What converting one table did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Converted {
    /// Source files whose rows the table now holds.
    pub source_files: usize,
    /// Of them, files the table held already (an earlier run).
    pub already_held: usize,
    /// Hive files read and deleted.
    pub hive_files: usize,
}

/// The `file_id` a hive file's name carries (`<file_id>.parquet` or
/// `<file_id>-<part>.parquet` under a `date=` folder); `None` for anything else (the
/// Delta table's own `part-….parquet` files, the log).
pub fn hive_file_id(path: &StorePath) -> Option<String> {
    let mut parts: Vec<_> = path.parts().collect();
    let name = parts.pop()?;
    let folder = parts.pop()?;
    if !folder.as_ref().starts_with(&format!("{DATE_PARTITION}=")) {
        return None;
    }
    let stem = name.as_ref().strip_suffix(".parquet")?;
    let id = stem.split_once('-').map_or(stem, |(id, _part)| id);
    let hex = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| id.to_string())
}

/// The hive files among `paths`, grouped by source file (`file_id`), each group's
/// paths in order.
pub fn by_source_file(
    paths: impl IntoIterator<Item = StorePath>,
) -> BTreeMap<String, Vec<StorePath>> {
    let mut groups: BTreeMap<String, Vec<StorePath>> = BTreeMap::new();
    for path in paths {
        if let Some(id) = hive_file_id(&path) {
            groups.entry(id).or_default().push(path);
        }
    }
    for paths in groups.values_mut() {
        paths.sort();
    }
    groups
}

impl Archive {
    /// Converts the hive files of table `table` of `system` into its Delta table,
    /// `SOURCE_FILES_PER_COMMIT` source files per commit.
    pub async fn convert_table(
        &self,
        system: &str,
        table: &str,
    ) -> Result<Converted, ArchiveError> {
        let prefix = StorePath::from(format!("system={system}/table={table}"));
        let listed: Vec<StorePath> = self
            .store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| self.store_err(e))?;
        let groups: Vec<Vec<StorePath>> = by_source_file(listed).into_values().collect();
        let delta = self.table(system, table);
        let mut converted = Converted::default();
        for chunk in groups.chunks(SOURCE_FILES_PER_COMMIT) {
            let mut batches = Vec::with_capacity(chunk.len());
            for paths in chunk {
                batches.push(self.read_source_file(paths, table).await?);
            }
            let appended = delta.append(batches).await?;
            for path in chunk.iter().flatten() {
                self.store
                    .delete(path)
                    .await
                    .map_err(|e| self.store_err(e))?;
            }
            converted.source_files += chunk.len();
            converted.already_held += appended.files_skipped;
            converted.hive_files += chunk.iter().map(Vec::len).sum::<usize>();
        }
        Ok(converted)
    }

    /// The rows of one source file from its hive files (one per part), counters
    /// typed again, as one batch.
    async fn read_source_file(
        &self,
        paths: &[StorePath],
        table: &str,
    ) -> Result<RecordBatch, ArchiveError> {
        let rows_error = |path: &StorePath, message: String| ArchiveError::Rows {
            table: table.to_string(),
            message: format!("{path}: {message}"),
        };
        let mut batches = Vec::new();
        for path in paths {
            let got = self.store.get(path).await.map_err(|e| self.store_err(e))?;
            let bytes = got.bytes().await.map_err(|e| self.store_err(e))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .and_then(|builder| builder.build())
                .map_err(|e| rows_error(path, e.to_string()))?;
            for batch in reader {
                let batch = batch.map_err(|e| rows_error(path, e.to_string()))?;
                batches.push(retype_counters(&batch).map_err(|e| rows_error(path, e))?);
            }
        }
        let merged = schema::merge_all(batches.iter().map(|b| b.schema_ref().as_ref()));
        let aligned = batches
            .iter()
            .map(|batch| align_batch(batch, &merged))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| rows_error(&paths[0], e.to_string()))?;
        arrow::compute::concat_batches(&merged, &aligned)
            .map_err(|e| rows_error(&paths[0], e.to_string()))
    }
}

/// `batch` with each text counter typed as parsing types it (numbers, vectors, else
/// text); the `date` column of the hive layout, if a reader added it, left out.
fn retype_counters(batch: &RecordBatch) -> Result<RecordBatch, String> {
    let keys: Vec<String> = schema::key_fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.name() == DATE_PARTITION {
            continue;
        }
        let is_counter = !keys.contains(field.name());
        match (is_counter, column.data_type()) {
            (true, DataType::Utf8) => {
                let texts = column.as_string::<i32>();
                let (typed_field, typed) = crate::format::column::retype(field.name(), texts);
                fields.push(Arc::new(typed_field));
                columns.push(typed);
            }
            _ => {
                fields.push(field.clone());
                columns.push(column.clone());
            }
        }
    }
    debug_assert!(columns.iter().all(|c| c.len() == batch.num_rows()));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_files_are_grouped_by_source_file_and_delta_files_left_out() {
        let paths = [
            "system=5ga/table=t/date=2026-01-05/00000000000000aa.parquet",
            "system=5ga/table=t/date=2026-01-05/00000000000000bb-1.parquet",
            "system=5ga/table=t/date=2026-01-05/00000000000000bb.parquet",
            "system=5ga/table=t/date=2026-01-06/00000000000000aa.parquet",
            "system=5ga/table=t/date=2026-01-05/part-0123456789abcdef0123456789abcdef.zstd.parquet",
            "system=5ga/table=t/_delta_log/00000000000000000000.json",
            "system=5ga/table=t/notes.parquet",
        ];
        let groups = by_source_file(paths.map(StorePath::from));
        let names: Vec<(&str, usize)> = groups
            .iter()
            .map(|(id, p)| (id.as_str(), p.len()))
            .collect();
        assert_eq!(names, [("00000000000000aa", 2), ("00000000000000bb", 2)]);
        assert!(
            groups["00000000000000bb"][0]
                .as_ref()
                .ends_with("bb-1.parquet")
        );
    }
}
