//! MySQL tables that follow the Arrow schemas: created on first sight, extended with
//! `ALTER TABLE … ADD COLUMN` when new counters appear, widened (BIGINT → DOUBLE →
//! TEXT) when a counter's values need it, and the counter → column mapping recorded
//! in `pmflow_columns`.
//!
//! Schema changes are rare and must be safe when several writers of this process, or
//! several pmflow processes, meet the same new counter at once. They are therefore
//! made under a process-wide mutex *and* a MySQL named lock (`GET_LOCK`) per database,
//! and always start by re-reading what the database holds, so a change another
//! process already made is adopted instead of repeated.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use arrow::datatypes::Schema;
use sqlx::mysql::MySqlConnection;
use sqlx::{AssertSqlSafe, MySqlPool};
use tracing::{info, warn};

use super::identifier::{quote, table_name};
use super::{identifier, is_transient};
use crate::schema;
use crate::sink::values::ValueKind;

/// The table recording which column holds which counter.
pub const MAPPING_TABLE: &str = "pmflow_columns";

impl ValueKind {
    /// Column type for a value column (always nullable).
    fn column_type(self) -> &'static str {
        match self {
            Self::Integer => "BIGINT",
            Self::Float => "DOUBLE",
            Self::Text => "TEXT",
            Self::Boolean => "BOOLEAN",
            Self::Timestamp => "DATETIME(6)",
        }
    }

    /// Rank of a column as `information_schema.COLUMNS.DATA_TYPE` reports it.
    fn rank_of_data_type(data_type: &str) -> Option<u8> {
        match data_type {
            "tinyint" | "smallint" | "mediumint" | "int" | "bigint" => Some(0),
            "float" | "double" | "decimal" => Some(1),
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => Some(2),
            _ => None,
        }
    }
}

/// Definition of a key column as created with its table.
fn key_column_definition(name: &str) -> Option<&'static str> {
    Some(match name {
        schema::SYSTEM => "VARCHAR(32) NOT NULL",
        schema::NE => "VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL",
        schema::OBJECT => "VARCHAR(600) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL",
        schema::PERIOD_START => "DATETIME NOT NULL",
        schema::GRANULARITY_S => "INT NOT NULL",
        schema::SUSPECT => "BOOLEAN NOT NULL",
        schema::FILE_ID => "VARCHAR(64) NOT NULL",
        _ => return None,
    })
}

/// One counter's place in MySQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Index of the table part holding it (0 = the table itself).
    pub part: usize,
    /// Column name in MySQL.
    pub name: String,
    /// How its values are sent.
    pub kind: ValueKind,
}

/// What pmflow knows of one measurement table in MySQL.
///
/// InnoDB refuses tables of more than 1017 columns and rows whose fixed part may
/// exceed about 8 KB, yet one counter group can have thousands of counters (2,736 in
/// Ericsson's EUtranCellFDD). Such a table is split into parts `t`, `t_p2`, `t_p3`,
/// …, each with the key columns and at most [`PART_COUNTERS`] counters or
/// [`PART_BYTES`] bytes of them; `pmflow_columns` says which part holds a counter.
#[derive(Debug, Clone, Default)]
pub struct TableLayout {
    /// Quoted names of the table's parts, the table itself first.
    pub parts: Vec<String>,
    /// Key columns the parts have (written to every part).
    pub keys: HashSet<String>,
    /// Arrow field name of each counter → its column.
    pub columns: HashMap<String, Column>,
    /// Counters left out because `auto_add_columns` is off.
    pub dropped: HashSet<String>,
}

/// Most counters one table part holds (InnoDB allows 1017 columns).
pub const PART_COUNTERS: usize = 500;
/// Most bytes of counters one table part's row holds inline (InnoDB allows ~8126).
pub const PART_BYTES: usize = 6000;

impl ValueKind {
    /// Bytes a value takes inside an InnoDB row: TEXT is a 20-byte pointer.
    fn inline_bytes(self) -> usize {
        match self {
            Self::Text => 20,
            Self::Boolean => 1,
            _ => 8,
        }
    }

    /// The kind of a column type as written in `pmflow_columns`.
    fn of_column_type(column_type: &str) -> Self {
        [Self::Integer, Self::Float, Self::Boolean, Self::Timestamp]
            .into_iter()
            .find(|kind| kind.column_type() == column_type)
            .unwrap_or(Self::Text)
    }
}

impl TableLayout {
    /// Whether the table takes every field of `schema` as it is: known or dropped, and
    /// no column narrower than the field's values.
    fn covers(&self, schema: &Schema) -> bool {
        schema.fields().iter().all(|field| {
            self.keys.contains(field.name())
                || self.dropped.contains(field.name())
                || self
                    .columns
                    .get(field.name())
                    .is_some_and(|column| column.kind.holds(ValueKind::of(field.data_type())))
        })
    }
}

/// The MySQL name of part `part` (0-based) of a measurement table.
fn part_name(table: &str, part: usize) -> String {
    match part {
        0 => table_name(table),
        n => table_name(&format!("{table}_p{}", n + 1)),
    }
}

/// Counters and inline bytes already in one part.
#[derive(Debug, Clone, Copy, Default)]
struct PartUse {
    counters: usize,
    bytes: usize,
}

impl PartUse {
    fn fits(&self, kind: ValueKind) -> bool {
        self.counters < PART_COUNTERS && self.bytes + kind.inline_bytes() <= PART_BYTES
    }

    fn add(&mut self, kind: ValueKind) {
        self.counters += 1;
        self.bytes += kind.inline_bytes();
    }
}

/// The tables of one database, as this process last saw them.
#[derive(Debug)]
pub struct TableCatalog {
    auto_add_columns: bool,
    tables: RwLock<HashMap<String, Arc<TableLayout>>>,
    changes: tokio::sync::Mutex<()>,
}

/// Why a table could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The batch lacks a primary-key column.
    #[error("no column {column}, which is part of the primary key")]
    MissingKey { column: &'static str },
    /// MySQL refused a statement.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl TableError {
    /// Whether trying again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Database(source) if is_transient(source))
    }
}

/// A counter as `pmflow_columns` records it.
struct Mapped {
    counter: String,
    column_name: String,
    part: u32,
    sql_type: String,
}

impl TableCatalog {
    /// An empty catalog; tables are read from the database on first use.
    pub fn new(auto_add_columns: bool) -> Self {
        Self {
            auto_add_columns,
            tables: RwLock::default(),
            changes: tokio::sync::Mutex::default(),
        }
    }

    fn cached(&self, table: &str, schema: &Schema) -> Option<Arc<TableLayout>> {
        let tables = self.tables.read().expect("catalog lock");
        tables.get(table).filter(|l| l.covers(schema)).cloned()
    }

    /// The layout of `table` once the database takes every field of `schema`: creates
    /// the table, adds and widens columns as needed. `file` is recorded as where new
    /// counters were first seen.
    pub async fn prepare(
        &self,
        pool: &MySqlPool,
        table: &str,
        schema: &Schema,
        file: &str,
    ) -> Result<Arc<TableLayout>, TableError> {
        if let Some(layout) = self.cached(table, schema) {
            return Ok(layout);
        }
        if let Some(column) = schema::ROW_KEY
            .into_iter()
            .find(|key| schema.field_with_name(key).is_err())
        {
            return Err(TableError::MissingKey { column });
        }
        let _one_at_a_time = self.changes.lock().await;
        if let Some(layout) = self.cached(table, schema) {
            return Ok(layout);
        }
        let database = TableError::Database;
        let mut conn = pool.acquire().await.map_err(database)?;
        sqlx::query("SELECT GET_LOCK(LEFT(CONCAT('pmflow:', DATABASE()), 64), 60)")
            .execute(&mut *conn)
            .await
            .map_err(database)?;
        let result = self.evolve(&mut conn, table, schema, file).await;
        let released = sqlx::query("SELECT RELEASE_LOCK(LEFT(CONCAT('pmflow:', DATABASE()), 64))")
            .execute(&mut *conn)
            .await;
        let layout = Arc::new(result.map_err(database)?);
        released.map_err(database)?;
        self.tables
            .write()
            .expect("catalog lock")
            .insert(table.to_string(), layout.clone());
        Ok(layout)
    }

    /// Brings the table's parts in line with `schema`; runs under the named lock.
    /// Reads what the database holds, plans the changes ([`plan_evolution`]), then
    /// makes them.
    async fn evolve(
        &self,
        conn: &mut MySqlConnection,
        table: &str,
        schema: &Schema,
        file: &str,
    ) -> Result<TableLayout, sqlx::Error> {
        create_mapping_table(conn).await?;
        let mapped: Vec<Mapped> = sqlx::query_as(
            "SELECT counter, column_name, part, sql_type FROM pmflow_columns WHERE table_name = ?",
        )
        .bind(table_name(table))
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(counter, column_name, part, sql_type)| Mapped {
            counter,
            column_name,
            part,
            sql_type,
        })
        .collect();
        let part_count = mapped.iter().map(|m| m.part as usize).max().unwrap_or(0) + 1;
        let mut existing = Vec::with_capacity(part_count);
        for part in 0..part_count {
            existing.push(columns_of(conn, &part_name(table, part)).await?);
        }
        let evolution = plan_evolution(&mapped, existing, schema, self.auto_add_columns);
        for counter in &evolution.layout.dropped {
            warn!(
                table,
                counter, "new counter dropped: auto_add_columns is off"
            );
            metrics::counter!("pmflow_mysql_dropped_counters_total").increment(1);
        }
        // The mapping is recorded before the tables change: a crash in between leaves
        // a mapping whose column (or part) is missing, which the next attempt adds.
        for (counter, column, part, sql_type) in &evolution.recorded {
            sqlx::query(
                "INSERT INTO pmflow_columns \
                 (table_name, column_name, counter, part, mysql_table, sql_type, first_seen, first_file) \
                 VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(), ?) \
                 ON DUPLICATE KEY UPDATE sql_type = VALUES(sql_type)",
            )
            .bind(table_name(table))
            .bind(column)
            .bind(counter)
            .bind(*part as u32)
            .bind(part_name(table, *part))
            .bind(sql_type)
            .bind(file)
            .execute(&mut *conn)
            .await?;
        }
        let mut layout = evolution.layout;
        for (part, change) in evolution.parts.into_iter().enumerate() {
            let quoted = quote(&part_name(table, part));
            if change.create {
                create_table(conn, &quoted, schema).await?;
            }
            if !change.alterations.is_empty() {
                info!(
                    table = part_name(table, part),
                    changes = ?change.alterations,
                    "evolving MySQL table"
                );
                let sql = format!("ALTER TABLE {quoted} {}", change.alterations.join(", "));
                sqlx::query(AssertSqlSafe(sql)).execute(&mut *conn).await?;
            }
            layout.parts.push(quoted);
        }
        Ok(layout)
    }
}

/// What one part of a table needs.
#[derive(Debug, Default, PartialEq, Eq)]
struct PartChange {
    /// The part does not exist yet: create it (with the key columns).
    create: bool,
    /// `ADD COLUMN …` / `MODIFY COLUMN …` clauses of one `ALTER TABLE`.
    alterations: Vec<String>,
}

/// What must change for a table to hold `schema`: the layout the writers use (its
/// `parts` left for the executor to fill in), the mappings to record
/// (counter, column, part, SQL type), and each part's changes.
#[derive(Debug)]
struct Evolution {
    layout: TableLayout,
    recorded: Vec<(String, String, usize, &'static str)>,
    parts: Vec<PartChange>,
}

/// Plans how a table evolves to hold `schema`, from the counters already mapped and
/// the columns each existing part has (`existing[part]`: lowercased name → type; empty
/// for a part that does not exist). Pure: what to change, not changing it.
fn plan_evolution(
    mapped: &[Mapped],
    mut existing: Vec<HashMap<String, String>>,
    schema: &Schema,
    auto_add_columns: bool,
) -> Evolution {
    // A table pmflow creates gets every counter it sees first, even when
    // `auto_add_columns` is off: that option protects tables that exist.
    let created = existing[0].is_empty();
    let mut usage = vec![PartUse::default(); existing.len()];
    for m in mapped {
        usage[m.part as usize].add(ValueKind::of_column_type(&m.sql_type));
    }
    let mut taken: HashSet<String> = existing.iter().flat_map(|e| e.keys().cloned()).collect();
    taken.extend(mapped.iter().map(|m| m.column_name.to_lowercase()));
    taken.extend(schema::RESERVED_NAMES.iter().map(|n| n.to_string()));
    let mut claimed: HashSet<String> = mapped
        .iter()
        .map(|m| m.column_name.to_lowercase())
        .collect();
    let mapped: HashMap<&str, &Mapped> = mapped.iter().map(|m| (m.counter.as_str(), m)).collect();

    let mut layout = TableLayout::default();
    let mut alterations: Vec<Vec<String>> = vec![Vec::new(); existing.len()];
    let mut recorded = Vec::new();
    for field in schema.fields() {
        let counter = field.name();
        let kind = ValueKind::of(field.data_type());
        if key_column_definition(counter).is_some() {
            layout.keys.insert(counter.clone());
            continue;
        }
        // A column already there that no counter claimed yet, e.g. made by a DBA.
        let unclaimed = identifier::plain_name(counter)
            .filter(|plain| !claimed.contains(&plain.to_lowercase()))
            .and_then(|plain| {
                let part = existing
                    .iter()
                    .position(|e| e.contains_key(&plain.to_lowercase()))?;
                Some((part, plain))
            });
        let (part, name) = match (mapped.get(counter.as_str()), unclaimed) {
            (Some(m), _) => (m.part as usize, m.column_name.clone()),
            (None, Some((part, plain))) => {
                claimed.insert(plain.to_lowercase());
                usage[part].add(kind);
                (part, plain)
            }
            (None, None) if !auto_add_columns && !created => {
                layout.dropped.insert(counter.clone());
                continue;
            }
            (None, None) => {
                let name = identifier::column_name(counter, |c| taken.contains(c));
                taken.insert(name.to_lowercase());
                claimed.insert(name.to_lowercase());
                if !usage.last().is_some_and(|u| u.fits(kind)) {
                    usage.push(PartUse::default());
                    existing.push(HashMap::new());
                    alterations.push(Vec::new());
                }
                let part = usage.len() - 1;
                usage[part].add(kind);
                (part, name)
            }
        };
        let column = quote(&name);
        match existing[part].get(&name.to_lowercase()) {
            None => {
                alterations[part].push(format!("ADD COLUMN {column} {} NULL", kind.column_type()))
            }
            Some(data_type) => {
                let current = ValueKind::rank_of_data_type(data_type);
                if current.is_some() && kind.rank() > current {
                    alterations[part].push(format!(
                        "MODIFY COLUMN {column} {} NULL",
                        kind.column_type()
                    ));
                } else if mapped.contains_key(counter.as_str()) {
                    layout
                        .columns
                        .insert(counter.clone(), Column { part, name, kind });
                    continue;
                }
            }
        }
        recorded.push((counter.clone(), name.clone(), part, kind.column_type()));
        layout
            .columns
            .insert(counter.clone(), Column { part, name, kind });
    }
    let parts = alterations
        .into_iter()
        .zip(&existing)
        .map(|(mut changes, columns)| {
            let create = columns.is_empty();
            if create {
                // A new part is created whole: its counters are added after the keys.
                return PartChange {
                    create,
                    alterations: changes,
                };
            }
            changes.extend(
                layout
                    .keys
                    .iter()
                    .filter(|k| !columns.contains_key(*k))
                    .map(|k| {
                        let field = schema.field_with_name(k).expect("key of schema");
                        let kind = ValueKind::of(field.data_type());
                        format!("ADD COLUMN {} {} NULL", quote(k), kind.column_type())
                    }),
            );
            PartChange {
                create,
                alterations: changes,
            }
        })
        .collect();
    Evolution {
        layout,
        recorded,
        parts,
    }
}

/// Columns of a table (lowercased) and their `DATA_TYPE`; none when it does not exist.
async fn columns_of(
    conn: &mut MySqlConnection,
    mysql_table: &str,
) -> Result<HashMap<String, String>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT LOWER(COLUMN_NAME), LOWER(DATA_TYPE) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
    )
    .bind(mysql_table)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Creates the mapping table unless it exists.
async fn create_mapping_table(conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS pmflow_columns (\
         table_name VARCHAR(64) NOT NULL, \
         column_name VARCHAR(64) NOT NULL, \
         counter TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, \
         part INT UNSIGNED NOT NULL, \
         mysql_table VARCHAR(64) NOT NULL, \
         sql_type VARCHAR(32) NOT NULL, \
         first_seen DATETIME NOT NULL, \
         first_file VARCHAR(255) NOT NULL, \
         PRIMARY KEY (table_name, column_name)\
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Creates table `quoted` with the key columns `schema` has.
async fn create_table(
    conn: &mut MySqlConnection,
    quoted: &str,
    schema: &Schema,
) -> Result<(), sqlx::Error> {
    let keys: Vec<String> = schema
        .fields()
        .iter()
        .filter_map(|f| {
            key_column_definition(f.name()).map(|def| format!("{} {def}", quote(f.name())))
        })
        .collect();
    let primary: Vec<String> = schema::ROW_KEY.iter().map(|k| quote(k)).collect();
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {quoted} ({}, PRIMARY KEY ({})) \
         ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
        keys.join(", "),
        primary.join(", ")
    );
    sqlx::query(AssertSqlSafe(sql)).execute(&mut *conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field};

    use super::*;

    fn schema(counters: &[(&str, DataType)]) -> Schema {
        let mut fields = schema::key_fields();
        fields.extend(
            counters
                .iter()
                .map(|(name, data_type)| Field::new(*name, data_type.clone(), true)),
        );
        Schema::new(fields)
    }

    fn mapped(counter: &str, sql_type: &str) -> Mapped {
        Mapped {
            counter: counter.into(),
            column_name: counter.into(),
            part: 0,
            sql_type: sql_type.into(),
        }
    }

    #[test]
    fn a_new_table_is_created_with_a_column_per_counter() {
        let schema = schema(&[("pmA", DataType::Int64), ("pmB", DataType::Float64)]);
        let evolution = plan_evolution(&[], vec![HashMap::new()], &schema, false);
        assert_eq!(
            evolution.parts,
            [PartChange {
                create: true,
                alterations: vec![
                    "ADD COLUMN `pmA` BIGINT NULL".into(),
                    "ADD COLUMN `pmB` DOUBLE NULL".into()
                ],
            }]
        );
        assert_eq!(
            evolution.recorded,
            [
                ("pmA".into(), "pmA".into(), 0, "BIGINT"),
                ("pmB".into(), "pmB".into(), 0, "DOUBLE")
            ]
        );
        assert!(evolution.layout.dropped.is_empty(), "a new table takes all");
    }

    #[test]
    fn an_existing_table_widens_adds_or_drops_as_configured() {
        let schema = schema(&[("pmA", DataType::Float64), ("pmNew", DataType::Int64)]);
        let mut columns: HashMap<String, String> = schema::key_fields()
            .iter()
            .map(|f| (f.name().to_lowercase(), "varchar".to_string()))
            .collect();
        columns.insert("pma".into(), "bigint".into());
        let known = [mapped("pmA", "BIGINT")];
        let evolution = plan_evolution(&known, vec![columns.clone()], &schema, true);
        assert_eq!(
            evolution.parts,
            [PartChange {
                create: false,
                alterations: vec![
                    "MODIFY COLUMN `pmA` DOUBLE NULL".into(),
                    "ADD COLUMN `pmNew` BIGINT NULL".into()
                ],
            }]
        );
        let evolution = plan_evolution(&known, vec![columns], &schema, false);
        assert_eq!(
            evolution.layout.dropped,
            HashSet::from(["pmNew".to_string()])
        );
        assert_eq!(
            evolution.parts[0].alterations,
            ["MODIFY COLUMN `pmA` DOUBLE NULL"]
        );
    }
}
