//! Turning the rows of many source files into the archive's data files: one zstd
//! Parquet file per date, rows sorted by the row key, stamped with the commit's
//! `ingested_at`, with the Delta statistics of the key columns (what file pruning
//! reads).
//!
//! Pure: batches in, encoded files out; writing and committing them is the table's
//! business (`archive::table`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, TimestampMicrosecondArray, UInt32Array};
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimestampMicrosecondType};
use bytes::Bytes;
use chrono::DateTime;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Value, json};

use crate::plan::align::align_batch;
use crate::schema;

/// Name of the column holding when a row was committed to the archive (UTC): what
/// reading the archive "as of" a moment filters on.
pub const INGESTED_AT: &str = "ingested_at";

/// The columns whose statistics every data file carries (the ones queries filter
/// and prune on); counters have none, which keeps the Delta log small.
pub const STATS_COLUMNS: [&str; 6] = [
    schema::NE,
    schema::OBJECT,
    schema::PERIOD_START,
    schema::GRANULARITY_S,
    schema::FILE_ID,
    INGESTED_AT,
];

/// One encoded data file of a date partition.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// The `date` partition value (`YYYY-MM-DD`, UTC day of `period_start`).
    pub date: String,
    /// The Parquet bytes.
    pub bytes: Bytes,
    /// Number of rows.
    pub rows: usize,
    /// Delta statistics JSON (`numRecords`, and min, max and null count of the
    /// [`STATS_COLUMNS`]).
    pub stats: String,
    /// The source files whose rows it holds (what the ledger records).
    pub file_ids: BTreeSet<String>,
}

/// The archive schema of a table: its measurement schema with [`INGESTED_AT`]
/// after the key columns.
pub fn archive_schema(table_schema: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = table_schema
        .fields()
        .iter()
        .filter(|f| f.name() != INGESTED_AT)
        .map(|f| f.as_ref().clone())
        .collect();
    fields.insert(schema::KEY_COLUMNS, ingested_at_field());
    Arc::new(Schema::new(fields))
}

/// The measurement schema of an archive table: without [`INGESTED_AT`] and the
/// `date` partition column, as the pipeline aligns batches to it.
pub fn measurement_schema(archive_schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = archive_schema
        .fields()
        .iter()
        .filter(|f| f.name() != INGESTED_AT && f.name() != super::DATE_PARTITION)
        .map(|f| f.as_ref().clone())
        .collect();
    Arc::new(Schema::new(fields))
}

fn ingested_at_field() -> Field {
    Field::new(INGESTED_AT, schema::period_start_type(), false)
}

/// The rows of `batches` (aligned to `target`, a table's archive schema) as one data
/// file per date, sorted by the row key, with `ingested_at` set to `ingested_at`
/// (microseconds since the epoch).
pub fn encode(
    batches: &[RecordBatch],
    target: &SchemaRef,
    ingested_at: i64,
) -> Result<Vec<DataFile>, String> {
    let measurement = measurement_schema(target);
    let aligned = batches
        .iter()
        .map(|batch| align_batch(batch, &measurement))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot align rows: {e}"))?;
    let rows = concat_batches(&measurement, &aligned).map_err(|e| e.to_string())?;
    let stamped = with_ingested_at(&rows, target, ingested_at)?;
    let sorted = sort_by_row_key(&stamped)?;
    split_by_date(&sorted)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(date, batch)| {
            let bytes = write_parquet(&batch).map_err(|e| e.to_string())?;
            Ok(DataFile {
                date,
                bytes,
                rows: batch.num_rows(),
                stats: statistics(&batch).to_string(),
                file_ids: file_ids(&batch),
            })
        })
        .collect()
}

/// The distinct `file_id`s of a batch.
fn file_ids(batch: &RecordBatch) -> BTreeSet<String> {
    batch
        .column_by_name(schema::FILE_ID)
        .map(|ids| {
            ids.as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `rows` in `target`'s column order with the `ingested_at` column filled.
fn with_ingested_at(
    rows: &RecordBatch,
    target: &SchemaRef,
    ingested_at: i64,
) -> Result<RecordBatch, String> {
    let stamp: ArrayRef = Arc::new(
        TimestampMicrosecondArray::from_value(ingested_at, rows.num_rows()).with_timezone("UTC"),
    );
    let columns = target
        .fields()
        .iter()
        .map(|field| match field.name().as_str() {
            INGESTED_AT => Ok(stamp.clone()),
            name => rows
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| format!("column {name} missing after alignment")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(target.clone(), columns).map_err(|e| e.to_string())
}

/// `batch` sorted by `(ne, object, period_start)`, so row groups prune well and
/// readers that merge by key stream.
fn sort_by_row_key(batch: &RecordBatch) -> Result<RecordBatch, String> {
    let keys = schema::ROW_KEY
        .iter()
        .map(|name| SortColumn {
            values: batch.column_by_name(name).expect("key column").clone(),
            options: None,
        })
        .collect::<Vec<_>>();
    let order = lexsort_to_indices(&keys, None).map_err(|e| e.to_string())?;
    take_record_batch(batch, &order).map_err(|e| e.to_string())
}

/// Microseconds in a UTC day: `period_start` over this is the day number of its
/// `date` partition.
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Splits a batch by the UTC day of `period_start`, the archive's `date` partition.
pub fn split_by_date(
    batch: &RecordBatch,
) -> Result<BTreeMap<String, RecordBatch>, arrow::error::ArrowError> {
    let period = batch
        .column_by_name(schema::PERIOD_START)
        .expect("aligned batches carry key columns")
        .as_primitive::<TimestampMicrosecondType>();
    // Rows by day number; each day named once.
    let mut rows_of_day: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for (row, micros) in period.values().iter().enumerate() {
        let day = micros.div_euclid(MICROS_PER_DAY);
        rows_of_day.entry(day).or_default().push(row as u32);
    }
    let date = |day: i64| date_of(day * MICROS_PER_DAY);
    if rows_of_day.len() == 1 {
        let (day, _) = rows_of_day.pop_first().expect("one date");
        return Ok(BTreeMap::from([(date(day), batch.clone())]));
    }
    rows_of_day
        .into_iter()
        .map(|(day, rows)| {
            let rows = take_record_batch(batch, &UInt32Array::from(rows))?;
            Ok((date(day), rows))
        })
        .collect()
}

/// The `date` partitions of `period_starts` (microseconds since the epoch, UTC),
/// each day named once however many rows fall on it.
pub fn dates_of(period_starts: &[i64]) -> BTreeSet<String> {
    let days: BTreeSet<i64> = period_starts
        .iter()
        .map(|micros| micros.div_euclid(MICROS_PER_DAY))
        .collect();
    days.into_iter()
        .map(|day| date_of(day * MICROS_PER_DAY))
        .collect()
}

/// The `date` partition of a `period_start` (microseconds since the epoch, UTC).
fn date_of(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros).map_or_else(
        || "1970-01-01".to_string(),
        |t| t.format("%Y-%m-%d").to_string(),
    )
}

/// Encodes a batch as one zstd-compressed Parquet file in memory.
pub fn write_parquet(batch: &RecordBatch) -> Result<Bytes, parquet::errors::ParquetError> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .build();
    let mut buffer = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buffer, batch.schema(), Some(properties))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(Bytes::from(buffer))
}

/// The Delta statistics of a data file: row count, and min, max and null count of
/// each of the [`STATS_COLUMNS`].
fn statistics(batch: &RecordBatch) -> Value {
    let (mut min, mut max, mut nulls) = (Map::new(), Map::new(), Map::new());
    for name in STATS_COLUMNS {
        let Some(column) = batch.column_by_name(name) else {
            continue;
        };
        nulls.insert(name.to_string(), json!(column.null_count()));
        if let Some((low, high)) = bounds(column.as_ref()) {
            min.insert(name.to_string(), low);
            max.insert(name.to_string(), high);
        }
    }
    json!({
        "numRecords": batch.num_rows(),
        "minValues": min,
        "maxValues": max,
        "nullCount": nulls,
    })
}

/// The smallest and largest value of a key column, as Delta statistics write them.
fn bounds(column: &dyn Array) -> Option<(Value, Value)> {
    use arrow::compute::{max, max_string, min, min_string};
    match column.data_type() {
        DataType::Utf8 => {
            let strings = column.as_string::<i32>();
            Some((json!(min_string(strings)?), json!(max_string(strings)?)))
        }
        DataType::Int32 => {
            let ints = column.as_primitive::<Int32Type>();
            Some((json!(min(ints)?), json!(max(ints)?)))
        }
        DataType::Timestamp(_, _) => {
            let times = column.as_primitive::<TimestampMicrosecondType>();
            let text = |micros: i64| {
                DateTime::from_timestamp_micros(micros)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
            };
            Some((json!(text(min(times)?)?), json!(text(max(times)?)?)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{BooleanArray, Int32Array, Int64Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    fn measurement(rows: &[(&str, i64, i64)]) -> RecordBatch {
        let mut fields = schema::key_fields();
        fields.push(Field::new("pmX", DataType::Int64, true));
        let n = rows.len();
        let text = |f: &dyn Fn(&(&str, i64, i64)) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
        };
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            vec![
                text(&|_| "5ga".to_string()),
                text(&|r| r.0.to_string()),
                text(&|_| "cell=1".to_string()),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1))
                        .with_timezone("UTC"),
                ),
                Arc::new(Int32Array::from(vec![900; n])),
                Arc::new(BooleanArray::from(vec![false; n])),
                text(&|_| "f1".to_string()),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap()
    }

    const DAY: i64 = 86_400_000_000;

    #[test]
    fn dates_name_each_utc_day_of_the_rows_once() {
        let day = MICROS_PER_DAY;
        let starts = [day + 5, 2 * day - 1, day, 3 * day, -1];
        assert_eq!(
            dates_of(&starts).into_iter().collect::<Vec<_>>(),
            ["1969-12-31", "1970-01-02", "1970-01-04"]
        );
    }

    #[test]
    fn rows_of_many_files_become_one_sorted_file_per_date_with_key_statistics() {
        let a = measurement(&[("ne2", 0, 1), ("ne1", DAY, 2)]);
        let b = measurement(&[("ne1", 0, 3)]);
        let target = archive_schema(&a.schema());
        let files = encode(&[a, b], &target, 42).unwrap();
        let dates: Vec<_> = files.iter().map(|f| (f.date.as_str(), f.rows)).collect();
        assert_eq!(dates, [("1970-01-01", 2), ("1970-01-02", 1)]);

        let read = ParquetRecordBatchReaderBuilder::try_new(files[0].bytes.clone())
            .unwrap()
            .build()
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let ne = read.column_by_name("ne").unwrap().as_string::<i32>();
        assert_eq!(ne.iter().flatten().collect::<Vec<_>>(), ["ne1", "ne2"]);
        let values = read
            .column_by_name("pmX")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!(values.values(), &[3, 1]);
        let stamp = read
            .column_by_name(INGESTED_AT)
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(stamp.values(), &[42, 42]);

        let stats: Value = serde_json::from_str(&files[0].stats).unwrap();
        assert_eq!(stats["numRecords"], 2);
        assert_eq!(stats["minValues"]["ne"], "ne1");
        assert_eq!(stats["maxValues"]["ne"], "ne2");
        assert_eq!(
            stats["maxValues"]["period_start"],
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(stats["nullCount"]["file_id"], 0);
    }
}
