//! The data model of DESIGN.md: key columns shared by every measurement table, the
//! types a counter column may take, and how two schemas of one table merge.
//!
//! Every stage relies on these definitions: parsers produce them, the plan aligns
//! batches to them, sinks and `query` read them. Keeping them in one place is what
//! makes "schema evolution is normal, not an error" a single rule instead of many.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

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

/// Rank of a counter type in the widening order Int64 < Float64 < Utf8, or `None`
/// for a type a counter never takes.
fn counter_rank(data_type: &DataType) -> Option<u8> {
    match data_type {
        DataType::Int64 => Some(0),
        DataType::Float64 => Some(1),
        DataType::Utf8 => Some(2),
        _ => None,
    }
}

/// The narrowest counter type that holds values of both `a` and `b` exactly enough:
/// integers widen to floats when a value needs it, anything widens to text (vectors).
pub fn widen(a: &DataType, b: &DataType) -> DataType {
    match (counter_rank(a), counter_rank(b)) {
        (Some(ra), Some(rb)) if rb > ra => b.clone(),
        (Some(_), Some(_)) => a.clone(),
        _ => DataType::Utf8,
    }
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
    fn reserved_counter_names_are_suffixed() {
        assert_eq!(counter_column_name("NE"), "NE_counter");
        assert_eq!(counter_column_name("date"), "date_counter");
        assert_eq!(
            counter_column_name("pmRrcConnEstabSucc"),
            "pmRrcConnEstabSucc"
        );
    }
}
