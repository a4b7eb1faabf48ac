//! The DDL of ClickHouse's own way in from Kafka, printed by `pmflow ddl clickhouse`:
//! per table, a `Kafka` engine table `<table>__queue` reading the topics the Kafka
//! sink publishes the table to (`JSONEachRow`, consumer group
//! `pmflow.<database>.<table>`), the `ReplacingMergeTree` target the ClickHouse sink
//! would create, and a materialized view `<table>__mv` moving rows from one to the
//! other.
//!
//! The script runs as printed and may be run again. The view and the queue are
//! dropped and made anew each time (the engine's consumer group keeps its committed
//! offsets in Kafka, so reading resumes where it stopped; a row read twice collapses
//! in the `ReplacingMergeTree`); the target is created when missing and, when its
//! current columns are known ([`Deployed`]), extended and widened by `ALTER TABLE`.
//! The engine's arguments are positional, the form every release takes (18.16 has
//! none of the later engine settings).

use arrow::datatypes::Schema;
use clickhouse::Client;

use super::tables::{ColumnType, column_changes, columns_of, create_table_sql};
use super::{quote, string_literal};
use crate::sink::values::ValueKind;

/// Where the Kafka engine reads from and which database it writes into.
#[derive(Debug, Clone)]
pub struct KafkaEngine {
    /// The database of the targets, queues and views.
    pub database: String,
    /// `host:port[,host:port]` of the brokers.
    pub brokers: String,
}

/// What a ClickHouse server already has of one table's Kafka path.
#[derive(Debug, Clone, Default)]
pub struct Deployed {
    /// Columns of the target table (none when it does not exist).
    pub target: Vec<(String, ColumnType)>,
    /// Columns of the queue table as `system.columns` prints their types.
    pub queue: Vec<(String, String)>,
    /// Whether the materialized view exists.
    pub view: bool,
}

impl Deployed {
    /// Reads what `database` holds of `table`'s Kafka path.
    pub async fn read(
        client: &Client,
        database: &str,
        table: &str,
    ) -> Result<Self, clickhouse::error::Error> {
        let queue = client
            .query("SELECT name, type FROM system.columns WHERE database = ? AND table = ?")
            .bind(database)
            .bind(queue_name(table))
            .fetch_all()
            .await?;
        let views: Vec<u8> = client
            .query("SELECT 1 FROM system.tables WHERE database = ? AND name = ?")
            .bind(database)
            .bind(view_name(table))
            .fetch_all()
            .await?;
        Ok(Self {
            target: columns_of(client, database, table).await?,
            queue,
            view: !views.is_empty(),
        })
    }
}

/// The queue's columns for `schema`: name and type as `system.columns` shows it.
fn queue_columns(schema: &Schema) -> Vec<(String, String)> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let column = ColumnType::for_field(f.name(), ValueKind::of(f.data_type()));
            (f.name().clone(), column.text_input_sql())
        })
        .collect()
}

/// The queue table of `table`.
fn queue_name(table: &str) -> String {
    format!("{table}__queue")
}

/// The materialized view of `table`.
fn view_name(table: &str) -> String {
    format!("{table}__mv")
}

impl KafkaEngine {
    fn qualified(&self, table: &str) -> String {
        format!("{}.{}", quote(&self.database), quote(table))
    }

    /// The consumer group the queue of `table` reads in.
    pub fn group(&self, table: &str) -> String {
        format!("pmflow.{}.{table}", self.database)
    }

    /// `CREATE DATABASE IF NOT EXISTS` of the database.
    pub fn create_database(&self) -> String {
        format!("CREATE DATABASE IF NOT EXISTS {}", quote(&self.database))
    }

    /// The statements that make `table`'s Kafka path, reading `topics`, take every
    /// field of `schema`. With `deployed` unknown, the whole path without `ALTER`s
    /// (right for a database without the table); with it known, only what is
    /// missing, and nothing when the path is complete.
    pub fn statements(
        &self,
        table: &str,
        topics: &[String],
        schema: &Schema,
        deployed: Option<&Deployed>,
    ) -> Vec<String> {
        let target = self.qualified(table);
        let queue = self.qualified(&queue_name(table));
        let view = self.qualified(&view_name(table));
        let queue_columns = queue_columns(schema);
        let changes = match deployed {
            Some(d) if !d.target.is_empty() => column_changes(&d.target, schema),
            _ => Vec::new(),
        };
        let complete = deployed.is_some_and(|d| {
            !d.target.is_empty() && changes.is_empty() && d.queue == queue_columns && d.view
        });
        if complete {
            return Vec::new();
        }
        let mut statements = vec![
            format!("DROP TABLE IF EXISTS {view}"),
            format!("DROP TABLE IF EXISTS {queue}"),
            create_table_sql(&target, schema),
        ];
        statements.extend(changes.iter().map(|c| format!("ALTER TABLE {target} {c}")));
        let columns: Vec<String> = queue_columns
            .iter()
            .map(|(name, sql_type)| format!("{} {sql_type}", quote(name)))
            .collect();
        statements.push(format!(
            "CREATE TABLE {queue} ({}) ENGINE = Kafka({}, {}, {}, 'JSONEachRow')",
            columns.join(", "),
            string_literal(&self.brokers),
            string_literal(&topics.join(",")),
            string_literal(&self.group(table)),
        ));
        statements.push(format!(
            "CREATE MATERIALIZED VIEW {view} TO {target} AS SELECT * FROM {queue}"
        ));
        statements
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field};

    use super::*;
    use crate::schema;

    fn table(counters: &[(&str, DataType)]) -> Schema {
        let mut fields = schema::key_fields();
        fields.extend(
            counters
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true)),
        );
        Schema::new(fields)
    }

    fn engine() -> KafkaEngine {
        KafkaEngine {
            database: "pm".into(),
            brokers: "k1:9092,k2:9092".into(),
        }
    }

    #[test]
    fn a_new_table_gets_queue_target_and_view() {
        let schema = table(&[("pmA", DataType::Int64)]);
        let topics = ["pm.4ga.cell".to_string(), "pm.5ga.cell".to_string()];
        let sql = engine().statements("cell", &topics, &schema, None);
        assert_eq!(sql.len(), 5, "{sql:#?}");
        assert_eq!(sql[0], "DROP TABLE IF EXISTS `pm`.`cell__mv`");
        assert_eq!(sql[1], "DROP TABLE IF EXISTS `pm`.`cell__queue`");
        assert!(sql[2].starts_with("CREATE TABLE IF NOT EXISTS `pm`.`cell` ("));
        assert!(sql[2].contains("ENGINE = ReplacingMergeTree()"));
        assert!(
            sql[3].contains("`period_start` DateTime('UTC')"),
            "{}",
            sql[3]
        );
        assert!(sql[3].contains("`pmA` Nullable(Int64)"));
        assert!(sql[3].ends_with(
            "ENGINE = Kafka('k1:9092,k2:9092', 'pm.4ga.cell,pm.5ga.cell', 'pmflow.pm.cell', 'JSONEachRow')"
        ));
        assert_eq!(
            sql[4],
            "CREATE MATERIALIZED VIEW `pm`.`cell__mv` TO `pm`.`cell` AS SELECT * FROM `pm`.`cell__queue`"
        );
    }

    #[test]
    fn a_deployed_table_gets_only_what_it_lacks() {
        let old = table(&[("pmA", DataType::Int64)]);
        let topics = ["pm.4ga.cell".to_string()];
        let first = engine().statements("cell", &topics, &old, None);
        let deployed = Deployed {
            target: old
                .fields()
                .iter()
                .map(|f| {
                    let c = ColumnType::for_field(f.name(), ValueKind::of(f.data_type()));
                    (f.name().clone(), c)
                })
                .collect(),
            queue: queue_columns(&old),
            view: true,
        };
        assert!(
            engine()
                .statements("cell", &topics, &old, Some(&deployed))
                .is_empty()
        );
        let new = table(&[("pmA", DataType::Float64), ("pmB", DataType::Int64)]);
        let sql = engine().statements("cell", &topics, &new, Some(&deployed));
        assert_eq!(sql.len(), first.len() + 2, "{sql:#?}");
        assert_eq!(
            sql[3],
            "ALTER TABLE `pm`.`cell` ADD COLUMN `pmB` Nullable(Int64)"
        );
        assert_eq!(
            sql[4],
            "ALTER TABLE `pm`.`cell` MODIFY COLUMN `pmA` Nullable(Float64)"
        );
        let no_view = Deployed {
            view: false,
            ..deployed
        };
        assert_eq!(
            engine().statements("cell", &topics, &old, Some(&no_view)),
            first
        );
    }
}
