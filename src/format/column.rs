//! One counter column of a table being built, in the narrowest type its values need.
//!
//! A column starts as Int64 and widens in place when a value needs it, following
//! [`schema::widen`]: Int64 → Float64; a vector value (`1,0,3`) turns the column into
//! a vector (`List<Int64>`, or `List<Float64>` when an element is fractional) in which
//! single values are one-element vectors; a value that is no number at all turns it
//! into text. Integers stay exact and no value is read twice.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBufferBuilder, ListArray, PrimitiveArray, StringArray};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Field, Float64Type, Int64Type};

use super::builder::{Value, classify};
use crate::schema;

/// One element of a vector value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Element {
    Null,
    Int(i64),
    Float(f64),
}

/// The elements of `text` (comma-separated) into `out`, or `None` when one of them is
/// not a number (the value is then text).
fn parse_vector(text: &str, out: &mut Vec<Element>) -> Option<()> {
    out.clear();
    for item in text.as_bytes().split(|&b| b == b',') {
        out.push(match classify(item).ok()? {
            Value::Null => Element::Null,
            Value::Int(int) => Element::Int(int),
            Value::Float(float) => Element::Float(float),
            Value::Vector(_) | Value::Text(_) => return None,
        });
    }
    Some(())
}

/// Vector values of one column: each row's elements are a span of one buffer, so rows
/// may be set in any order (repeated keys merge) without an allocation per value.
#[derive(Debug)]
struct Vectors<T: ArrowPrimitiveType> {
    spans: Vec<(u32, u32)>,
    elements: Vec<T::Native>,
    present: Vec<bool>,
}

impl<T: ArrowPrimitiveType> Vectors<T> {
    /// Vectors of one element each from single values (absent rows stay absent).
    fn from_singles(values: &[T::Native]) -> Self {
        let mut vectors = Self {
            spans: Vec::with_capacity(values.len()),
            elements: Vec::with_capacity(values.len()),
            present: Vec::with_capacity(values.len()),
        };
        for &value in values {
            vectors.spans.push((vectors.elements.len() as u32, 1));
            vectors.elements.push(value);
            vectors.present.push(true);
        }
        vectors
    }

    /// The same vectors with every element converted by `convert`.
    fn map<U: ArrowPrimitiveType>(&self, convert: impl Fn(T::Native) -> U::Native) -> Vectors<U> {
        Vectors {
            spans: self.spans.clone(),
            elements: self.elements.iter().map(|&e| convert(e)).collect(),
            present: self.present.clone(),
        }
    }

    fn set(&mut self, row: usize, items: impl Iterator<Item = Option<T::Native>>) {
        let start = self.elements.len();
        for item in items {
            self.elements.push(item.unwrap_or_default());
            self.present.push(item.is_some());
        }
        self.spans[row] = (start as u32, (self.elements.len() - start) as u32);
    }

    /// The elements of `row` (`None` for a null element).
    fn row(&self, row: usize) -> impl Iterator<Item = Option<T::Native>> + '_ {
        let (start, len) = self.spans[row];
        let range = start as usize..(start + len) as usize;
        self.elements[range.clone()]
            .iter()
            .zip(&self.present[range])
            .map(|(&e, &present)| present.then_some(e))
    }

    fn finish(self, nulls: NullBuffer, element_type: DataType) -> ListArray {
        let rows = self.spans.len();
        let mut elements = Vec::with_capacity(self.elements.len());
        let mut present = Vec::with_capacity(self.elements.len());
        let mut lengths = Vec::with_capacity(rows);
        for row in 0..rows {
            let before = elements.len();
            if nulls.is_valid(row) {
                for item in self.row(row) {
                    elements.push(item.unwrap_or_default());
                    present.push(item.is_some());
                }
            }
            lengths.push(elements.len() - before);
        }
        let values = PrimitiveArray::<T>::new(elements.into(), Some(NullBuffer::from(present)))
            .with_data_type(element_type.clone());
        ListArray::new(
            Arc::new(Field::new(schema::VECTOR_ELEMENT, element_type, true)),
            OffsetBuffer::from_lengths(lengths),
            Arc::new(values),
            Some(nulls),
        )
    }
}

/// The values of one counter column, in the narrowest type seen so far. Text values
/// live in one buffer per column (no allocation per value), addressed by span.
#[derive(Debug)]
enum ColumnData {
    Int(Vec<i64>),
    Float(Vec<f64>),
    IntVectors(Vectors<Int64Type>),
    FloatVectors(Vectors<Float64Type>),
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

    /// The text form of `row`: the number, or a vector's elements joined by `,` (a
    /// null element empty).
    fn text_of(&self, row: usize) -> String {
        fn join<T: ToString>(items: impl Iterator<Item = Option<T>>) -> String {
            let texts: Vec<String> = items
                .map(|i| i.map_or_else(String::new, |v| v.to_string()))
                .collect();
            texts.join(",")
        }
        match self {
            ColumnData::Int(v) => v[row].to_string(),
            ColumnData::Float(v) => v[row].to_string(),
            ColumnData::IntVectors(v) => join(v.row(row)),
            ColumnData::FloatVectors(v) => join(v.row(row)),
            ColumnData::Text { buffer, spans } => {
                let (start, len) = spans[row];
                buffer[start as usize..(start + len) as usize].to_string()
            }
        }
    }
}

/// One counter column: its name, values and which rows have one.
#[derive(Debug)]
pub(super) struct CounterColumn {
    pub(super) name: String,
    data: ColumnData,
    valid: BooleanBufferBuilder,
    /// Elements of the vector value being stored (kept to reuse its allocation).
    scratch: Vec<Element>,
}

impl CounterColumn {
    pub(super) fn new(name: String) -> Self {
        Self {
            name,
            data: ColumnData::Int(Vec::new()),
            valid: BooleanBufferBuilder::new(0),
            scratch: Vec::new(),
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
            ColumnData::IntVectors(v) => v.spans.resize(len, (0, 0)),
            ColumnData::FloatVectors(v) => v.spans.resize(len, (0, 0)),
            ColumnData::Text { spans, .. } => spans.resize(len, (0, 0)),
        }
        self.valid.append_n(missing, false);
    }

    fn widen_to_float(&mut self) {
        match &self.data {
            ColumnData::Int(ints) => {
                self.data = ColumnData::Float(ints.iter().map(|&i| i as f64).collect());
            }
            ColumnData::IntVectors(ints) => {
                self.data = ColumnData::FloatVectors(ints.map(|i| i as f64));
            }
            _ => {}
        }
    }

    fn widen_to_vectors(&mut self) {
        match &self.data {
            ColumnData::Int(ints) => {
                self.data = ColumnData::IntVectors(Vectors::from_singles(ints))
            }
            ColumnData::Float(floats) => {
                self.data = ColumnData::FloatVectors(Vectors::from_singles(floats));
            }
            _ => {}
        }
    }

    fn widen_to_text(&mut self) {
        if matches!(self.data, ColumnData::Text { .. }) {
            return;
        }
        let texts: Vec<Option<String>> = (0..self.len())
            .map(|row| self.valid.get_bit(row).then(|| self.data.text_of(row)))
            .collect();
        self.data = ColumnData::Text {
            buffer: String::new(),
            spans: vec![(0, 0); texts.len()],
        };
        for (row, text) in texts.iter().enumerate() {
            if let Some(text) = text {
                self.data.set_text(row, text);
            }
        }
    }

    /// Stores `value` at `row`, widening the column first if the value needs it.
    pub(super) fn set(&mut self, row: usize, value: Value<'_>) {
        self.pad_to(row + 1);
        // The common cases first, without widening checks.
        match (&mut self.data, value) {
            (_, Value::Null) => return,
            (ColumnData::Int(v), Value::Int(int)) => v[row] = int,
            (ColumnData::Float(v), Value::Int(int)) => v[row] = int as f64,
            (ColumnData::Float(v), Value::Float(float)) => v[row] = float,
            (_, value) => self.set_widening(row, value),
        }
        self.valid.set_bit(row, true);
    }

    /// Stores a value the column may need to widen for.
    fn set_widening(&mut self, row: usize, value: Value<'_>) {
        match value {
            Value::Null => {}
            Value::Int(int) => self.set_number(row, Element::Int(int)),
            Value::Float(float) => self.set_number(row, Element::Float(float)),
            Value::Vector(text) => {
                let mut elements = std::mem::take(&mut self.scratch);
                let is_text = matches!(self.data, ColumnData::Text { .. });
                match parse_vector(text, &mut elements) {
                    Some(()) if !is_text => self.set_vector(row, &elements),
                    _ => self.set_text(row, text),
                }
                self.scratch = elements;
            }
            Value::Text(text) => self.set_text(row, text),
        }
    }

    fn set_text(&mut self, row: usize, text: &str) {
        self.widen_to_text();
        self.data.set_text(row, text);
    }

    fn set_number(&mut self, row: usize, number: Element) {
        if matches!(number, Element::Float(_)) {
            self.widen_to_float();
        }
        match (&mut self.data, number) {
            (ColumnData::Int(v), Element::Int(int)) => v[row] = int,
            (ColumnData::Float(v), Element::Int(int)) => v[row] = int as f64,
            (ColumnData::Float(v), Element::Float(float)) => v[row] = float,
            (ColumnData::Text { .. }, _) => {
                let text = match number {
                    Element::Int(int) => int.to_string(),
                    Element::Float(float) => float.to_string(),
                    Element::Null => String::new(),
                };
                self.data.set_text(row, &text);
            }
            (_, _) => self.set_vector(row, &[number]),
        }
    }

    fn set_vector(&mut self, row: usize, elements: &[Element]) {
        self.widen_to_vectors();
        if elements.iter().any(|e| matches!(e, Element::Float(_))) {
            self.widen_to_float();
        }
        match &mut self.data {
            ColumnData::IntVectors(v) => v.set(
                row,
                elements.iter().map(|e| match e {
                    Element::Int(int) => Some(*int),
                    _ => None,
                }),
            ),
            ColumnData::FloatVectors(v) => v.set(
                row,
                elements.iter().map(|e| match e {
                    Element::Int(int) => Some(*int as f64),
                    Element::Float(float) => Some(*float),
                    Element::Null => None,
                }),
            ),
            _ => {}
        }
    }

    /// The column's field and array, padded to `rows`.
    pub(super) fn finish(mut self, rows: usize) -> (Field, ArrayRef) {
        self.pad_to(rows);
        let nulls = NullBuffer::new(self.valid.finish());
        let (data_type, array): (DataType, ArrayRef) = match self.data {
            ColumnData::Int(v) => (
                DataType::Int64,
                Arc::new(PrimitiveArray::<Int64Type>::new(v.into(), Some(nulls))),
            ),
            ColumnData::Float(v) => (
                DataType::Float64,
                Arc::new(PrimitiveArray::<Float64Type>::new(v.into(), Some(nulls))),
            ),
            ColumnData::IntVectors(v) => (
                schema::vector_type(DataType::Int64),
                Arc::new(v.finish(nulls, DataType::Int64)),
            ),
            ColumnData::FloatVectors(v) => (
                schema::vector_type(DataType::Float64),
                Arc::new(v.finish(nulls, DataType::Float64)),
            ),
            ColumnData::Text { buffer, spans } => {
                let values = spans.iter().enumerate().map(|(row, &(start, len))| {
                    nulls
                        .is_valid(row)
                        .then(|| &buffer[start as usize..(start + len) as usize])
                });
                (DataType::Utf8, Arc::new(values.collect::<StringArray>()))
            }
        };
        (Field::new(self.name, data_type, true), array)
    }
}

/// A text column typed again as parsing types values (numbers, vectors, else text):
/// for archives written when vector counters were text.
pub fn retype(name: &str, texts: &StringArray) -> (Field, ArrayRef) {
    let mut column = CounterColumn::new(name.to_string());
    for (row, text) in texts.iter().enumerate() {
        // Text read back from Parquet is UTF-8 already.
        let value = text.map_or(Value::Null, |t| {
            classify(t.as_bytes()).unwrap_or(Value::Text(t))
        });
        column.set(row, value);
    }
    column.finish(arrow::array::Array::len(texts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    /// The column after storing `values` in rows 0, 1, …, padded to one more row.
    fn column(values: &[Value<'_>]) -> ArrayRef {
        let mut column = CounterColumn::new("c".into());
        for (row, value) in values.iter().enumerate() {
            column.set(row, *value);
        }
        column.finish(values.len() + 1).1
    }

    /// Each row of a vector column as text, `-` for a null element, `null` for a null
    /// row.
    fn vectors(array: &ArrayRef) -> Vec<String> {
        let list = array.as_list::<i32>();
        (0..list.len())
            .map(|row| {
                if list.is_null(row) {
                    return "null".into();
                }
                let values = arrow::compute::cast(&list.value(row), &DataType::Utf8).unwrap();
                let texts = values.as_string::<i32>();
                let items: Vec<&str> = (0..texts.len())
                    .map(|i| {
                        if texts.is_null(i) {
                            "-"
                        } else {
                            texts.value(i)
                        }
                    })
                    .collect();
                items.join(" ")
            })
            .collect()
    }

    #[test]
    fn text_columns_of_old_archives_are_typed_again() {
        let texts = StringArray::from(vec![Some("5"), None, Some("1,0,3")]);
        let (field, array) = retype("c", &texts);
        assert_eq!(field.data_type(), &schema::vector_type(DataType::Int64));
        assert_eq!(vectors(&array), ["5", "null", "1 0 3"]);
        let texts = StringArray::from(vec![Some("n/a"), Some("2")]);
        let (field, _) = retype("c", &texts);
        assert_eq!(field.data_type(), &DataType::Utf8);
    }

    #[test]
    fn single_values_and_vectors_share_one_vector_column_in_either_order() {
        let after = column(&[Value::Int(5), Value::Vector("1,0,3"), Value::Null]);
        assert_eq!(after.data_type(), &schema::vector_type(DataType::Int64));
        assert_eq!(vectors(&after), ["5", "1 0 3", "null", "null"]);
        let before = column(&[Value::Vector("1, NIL ,3"), Value::Int(5)]);
        assert_eq!(vectors(&before), ["1 - 3", "5", "null"]);
    }

    #[test]
    fn a_fractional_element_or_value_makes_float_vectors() {
        let array = column(&[Value::Vector("1,2"), Value::Vector("0.5,1"), Value::Int(7)]);
        assert_eq!(array.data_type(), &schema::vector_type(DataType::Float64));
        assert_eq!(vectors(&array), ["1.0 2.0", "0.5 1.0", "7.0", "null"]);
        let array = column(&[Value::Float(0.5), Value::Vector("1,2")]);
        assert_eq!(vectors(&array), ["0.5", "1.0 2.0", "null"]);
    }

    #[test]
    fn text_anywhere_makes_the_column_text_and_keeps_vectors_readable() {
        let array = column(&[
            Value::Vector("1,,3"),
            Value::Text("n/a"),
            Value::Vector("4,5"),
        ]);
        let texts = array.as_string::<i32>();
        assert_eq!(
            (texts.value(0), texts.value(1), texts.value(2)),
            ("1,,3", "n/a", "4,5")
        );
        let array = column(&[Value::Vector("a,b"), Value::Int(1)]);
        let texts = array.as_string::<i32>();
        assert_eq!((texts.value(0), texts.value(1)), ("a,b", "1"));
        assert!(texts.is_null(2));
    }
}
