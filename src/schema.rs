//! The data model of DESIGN.md: key columns shared by every measurement table, the
//! types a counter column may take, and how two schemas of one table merge.
//!
//! Every stage relies on these definitions: parsers produce them, the plan aligns
//! batches to them, sinks and `query` read them. Keeping them in one place is what
//! makes "schema evolution is normal, not an error" a single rule instead of many.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray, StringArray};
use arrow::buffer::OffsetBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;

/// Name of the key column holding the plan (system) name, e.g. `5ga`.
pub const SYSTEM: &str = "system";
/// Name of the key column holding the managed element (node) name.
pub const NE: &str = "ne";
/// Name of the key column holding the measured object (`measObjLdn`).
pub const OBJECT: &str = "object";
/// Name of the key column holding the begin of the granularity period (UTC).
pub const PERIOD_START: &str = "period_start";
/// Name of the key column holding the granularity period in seconds.
pub const GRANULARITY_S: &str = "granularity_s";
/// Name of the key column telling whether the file flagged the row as suspect.
pub const SUSPECT: &str = "suspect";
/// Name of the key column holding the content hash of the source file (lineage).
pub const FILE_ID: &str = "file_id";

/// Names that counters may never take: the key columns plus the archive's hive
/// partition columns (`table`, `date`), which `query` adds to every table.
pub const RESERVED_NAMES: [&str; 9] = [
    SYSTEM,
    NE,
    OBJECT,
    PERIOD_START,
    GRANULARITY_S,
    SUSPECT,
    FILE_ID,
    "table",
    "date",
];

/// The row key: writing a file twice must leave every store as if written once, so
/// every database sink keys its rows by these columns.
pub const ROW_KEY: [&str; 3] = [NE, OBJECT, PERIOD_START];

/// Number of key columns at the head of every measurement table's schema.
pub const KEY_COLUMNS: usize = 7;

/// Arrow type of `period_start`: microseconds in UTC, the unit every sink and
/// Parquet reader understands natively.
pub fn period_start_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The key fields, in order, that start every measurement table's schema.
pub fn key_fields() -> Vec<Field> {
    vec![
        Field::new(SYSTEM, DataType::Utf8, false),
        Field::new(NE, DataType::Utf8, false),
        Field::new(OBJECT, DataType::Utf8, false),
        Field::new(PERIOD_START, period_start_type(), false),
        Field::new(GRANULARITY_S, DataType::Int32, false),
        Field::new(SUSPECT, DataType::Boolean, false),
        Field::new(FILE_ID, DataType::Utf8, false),
    ]
}

/// Maps a counter name from a file to the column name used for it in Arrow and
/// Parquet. Names are kept as they are (Parquet and DataFusion accept any UTF-8),
/// except those that would shadow a key or partition column: `ne` becomes
/// `ne_counter`, compared case-insensitively. Deterministic, so every file and every
/// sink agrees on it.
pub fn counter_column_name(counter: &str) -> String {
    if RESERVED_NAMES
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(counter))
    {
        format!("{counter}_counter")
    } else {
        counter.to_string()
    }
}

/// Name of the element field of a vector counter's list type: the name Parquet's
/// list convention and the Delta protocol use, so a schema read back from the archive
/// equals the one written.
pub const VECTOR_ELEMENT: &str = "element";

/// Arrow type of a vector (PDF) counter whose elements are `element` (Int64 or
/// Float64); elements may be null (`NIL` inside a vector).
pub fn vector_type(element: DataType) -> DataType {
    DataType::List(Arc::new(Field::new(VECTOR_ELEMENT, element, true)))
}

/// A counter type taken apart: whether it is a vector, and the rank of its numbers
/// (0 integer, 1 float); `None` for text and types a counter never takes.
fn numeric_shape(data_type: &DataType) -> Option<(bool, u8)> {
    let rank = |t: &DataType| match t {
        DataType::Int64 => Some(0),
        DataType::Float64 => Some(1),
        _ => None,
    };
    match data_type {
        DataType::List(element) => Some((true, rank(element.data_type())?)),
        scalar => Some((false, rank(scalar)?)),
    }
}

/// The narrowest counter type that holds values of both `a` and `b`: integers widen
/// to floats when a value needs it, a single value widens to a one-element vector
/// when the counter is a vector elsewhere (`Int64` < `List<Int64>` < `List<Float64>`,
/// `Float64` < `List<Float64>`), and anything else widens to text.
pub fn widen(a: &DataType, b: &DataType) -> DataType {
    match (numeric_shape(a), numeric_shape(b)) {
        (Some((a_vector, a_rank)), Some((b_vector, b_rank))) => {
            let element = if a_rank.max(b_rank) == 0 {
                DataType::Int64
            } else {
                DataType::Float64
            };
            if a_vector || b_vector {
                vector_type(element)
            } else {
                element
            }
        }
        _ => DataType::Utf8,
    }
}

/// Casts a counter column to the (equal or wider) type `to`. A single value becomes a
/// one-element vector and a null stays null, which Arrow's own cast does not do.
pub fn cast_counter(array: &ArrayRef, to: &DataType) -> Result<ArrayRef, ArrowError> {
    match to {
        DataType::List(element) if !matches!(array.data_type(), DataType::List(_)) => {
            let values = cast(array, element.data_type())?;
            let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(1, values.len()));
            let nulls = values.logical_nulls();
            Ok(Arc::new(ListArray::try_new(
                element.clone(),
                offsets,
                values,
                nulls,
            )?))
        }
        _ => cast(array, to),
    }
}

/// The text form of a vector counter, as the file wrote it: the elements joined by
/// `,`, a null element empty (`1,,3`). Stores without a list type (MySQL, ClickHouse
/// `String` columns, Kafka JSON) and CSV output take vectors in this form.
pub fn vector_text(list: &ListArray) -> Result<StringArray, ArrowError> {
    let elements = cast(list.values(), &DataType::Utf8)?;
    let elements = elements.as_string::<i32>();
    let mut joined = String::new();
    let texts = (0..list.len()).map(|row| {
        if list.is_null(row) {
            return None;
        }
        joined.clear();
        let range = list.value_offsets()[row] as usize..list.value_offsets()[row + 1] as usize;
        for (n, i) in range.enumerate() {
            if n > 0 {
                joined.push(',');
            }
            if elements.is_valid(i) {
                joined.push_str(elements.value(i));
            }
        }
        Some(joined.clone())
    });
    Ok(texts.collect())
}

/// Merges `incoming` into `current`: counters not yet known are appended (nullable),
/// counters whose type differs are widened. Returns `None` when nothing changed, so
/// callers can keep sharing the same `SchemaRef` (and compiled rules) cheaply.
pub fn merge(current: &Schema, incoming: &Schema) -> Option<Schema> {
    let mut fields: Vec<Field> = current
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut changed = false;
    for field in incoming.fields() {
        match current.index_of(field.name()) {
            Ok(index) => {
                let widened = widen(fields[index].data_type(), field.data_type());
                if &widened != fields[index].data_type() && index >= KEY_COLUMNS {
                    fields[index] = Field::new(field.name(), widened, true);
                    changed = true;
                }
            }
            Err(_) => {
                fields.push(Field::new(field.name(), field.data_type().clone(), true));
                changed = true;
            }
        }
    }
    changed.then(|| Schema::new(fields))
}

/// Merges any number of schemas of one table into one, starting from the key fields.
pub fn merge_all<'a>(schemas: impl IntoIterator<Item = &'a Schema>) -> SchemaRef {
    let mut merged = Schema::new(key_fields());
    for schema in schemas {
        if let Some(next) = merge(&merged, schema) {
            merged = next;
        }
    }
    Arc::new(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(counters: &[(&str, DataType)]) -> Schema {
        let mut fields = key_fields();
        fields.extend(
            counters
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true)),
        );
        Schema::new(fields)
    }

    #[test]
    fn merge_appends_new_counters_and_widens_types() {
        let old = table(&[("a", DataType::Int64), ("b", DataType::Int64)]);
        let new = table(&[("b", DataType::Float64), ("c", DataType::Utf8)]);
        let merged = merge(&old, &new).expect("changed");
        let names: Vec<_> = merged.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(&names[KEY_COLUMNS..], ["a", "b", "c"]);
        assert_eq!(
            merged.field_with_name("b").unwrap().data_type(),
            &DataType::Float64
        );
        assert_eq!(
            merged.field_with_name("c").unwrap().data_type(),
            &DataType::Utf8
        );
    }

    #[test]
    fn merge_reports_no_change_and_never_narrows() {
        let old = table(&[("a", DataType::Float64)]);
        let new = table(&[("a", DataType::Int64)]);
        assert!(merge(&old, &new).is_none());
    }

    #[test]
    fn single_values_widen_to_vectors_and_vectors_to_float_vectors() {
        let (int, float) = (DataType::Int64, DataType::Float64);
        let (ints, floats) = (vector_type(int.clone()), vector_type(float.clone()));
        assert_eq!(widen(&int, &ints), ints);
        assert_eq!(widen(&ints, &int), ints);
        assert_eq!(widen(&float, &ints), floats);
        assert_eq!(widen(&ints, &floats), floats);
        assert_eq!(widen(&floats, &int), floats);
        assert_eq!(widen(&ints, &DataType::Utf8), DataType::Utf8);
    }

    #[test]
    fn a_single_value_casts_to_a_one_element_vector_and_null_stays_null() {
        use arrow::array::{Array, AsArray, Int64Array};
        use arrow::datatypes::Float64Type;
        let single: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), None]));
        let cast = cast_counter(&single, &vector_type(DataType::Float64)).unwrap();
        let list = cast.as_list::<i32>();
        assert_eq!(list.len(), 2);
        assert!(list.is_null(1));
        let first = list.value(0);
        assert_eq!(first.as_primitive::<Float64Type>().values(), &[5.0]);
    }

    #[test]
    fn vectors_read_as_text_as_the_file_wrote_them() {
        use arrow::array::Int64Array;
        let single: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), None]));
        let one = cast_counter(&single, &vector_type(DataType::Int64)).unwrap();
        let text = vector_text(one.as_list::<i32>()).unwrap();
        assert_eq!((text.value(0), text.is_null(1)), ("5", true));
        let list = ListArray::from_iter_primitive::<arrow::datatypes::Int64Type, _, _>(vec![
            Some(vec![Some(1), None, Some(3)]),
            Some(vec![]),
        ]);
        let text = vector_text(&list).unwrap();
        assert_eq!((text.value(0), text.value(1)), ("1,,3", ""));
    }

    #[test]
    fn reserved_counter_names_are_suffixed() {
        assert_eq!(counter_column_name("NE"), "NE_counter");
        assert_eq!(counter_column_name("date"), "date_counter");
        assert_eq!(
            counter_column_name("pmRrcConnEstabSucc"),
            "pmRrcConnEstabSucc"
        );
    }
}
