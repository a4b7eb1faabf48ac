//! A batch's rows as multi-row `INSERT … ON DUPLICATE KEY UPDATE` statements: the
//! idempotent write of the MySQL sink. Writing the same rows twice updates each row
//! to the values it already has, so a re-ingested file leaves the table unchanged.
//!
//! Values travel as bound parameters of prepared statements (the binary protocol),
//! never spliced into the SQL text; identifiers are quoted. A statement holds at most
//! `batch_rows` rows, and fewer when MySQL's 65,535-placeholder limit or the packet
//! size (`max_allowed_packet`) needs it.

use std::ops::Range;

use arrow::array::{Array, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::error::ArrowError;
use chrono::DateTime;
use sqlx::Arguments;
use sqlx::mysql::MySqlArguments;

use super::identifier::quote;
use super::tables::TableLayout;
use crate::schema::ROW_KEY;
use crate::sink::values::{ColumnValues, ValueKind};

/// Most placeholders one prepared statement may have.
const MAX_PLACEHOLDERS: usize = 65_535;

impl ColumnValues {
    /// Bytes the value of `row` takes in a statement, roughly.
    fn size(&self, row: usize) -> usize {
        match self {
            Self::Text(values) if values.is_valid(row) => values.value(row).len() + 9,
            _ => 9,
        }
    }

    fn bind(&self, row: usize, arguments: &mut MySqlArguments) -> Result<(), sqlx::Error> {
        let added = match self {
            Self::Integer(v) => arguments.add(v.is_valid(row).then(|| v.value(row))),
            Self::Float(v) => arguments.add(v.is_valid(row).then(|| v.value(row))),
            Self::Text(v) => arguments.add(v.is_valid(row).then(|| v.value(row))),
            Self::Boolean(v) => arguments.add(v.is_valid(row).then(|| v.value(row))),
            Self::Timestamp(v) => arguments.add(
                v.is_valid(row)
                    .then(|| DateTime::from_timestamp_micros(v.value(row)))
                    .flatten()
                    .map(|t: DateTime<_>| t.naive_utc()),
            ),
        };
        added.map_err(sqlx::Error::Encode)
    }
}

/// The rows of `batch` that go into part `part` of a table: all of them for the table
/// itself, which holds every row; for a further part, those with a value in one of
/// its counters. So a part's rows never depend on when the part was created, and
/// writing a file again leaves every part as it was.
fn rows_for_part(
    batch: &RecordBatch,
    layout: &TableLayout,
    part: usize,
) -> Result<RecordBatch, ArrowError> {
    if part == 0 {
        return Ok(batch.clone());
    }
    let schema = batch.schema();
    let mut keep = vec![false; batch.num_rows()];
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        if layout
            .columns
            .get(field.name())
            .is_some_and(|c| c.part == part)
        {
            for (row, kept) in keep.iter_mut().enumerate() {
                *kept |= array.is_valid(row);
            }
        }
    }
    filter_record_batch(batch, &BooleanArray::from(keep))
}

/// The statements that write one batch into one table.
pub struct Upsert {
    head: String,
    tail: String,
    values: Vec<ColumnValues>,
    chunks: Vec<Range<usize>>,
}

impl Upsert {
    /// Plans the statements writing `batch` into part `part` of a table (its key
    /// columns and the counters `layout` puts there; dropped counters are left out),
    /// at most `batch_rows` rows and about `max_bytes` each.
    pub fn new(
        batch: &RecordBatch,
        layout: &TableLayout,
        part: usize,
        batch_rows: usize,
        max_bytes: usize,
    ) -> Result<Self, ArrowError> {
        let batch = &rows_for_part(batch, layout, part)?;
        let mut names = Vec::new();
        let mut values = Vec::new();
        for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
            let column = match layout.columns.get(field.name()) {
                Some(column) if column.part == part => Some((column.name.as_str(), column.kind)),
                None if layout.keys.contains(field.name()) => {
                    Some((field.name().as_str(), ValueKind::of(field.data_type())))
                }
                _ => None,
            };
            if let Some((name, kind)) = column {
                names.push(quote(name));
                values.push(ColumnValues::new(array, kind)?);
            }
        }
        let primary: Vec<String> = ROW_KEY.iter().map(|k| quote(k)).collect();
        let mut updates: Vec<String> = names
            .iter()
            .filter(|n| !primary.contains(n))
            .map(|n| format!("{n} = VALUES({n})"))
            .collect();
        if updates.is_empty() {
            updates.push(format!("{0} = VALUES({0})", primary[0]));
        }
        let head = format!(
            "INSERT INTO {} ({}) VALUES ",
            layout.parts[part],
            names.join(", ")
        );
        let tail = format!(" ON DUPLICATE KEY UPDATE {}", updates.join(", "));
        let max_rows = batch_rows.min(MAX_PLACEHOLDERS / names.len().max(1)).max(1);
        let budget = max_bytes.saturating_sub(head.len() + tail.len());
        let mut chunks = Vec::new();
        let (mut start, mut bytes) = (0, 0);
        for row in 0..batch.num_rows() {
            let size: usize = values.iter().map(|v| v.size(row)).sum();
            if row > start && (row - start == max_rows || bytes + size > budget) {
                chunks.push(start..row);
                (start, bytes) = (row, 0);
            }
            bytes += size;
        }
        if start < batch.num_rows() {
            chunks.push(start..batch.num_rows());
        }
        Ok(Self {
            head,
            tail,
            values,
            chunks,
        })
    }

    /// Row ranges, one per statement.
    pub fn chunks(&self) -> &[Range<usize>] {
        &self.chunks
    }

    /// The SQL and bound values of the statement writing `rows`.
    pub fn statement(&self, rows: Range<usize>) -> Result<(String, MySqlArguments), sqlx::Error> {
        let tuple = format!("({})", vec!["?"; self.values.len()].join(", "));
        let mut sql = String::with_capacity(
            self.head.len() + self.tail.len() + rows.len() * (tuple.len() + 2),
        );
        sql.push_str(&self.head);
        let mut arguments = MySqlArguments::default();
        for row in rows {
            if !sql.ends_with(' ') {
                sql.push_str(", ");
            }
            sql.push_str(&tuple);
            for values in &self.values {
                values.bind(row, &mut arguments)?;
            }
        }
        sql.push_str(&self.tail);
        Ok((sql, arguments))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::sink::mysql::tables::Column;

    /// `rows` rows of keys `ne`, `object`, `period_start` and counters `a` (part 0,
    /// always set) and `b` (part 1, set on even rows only).
    fn batch(rows: usize) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("ne", DataType::Utf8, false),
            Field::new("object", DataType::Utf8, false),
            Field::new("period_start", crate::schema::period_start_type(), false),
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["ne1"; rows])),
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|r| format!("Cell={r}")),
            )),
            Arc::new(TimestampMicrosecondArray::from(vec![0; rows]).with_timezone("UTC")),
            Arc::new(Int64Array::from_iter_values(0..rows as i64)),
            Arc::new(StringArray::from_iter(
                (0..rows).map(|r| (r % 2 == 0).then(|| "x".repeat(100))),
            )),
        ];
        RecordBatch::try_new(Arc::new(schema), columns).unwrap()
    }

    fn layout() -> TableLayout {
        let column = |part, name: &str, kind| Column {
            part,
            name: name.to_string(),
            kind,
        };
        TableLayout {
            parts: vec!["`t`".into(), "`t_p2`".into()],
            keys: ["ne", "object", "period_start"].map(String::from).into(),
            columns: [
                ("a".to_string(), column(0, "a", ValueKind::Integer)),
                ("b".to_string(), column(1, "b col", ValueKind::Text)),
            ]
            .into(),
            dropped: Default::default(),
        }
    }

    #[test]
    fn statements_hold_at_most_batch_rows_rows() {
        let upsert = Upsert::new(&batch(10), &layout(), 0, 4, 1 << 20).unwrap();
        assert_eq!(upsert.chunks(), [0..4, 4..8, 8..10]);
        let (sql, _) = upsert.statement(8..10).unwrap();
        assert_eq!(
            sql,
            "INSERT INTO `t` (`ne`, `object`, `period_start`, `a`) VALUES (?, ?, ?, ?), \
             (?, ?, ?, ?) ON DUPLICATE KEY UPDATE `a` = VALUES(`a`)"
        );
    }

    #[test]
    fn statements_stay_under_the_byte_budget() {
        // Each row of part 1 carries ~136 bytes: 3 keys and a 100-byte text.
        let upsert = Upsert::new(&batch(10), &layout(), 1, 1000, 600).unwrap();
        let sizes: Vec<usize> = upsert.chunks().iter().map(|c| c.len()).collect();
        assert_eq!(
            sizes.iter().sum::<usize>(),
            5,
            "only even rows have a value in part 1"
        );
        assert!(sizes.iter().all(|&n| n <= 3), "{sizes:?}");
        let (sql, _) = upsert.statement(upsert.chunks()[0].clone()).unwrap();
        assert!(
            sql.starts_with("INSERT INTO `t_p2` (`ne`, `object`, `period_start`, `b col`)"),
            "{sql}"
        );
    }

    #[test]
    fn placeholders_never_exceed_the_protocol_limit() {
        let upsert = Upsert::new(&batch(20_000), &layout(), 0, 100_000, usize::MAX).unwrap();
        assert!(
            upsert
                .chunks()
                .iter()
                .all(|c| c.len() * 4 <= MAX_PLACEHOLDERS)
        );
        assert_eq!(upsert.chunks()[0].len(), MAX_PLACEHOLDERS / 4);
    }
}
