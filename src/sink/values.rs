//! Arrow columns as the few kinds of values database sinks write: every sink maps an
//! Arrow type to one of these kinds, casts the column to the kind's canonical array,
//! and encodes those values in its own wire format.

use arrow::array::{
    ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType};
use arrow::error::ArrowError;

use crate::schema;

/// How a column's values are written, and its rank in the widening order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Whole numbers.
    Integer,
    /// Floating-point numbers.
    Float,
    /// Strings, and vector counters in their text form (`1,0,3`).
    Text,
    /// Booleans (key column `suspect`, rule outputs).
    Boolean,
    /// UTC timestamps.
    Timestamp,
}

impl ValueKind {
    /// The kind an Arrow type is written as; types without a kind of their own are
    /// written as their text form.
    pub fn of(data_type: &DataType) -> Self {
        match data_type {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64 => Self::Integer,
            DataType::Float16
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(..) => Self::Float,
            DataType::Boolean => Self::Boolean,
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => Self::Timestamp,
            _ => Self::Text,
        }
    }

    /// Rank in the widening order integer (and boolean) < float < text; timestamps
    /// never widen.
    pub fn rank(self) -> Option<u8> {
        match self {
            Self::Integer | Self::Boolean => Some(0),
            Self::Float => Some(1),
            Self::Text => Some(2),
            Self::Timestamp => None,
        }
    }

    /// Whether a column of this kind holds every value of `needed`.
    pub fn holds(self, needed: Self) -> bool {
        self == needed || self.rank() > needed.rank()
    }
}

/// One column's values, cast to the canonical array of their kind.
pub enum ColumnValues {
    /// 64-bit integers.
    Integer(Int64Array),
    /// 64-bit floats.
    Float(Float64Array),
    /// UTF-8 strings.
    Text(StringArray),
    /// Booleans.
    Boolean(BooleanArray),
    /// Microseconds since the epoch, UTC.
    Timestamp(TimestampMicrosecondArray),
}

impl ColumnValues {
    /// Casts `array` to the canonical array of `kind`.
    pub fn new(array: &ArrayRef, kind: ValueKind) -> Result<Self, ArrowError> {
        Ok(match kind {
            ValueKind::Integer => Self::Integer(
                cast(array, &DataType::Int64)?
                    .as_primitive::<Int64Type>()
                    .clone(),
            ),
            ValueKind::Float => Self::Float(
                cast(array, &DataType::Float64)?
                    .as_primitive::<Float64Type>()
                    .clone(),
            ),
            ValueKind::Text => Self::Text(match array.as_list_opt::<i32>() {
                Some(vectors) => schema::vector_text(vectors)?,
                None => cast(array, &DataType::Utf8)?.as_string().clone(),
            }),
            ValueKind::Boolean => {
                Self::Boolean(cast(array, &DataType::Boolean)?.as_boolean().clone())
            }
            ValueKind::Timestamp => Self::Timestamp(
                cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?
                    .as_primitive::<TimestampMicrosecondType>()
                    .clone(),
            ),
        })
    }
}
