//! Rows as `JSONEachRow` objects, the format ClickHouse's Kafka engine reads: one JSON
//! object per row, keys the column names. Integers stay exact, floats are written in
//! their shortest exact form (non-finite ones as null), timestamps as
//! `YYYY-MM-DD hh:mm:ss` in UTC, booleans as 0/1 (ClickHouse `UInt8`), vector
//! counters in their text form (`"1,0,3"`, what ClickHouse's `String` column holds),
//! nulls as `null`.

use arrow::array::{Array, RecordBatch};
use arrow::error::ArrowError;
use chrono::{DateTime, Datelike, Timelike};

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

/// `YYYY-MM-DD hh:mm:ss` of `micros` since the epoch, UTC.
fn push_timestamp(out: &mut String, micros: i64) {
    let time = DateTime::from_timestamp_micros(micros).unwrap_or_default();
    let (date, clock) = (time.date_naive(), time.time());
    let mut digits = itoa::Buffer::new();
    out.push_str(digits.format(date.year()));
    for (separator, value) in [
        ('-', date.month()),
        ('-', date.day()),
        (' ', clock.hour()),
        (':', clock.minute()),
        (':', clock.second()),
    ] {
        out.push(separator);
        if value < 10 {
            out.push('0');
        }
        out.push_str(digits.format(value));
    }
}

/// `text` as a JSON string.
fn push_string(out: &mut String, text: &str) {
    if text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(&serde_json::Value::from(text).to_string());
    } else {
        out.push('"');
        out.push_str(text);
        out.push('"');
    }
}

fn write_value(out: &mut String, column: &ColumnValues, row: usize) {
    match column {
        ColumnValues::Integer(v) if v.is_valid(row) => {
            out.push_str(itoa::Buffer::new().format(v.value(row)))
        }
        ColumnValues::Float(v) if v.is_valid(row) && v.value(row).is_finite() => {
            out.push_str(ryu::Buffer::new().format_finite(v.value(row)))
        }
        ColumnValues::Text(v) if v.is_valid(row) => push_string(out, v.value(row)),
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

    #[test]
    fn numbers_and_strings_are_valid_json_that_reads_back_the_same() {
        let schema = Schema::new(vec![
            Field::new("ne", DataType::Utf8, false),
            Field::new("object", DataType::Utf8, false),
            Field::new("period_start", schema::period_start_type(), false),
            Field::new("n", DataType::Int64, true),
            Field::new("x", DataType::Float64, true),
        ]);
        let texts = ["plain", "quote\" back\\slash\nline\u{1}", "Ünïcode"];
        let floats = [0.125, 1e300, 5.0];
        let ints = [i64::MIN, -1, i64::MAX];
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(texts.to_vec())),
            Arc::new(StringArray::from(vec!["o"; 3])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    0,
                    951_782_400_000_000,
                    4_102_444_799_000_000,
                ])
                .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from(ints.to_vec())),
            Arc::new(Float64Array::from(floats.to_vec())),
        ];
        let batch = RecordBatch::try_new(Arc::new(schema), columns).unwrap();
        let rows = JsonRows::new(&batch).unwrap();
        let times = [
            "1970-01-01 00:00:00",
            "2000-02-29 00:00:00",
            "2099-12-31 23:59:59",
        ];
        let mut out = String::new();
        for row in 0..3 {
            rows.row(row, &mut out);
            let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(parsed["ne"], texts[row], "{out}");
            assert_eq!(parsed["period_start"], times[row], "{out}");
            assert_eq!(parsed["n"].as_i64(), Some(ints[row]), "{out}");
            assert_eq!(parsed["x"].as_f64(), Some(floats[row]), "{out}");
        }
    }
}
