//! Accumulates the rows of one measurement table straight into Arrow buffers.
//!
//! Rows are keyed by `(ne, object, period_start)`: values of two `measInfo` blocks that
//! land on the same key merge into one row. Each counter column keeps the narrowest
//! type its values need ([`super::column`]).

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int32Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::Schema;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use std::hash::BuildHasher;

use foldhash::{HashMap, HashSet};

use super::column::CounterColumn;
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
    /// Comma-separated values such as `1,0,3`: a vector (PDF) counter when every
    /// element is a number, else text.
    Vector(&'a str),
    /// Anything else, kept whole.
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
    if bytes.contains(&b',') {
        return Ok(Value::Vector(text));
    }
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

/// Key of a row within a table: node index, object index, period start (µs).
type RowKey = (u32, u32, i64);

/// Builder of one measurement table of one file, or of one part of a large file.
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
    /// Hashes of the keys of rows handed out in earlier parts.
    handed_out: HashSet<u64>,
    /// Whether a row took a key that an earlier part already had.
    repeated_key: bool,
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
        let object_index = match self.object_index.get(object) {
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
            .entry((ne, object_index, period_start))
            .or_insert(next);
        if row == next {
            self.ne.push(ne);
            self.object.push(object_index);
            self.period_start.push(period_start);
            self.granularity_s.push(granularity_s);
            self.suspect.push(false);
            if !self.handed_out.is_empty()
                && self
                    .handed_out
                    .contains(&key_hash(ne, object, period_start))
            {
                self.repeated_key = true;
            }
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

    /// Whether a row of this part took the key of a row an earlier part handed out:
    /// the two would have merged into one row had the file been read whole.
    pub fn repeated_key(&self) -> bool {
        self.repeated_key
    }

    /// Builds the record batch of the rows so far and starts an empty part with the
    /// same columns (column indices stay valid), remembering the keys handed out.
    pub fn take_part(
        &mut self,
        system: &str,
        file_id: &str,
        ne_names: &[String],
    ) -> Result<RecordBatch, ArrowError> {
        self.build(system, file_id, ne_names, true)
    }

    /// Builds the record batch: key columns, then counters in order of first sight.
    pub fn finish(
        mut self,
        system: &str,
        file_id: &str,
        ne_names: &[String],
    ) -> Result<RecordBatch, ArrowError> {
        self.build(system, file_id, ne_names, false)
    }

    /// The batch of the rows so far, leaving an empty part behind; `remember` keeps
    /// their keys to notice them in later parts.
    fn build(
        &mut self,
        system: &str,
        file_id: &str,
        ne_names: &[String],
        remember: bool,
    ) -> Result<RecordBatch, ArrowError> {
        // A later part keeps the columns (their indices stay valid); the last needs none.
        let left: Vec<CounterColumn> = match remember {
            true => self
                .columns
                .iter()
                .map(|c| CounterColumn::new(c.name.clone()))
                .collect(),
            false => Vec::new(),
        };
        let columns = std::mem::replace(&mut self.columns, left);
        let object_index = std::mem::take(&mut self.object_index);
        self.row_of_key.clear();
        let mut object_names: Vec<&str> = vec![""; object_index.len()];
        for (name, &index) in &object_index {
            object_names[index as usize] = name;
        }
        let objects: Vec<&str> = self
            .object
            .iter()
            .map(|&i| object_names[i as usize])
            .collect();
        if remember {
            let keys = self.ne.iter().zip(&objects).zip(&self.period_start);
            for ((&ne, object), &period) in keys {
                self.handed_out.insert(key_hash(ne, object, period));
            }
        }
        let rows = self.num_rows();
        let mut fields = schema::key_fields();
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![system; rows])),
            Arc::new(StringArray::from_iter_values(
                self.ne.iter().map(|&i| ne_names[i as usize].as_str()),
            )),
            Arc::new(StringArray::from(objects)),
            Arc::new(
                TimestampMicrosecondArray::from(std::mem::take(&mut self.period_start))
                    .with_timezone("UTC"),
            ),
            Arc::new(Int32Array::from(std::mem::take(&mut self.granularity_s))),
            Arc::new(BooleanArray::from(std::mem::take(&mut self.suspect))),
            Arc::new(StringArray::from(vec![file_id; rows])),
        ];
        self.ne.clear();
        self.object.clear();
        for column in columns {
            let (field, array) = column.finish(rows);
            fields.push(field);
            arrays.push(array);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
    }
}

/// The hash a handed-out row key is remembered by (a collision only makes a large
/// file read whole, never a wrong row).
fn key_hash(ne: u32, object: &str, period_start: i64) -> u64 {
    foldhash::fast::FixedState::with_seed(0).hash_one((ne, object, period_start))
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
        assert_eq!(classify("1,2, 3"), Value::Vector("1,2, 3"));
        assert_eq!(classify("n/a"), Value::Text("n/a"));
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
        b.set(r0, c2, Value::Text("n/a"));
        b.mark_suspect(r1);
        let batch = finish(b);
        assert_eq!(batch.num_rows(), 2);
        let c1 = batch
            .column_by_name("c1")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!((c1.value(0), c1.value(1)), (1.0, 2.5));
        let c2 = batch.column_by_name("c2").unwrap().as_string::<i32>();
        assert_eq!(c2.value(0), "n/a");
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

    #[test]
    fn parts_keep_their_columns_and_notice_a_key_that_comes_back() {
        let mut b = TableBuilder::default();
        let c1 = b.column("c1");
        let r0 = b.row(0, "a", 0, 900);
        b.set(r0, c1, Value::Int(1));
        let first = b.take_part("5ga", "f", &["ne1".to_string()]).unwrap();
        assert_eq!(first.num_rows(), 1);
        assert_eq!(b.num_rows(), 0);
        // The column index stays valid; a new key is no repeat.
        let r0 = b.row(0, "b", 0, 900);
        b.set(r0, c1, Value::Float(2.5));
        assert!(!b.repeated_key());
        let second = b.take_part("5ga", "f", &["ne1".to_string()]).unwrap();
        let c1 = second
            .column_by_name("c1")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!((second.num_rows(), c1.value(0)), (1, 2.5));
        // Key `a` again (another period is another key).
        b.row(0, "a", 900, 900);
        assert!(!b.repeated_key());
        b.row(0, "a", 0, 900);
        assert!(b.repeated_key());
    }
}
