//! ClickHouse tables that follow the Arrow schemas: created on first sight as
//! `ReplacingMergeTree` ordered by the row key and partitioned by month, extended with
//! `ALTER TABLE … ADD COLUMN` when new counters appear and widened (`Int64` →
//! `Float64` → `String`) when values need it. Columns are named exactly as the
//! counters (ClickHouse takes any name when quoted, and compares names
//! case-sensitively), so no mapping table is needed.
//!
//! ClickHouse has no locks for DDL; a change that another writer made first shows up
//! as an error of the `ALTER`, after which the table is read again and the change is
//! adopted if it is there.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use arrow::datatypes::Schema;
use clickhouse::Client;
use tracing::{info, warn};

use super::quote;
use crate::schema;
use crate::sink::values::ValueKind;

/// The column types pmflow writes, without `Nullable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// `Int32` (key column `granularity_s`).
    Int32,
    /// `Int64`: integer counters.
    Int64,
    /// `UInt8`: booleans.
    UInt8,
    /// `Float64`.
    Float64,
    /// `String`: text and vector counters, key names.
    String,
    /// `DateTime` (seconds, UTC).
    DateTime,
}

/// A column type: its base and whether it is `Nullable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnType {
    /// The type inside `Nullable(…)`, if nullable.
    pub base: Base,
    /// Whether null is allowed (every counter; no key column).
    pub nullable: bool,
}

const BASES: [(Base, &str); 6] = [
    (Base::Int32, "Int32"),
    (Base::Int64, "Int64"),
    (Base::UInt8, "UInt8"),
    (Base::Float64, "Float64"),
    (Base::String, "String"),
    (Base::DateTime, "DateTime"),
];

impl ColumnType {
    /// The type a field of a batch is created with.
    pub fn for_field(name: &str, kind: ValueKind) -> Self {
        let key = |base| Self {
            base,
            nullable: false,
        };
        match name {
            schema::SYSTEM | schema::NE | schema::OBJECT | schema::FILE_ID => key(Base::String),
            schema::PERIOD_START => key(Base::DateTime),
            schema::GRANULARITY_S => key(Base::Int32),
            schema::SUSPECT => key(Base::UInt8),
            _ => Self {
                base: match kind {
                    ValueKind::Integer => Base::Int64,
                    ValueKind::Float => Base::Float64,
                    ValueKind::Text => Base::String,
                    ValueKind::Boolean => Base::UInt8,
                    ValueKind::Timestamp => Base::DateTime,
                },
                nullable: true,
            },
        }
    }

    /// Parses a type as `system.columns` shows it; `None` for types pmflow does not
    /// write.
    fn parse(text: &str) -> Option<Self> {
        let (inner, nullable) = match text.strip_prefix("Nullable(") {
            Some(rest) => (rest.strip_suffix(')')?, true),
            None => (text, false),
        };
        let (base, _) = BASES.iter().find(|(_, name)| *name == inner)?;
        Some(Self {
            base: *base,
            nullable,
        })
    }

    /// The type in DDL.
    pub fn sql(&self) -> String {
        let (_, name) = BASES
            .iter()
            .find(|(base, _)| *base == self.base)
            .expect("known");
        self.nullable_if_so(name)
    }

    /// The type of a column that parses text (`JSONEachRow` from Kafka): timestamps
    /// are read as UTC whatever the server's time zone.
    pub fn text_input_sql(&self) -> String {
        match self.base {
            Base::DateTime => self.nullable_if_so("DateTime('UTC')"),
            _ => self.sql(),
        }
    }

    fn nullable_if_so(&self, base: &str) -> String {
        if self.nullable {
            format!("Nullable({base})")
        } else {
            base.to_string()
        }
    }

    /// The kind of values the column takes.
    pub fn kind(&self) -> ValueKind {
        match self.base {
            Base::Int32 | Base::Int64 => ValueKind::Integer,
            Base::UInt8 => ValueKind::Boolean,
            Base::Float64 => ValueKind::Float,
            Base::String => ValueKind::Text,
            Base::DateTime => ValueKind::Timestamp,
        }
    }
}

/// What pmflow knows of one ClickHouse table.
#[derive(Debug, Clone, Default)]
pub struct TableLayout {
    /// Quoted `database`.`table`.
    pub quoted: String,
    /// Columns in table order (the order `INSERT … FORMAT RowBinary` takes values in:
    /// listing thousands of columns in the statement would overflow the URL it
    /// travels in).
    pub columns: Vec<(String, ColumnType)>,
}

impl TableLayout {
    fn covers(&self, schema: &Schema) -> bool {
        let types: HashMap<&str, ColumnType> =
            self.columns.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        schema.fields().iter().all(|field| {
            types
                .get(field.name().as_str())
                .is_some_and(|t| t.kind().holds(ValueKind::of(field.data_type())))
        })
    }
}

/// The tables of one database, as this process last saw them.
///
/// Inserts name no columns (see [`TableLayout::columns`]), so an insert must never
/// run with a layout older than the table: schema changes take `changes` exclusively,
/// inserts share it and read the current layout once they hold it.
#[derive(Debug, Default)]
pub struct TableCatalog {
    tables: RwLock<HashMap<String, Arc<TableLayout>>>,
    changes: tokio::sync::RwLock<()>,
}

impl TableCatalog {
    fn cached(&self, table: &str, schema: &Schema) -> Option<Arc<TableLayout>> {
        let tables = self.tables.read().expect("catalog lock");
        tables.get(table).filter(|l| l.covers(schema)).cloned()
    }

    /// The layout of `table` once ClickHouse takes every field of `schema`.
    pub async fn prepare(
        &self,
        client: &Client,
        database: &str,
        table: &str,
        schema: &Schema,
    ) -> Result<Arc<TableLayout>, clickhouse::error::Error> {
        if let Some(layout) = self.cached(table, schema) {
            return Ok(layout);
        }
        let _no_inserts = self.changes.write().await;
        if let Some(layout) = self.cached(table, schema) {
            return Ok(layout);
        }
        let quoted = format!("{}.{}", quote(database), quote(table));
        let mut columns = columns_of(client, database, table).await?;
        if columns.is_empty() {
            info!(table, "creating ClickHouse table");
            client
                .query_raw(&create_table_sql(&quoted, schema))
                .execute()
                .await?;
            columns = columns_of(client, database, table).await?;
        }
        for change in column_changes(&columns, schema) {
            info!(table, change, "evolving ClickHouse table");
            let sql = format!("ALTER TABLE {quoted} {change}");
            if let Err(error) = client.query_raw(&sql).execute().await {
                // Another writer may have made the same change first: adopt it if so.
                warn!(table, %error, "ALTER failed; reading the table again");
                let layout = TableLayout {
                    quoted: quoted.clone(),
                    columns: columns_of(client, database, table).await?,
                };
                if !layout.covers(schema) {
                    return Err(error);
                }
            }
        }
        let columns = columns_of(client, database, table).await?;
        Ok(self.remember(table, TableLayout { quoted, columns }))
    }

    /// Holds off schema changes while an insert runs; then [`Self::current`] is the
    /// table's layout for the insert.
    pub async fn for_insert(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.changes.read().await
    }

    /// The latest known layout of `table`.
    pub fn current(&self, table: &str) -> Option<Arc<TableLayout>> {
        self.tables
            .read()
            .expect("catalog lock")
            .get(table)
            .cloned()
    }

    /// Drops what is known of `table`, so the next write reads it again.
    pub fn forget(&self, table: &str) {
        self.tables.write().expect("catalog lock").remove(table);
    }

    fn remember(&self, table: &str, layout: TableLayout) -> Arc<TableLayout> {
        let layout = Arc::new(layout);
        self.tables
            .write()
            .expect("catalog lock")
            .insert(table.to_string(), layout.clone());
        layout
    }
}

/// Columns of a table in table order (as `system.columns` lists them); none when it
/// does not exist. A column of a type pmflow does not write is an error: its values
/// could not be encoded.
pub async fn columns_of(
    client: &Client,
    database: &str,
    table: &str,
) -> Result<Vec<(String, ColumnType)>, clickhouse::error::Error> {
    let rows: Vec<(String, String)> = client
        .query("SELECT name, type FROM system.columns WHERE database = ? AND table = ?")
        .bind(database)
        .bind(table)
        .fetch_all()
        .await?;
    rows.into_iter()
        .map(|(name, text)| match ColumnType::parse(&text) {
            Some(column) => Ok((name, column)),
            None => Err(clickhouse::error::Error::Unsupported(format!(
                "column {name} of {database}.{table} has type {text}, which pmflow does not write"
            ))),
        })
        .collect()
}

/// `CREATE TABLE IF NOT EXISTS` of `quoted` with the fields of `schema`: a
/// `ReplacingMergeTree` ordered by the row key and partitioned by month.
pub fn create_table_sql(quoted: &str, schema: &Schema) -> String {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            let column = ColumnType::for_field(f.name(), ValueKind::of(f.data_type()));
            format!("{} {}", quote(f.name()), column.sql())
        })
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {quoted} ({}) ENGINE = ReplacingMergeTree() \
         PARTITION BY toYYYYMM({}) ORDER BY ({})",
        columns.join(", "),
        schema::PERIOD_START,
        schema::ROW_KEY.join(", ")
    )
}

/// The `ALTER TABLE` changes (without `ALTER TABLE <name>`) that make a table with
/// `columns` take every field of `schema`: new columns in one `ADD COLUMN` list, then
/// each widening alone, since converting many columns at once trips ClickHouse's
/// "suspiciously many files" check.
pub fn column_changes(columns: &[(String, ColumnType)], schema: &Schema) -> Vec<String> {
    let mut additions = Vec::new();
    let mut widenings = Vec::new();
    for field in schema.fields() {
        let needed = ColumnType::for_field(field.name(), ValueKind::of(field.data_type()));
        let column = quote(field.name());
        match columns.iter().find(|(name, _)| name == field.name()) {
            None => additions.push(format!("ADD COLUMN {column} {}", needed.sql())),
            Some((_, current)) if !current.kind().holds(needed.kind()) => {
                widenings.push(format!("MODIFY COLUMN {column} {}", needed.sql()))
            }
            Some(_) => {}
        }
    }
    (!additions.is_empty())
        .then(|| additions.join(", "))
        .into_iter()
        .chain(widenings)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip_through_their_ddl_names() {
        for (name, kind) in [
            ("ne", ValueKind::Text),
            ("period_start", ValueKind::Timestamp),
            ("granularity_s", ValueKind::Integer),
            ("suspect", ValueKind::Boolean),
            ("pmX", ValueKind::Integer),
            ("pmY", ValueKind::Float),
            ("pmZ", ValueKind::Text),
        ] {
            let column = ColumnType::for_field(name, kind);
            assert_eq!(ColumnType::parse(&column.sql()), Some(column), "{name}");
        }
        assert_eq!(
            ColumnType::for_field("pmX", ValueKind::Integer).sql(),
            "Nullable(Int64)"
        );
        assert_eq!(ColumnType::parse("Nullable(Decimal(9, 2))"), None);
    }
}
