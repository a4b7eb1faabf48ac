//! Replay: a system's archived rows of a time range delivered again, through the
//! plan's current rules, to sinks — to recompute rule outputs after a formula
//! changed, to reload a store that lost data, or to back-fill a new one.
//!
//! The rule of replay: **each row key is delivered once, in the version ingested
//! last** (as of the request's moment, if given), grouped by the source file it came
//! from ([`read`]), so every sink's idempotency holds — replaying twice leaves every
//! store as after once, and a store that already holds the rows changes only where
//! a rule's formula did. Versions a later file superseded are not sent again: the
//! stores end as if every version had been delivered in ingest order, and no two
//! deliveries of one key can race each other.
//!
//! The range is read in windows within a UTC day — a whole day when the Delta log
//! counts few enough rows for it, else whole hours ([`read::window_length`]) — one
//! window ahead of delivery, which bounds memory whatever the range.

pub mod read;
mod sinks;

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::archive::{Archive, ArchiveError};
use crate::format::ParsedFile;
use crate::pipeline::tracker::{Settlement, settle};
use crate::pipeline::{CycleStats, Delivery, FileOutcome, FileReport, Progress, derived_rows};
use read::{ArchiveReader, ArchivedFile, TableSummary};
pub use sinks::replay_sinks;

/// Microseconds in a day: the windows `--dry-run` reports.
const DAY_US: i64 = 86_400_000_000;

/// A moment given as RFC 3339 text (`2026-12-01T00:00:00Z`, any offset), as
/// microseconds since the epoch: how `--from`, `--to`, `--as-of` and the REST API's
/// times are read.
pub fn parse_moment(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|moment| moment.timestamp_micros())
        .map_err(|e| format!("{text:?} is not an RFC 3339 time such as 2026-12-01T00:15:00Z: {e}"))
}

/// What a replay reads from the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The system whose tables are read.
    pub system: String,
    /// First `period_start` read (microseconds since the epoch, UTC).
    pub from: i64,
    /// First `period_start` not read any more.
    pub to: i64,
    /// The tables read; `None`: all of the system's.
    pub tables: Option<Vec<String>>,
    /// Only nodes whose name matches this glob (`gNB00*`).
    pub ne: Option<String>,
    /// Read the archive as it was at this moment (rows ingested at or before it).
    pub as_of: Option<i64>,
}

/// How fast files are delivered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as the sinks take them.
    Max,
    /// This many seconds of data (by `period_start`) per second.
    Times(f64),
}

impl std::str::FromStr for Speed {
    type Err = String;

    /// `max`, or `Nx` (`60x`: an hour of data per minute).
    fn from_str(text: &str) -> Result<Self, String> {
        if text == "max" {
            return Ok(Speed::Max);
        }
        text.strip_suffix('x')
            .and_then(|n| n.parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n > 0.0)
            .map(Speed::Times)
            .ok_or_else(|| format!("{text:?} is not a speed: use max or Nx with N > 0, e.g. 60x"))
    }
}

/// A replay: what is read, and how it is delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// What is read.
    pub selection: Selection,
    /// Deliver only the rules' outputs, not the measurement tables.
    pub rules_only: bool,
    /// How fast.
    pub speed: Speed,
}

/// A replay could not read what it was asked for.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The archive could not be opened or listed.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A table asked for is not in the system's archive.
    #[error("system {system} has no archived table {table:?} (it has: {})", present.join(", "))]
    NoSuchTable {
        system: String,
        table: String,
        present: Vec<String>,
    },
    /// The node pattern is not a glob.
    #[error("node pattern: {0}")]
    Pattern(String),
    /// Reading a table failed.
    #[error("reading archive table {table}: {source}")]
    Read {
        table: String,
        source: datafusion::error::DataFusionError,
    },
}

/// What one UTC day of a selection holds, per table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySummary {
    /// The day, `YYYY-MM-DD`.
    pub date: String,
    /// Each table read, with its files and rows that day.
    pub tables: Vec<TableSummary>,
}

/// What a replay of `selection` would read, per day and table (`--dry-run`).
pub async fn dry_run(
    archive: &Archive,
    selection: &Selection,
) -> Result<Vec<DaySummary>, ReplayError> {
    let reader = ArchiveReader::open(archive, selection).await?;
    let mut days = Vec::new();
    for window in read::windows(selection.from, selection.to, DAY_US) {
        let date = chrono::DateTime::from_timestamp_micros(window.0)
            .map(|moment| moment.date_naive().to_string())
            .unwrap_or_default();
        days.push(DaySummary {
            date,
            tables: reader.summary(window).await?,
        });
    }
    Ok(days)
}

/// Replays `request` from `archive` through `delivery`, telling `progress` of the
/// files read and finished; stops between files once `stop` is cancelled.
pub async fn replay(
    archive: &Archive,
    delivery: &Delivery,
    request: &Request,
    progress: &(dyn Fn(Progress<'_>) + Sync),
    stop: &CancellationToken,
) -> Result<CycleStats, ReplayError> {
    let started = Instant::now();
    let selection = &request.selection;
    let reader = ArchiveReader::open(archive, selection).await?;
    let windows = reader.windows(selection.from, selection.to);
    let mut stats = CycleStats {
        system: selection.system.clone(),
        ..CycleStats::default()
    };
    let mut pacer = Pacer {
        speed: request.speed,
        start: Instant::now(),
        origin: None,
    };
    let mut files = match windows.first() {
        Some(window) => {
            let reading = Instant::now();
            let files = reader.files(*window).await?;
            stats.totals.fetch += reading.elapsed();
            files
        }
        None => Vec::new(),
    };
    for next in windows.iter().skip(1).map(Some).chain([None]) {
        if stop.is_cancelled() {
            break;
        }
        let read_next = async {
            match next {
                Some(window) => {
                    let started = Instant::now();
                    (reader.files(*window).await, started.elapsed())
                }
                None => (Ok(Vec::new()), Duration::ZERO),
            }
        };
        let window_files = std::mem::take(&mut files);
        stats.scanned += window_files.len() as u64;
        let (reports, (read, took)) = futures::join!(
            deliver_window(delivery, window_files, request, &mut pacer, progress, stop),
            read_next
        );
        for report in &reports {
            stats.add(report);
        }
        stats.totals.fetch += took;
        files = read?;
    }
    stats.wall = started.elapsed();
    Ok(stats)
}

/// Delivers a window's files, in order of their data, as many at once as the sinks
/// take; each one's report.
async fn deliver_window(
    delivery: &Delivery,
    mut files: Vec<ArchivedFile>,
    request: &Request,
    pacer: &mut Pacer,
    progress: &(dyn Fn(Progress<'_>) + Sync),
    stop: &CancellationToken,
) -> Vec<FileReport> {
    files.sort_by(|a, b| (a.first_period, &a.file_id).cmp(&(b.first_period, &b.file_id)));
    let scheduled: Vec<(Instant, ArchivedFile)> = files
        .into_iter()
        .map(|file| (pacer.due(file.first_period), file))
        .collect();
    progress(Progress::Listed(scheduled.len() as u64));
    delivery.announce(scheduled.len() as isize);
    stream::iter(scheduled)
        .map(|(due, file)| async move {
            tokio::select! {
                biased;
                () = stop.cancelled() => None,
                () = tokio::time::sleep_until(due.into()) => {
                    Some(deliver(delivery, file, request.rules_only).await)
                }
            }
        })
        .buffer_unordered(delivery.in_flight())
        .filter_map(|report| async move {
            match report {
                Some(report) => {
                    progress(Progress::Finished(&report));
                    Some(report)
                }
                None => {
                    delivery.announce(-1);
                    None
                }
            }
        })
        .collect()
        .await
}

/// Delivers one archived file to every sink; its report.
async fn deliver(delivery: &Delivery, file: ArchivedFile, rules_only: bool) -> FileReport {
    let mut report = FileReport {
        file: file.file_id.clone(),
        rows: file.rows(),
        counter_values: file.counter_values(),
        ..FileReport::default()
    };
    let parsed = ParsedFile {
        counter_values: report.counter_values,
        tables: file.tables,
        repeated_key: false,
    };
    let planning = Instant::now();
    let (mut planned, warnings) = delivery
        .plan(&file.file_id, file.file_id.clone(), 0, true, parsed)
        .await;
    if rules_only {
        planned.tables.clear();
    }
    report.plan = planning.elapsed();
    report.warnings = warnings;
    report.derived_rows = derived_rows(&planned);
    let writing = Instant::now();
    let answers = delivery.write(&planned).await;
    report.sink = writing.elapsed();
    report.outcome = match settle(answers) {
        Settlement::Complete { optional_failures } => {
            for failure in &optional_failures {
                warn!(file_id = file.file_id, failure, "optional sink failed");
            }
            report.warnings += optional_failures.len() as u64;
            FileOutcome::Done
        }
        Settlement::Hold { reasons } => {
            for reason in &reasons {
                warn!(
                    file_id = file.file_id,
                    reason, "required sink failed; replay the range again"
                );
            }
            FileOutcome::Held
        }
        Settlement::Reject { reason } => {
            warn!(
                file_id = file.file_id,
                reason, "a required sink refused the file's rows"
            );
            FileOutcome::Failed
        }
    };
    report
}

/// When each file is due under a speed.
struct Pacer {
    speed: Speed,
    /// When the replay started.
    start: Instant,
    /// The first file's data start (microseconds): time zero of the data.
    origin: Option<i64>,
}

impl Pacer {
    /// When a file whose data starts at `period` is due.
    fn due(&mut self, period: i64) -> Instant {
        let origin = *self.origin.get_or_insert(period);
        self.start + offset(self.speed, origin, period)
    }
}

/// How long after the replay's start data of `period` is due, the first data being
/// of `origin`: at `Nx`, N seconds of data pass per second.
fn offset(speed: Speed, origin: i64, period: i64) -> Duration {
    match speed {
        Speed::Max => Duration::ZERO,
        Speed::Times(n) => {
            let seconds_of_data = (period - origin).max(0) as f64 / 1e6;
            Duration::from_secs_f64(seconds_of_data / n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_read_as_max_or_a_multiple() {
        assert_eq!("max".parse::<Speed>(), Ok(Speed::Max));
        assert_eq!("60x".parse::<Speed>(), Ok(Speed::Times(60.0)));
        assert_eq!("0.5x".parse::<Speed>(), Ok(Speed::Times(0.5)));
        for bad in ["0x", "-2x", "fast", "60", "x"] {
            assert!(bad.parse::<Speed>().is_err(), "{bad}");
        }
    }

    #[test]
    fn at_n_times_n_seconds_of_data_pass_per_second() {
        let quarter = 900_000_000;
        assert_eq!(offset(Speed::Max, 0, 4 * quarter), Duration::ZERO);
        assert_eq!(
            offset(Speed::Times(900.0), 0, 4 * quarter),
            Duration::from_secs(4)
        );
        assert_eq!(offset(Speed::Times(60.0), quarter, quarter), Duration::ZERO);
        // Data before the origin (a file of an earlier window's tail) is due at once.
        assert_eq!(offset(Speed::Times(60.0), quarter, 0), Duration::ZERO);
    }
}
