//! Aligns each parsed batch to its table's current schema.
//!
//! The registry holds, per table, the union of every schema seen so far (seeded from
//! the archive at start). A batch with a new counter extends it; a counter whose
//! values need a wider type widens it. The batch is then cast and padded to the
//! registry's schema, so every downstream stage sees one stable shape per table.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use arrow::array::{ArrayRef, new_null_array};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::schema;

/// Current schema of every table of one system, shared by all pipeline workers.
#[derive(Debug, Default)]
pub struct SchemaRegistry {
    tables: RwLock<HashMap<String, SchemaRef>>,
}

impl SchemaRegistry {
    /// A registry that starts from known schemas (e.g. those of the archive).
    pub fn seeded(schemas: HashMap<String, SchemaRef>) -> Self {
        Self {
            tables: RwLock::new(schemas),
        }
    }

    /// The table's current schema after taking `incoming` into account.
    pub fn evolve(&self, table: &str, incoming: &Schema) -> SchemaRef {
        if let Some(current) = self.tables.read().expect("registry lock").get(table) {
            if schema::merge(current, incoming).is_none() {
                return current.clone();
            }
        }
        let mut tables = self.tables.write().expect("registry lock");
        let current = tables
            .entry(table.to_string())
            .or_insert_with(|| schema::merge_all([incoming]));
        if let Some(merged) = schema::merge(current, incoming) {
            *current = Arc::new(merged);
        }
        current.clone()
    }

    /// Aligns `batch` of `table` to the table's (possibly just evolved) schema.
    pub fn align(&self, table: &str, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let target = self.evolve(table, &batch.schema());
        align_batch(batch, &target)
    }
}

/// Casts and pads `batch` to `target`: columns in target order, missing ones null,
/// narrower types cast to the target's wider ones.
pub fn align_batch(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    if batch.schema() == *target {
        return Ok(batch.clone());
    }
    let columns = target
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
            Some(column) => schema::cast_counter(column, field.data_type()),
            None => Ok(new_null_array(field.data_type(), batch.num_rows())),
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    RecordBatch::try_new(target.clone(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::builder::{TableBuilder, Value};
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Float64Type};

    fn batch(counter: &str, values: &[Value<'_>]) -> RecordBatch {
        let mut builder = TableBuilder::default();
        let column = builder.column(counter);
        for (i, value) in values.iter().enumerate() {
            let row = builder.row(0, &format!("cell={i}"), 0, 900);
            builder.set(row, column, *value);
        }
        builder.finish("5ga", "f", &["ne".to_string()]).unwrap()
    }

    #[test]
    fn new_counters_and_widening_apply_to_later_batches() {
        let registry = SchemaRegistry::default();
        let first = registry
            .align("t", &batch("a", &[Value::Int(1), Value::Int(2)]))
            .unwrap();
        assert_eq!(first.num_columns(), schema::KEY_COLUMNS + 1);
        let second = registry
            .align("t", &batch("b", &[Value::Float(0.5)]))
            .unwrap();
        assert_eq!(second.num_columns(), schema::KEY_COLUMNS + 2);
        assert!(second.column_by_name("a").unwrap().is_null(0));
        registry
            .align("t", &batch("a", &[Value::Float(1.5)]))
            .unwrap();
        let again = registry.align("t", &batch("a", &[Value::Int(3)])).unwrap();
        let a = again.column_by_name("a").unwrap();
        assert_eq!(a.data_type(), &DataType::Float64);
        assert_eq!(a.as_primitive::<Float64Type>().value(0), 3.0);
        assert!(again.column_by_name("b").unwrap().is_null(0));
    }
}
