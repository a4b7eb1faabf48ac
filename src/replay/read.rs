//! Reading back what replay delivers: the rows of one system's archive tables
//! in a time window, one row per row key (the version ingested last, as of the
//! request's moment), grouped into the source files they came from.
//!
//! Everything a request narrows by — the window, the `date` partition, the node
//! pattern, the moment — is a DataFusion filter over the archive's views, never SQL
//! text: table names and patterns are data, so they pass as identifiers and
//! literals. The filters reach the Delta scan, which prunes partitions and files.

use std::collections::BTreeMap;

use arrow::array::UInt32Array;
use arrow::array::{AsArray, RecordBatch};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::common::TableReference;
use datafusion::dataframe::DataFrame;
use datafusion::functions::regex::expr_fn::regexp_like;
use datafusion::functions_aggregate::expr_fn::{count, count_distinct};
use datafusion::logical_expr::{Expr, cast, ident, lit};
use datafusion::prelude::SessionContext;

use super::{ReplayError, Selection};
use crate::archive::data_file::INGESTED_AT;
use crate::archive::{Archive, DATE_PARTITION, ReadOptions};
use crate::format::TableBatch;
use crate::plan::rules;
use crate::schema;

/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;

/// Microseconds in an hour: the shortest window.
const HOUR_US: i64 = 3_600_000_000;

/// Rows a window should hold at most (as the Delta log counts them, every version
/// of every table read): what bounds a replay's memory.
const WINDOW_ROWS: u64 = 2_000_000;

/// How long the windows of a day holding `rows` rows are: the whole day when it is
/// small enough, else as many whole hours as hold about [`WINDOW_ROWS`], at least one.
/// Every window of a day scans the day's files, so fewer, longer windows read less.
pub fn window_length(rows: u64) -> i64 {
    if rows <= WINDOW_ROWS {
        return DAY_US;
    }
    let hours = (24 * WINDOW_ROWS / rows).max(1) as i64;
    hours * HOUR_US
}

/// The rows of one source file within a window, ready for the pipeline's delivery.
#[derive(Debug, Clone)]
pub struct ArchivedFile {
    /// The content hash of the source file the rows came from.
    pub file_id: String,
    /// Its earliest `period_start` in the window (microseconds), what `--speed`
    /// paces by.
    pub first_period: i64,
    /// Its rows, one batch per table.
    pub tables: Vec<TableBatch>,
}

impl ArchivedFile {
    /// Rows over all tables.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.batch.num_rows() as u64).sum()
    }

    /// Counter values (nulls included) over all tables.
    pub fn counter_values(&self) -> u64 {
        self.tables
            .iter()
            .map(|t| {
                let counters = t.batch.num_columns().saturating_sub(schema::KEY_COLUMNS);
                (t.batch.num_rows() * counters) as u64
            })
            .sum()
    }
}

/// What a window holds of one table, for `--dry-run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    /// The measurement table.
    pub table: String,
    /// Source files with rows in the window.
    pub files: u64,
    /// Rows in the window.
    pub rows: u64,
}

/// `[from, to)` cut into windows of at most `step` microseconds that never cross a
/// UTC midnight (so each reads one `date` partition), in order.
pub fn windows(from: i64, to: i64, step: i64) -> Vec<(i64, i64)> {
    let mut windows = Vec::new();
    let mut start = from;
    while start < to {
        let midnight = (start.div_euclid(DAY_US) + 1) * DAY_US;
        let end = (start + step).min(midnight).min(to);
        windows.push((start, end));
        start = end;
    }
    windows
}

/// The archive of one system, opened for reading what a replay selects.
pub struct ArchiveReader {
    ctx: SessionContext,
    /// The tables read, in order.
    tables: Vec<String>,
    /// The node pattern as a regular expression.
    ne_regex: Option<String>,
    /// Rows stored per day (days since the epoch) over the tables read.
    rows_per_day: BTreeMap<i32, u64>,
}

impl ArchiveReader {
    /// Opens `archive`'s tables of the selection's system, as of its moment; fails
    /// when a table asked for does not exist.
    pub async fn open(archive: &Archive, selection: &Selection) -> Result<Self, ReplayError> {
        let ctx = SessionContext::new_with_config(rules::session_config());
        let options = ReadOptions {
            as_of: selection.as_of,
            system: Some(selection.system.clone()),
        };
        let present = archive.register_tables(&ctx, options).await?;
        let tables = match &selection.tables {
            None => present,
            Some(wanted) => {
                if let Some(missing) = wanted.iter().find(|t| !present.contains(t)) {
                    return Err(ReplayError::NoSuchTable {
                        system: selection.system.clone(),
                        table: missing.clone(),
                        present,
                    });
                }
                wanted.clone()
            }
        };
        let ne_regex = selection
            .ne
            .as_deref()
            .map(|glob| {
                globset::Glob::new(glob)
                    .map(|g| g.regex().to_string())
                    .map_err(|e| ReplayError::Pattern(e.to_string()))
            })
            .transpose()?;
        let mut rows_per_day: BTreeMap<i32, u64> = BTreeMap::new();
        for table in &tables {
            let rows = archive
                .table(&selection.system, table)
                .rows_per_date()
                .await?;
            for (date, rows) in rows {
                if let Ok(day) = date.parse::<chrono::NaiveDate>() {
                    let day = (day - chrono::NaiveDate::default()).num_days() as i32;
                    *rows_per_day.entry(day).or_default() += rows;
                }
            }
        }
        Ok(Self {
            ctx,
            tables,
            ne_regex,
            rows_per_day,
        })
    }

    /// `[from, to)` cut into the windows a replay reads one at a time: within each UTC
    /// day, as long as [`window_length`] allows for the rows stored that day; days
    /// without rows are left out.
    pub fn windows(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        windows(from, to, DAY_US)
            .into_iter()
            .flat_map(|day| {
                let rows = self
                    .rows_per_day
                    .get(&(day.0.div_euclid(DAY_US) as i32))
                    .copied()
                    .unwrap_or(0);
                match rows {
                    0 => Vec::new(),
                    rows => windows(day.0, day.1, window_length(rows)),
                }
            })
            .collect()
    }

    /// The tables read.
    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// The rows of `table` in `window` (within one UTC day) that the selection
    /// keeps, without the archive's own columns (`ingested_at`, `date`).
    async fn frame(&self, table: &str, (from, to): (i64, i64)) -> Result<DataFrame, ReplayError> {
        let failed = |source| ReplayError::Read {
            table: table.to_string(),
            source,
        };
        let moment = |micros| {
            lit(ScalarValue::TimestampMicrosecond(
                Some(micros),
                Some("UTC".into()),
            ))
        };
        let day = from.div_euclid(DAY_US) as i32;
        let mut keep: Expr = ident(DATE_PARTITION)
            .eq(lit(ScalarValue::Date32(Some(day))))
            .and(ident(schema::PERIOD_START).gt_eq(moment(from)))
            .and(ident(schema::PERIOD_START).lt(moment(to)));
        if let Some(regex) = &self.ne_regex {
            keep = keep.and(regexp_like(ident(schema::NE), lit(regex.as_str()), None));
        }
        let frame = self
            .ctx
            .table(TableReference::bare(table))
            .await
            .and_then(|frame| frame.filter(keep))
            .and_then(|frame| frame.drop_columns(&[INGESTED_AT, DATE_PARTITION]))
            .map_err(failed)?;
        // Text as the pipeline has it: a string view of one file's rows would keep
        // the whole window's strings alive and be copied with them downstream.
        let columns: Vec<Expr> = frame
            .schema()
            .fields()
            .iter()
            .map(|field| match field.data_type() {
                DataType::Utf8View => cast(ident(field.name()), DataType::Utf8).alias(field.name()),
                _ => ident(field.name()),
            })
            .collect();
        frame.select(columns).map_err(failed)
    }

    /// The rows of every table read in `window`, as the source files they came from
    /// in order of `file_id`.
    pub async fn files(&self, window: (i64, i64)) -> Result<Vec<ArchivedFile>, ReplayError> {
        let mut by_file: BTreeMap<String, Vec<TableBatch>> = BTreeMap::new();
        for table in &self.tables {
            // Sorted by file, so each file's rows are one run to slice out, and within
            // it by the row key, so that databases take their rows in key order (as
            // concurrent upserts of random order deadlock and retry).
            let order = [
                schema::FILE_ID,
                schema::NE,
                schema::OBJECT,
                schema::PERIOD_START,
            ]
            .map(|column| ident(column).sort(true, false));
            let batches = self
                .frame(table, window)
                .await?
                .sort(order.to_vec())
                .map_err(|source| ReplayError::Read {
                    table: table.clone(),
                    source,
                })?
                .collect()
                .await
                .map_err(|source| ReplayError::Read {
                    table: table.clone(),
                    source,
                })?;
            for (file_id, batch) in by_file_id(&batches).map_err(|source| ReplayError::Read {
                table: table.clone(),
                source: source.into(),
            })? {
                by_file.entry(file_id).or_default().push(TableBatch {
                    table: table.clone(),
                    batch,
                });
            }
        }
        Ok(by_file
            .into_iter()
            .map(|(file_id, tables)| ArchivedFile {
                first_period: tables
                    .iter()
                    .filter_map(|t| first_period(&t.batch))
                    .min()
                    .unwrap_or(window.0),
                file_id,
                tables,
            })
            .collect())
    }

    /// Files and rows of each table read in `window`.
    pub async fn summary(&self, window: (i64, i64)) -> Result<Vec<TableSummary>, ReplayError> {
        let mut summaries = Vec::new();
        for table in &self.tables {
            let failed = |source| ReplayError::Read {
                table: table.clone(),
                source,
            };
            let counts = self
                .frame(table, window)
                .await?
                .aggregate(
                    vec![],
                    vec![
                        count_distinct(ident(schema::FILE_ID)).alias("files"),
                        count(lit(1)).alias("rows"),
                    ],
                )
                .map_err(failed)?
                .collect()
                .await
                .map_err(failed)?;
            let value = |column: usize| {
                counts
                    .first()
                    .and_then(|b| {
                        b.column(column)
                            .as_primitive_opt::<arrow::datatypes::Int64Type>()
                    })
                    .map_or(0, |a| a.value(0) as u64)
            };
            summaries.push(TableSummary {
                table: table.clone(),
                files: value(0),
                rows: value(1),
            });
        }
        Ok(summaries)
    }
}

/// The rows of `batches` grouped by their `file_id`, one batch per file.
fn by_file_id(
    batches: &[RecordBatch],
) -> Result<Vec<(String, RecordBatch)>, arrow::error::ArrowError> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let schema = first.schema();
    let mut rows_of: BTreeMap<String, Vec<RecordBatch>> = BTreeMap::new();
    for batch in batches {
        // Text as stored, or as a string view as DataFusion may read it.
        let column = batch.column_by_name(schema::FILE_ID).ok_or_else(|| {
            arrow::error::ArrowError::SchemaError(format!("no column {}", schema::FILE_ID))
        })?;
        let ids = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8)?;
        let ids = ids.as_string::<i32>();
        let mut start = 0;
        while start < batch.num_rows() {
            let id = ids.value(start);
            let mut end = start + 1;
            while end < batch.num_rows() && ids.value(end) == id {
                end += 1;
            }
            // A copy of the run, not a slice: each file owns just its rows.
            let run = UInt32Array::from_iter_values(start as u32..end as u32);
            rows_of
                .entry(id.to_string())
                .or_default()
                .push(take_record_batch(batch, &run)?);
            start = end;
        }
    }
    rows_of
        .into_iter()
        .map(|(id, slices)| Ok((id, concat_batches(&schema, &slices)?)))
        .collect()
}

/// The earliest `period_start` of a batch, in microseconds.
fn first_period(batch: &RecordBatch) -> Option<i64> {
    let periods = batch
        .column_by_name(schema::PERIOD_START)?
        .as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()?;
    arrow::compute::min(periods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_range_and_never_cross_midnight() {
        let from = 22 * HOUR_US;
        let to = DAY_US + 2 * HOUR_US + 30 * 60_000_000;
        assert_eq!(
            windows(from, to, 6 * HOUR_US),
            vec![(22 * HOUR_US, DAY_US), (DAY_US, to)]
        );
        assert_eq!(windows(5, 5, HOUR_US), vec![]);
        assert_eq!(windows(0, 3 * HOUR_US, HOUR_US).len(), 3);
    }

    #[test]
    fn small_days_are_read_whole_and_large_ones_in_hours_holding_about_the_limit() {
        assert_eq!(window_length(1), DAY_US);
        assert_eq!(window_length(WINDOW_ROWS), DAY_US);
        assert_eq!(window_length(4 * WINDOW_ROWS), 6 * HOUR_US);
        assert_eq!(window_length(24 * WINDOW_ROWS), HOUR_US);
        assert_eq!(window_length(100 * WINDOW_ROWS), HOUR_US);
    }

    #[test]
    fn rows_are_grouped_by_file_across_batches() {
        use arrow::array::{Int64Array, StringArray};
        use std::sync::Arc;
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new(schema::FILE_ID, arrow::datatypes::DataType::Utf8, false),
            arrow::datatypes::Field::new("c", arrow::datatypes::DataType::Int64, true),
        ]));
        let batch = |ids: Vec<&str>, values: Vec<i64>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(ids)),
                    Arc::new(Int64Array::from(values)),
                ],
            )
            .unwrap()
        };
        let grouped = by_file_id(&[
            batch(vec!["a", "a", "b"], vec![1, 2, 3]),
            batch(vec!["b", "c"], vec![4, 5]),
        ])
        .unwrap();
        let rows: Vec<(&str, usize)> = grouped
            .iter()
            .map(|(id, b)| (id.as_str(), b.num_rows()))
            .collect();
        assert_eq!(rows, vec![("a", 2), ("b", 2), ("c", 1)]);
        assert!(by_file_id(&[]).unwrap().is_empty());
    }
}
