//! The ClickHouse sink: one `ReplacingMergeTree` table per measurement table (and per
//! rule output that carries the row key), written over HTTP in `RowBinary` with LZ4
//! compression, `batch_rows` rows per `INSERT`.
//!
//! - [`config`]: the `clickhouse://` URL and keys;
//! - [`tables`]: tables created, extended and widened as counters appear;
//! - [`rowbinary`]: Arrow → `RowBinary`;
//! - [`kafka_engine`]: the DDL of the other way in, ClickHouse's Kafka engine reading
//!   what the Kafka sink publishes (`pmflow ddl clickhouse`).
//!
//! Re-sending a file inserts its rows again; `ReplacingMergeTree` keeps one row per
//! `(ne, object, period_start)` when parts merge, and `SELECT … FINAL` sees one row at
//! once, so no duplicate is ever visible through `FINAL`.

pub mod config;
pub mod kafka_engine;
pub mod rowbinary;
pub mod tables;

use std::ops::Range;
use std::sync::Arc;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use bytes::Bytes;
use clickhouse::{Client, Compression};

pub use self::config::ClickHouseSettings;
use self::rowbinary::RowBinary;
use self::tables::{TableCatalog, TableLayout};
use super::group_commit::GroupCommit;
use super::{PlannedFile, Sink, SinkError, TableFailure, write_keyed_tables};
use crate::format::TableBatch;
use crate::retry::Breaker;

/// Quotes an identifier for ClickHouse: backquotes, with `\`, `` ` ``, `'`, tab and
/// newline escaped by a backslash.
pub fn quote(identifier: &str) -> String {
    delimited(identifier, '`')
}

/// A ClickHouse string literal: single quotes, escaped as [`quote`] escapes.
pub fn string_literal(text: &str) -> String {
    delimited(text, '\'')
}

fn delimited(text: &str, delimiter: char) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(delimiter);
    for c in text.chars() {
        match c {
            '\\' | '`' | '\'' => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push(delimiter);
    out
}

/// The server's error code in a ClickHouse error message (`Code: 53, …`).
fn error_code(error: &clickhouse::error::Error) -> Option<u32> {
    let clickhouse::error::Error::BadResponse(message) = error else {
        return None;
    };
    let rest = &message[message.find("Code: ")? + 6..];
    rest[..rest.find(|c: char| !c.is_ascii_digit())?]
        .parse()
        .ok()
}

/// Whether a ClickHouse error may go away by itself: network failures, timeouts,
/// overload (too many parts or queries, memory), a replica in read-only mode. Bad data
/// (e.g. codes 27, 53, 117) and everything else fail the file at once.
pub fn is_transient(error: &clickhouse::error::Error) -> bool {
    use clickhouse::error::Error;
    match error {
        Error::Network(_) | Error::TimedOut => true,
        // Out of file descriptors (wide tables open 3 files per column per insert).
        Error::BadResponse(message) if message.contains("errno: 24") => true,
        _ => error_code(error).is_some_and(|code| {
            matches!(
                code,
                159 // timeout exceeded
                | 164 | 242 // read-only
                | 202 | 203 // too many queries, no free connection
                | 209 | 210 // socket timeout, network error
                | 241 // memory limit
                | 252 // too many parts
                | 319 // unknown status of insert
                | 425 // system error
            )
        }),
    }
}

/// A client of the database of `settings` (connections are made on first use).
pub fn connect(settings: &ClickHouseSettings) -> Client {
    let client = Client::default()
        .with_url(&settings.endpoint)
        .with_user(&settings.user)
        .with_database(&settings.database)
        .with_compression(Compression::Lz4)
        // The 18.x servers lack the format the client validates rows with; the sink
        // encodes RowBinary from the table's own column types instead.
        .with_validation(false);
    match &settings.password {
        Some(password) => client.with_password(password.expose()),
        None => client,
    }
}

/// Writes files into a ClickHouse database.
pub struct ClickHouseSink {
    client: Client,
    settings: ClickHouseSettings,
    catalog: TableCatalog,
    groups: GroupCommit,
    breaker: Breaker,
}

impl ClickHouseSink {
    /// A sink for the database of `settings`; connects on first use.
    pub fn new(settings: ClickHouseSettings) -> Self {
        Self {
            client: connect(&settings),
            breaker: Breaker::new("ClickHouse", settings.backoff.max * 3),
            settings,
            catalog: TableCatalog::default(),
            groups: GroupCommit::default(),
        }
    }

    async fn write_table(&self, table: &TableBatch) -> Result<(), TableFailure> {
        let backoff = &self.settings.backoff;
        let failed =
            |e: clickhouse::error::Error| TableFailure::new(&table.table, &e, is_transient(&e));
        let schema = table.batch.schema();
        let layout = backoff
            .run("prepare ClickHouse table", is_transient, || {
                self.catalog
                    .prepare(&self.client, &self.settings.database, &table.table, &schema)
            })
            .await
            .map_err(failed)?;
        self.groups
            .submit(
                &table.table,
                table.batch.clone(),
                self.settings.batch_rows,
                |batches| self.insert_group(&table.table, layout.clone(), batches),
            )
            .await
    }

    /// Inserts the batches of a group, `batch_rows` rows per `INSERT` at most.
    async fn insert_group(
        &self,
        table: &str,
        prepared: Arc<TableLayout>,
        batches: Vec<RecordBatch>,
    ) -> Result<(), TableFailure> {
        let _no_schema_changes = self.catalog.for_insert().await;
        // Every batch's own preparation made the table take it, and layouts only
        // grow: the latest one fits them all.
        let layout = self.catalog.current(table).unwrap_or(prepared);
        let sql = format!("INSERT INTO {} FORMAT RowBinary", layout.quoted);
        let encoders = batches
            .iter()
            .map(|batch| RowBinary::new(batch, &layout))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TableFailure::new(table, e, false))?;
        let rows: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
        for pieces in split_inserts(&rows, self.settings.batch_rows, PIECE_ROWS) {
            self.settings
                .backoff
                .run("insert into ClickHouse", is_transient, || {
                    self.insert(&sql, &encoders, &pieces)
                })
                .await
                .map_err(|e| {
                    // The table may have changed under us (another writer added a
                    // column): read it again before the next write.
                    self.catalog.forget(table);
                    TableFailure::new(table, &e, is_transient(&e))
                })?;
        }
        Ok(())
    }

    /// One `INSERT` streaming `pieces`, each encoded while the server reads the one
    /// before it.
    async fn insert(
        &self,
        sql: &str,
        encoders: &[RowBinary],
        pieces: &[Piece],
    ) -> Result<(), clickhouse::error::Error> {
        let mut insert = self
            .client
            .insert_formatted_with(sql)
            .with_timeouts(Some(self.settings.timeout), Some(self.settings.timeout));
        for (batch, rows) in pieces {
            let body = encoders[*batch].encode(rows.clone());
            insert.send(Bytes::from(body)).await?;
        }
        insert.end().await
    }
}

/// Rows encoded and sent at a time within an insert: small enough that no whole
/// insert's body is ever held in memory, large enough to compress well.
const PIECE_ROWS: usize = 8192;

/// Rows `rows` of the group's batch number `.0`.
type Piece = (usize, Range<usize>);

/// How a group of batches with `rows` rows each is inserted: inserts of at most
/// `batch_rows` rows, each a list of pieces of at most `piece_rows` rows.
fn split_inserts(rows: &[usize], batch_rows: usize, piece_rows: usize) -> Vec<Vec<Piece>> {
    let mut inserts = Vec::new();
    let mut current: Vec<Piece> = Vec::new();
    let mut current_rows = 0;
    for (batch, &total) in rows.iter().enumerate() {
        let mut start = 0;
        while start < total {
            let end = total
                .min(start + piece_rows)
                .min(start + batch_rows - current_rows);
            current.push((batch, start..end));
            current_rows += end - start;
            start = end;
            if current_rows == batch_rows {
                inserts.push(std::mem::take(&mut current));
                current_rows = 0;
            }
        }
    }
    if !current.is_empty() {
        inserts.push(current);
    }
    inserts
}

#[async_trait]
impl Sink for ClickHouseSink {
    fn describe(&self) -> String {
        self.settings.redacted.clone()
    }

    fn kind(&self) -> &'static str {
        "clickhouse"
    }

    async fn probe(&self) -> Result<(), String> {
        self.client
            .query("SELECT 1")
            .execute()
            .await
            .map_err(|e| e.to_string())
    }

    /// Many: files written together share inserts (see [`GroupCommit`]).
    fn files_at_once(&self) -> Option<usize> {
        Some(self.settings.files_at_once)
    }

    async fn write(&self, file: &PlannedFile) -> Result<(), SinkError> {
        write_keyed_tables(self, file, &self.breaker, |table| self.write_table(table)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_escaped() {
        assert_eq!(quote("pm.Foo"), "`pm.Foo`");
        assert_eq!(quote("x`; DROP TABLE t; --"), "`x\\`; DROP TABLE t; --`");
        assert_eq!(quote("a\\b'c\nd"), "`a\\\\b\\'c\\nd`");
        assert_eq!(string_literal("it's"), "'it\\'s'");
    }

    #[test]
    fn groups_split_into_inserts_of_batch_rows_streamed_in_pieces() {
        assert_eq!(
            split_inserts(&[5, 0, 12], 8, 3),
            [
                vec![(0, 0..3), (0, 3..5), (2, 0..3)],
                vec![(2, 3..6), (2, 6..9), (2, 9..11)],
                vec![(2, 11..12)],
            ]
        );
        assert_eq!(split_inserts(&[4], 4, 10), [vec![(0, 0..4)]]);
        assert!(split_inserts(&[0], 4, 10).is_empty());
    }

    #[test]
    fn error_codes_decide_what_is_retried() {
        let bad = |m: &str| clickhouse::error::Error::BadResponse(m.to_string());
        assert_eq!(
            error_code(&bad(
                "Code: 53, e.displayText() = DB::Exception: Type mismatch"
            )),
            Some(53)
        );
        assert!(!is_transient(&bad(
            "Code: 53, e.displayText() = DB::Exception: Type mismatch"
        )));
        assert!(is_transient(&bad(
            "Code: 252, e.displayText() = DB::Exception: Too many parts"
        )));
        assert!(!is_transient(&bad("no code here")));
        assert!(is_transient(&bad(
            "Code: 76, Cannot open file x.bin, errno: 24, strerror: Too many open files"
        )));
    }
}
