//! Arrow batches as ClickHouse `RowBinary`: each row's values one after the other,
//! little-endian numbers, strings prefixed by their LEB128 length, `Nullable` values
//! by a null flag byte. A compact binary body that every ClickHouse release reads,
//! encoded straight from the Arrow arrays.

use std::ops::Range;

use arrow::array::{Array, RecordBatch};
use arrow::error::ArrowError;

use super::tables::{Base, ColumnType, TableLayout};
use crate::sink::values::ColumnValues;

/// A batch ready to be encoded: every column of the table in table order, with the
/// batch's values cast to the column's type (`None`: the batch lacks the column, its
/// values are null).
pub struct RowBinary {
    columns: Vec<(ColumnType, Option<ColumnValues>)>,
}

impl RowBinary {
    /// Prepares `batch` for `layout`'s table (which must cover it).
    pub fn new(batch: &RecordBatch, layout: &TableLayout) -> Result<Self, ArrowError> {
        let columns = layout
            .columns
            .iter()
            .map(|(name, column)| {
                let values = batch
                    .column_by_name(name)
                    .map(|array| ColumnValues::new(array, column.kind()))
                    .transpose()?;
                Ok((*column, values))
            })
            .collect::<Result<_, ArrowError>>()?;
        Ok(Self { columns })
    }

    /// The `RowBinary` encoding of `rows`.
    pub fn encode(&self, rows: Range<usize>) -> Vec<u8> {
        let mut out = Vec::with_capacity(rows.len() * self.columns.len() * 9);
        for row in rows {
            for (column, values) in &self.columns {
                encode_value(&mut out, *column, values, row);
            }
        }
        out
    }
}

fn encode_value(out: &mut Vec<u8>, column: ColumnType, values: &Option<ColumnValues>, row: usize) {
    let valid = match values {
        None => false,
        Some(ColumnValues::Integer(v)) => v.is_valid(row),
        Some(ColumnValues::Float(v)) => v.is_valid(row),
        Some(ColumnValues::Text(v)) => v.is_valid(row),
        Some(ColumnValues::Boolean(v)) => v.is_valid(row),
        Some(ColumnValues::Timestamp(v)) => v.is_valid(row),
    };
    if column.nullable {
        out.push(u8::from(!valid));
        if !valid {
            return;
        }
    }
    if !valid {
        // A key column the batch lacks or has null (rule outputs): its default.
        match column.base {
            Base::Int32 | Base::DateTime => out.extend_from_slice(&[0; 4]),
            Base::Int64 | Base::Float64 => out.extend_from_slice(&[0; 8]),
            Base::UInt8 | Base::String => out.push(0),
        }
        return;
    }
    match (column.base, values.as_ref().expect("valid values exist")) {
        (Base::Int32, ColumnValues::Integer(v)) => {
            out.extend_from_slice(&(v.value(row) as i32).to_le_bytes())
        }
        (Base::Int64, ColumnValues::Integer(v)) => {
            out.extend_from_slice(&v.value(row).to_le_bytes())
        }
        (Base::UInt8, ColumnValues::Boolean(v)) => out.push(u8::from(v.value(row))),
        (Base::Float64, ColumnValues::Float(v)) => {
            out.extend_from_slice(&v.value(row).to_le_bytes())
        }
        (Base::String, ColumnValues::Text(v)) => {
            leb128(out, v.value(row).len() as u64);
            out.extend_from_slice(v.value(row).as_bytes());
        }
        (Base::DateTime, ColumnValues::Timestamp(v)) => {
            let seconds = v.value(row).div_euclid(1_000_000).clamp(0, u32::MAX as i64);
            out.extend_from_slice(&(seconds as u32).to_le_bytes())
        }
        (base, _) => unreachable!("values are cast to the kind of {base:?}"),
    }
}

/// Unsigned LEB128, ClickHouse's `VarUInt`.
fn leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn rows_encode_as_clickhouse_reads_them() {
        let schema = Schema::new(vec![
            Field::new("ne", DataType::Utf8, false),
            Field::new("c", DataType::Int64, true),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["ab", &"x".repeat(200)])),
            Arc::new(Int64Array::from(vec![Some(-2), None])),
        ];
        let batch = RecordBatch::try_new(Arc::new(schema), columns).unwrap();
        let string = ColumnType {
            base: Base::String,
            nullable: false,
        };
        let counter = ColumnType {
            base: Base::Int64,
            nullable: true,
        };
        let layout = TableLayout {
            quoted: "`t`".into(),
            columns: vec![
                ("ne".into(), string),
                ("c".into(), counter),
                ("d".into(), counter),
            ],
        };
        let encoded = RowBinary::new(&batch, &layout).unwrap();
        let mut first = vec![2, b'a', b'b', 0];
        first.extend_from_slice(&(-2i64).to_le_bytes());
        first.push(1); // `d`, which the batch lacks: null
        assert_eq!(encoded.encode(0..1), first);
        let second = encoded.encode(1..2);
        assert_eq!(&second[..2], [0xc8, 0x01], "200 as LEB128");
        assert_eq!(second.len(), 2 + 200 + 1 + 1, "null counters: flags only");
    }
}
