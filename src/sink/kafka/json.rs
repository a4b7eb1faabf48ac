//! Rows as `JSONEachRow` objects, the format ClickHouse's Kafka engine reads: one JSON
//! object per row, keys the column names. Integers stay exact, floats are written in
//! their shortest exact form (non-finite ones as null), timestamps as
//! `YYYY-MM-DD hh:mm:ss` in UTC, booleans as 0/1 (ClickHouse `UInt8`), vector
//! counters as the string they arrived as (`"1,0,3"`), nulls as `null`.

use std::fmt::Write;

use arrow::array::{Array, RecordBatch};
use arrow::error::ArrowError;
use chrono::DateTime;

use crate::schema;
use crate::sink::values::{ColumnValues, ValueKind};

/// A batch ready to be written as JSON rows and message keys.
pub struct JsonRows {
    /// `"name":` of each column, escaped once.
    keys: Vec<String>,
    columns: Vec<ColumnValues>,
    /// Positions of `ne`, `object` and `period_start` (the message key).
    row_key: [usize; 3],
}

impl JsonRows {
    /// Prepares `batch`, which must have the row key columns.
    pub fn new(batch: &RecordBatch) -> Result<Self, ArrowError> {
        let schema = batch.schema();
        let mut keys = Vec::new();
        let mut columns = Vec::new();
        for (field, array) in schema.fields().iter().zip(batch.columns()) {
            keys.push(format!(
                "{}:",
                serde_json::Value::from(field.name().as_str())
            ));
            columns.push(ColumnValues::new(array, ValueKind::of(field.data_type()))?);
        }
        let position = |name| schema.index_of(name);
        Ok(Self {
            keys,
            columns,
            row_key: [
                position(schema::NE)?,
                position(schema::OBJECT)?,
                position(schema::PERIOD_START)?,
            ],
        })
    }

    /// The JSON object of `row`, written into `out` (cleared first).
    pub fn row(&self, row: usize, out: &mut String) {
        out.clear();
        out.push('{');
        for (i, (key, column)) in self.keys.iter().zip(&self.columns).enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(key);
            write_value(out, column, row);
        }
        out.push('}');
    }

    /// The message key of `row`: `table|ne|object|period_start`, so that one object's
    /// rows of a table stay in order on one partition.
    pub fn key(&self, table: &str, row: usize, out: &mut String) {
        out.clear();
        out.push_str(table);
        for position in self.row_key {
            out.push('|');
            match &self.columns[position] {
                ColumnValues::Text(v) if v.is_valid(row) => out.push_str(v.value(row)),
                ColumnValues::Timestamp(v) if v.is_valid(row) => push_timestamp(out, v.value(row)),
                _ => {}
            }
        }
    }
}

fn push_timestamp(out: &mut String, micros: i64) {
    match DateTime::from_timestamp_micros(micros) {
        Some(t) => write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S")).expect("write to String"),
        None => out.push_str("1970-01-01 00:00:00"),
    }
}

fn write_value(out: &mut String, column: &ColumnValues, row: usize) {
    match column {
        ColumnValues::Integer(v) if v.is_valid(row) => {
            write!(out, "{}", v.value(row)).expect("write to String")
        }
        ColumnValues::Float(v) if v.is_valid(row) && v.value(row).is_finite() => {
            out.push_str(&serde_json::Value::from(v.value(row)).to_string())
        }
        ColumnValues::Text(v) if v.is_valid(row) => {
            out.push_str(&serde_json::Value::from(v.value(row)).to_string())
        }
        ColumnValues::Boolean(v) if v.is_valid(row) => {
            out.push(if v.value(row) { '1' } else { '0' })
        }
        ColumnValues::Timestamp(v) if v.is_valid(row) => {
            out.push('"');
            push_timestamp(out, v.value(row));
            out.push('"');
        }
        _ => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn rows_and_keys_are_what_clickhouse_and_partitioning_need() {
        let schema = Schema::new(vec![
            Field::new("ne", DataType::Utf8, false),
            Field::new("object", DataType::Utf8, false),
            Field::new("period_start", schema::period_start_type(), false),
            Field::new("suspect", DataType::Boolean, false),
            Field::new("pm\"x", DataType::Int64, true),
            Field::new("load", DataType::Float64, true),
            Field::new("pdf", DataType::Utf8, true),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["gNB1"])),
            Arc::new(StringArray::from(vec!["Cell=1"])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![1_767_571_200_000_000]).with_timezone("UTC"),
            ),
            Arc::new(BooleanArray::from(vec![true])),
            Arc::new(Int64Array::from(vec![Some(9_007_199_254_740_993)])),
            Arc::new(Float64Array::from(vec![Some(f64::NAN)])),
            Arc::new(StringArray::from(vec![Some("1,0,3")])),
        ];
        let batch = RecordBatch::try_new(Arc::new(schema), columns).unwrap();
        let rows = JsonRows::new(&batch).unwrap();
        let mut out = String::new();
        rows.row(0, &mut out);
        assert_eq!(
            out,
            r#"{"ne":"gNB1","object":"Cell=1","period_start":"2026-01-05 00:00:00","suspect":1,"pm\"x":9007199254740993,"load":null,"pdf":"1,0,3"}"#
        );
        rows.key("nrcelldu", 0, &mut out);
        assert_eq!(out, "nrcelldu|gNB1|Cell=1|2026-01-05 00:00:00");
    }
}
