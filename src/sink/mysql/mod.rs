//! The MySQL sink: one table per measurement table (and per rule output that carries
//! the row key), one column per counter, written idempotently with
//! `INSERT … ON DUPLICATE KEY UPDATE` by a pool of writers.
//!
//! - [`config`]: the `mysql://` URL and keys and pmflow's parameters on it;
//! - [`identifier`]: counter names → legal, quoted MySQL identifiers;
//! - [`tables`]: tables created, extended and widened as counters appear;
//! - [`upsert`]: rows → multi-row statements with bound values.
//!
//! A file is acknowledged once every statement of every table committed (each
//! statement runs in autocommit mode, so one batch is one transaction). Transient
//! failures are retried with backoff; when MySQL stays unreachable, the sink fails
//! the following files at once for a while instead of letting each of them wait
//! through its own retries.

pub mod config;
pub mod identifier;
pub mod tables;
pub mod upsert;

use std::ops::Range;
use std::str::FromStr;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt, stream};
use sqlx::mysql::{MySqlConnectOptions, MySqlDatabaseError, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, MySqlPool};
use tokio::sync::OnceCell;

pub use self::config::MySqlSettings;
use self::tables::{TableCatalog, TableError};
use self::upsert::Upsert;
use super::{PlannedFile, Sink, SinkError, TableFailure, write_keyed_tables};
use crate::format::TableBatch;
use crate::retry::Breaker;

/// Whether a MySQL error may go away by itself: the connection was lost or refused,
/// the server is restarting or read-only for a failover, or the statement lost a
/// deadlock or a lock wait. Anything else (bad data, missing privilege) is permanent.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => e.try_downcast_ref::<MySqlDatabaseError>().is_some_and(|e| {
            matches!(
                e.number(),
                1040 // too many connections
                    | 1053 // server shutdown in progress
                    | 1205 // lock wait timeout
                    | 1213 // deadlock
                    | 1290 | 1836 // read-only (failover)
                    | 1317 // query interrupted
                    | 1927 // connection killed
                    | 2006 | 2013 // server gone away, lost connection
            )
        }),
        _ => false,
    }
}

/// Writes files into a MySQL (or MariaDB) database.
#[derive(Debug)]
pub struct MySqlSink {
    pool: MySqlPool,
    settings: MySqlSettings,
    catalog: TableCatalog,
    max_statement_bytes: OnceCell<usize>,
    breaker: Breaker,
}

impl MySqlSink {
    /// A sink for the database of `settings`. Connects lazily: an unreachable server
    /// shows up as failed (and retried) writes, not as a failure to start.
    pub fn new(settings: MySqlSettings) -> Result<Self, sqlx::Error> {
        let options = MySqlConnectOptions::from_str(settings.connect_url.expose())?
            .charset("utf8mb4")
            .timezone(Some("+00:00".to_string()));
        let pool = MySqlPoolOptions::new()
            .max_connections(settings.writers as u32 + 1)
            .acquire_timeout(settings.connect_timeout)
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            catalog: TableCatalog::new(settings.auto_add_columns),
            breaker: Breaker::new("MySQL", settings.backoff.max * 3),
            settings,
            max_statement_bytes: OnceCell::new(),
        })
    }

    /// Half of the server's `max_allowed_packet`: the size statements are kept under.
    async fn max_statement_bytes(&self) -> Result<usize, sqlx::Error> {
        self.max_statement_bytes
            .get_or_try_init(|| async {
                let packet: u64 = sqlx::query_scalar("SELECT @@max_allowed_packet")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(packet as usize / 2)
            })
            .await
            .copied()
    }

    async fn write_table(
        &self,
        file: &PlannedFile,
        table: &TableBatch,
    ) -> Result<(), TableFailure> {
        let backoff = &self.settings.backoff;
        let database = |e: sqlx::Error| TableFailure::new(&table.table, &e, is_transient(&e));
        let schema = table.batch.schema();
        let layout = backoff
            .run("prepare MySQL table", TableError::is_transient, || {
                self.catalog
                    .prepare(&self.pool, &table.table, &schema, &file.name)
            })
            .await
            .map_err(|e| TableFailure::new(&table.table, &e, e.is_transient()))?;
        let max_bytes = backoff
            .run("read max_allowed_packet", is_transient, || {
                self.max_statement_bytes()
            })
            .await
            .map_err(database)?;
        let upserts = (0..layout.parts.len())
            .map(|part| {
                Upsert::new(
                    &table.batch,
                    &layout,
                    part,
                    self.settings.batch_rows,
                    max_bytes,
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TableFailure::new(&table.table, e, false))?;
        let statements: Vec<(usize, Range<usize>)> = upserts
            .iter()
            .enumerate()
            .flat_map(|(part, upsert)| upsert.chunks().iter().map(move |rows| (part, rows.clone())))
            .collect();
        stream::iter(statements)
            .map(|(part, rows)| self.execute(&upserts[part], rows))
            .buffer_unordered(self.settings.writers)
            .try_collect::<()>()
            .await
            .map_err(database)
    }

    /// Runs the statement writing `rows`, retrying transient failures.
    async fn execute(&self, upsert: &Upsert, rows: Range<usize>) -> Result<(), sqlx::Error> {
        self.settings
            .backoff
            .run("insert into MySQL", is_transient, || async {
                let (sql, arguments) = upsert.statement(rows.clone())?;
                sqlx::query_with(AssertSqlSafe(sql), arguments)
                    .execute(&self.pool)
                    .await
                    .map(drop)
            })
            .await
    }
}

#[async_trait]
impl Sink for MySqlSink {
    fn describe(&self) -> String {
        self.settings.redacted.clone()
    }

    fn kind(&self) -> &'static str {
        "mysql"
    }

    async fn probe(&self) -> Result<(), String> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn write(&self, file: &PlannedFile) -> Result<(), SinkError> {
        write_keyed_tables(self, file, &self.breaker, |table| {
            self.write_table(file, table)
        })
        .await
    }
}
