//! Per-cycle statistics: what an operator reads after every cycle.

use std::time::Duration;

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};

/// What happened to one file in a cycle.
#[derive(Debug, Default, Clone)]
pub struct FileReport {
    /// The file, as `folder/name` (empty in totals).
    pub file: String,
    /// Bytes as fetched (possibly compressed).
    pub bytes: u64,
    /// Bytes of XML after decompression.
    pub content_bytes: u64,
    /// Rows over all tables.
    pub rows: u64,
    /// Counter values read.
    pub counter_values: u64,
    /// Rows produced by the SQL rules.
    pub derived_rows: u64,
    /// Time to fetch the file.
    pub fetch: Duration,
    /// Time to decompress and parse (CPU).
    pub parse: Duration,
    /// Time to align and run the rules.
    pub plan: Duration,
    /// Time until every sink answered.
    pub sink: Duration,
    /// How the file ended.
    pub outcome: FileOutcome,
    /// Rule or optional-sink errors that did not stop the file.
    pub warnings: u64,
    /// Why the file failed or was held (none when done).
    pub reason: Option<String>,
}

/// How a file ended in a cycle.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum FileOutcome {
    /// Moved to `Done/`.
    #[default]
    Done,
    /// Moved to `Failed/` with a reason.
    Failed,
    /// Left in place for the next cycle (fetch, required sink or completion failed).
    Held,
    /// No longer in its folder when fetched: another process completed it (a
    /// cluster's task delivered twice, or a second collector on the same inbox).
    Gone,
}

/// Totals of one cycle.
#[derive(Debug, Default, Clone)]
pub struct CycleStats {
    /// System the cycle ran for.
    pub system: String,
    /// Files listed (taken, or not yet settled).
    pub scanned: u64,
    /// Files completed into `Done/`.
    pub done: u64,
    /// Files quarantined into `Failed/`.
    pub failed: u64,
    /// Files left for the next cycle.
    pub held: u64,
    /// Files another process completed before this one fetched them.
    pub gone: u64,
    /// Files listed but still changing when the cycle stopped waiting for them: left
    /// for the next cycle, not counted as held.
    pub unsettled: u64,
    /// Totals of the files' reports.
    pub totals: FileReport,
    /// How long the oldest file still held back has been held, over cycles (zero
    /// when none is).
    pub oldest_held: Duration,
    /// Wall-clock time of the cycle.
    pub wall: Duration,
}

impl CycleStats {
    /// Adds one file's report.
    pub fn add(&mut self, report: &FileReport) {
        match report.outcome {
            FileOutcome::Done => self.done += 1,
            FileOutcome::Failed => self.failed += 1,
            FileOutcome::Held => self.held += 1,
            FileOutcome::Gone => self.gone += 1,
        }
        let t = &mut self.totals;
        t.bytes += report.bytes;
        t.content_bytes += report.content_bytes;
        t.rows += report.rows;
        t.counter_values += report.counter_values;
        t.derived_rows += report.derived_rows;
        t.fetch += report.fetch;
        t.parse += report.parse;
        t.plan += report.plan;
        t.sink += report.sink;
        t.warnings += report.warnings;
    }

    /// Whether every listed file left the inbox (done or quarantined).
    pub fn completed(&self) -> bool {
        self.held == 0
    }

    /// The statistics as a table for terminals and logs.
    pub fn render(&self) -> String {
        let t = &self.totals;
        let wall = self.wall.as_secs_f64().max(1e-9);
        let mb = t.content_bytes as f64 / 1e6;
        let rows: Vec<(&str, String)> = vec![
            ("system", self.system.clone()),
            ("files scanned", self.scanned.to_string()),
            ("files done", self.done.to_string()),
            ("files failed (quarantined)", self.failed.to_string()),
            ("files held for next cycle", self.held.to_string()),
            ("files not yet settled", self.unsettled.to_string()),
            ("files completed elsewhere", self.gone.to_string()),
            (
                "oldest held file held for",
                format!("{:.0} s", self.oldest_held.as_secs_f64()),
            ),
            ("bytes read", t.bytes.to_string()),
            ("bytes parsed (decompressed)", t.content_bytes.to_string()),
            ("rows", t.rows.to_string()),
            ("counter values", t.counter_values.to_string()),
            ("rule output rows", t.derived_rows.to_string()),
            ("warnings (rules, optional sinks)", t.warnings.to_string()),
            (
                "fetch time (sum)",
                format!("{:.3} s", t.fetch.as_secs_f64()),
            ),
            (
                "parse time (sum, CPU)",
                format!("{:.3} s", t.parse.as_secs_f64()),
            ),
            ("plan time (sum)", format!("{:.3} s", t.plan.as_secs_f64())),
            ("sink time (sum)", format!("{:.3} s", t.sink.as_secs_f64())),
            ("wall time", format!("{wall:.3} s")),
            (
                "throughput",
                format!(
                    "{:.1} MB/s, {:.0} values/s",
                    mb / wall,
                    t.counter_values as f64 / wall
                ),
            ),
        ];
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_header(["cycle", "value"]);
        for (name, value) in rows {
            table.add_row([
                Cell::new(name),
                Cell::new(value).set_alignment(CellAlignment::Right),
            ]);
        }
        table.to_string()
    }
}
