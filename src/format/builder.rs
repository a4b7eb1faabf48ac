//! Accumulates the rows of one measurement table straight into Arrow buffers.
//!
//! Rows are keyed by `(ne, object, period_start)`: values of two `measInfo` blocks that
//! land on the same key merge into one row. Each counter column starts as Int64 and
//! widens in place to Float64 or Utf8 when a value needs it, so integers stay exact
//! and no value is ever re-parsed.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, BooleanBufferBuilder, Float64Array, Int32Array, Int64Array,
    StringArray, TimestampMicrosecondArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use foldhash::HashMap;

use crate::schema;

/// A counter value as read from a file, before it is stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// `NIL`, empty or whitespace-only.
    Null,
    /// An integer that fits 64 bits: kept exact.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// Anything else, notably vector (PDF) values such as `1,0,3`, kept whole.
    Text(&'a str),
}

/// Classifies the raw bytes of one counter value. Integers, the common case, are read
/// straight from the bytes; only other values are checked as UTF-8.
pub fn classify(raw: &[u8]) -> Result<Value<'_>, std::str::Utf8Error> {
    let bytes = raw.trim_ascii();
    if bytes.is_empty() || bytes.eq_ignore_ascii_case(b"NIL") {
        return Ok(Value::Null);
    }
    if let Some(int) = parse_int(bytes) {
        return Ok(Value::Int(int));
    }
    let text = std::str::from_utf8(bytes)?;
    // Only plain decimal notation counts as a number: `inf`/`NaN` stay text.
    if bytes
        .iter()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        if let Ok(float) = text.parse::<f64>() {
            return Ok(Value::Float(float));
        }
    }
    Ok(Value::Text(text))
}

/// Fast path for the common case of a plain decimal integer.
fn parse_int(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.first()? {
        b'-' => (true, &bytes[1..]),
        b'+' => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut value: i64 = 0;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(i64::from(digit))?;
    }
    Some(if negative { -value } else { value })
}

/// The values of one counter column, in the narrowest type seen so far. Text values
/// live in one buffer per column (no allocation per value), addressed by span.
#[derive(Debug)]
enum ColumnData {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Text {
        buffer: String,
        spans: Vec<(u32, u32)>,
    },
}

impl ColumnData {
    fn set_text(&mut self, row: usize, text: &str) {
        if let ColumnData::Text { buffer, spans } = self {
            spans[row] = (buffer.len() as u32, text.len() as u32);
            buffer.push_str(text);
        }
    }
}

#[derive(Debug)]
struct CounterColumn {
    name: String,
    data: ColumnData,
    valid: BooleanBufferBuilder,
}

impl CounterColumn {
    fn new(name: String) -> Self {
        Self {
            name,
            data: ColumnData::Int(Vec::new()),
            valid: BooleanBufferBuilder::new(0),
        }
    }

    fn len(&self) -> usize {
        self.valid.len()
    }

    fn pad_to(&mut self, len: usize) {
        let missing = len.saturating_sub(self.len());
        if missing == 0 {
            return;
        }
        match &mut self.data {
            ColumnData::Int(v) => v.resize(len, 0),
            ColumnData::Float(v) => v.resize(len, 0.0),
            ColumnData::Text { spans, .. } => spans.resize(len, (0, 0)),
        }
        self.valid.append_n(missing, false);
    }

    fn widen_to_float(&mut self) {
        if let ColumnData::Int(ints) = &self.data {
            self.data = ColumnData::Float(ints.iter().map(|&i| i as f64).collect());
        }
    }

    fn widen_to_text(&mut self) {
        let texts: Vec<Option<String>> = match &self.data {
            ColumnData::Text { .. } => return,
            ColumnData::Int(v) => to_texts(v, &self.valid),
            ColumnData::Float(v) => to_texts(v, &self.valid),
        };
        let spans = vec![(0, 0); texts.len()];
        self.data = ColumnData::Text {
            buffer: String::new(),
            spans,
        };
        for (row, text) in texts.iter().enumerate() {
            if let Some(text) = text {
                self.data.set_text(row, text);
            }
        }
    }

    fn set(&mut self, row: usize, value: Value<'_>) {
        self.pad_to(row + 1);
        match value {
            Value::Null => return,
            Value::Int(int) => match &mut self.data {
                ColumnData::Int(v) => v[row] = int,
                ColumnData::Float(v) => v[row] = int as f64,
                text => text.set_text(row, &int.to_string()),
            },
            Value::Float(float) => {
                self.widen_to_float();
                match &mut self.data {
                    ColumnData::Float(v) => v[row] = float,
                    other => other.set_text(row, &float.to_string()),
                }
            }
            Value::Text(text) => {
                self.widen_to_text();
                self.data.set_text(row, text);
            }
        }
        self.valid.set_bit(row, true);
    }

    fn finish(mut self, rows: usize) -> (Field, ArrayRef) {
        self.pad_to(rows);
        let nulls = Some(NullBuffer::new(self.valid.finish()));
        let (data_type, array): (DataType, ArrayRef) = match self.data {
            ColumnData::Int(v) => (DataType::Int64, Arc::new(Int64Array::new(v.into(), nulls))),
            ColumnData::Float(v) => (
                DataType::Float64,
                Arc::new(Float64Array::new(v.into(), nulls)),
            ),
            ColumnData::Text { buffer, spans } => {
                let valid = nulls.as_ref().expect("validity is always built");
                let values = spans.iter().enumerate().map(|(row, &(start, len))| {
                    valid
                        .is_valid(row)
                        .then(|| &buffer[start as usize..(start + len) as usize])
                });
                (DataType::Utf8, Arc::new(values.collect::<StringArray>()))
            }
        };
        (Field::new(self.name, data_type, true), array)
    }
}

fn to_texts<T: ToString>(values: &[T], valid: &BooleanBufferBuilder) -> Vec<Option<String>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| valid.get_bit(i).then(|| v.to_string()))
        .collect()
}

/// Key of a row within a table: node index, object index, period start (µs).
type RowKey = (u32, u32, i64);

/// Builder of one measurement table of one file.
#[derive(Debug, Default)]
pub struct TableBuilder {
    object_index: HashMap<Box<str>, u32>,
    row_of_key: HashMap<RowKey, u32>,
    object: Vec<u32>,
    ne: Vec<u32>,
    period_start: Vec<i64>,
    granularity_s: Vec<i32>,
    suspect: Vec<bool>,
    columns: Vec<CounterColumn>,
    column_of_name: HashMap<String, usize>,
}

impl TableBuilder {
    /// Index of the column for `counter`, created on first sight.
    pub fn column(&mut self, counter: &str) -> usize {
        let name = schema::counter_column_name(counter);
        if let Some(&index) = self.column_of_name.get(&name) {
            return index;
        }
        let index = self.columns.len();
        self.columns.push(CounterColumn::new(name.clone()));
        self.column_of_name.insert(name, index);
        index
    }

    /// Index of the row for a key, created on first sight (merging repeated keys).
    pub fn row(&mut self, ne: u32, object: &str, period_start: i64, granularity_s: i32) -> usize {
        let object = match self.object_index.get(object) {
            Some(&index) => index,
            None => {
                let index = self.object_index.len() as u32;
                self.object_index.insert(object.into(), index);
                index
            }
        };
        let next = self.ne.len() as u32;
        let row = *self
            .row_of_key
            .entry((ne, object, period_start))
            .or_insert(next);
        if row == next {
            self.ne.push(ne);
            self.object.push(object);
            self.period_start.push(period_start);
            self.granularity_s.push(granularity_s);
            self.suspect.push(false);
        }
        row as usize
    }

    /// Marks a row suspect (a merged row is suspect when any of its parts is).
    pub fn mark_suspect(&mut self, row: usize) {
        self.suspect[row] = true;
    }

    /// Stores one counter value.
    pub fn set(&mut self, row: usize, column: usize, value: Value<'_>) {
        self.columns[column].set(row, value);
    }

    /// Number of rows so far.
    pub fn num_rows(&self) -> usize {
        self.ne.len()
    }

    /// Builds the record batch: key columns, then counters in order of first sight.
    pub fn finish(
        self,
        system: &str,
        file_id: &str,
        ne_names: &[String],
    ) -> Result<RecordBatch, ArrowError> {
        let rows = self.num_rows();
        let mut object_names: Vec<&str> = vec![""; self.object_index.len()];
        for (name, &index) in &self.object_index {
            object_names[index as usize] = name;
        }
        let objects: Vec<&str> = self
            .object
            .iter()
            .map(|&i| object_names[i as usize])
            .collect();
        let mut fields = schema::key_fields();
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![system; rows])),
            Arc::new(StringArray::from_iter_values(
                self.ne.iter().map(|&i| ne_names[i as usize].as_str()),
            )),
            Arc::new(StringArray::from(objects)),
            Arc::new(TimestampMicrosecondArray::from(self.period_start).with_timezone("UTC")),
            Arc::new(Int32Array::from(self.granularity_s)),
            Arc::new(BooleanArray::from(self.suspect)),
            Arc::new(StringArray::from(vec![file_id; rows])),
        ];
        for column in self.columns {
            let (field, array) = column.finish(rows);
            fields.push(field);
            arrays.push(array);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int64Type};

    #[test]
    fn classify_covers_every_kind_of_value() {
        assert!(classify(b"\xff,\xfe").is_err());
        let classify = |raw: &'static str| classify(raw.as_bytes()).unwrap();
        assert_eq!(classify(" 42 "), Value::Int(42));
        assert_eq!(
            classify("9007199254740993"),
            Value::Int(9_007_199_254_740_993)
        );
        assert_eq!(classify("-1.5"), Value::Float(-1.5));
        assert_eq!(classify("NIL"), Value::Null);
        assert_eq!(classify(" \r\n"), Value::Null);
        assert_eq!(classify("1,2, 3"), Value::Text("1,2, 3"));
        assert_eq!(classify("NaN"), Value::Text("NaN"));
        assert_eq!(classify("99999999999999999999"), Value::Float(1e20));
    }

    fn finish(builder: TableBuilder) -> RecordBatch {
        builder.finish("5ga", "f", &["ne1".to_string()]).unwrap()
    }

    #[test]
    fn repeated_keys_merge_and_columns_widen() {
        let mut b = TableBuilder::default();
        let (c1, c2) = (b.column("c1"), b.column("c2"));
        let r0 = b.row(0, "cell=1", 0, 900);
        b.set(r0, c1, Value::Int(1));
        let r1 = b.row(0, "cell=2", 0, 900);
        b.set(r1, c1, Value::Float(2.5));
        assert_eq!(b.row(0, "cell=1", 0, 900), r0);
        b.set(r0, c2, Value::Text("1,2"));
        b.mark_suspect(r1);
        let batch = finish(b);
        assert_eq!(batch.num_rows(), 2);
        let c1 = batch
            .column_by_name("c1")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!((c1.value(0), c1.value(1)), (1.0, 2.5));
        let c2 = batch.column_by_name("c2").unwrap().as_string::<i32>();
        assert_eq!(c2.value(0), "1,2");
        assert!(c2.is_null(1));
        let suspect = batch.column_by_name("suspect").unwrap().as_boolean();
        assert!(!suspect.value(0) && suspect.value(1));
    }

    #[test]
    fn nulls_and_late_columns_are_padded() {
        let mut b = TableBuilder::default();
        let c1 = b.column("c1");
        let r0 = b.row(0, "a", 0, 900);
        b.set(r0, c1, Value::Null);
        let r1 = b.row(0, "b", 0, 900);
        let c2 = b.column("c2");
        b.set(r1, c2, Value::Int(7));
        let batch = finish(b);
        let c1 = batch
            .column_by_name("c1")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(c1.null_count(), 2);
        let c2 = batch
            .column_by_name("c2")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert!(c2.is_null(0));
        assert_eq!(c2.value(1), 7);
    }
}
