//! ClickHouse for the tests: a database of its own per test on the server that
//! `scripts/clickhouse.sh` starts. Checks go through `clickhouse-client`, not through
//! pmflow's code.

use std::io::Write;
use std::process::{Command, Stdio};

use super::delta::ArchiveSums;
use super::{QueryClient, same_number};

/// A database of one test, dropped and created anew when the test starts.
pub struct TestDb {
    name: String,
}

/// Runs `clickhouse-client` with `args`, feeding it `input`; its stdout (TSV).
fn client(database: Option<&str>, args: &[&str], input: &str) -> Result<String, String> {
    let mut command = Command::new("clickhouse-client");
    command.args(["--host", "127.0.0.1"]).args(args);
    if let Some(database) = database {
        command.args(["--database", database]);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("clickhouse-client runs (install it with scripts/clickhouse.sh)");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .expect("clickhouse-client finishes");
    writer.join().expect("writer").expect("input written");
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).expect("utf-8"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Drops the materialized views, then the Kafka engine tables of `database`, each
/// kind all at once: ClickHouse 18 takes ~3 s to stop one table's consumer, so one by
/// one (as `DROP DATABASE` does) would take minutes.
fn drop_streaming_tables(database: &str) {
    for engine in ["MaterializedView", "Kafka"] {
        let sql = format!(
            "SELECT name FROM system.tables WHERE database = '{database}' AND engine = '{engine}'"
        );
        let tables = client(None, &["--query", &sql], "").unwrap_or_default();
        std::thread::scope(|scope| {
            for table in tables.lines() {
                scope.spawn(move || {
                    let drop = format!("DROP TABLE IF EXISTS {database}.`{table}`");
                    client(None, &["--query", &drop], "").unwrap_or_else(|e| panic!("{drop}: {e}"))
                });
            }
        });
    }
}

impl TestDb {
    /// A fresh database `pmflow_test_<name>`; fails the test loudly when the server
    /// is not there.
    pub fn new(name: &str) -> Self {
        let name = format!("pmflow_test_{name}");
        drop_streaming_tables(&name);
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            client(None, &["--query", &sql], "").unwrap_or_else(|e| {
                panic!(
                    "ClickHouse on 127.0.0.1 is needed (start it with scripts/clickhouse.sh): {e}"
                )
            });
        }
        Self { name }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sink URL of this database.
    pub fn url(&self) -> String {
        format!("clickhouse://default@127.0.0.1:8123/{}", self.name)
    }

    /// Runs a script of `;`-separated statements as `clickhouse-client --multiquery`
    /// does; the error message when one fails.
    pub fn try_script(&self, sql: &str) -> Result<String, String> {
        client(Some(&self.name), &["--multiquery"], sql)
    }

    /// Runs `INSERT … FORMAT …` with `data` as its input.
    pub fn insert(&self, sql: &str, data: &str) {
        client(Some(&self.name), &["--query", sql], data).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Drops the database (tables of the Kafka engine keep polling brokers otherwise).
    pub fn drop_database(self) {
        drop_streaming_tables(&self.name);
        self.rows(&format!("DROP DATABASE {}", self.name));
    }

    /// Numeric counters of `table`, in groups small enough to sum at once
    /// (ClickHouse 18's `FINAL` over a thousand columns exceeds its memory limit).
    pub fn numeric_counter_groups(&self, table: &str) -> Vec<Vec<String>> {
        let counters: Vec<String> = self.rows(&format!(
            "SELECT name FROM system.columns WHERE database = currentDatabase() \
             AND table = '{table}' AND type IN ('Nullable(Int64)', 'Nullable(Float64)') \
             ORDER BY name"
        ));
        counters.chunks(250).map(<[String]>::to_vec).collect()
    }

    /// `count()` and the sum of each counter of `counters` over `table FINAL`.
    pub fn final_sums(&self, table: &str, counters: &[String]) -> Vec<String> {
        let sums: String = counters
            .iter()
            .map(|c| format!(", sum(`{}`)", c.replace('`', "\\`")))
            .collect();
        let row = self.value(&format!("SELECT count(){sums} FROM `{table}` FINAL"));
        row.split('\t').map(str::to_string).collect()
    }

    /// Asserts that `table FINAL` has the archive's row count and the archive's sum
    /// of every numeric counter; the counters and sums compared, group by group.
    pub fn assert_final_sums_are_the_archives(
        &self,
        table: &str,
        archive: &ArchiveSums,
    ) -> Vec<(Vec<String>, Vec<String>)> {
        let mut compared = Vec::new();
        for counters in self.numeric_counter_groups(table) {
            let in_clickhouse = self.final_sums(table, &counters);
            let in_archive = archive.row(table, &counters);
            assert_eq!(in_clickhouse.len(), in_archive.len(), "{table}");
            for (i, (c, a)) in in_clickhouse.iter().zip(&in_archive).enumerate() {
                let what = if i == 0 { "count()" } else { &counters[i - 1] };
                assert!(
                    same_number(c, a, "\\N"),
                    "{table}.{what}: ClickHouse {c}, archive {a}"
                );
            }
            compared.push((counters, in_clickhouse));
        }
        compared
    }
}

impl QueryClient for TestDb {
    fn try_query(&self, sql: &str) -> Result<String, String> {
        client(Some(&self.name), &["--query", sql], "")
    }
}
