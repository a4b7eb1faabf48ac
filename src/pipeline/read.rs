//! The parse stage: one file fetched from its source, decompressed and parsed.
//!
//! Each file is read on a task of its own ([`FileReader::read`]), so that the files
//! of a cycle parse on every core rather than on the task that drives the cycle.
//! Small uncompressed files are parsed right on that task (a hop to the blocking pool
//! and back costs more than parsing a few KB); larger or compressed ones go to the
//! blocking pool. A parser panic is caught either way and quarantines the file.
//! Files are fetched [`FETCH_AHEAD`] times as many at once as they are parsed, so a
//! core never waits for a download or a hop to the blocking pool to have a file to
//! parse; the parses themselves take `workers.parse` permits.

use std::sync::Arc;
use std::time::Instant;

use super::delivery::panic_message;
use super::stats::FileReport;
use crate::format::{self, FileContext, FormatChoice, PartLimits, Rows};
use crate::source::{Source, SourceError, SourceFile};
use tokio::sync::Semaphore;

/// Files up to this size are parsed on the task that fetched them: handing a file of a
/// few KB to the blocking pool and back costs more than parsing it.
const PARSE_INLINE_MAX: u64 = 64 << 10;

/// Whether a file fetched as `bytes` is parsed in place; larger ones, and compressed
/// ones whose content may be far larger, go to the blocking pool.
pub(super) fn parse_inline(bytes: &[u8]) -> bool {
    bytes.len() as u64 <= PARSE_INLINE_MAX && !format::decompress::is_gzip(bytes)
}

/// How many times more files are fetched at once than parsed.
pub(super) const FETCH_AHEAD: usize = 2;

/// A source file after the parse stage.
pub(super) struct Fetched {
    /// The file, with its size as fetched.
    pub file: SourceFile,
    /// What reading it took so far (fetch and parse times, bytes, rows).
    pub report: FileReport,
    /// The file's id and rows, or why there are none.
    pub result: Result<(String, Rows), ParseFailure>,
}

/// Why a file did not get past the parse stage.
pub(super) enum ParseFailure {
    /// The file could not be fetched: it stays for the next cycle.
    Fetch(SourceError),
    /// Reading the file stopped for a reason of this process, not of the file (its
    /// task was cancelled or crashed outside the parser): it stays for the next cycle.
    Interrupted(String),
    /// The file is bad: it is quarantined with this reason.
    Invalid(String),
}

/// What reading a file needs, shared by the tasks that read files.
pub(super) struct FileReader {
    /// The system's name, which every parsed row carries.
    pub system: String,
    /// Where the files are fetched from.
    pub source: Arc<dyn Source>,
    /// How the files' bytes become rows.
    pub format: FormatChoice,
    /// Files larger than this, decompressed, are quarantined.
    pub max_file_bytes: u64,
    /// Whether a file without any measurement completes instead of being quarantined.
    pub allow_empty: bool,
    /// Which files are read in parts, and how large the parts are.
    pub part_limits: PartLimits,
    /// One permit per file parsed at once (`workers.parse`).
    pub parsing: Semaphore,
}

/// Why a file without any measurement is quarantined.
pub(super) fn no_measurements(file_name: &str) -> String {
    format!("{file_name}: no measurements")
}

impl FileReader {
    /// Whether a file read whole has no measurement and that is not allowed (a file
    /// read in parts is counted as its parts are delivered).
    pub fn is_empty(&self, rows: &Rows) -> bool {
        matches!(rows, Rows::Whole(parsed) if parsed.rows() == 0) && !self.allow_empty
    }

    /// Fetches and parses `file` on a task of its own.
    pub async fn read(self: &Arc<Self>, file: SourceFile) -> Fetched {
        let kept = file.clone();
        match tokio::spawn(Arc::clone(self).fetch_and_parse(file)).await {
            Ok(fetched) => fetched,
            Err(error) => Fetched {
                report: FileReport {
                    file: kept.path(),
                    ..FileReport::default()
                },
                file: kept,
                result: Err(ParseFailure::Interrupted(format!(
                    "reading the file stopped: {error}"
                ))),
            },
        }
    }

    async fn fetch_and_parse(self: Arc<Self>, mut file: SourceFile) -> Fetched {
        let mut report = FileReport {
            file: file.path(),
            ..FileReport::default()
        };
        if file.size > self.max_file_bytes {
            let too_large = format::decompress::DecompressError::TooLarge {
                max: self.max_file_bytes,
            };
            let reason = format!("{}: {too_large}", file.name);
            return Fetched {
                file,
                report,
                result: Err(ParseFailure::Invalid(reason)),
            };
        }
        let started = Instant::now();
        let bytes = match self.source.fetch(&file).await {
            Ok(bytes) => bytes,
            Err(error) => {
                return Fetched {
                    file,
                    report,
                    result: Err(ParseFailure::Fetch(error)),
                };
            }
        };
        report.fetch = started.elapsed();
        report.bytes = bytes.len() as u64;
        file.size = report.bytes;
        let system = self.system.clone();
        let name = file.name.clone();
        let (format, max, limits) = (self.format.clone(), self.max_file_bytes, self.part_limits);
        let inline = parse_inline(&bytes);
        let _parsing = self
            .parsing
            .acquire()
            .await
            .expect("the parse permits are never closed");
        let parse = move || {
            let started = Instant::now();
            let ctx = FileContext {
                system,
                file_name: name,
            };
            let read = format.read_with(&bytes, &ctx, max, limits)?;
            Ok::<_, String>((read, started.elapsed()))
        };
        let parsed = if inline {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse))
                .map_err(|panic| panic_message(&*panic).to_string())
        } else {
            tokio::task::spawn_blocking(parse)
                .await
                .map_err(|e| e.to_string())
        };
        let result = match parsed {
            Ok(Ok((read, _))) if self.is_empty(&read.rows) => {
                Err(ParseFailure::Invalid(no_measurements(&file.name)))
            }
            Ok(Ok((read, elapsed))) => {
                report.parse = elapsed;
                report.content_bytes = read.content_bytes;
                Ok((read.file_id, read.rows))
            }
            Ok(Err(reason)) => Err(ParseFailure::Invalid(reason)),
            Err(panic) => Err(ParseFailure::Invalid(format!(
                "{}: parser crashed: {panic}",
                file.name
            ))),
        };
        Fetched {
            file,
            report,
            result,
        }
    }
}
