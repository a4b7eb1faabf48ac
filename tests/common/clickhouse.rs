//! ClickHouse for the tests: a database of its own per test on the server that
//! `scripts/clickhouse.sh` starts. Checks go through `clickhouse-client`, not through
//! pmflow's code.

use std::process::Command;

use super::QueryClient;

/// A database of one test, dropped and created anew when the test starts.
pub struct TestDb {
    name: String,
}

/// Runs a query through `clickhouse-client` (TSV out).
fn client(database: Option<&str>, sql: &str) -> Result<String, String> {
    let mut command = Command::new("clickhouse-client");
    command.args(["--host", "127.0.0.1", "--query", sql]);
    if let Some(database) = database {
        command.args(["--database", database]);
    }
    let output = command
        .output()
        .expect("clickhouse-client runs (install it with scripts/clickhouse.sh)");
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).expect("utf-8"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

impl TestDb {
    /// A fresh database `pmflow_test_<name>`; fails the test loudly when the server
    /// is not there.
    pub fn new(name: &str) -> Self {
        let name = format!("pmflow_test_{name}");
        for sql in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            client(None, &sql).unwrap_or_else(|e| {
                panic!(
                    "ClickHouse on 127.0.0.1 is needed (start it with scripts/clickhouse.sh): {e}"
                )
            });
        }
        Self { name }
    }

    /// The sink URL of this database.
    pub fn url(&self) -> String {
        format!("clickhouse://default@127.0.0.1:8123/{}", self.name)
    }
}

impl QueryClient for TestDb {
    fn try_query(&self, sql: &str) -> Result<String, String> {
        client(Some(&self.name), sql)
    }
}
