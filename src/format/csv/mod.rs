//! CSV exports, as OLTs and NMSs of optical access (ONT/GPON) write them: one file per
//! OLT, counter group and period, one line per measured object.
//!
//! Rule: the plan's [`layout::CsvLayout`] names the key columns (object, time,
//! granularity, suspect); every other column is a counter, its name kept verbatim and
//! its type inferred and widened as for XML counters. `NIL` and empty cells are null;
//! CRLF line ends, quoted fields and a UTF-8 byte-order mark are accepted. A file is
//! one table, named by the plan or by the file name; lines of nothing but whitespace
//! are skipped. Times are read in the layout's
//! format; text without an offset is at `utc_offset`. The node is taken from the
//! object (`ne_regex`), else from the file name (`ne_from_file`, then TS 32.432), else
//! it is the file name.

pub mod layout;

use std::io::{BufRead, Read};

use ::csv::{ByteRecord, ReaderBuilder};
use chrono::{DateTime, NaiveDateTime};

use super::builder::classify;
use super::file_rows::FileRows;
use super::naming::table_from_name;
use super::{Content, Emit, FileContext, Format, ParseError, ParsedFile};
use layout::{CsvLayout, Granularity, PeriodSource, TableSource, TimeColumn};

/// The longest line a streamed export may have: lines are an object and its
/// counters, so a longer one is garbage (a gzip bomb of zeros), refused before the
/// CSV reader buffers it.
const MAX_LINE: u64 = 16 << 20;

/// The UTF-8 byte-order mark some exporters begin files with.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// CSV as a [`Format`]: `csv`, with the plan's layout.
#[derive(Debug, Clone)]
pub struct Csv {
    layout: CsvLayout,
}

impl Csv {
    /// The format of files laid out as `layout` says.
    pub fn new(layout: CsvLayout) -> Self {
        Self { layout }
    }

    /// The table of a file named `file_name` (a `.gz` suffix is transport, not name).
    fn table_of(&self, file_name: &str) -> Result<String, String> {
        let file_name = without_gz(file_name);
        match &self.layout.table {
            TableSource::Fixed(table) => Ok(table.clone()),
            TableSource::FromFileName(regex) => regex
                .captures(file_name)
                .and_then(|captures| table_from_name(&captures["table"]))
                .ok_or_else(|| format!("the file name does not match csv.table_from_file {regex}")),
        }
    }
}

impl Format for Csv {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn settings(&self) -> Option<String> {
        Some(self.layout.to_string())
    }

    /// A file whose name gives its table and whose header line holds the object column.
    fn recognises(&self, head: &[u8], file_name: &str) -> bool {
        if self.table_of(file_name).is_err() {
            return false;
        }
        let head = head.strip_prefix(BOM).unwrap_or(head);
        let header = head.split(|&b| b == b'\n').nth(self.layout.header_line - 1);
        let object = self.layout.object_column.as_bytes();
        header.is_some_and(|line| line.windows(object.len()).any(|w| w == object))
    }

    fn parse(
        &self,
        content: Content<'_>,
        ctx: &FileContext,
        file_id: &dyn Fn() -> String,
        emit: Emit<'_>,
    ) -> Result<ParsedFile, ParseError> {
        let error = |line, message| ParseError {
            file: ctx.file_name.clone(),
            line,
            message,
        };
        let table = self.table_of(&ctx.file_name).map_err(|m| error(None, m))?;
        let rows = FileRows::new(ctx, file_id, emit);
        let mut parser = Parser::new(&self.layout, rows, &table, &ctx.file_name);
        let skip = self.layout.header_line - 1;
        let (header, blank) = match content {
            Content::Bytes(bytes) => {
                let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
                let blank = bytes.iter().all(u8::is_ascii_whitespace);
                let header = match blank {
                    true => Ok(false),
                    false => parser.run(self.reader(skip_lines(bytes, skip))),
                };
                (header, blank)
            }
            Content::Stream(stream) => {
                let mut export = ExportStream::new(stream, skip).map_err(|e| error(None, e))?;
                let header = parser.run(self.reader(&mut export));
                (header, !export.non_blank)
            }
        };
        let header =
            header.map_err(|(line, message)| error(line.map(|l| l + skip as u64), message))?;
        match (header, blank) {
            (true, _) => parser.rows.finish().map_err(|message| error(None, message)),
            (false, true) => Err(error(None, "empty file".into())),
            (false, false) => {
                let line = Some(self.layout.header_line as u64);
                Err(error(line, "no header line".into()))
            }
        }
    }
}

impl Csv {
    fn reader<R: Read>(&self, input: R) -> ::csv::Reader<R> {
        ReaderBuilder::new()
            .delimiter(self.layout.delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(input)
    }
}

/// A file name without the `.gz` its transport compression added.
fn without_gz(file_name: &str) -> &str {
    file_name.strip_suffix(".gz").unwrap_or(file_name)
}

/// `bytes` after its first `lines` lines.
fn skip_lines(bytes: &[u8], lines: usize) -> &[u8] {
    let mut rest = bytes;
    for _ in 0..lines {
        rest = match memchr::memchr(b'\n', rest) {
            Some(at) => &rest[at + 1..],
            None => &[],
        };
    }
    rest
}

/// A streamed export after its byte-order mark and first lines, refusing a line
/// longer than [`MAX_LINE`]; it notes whether anything but whitespace went by.
struct ExportStream<'r> {
    inner: &'r mut dyn BufRead,
    /// Lines still to skip before the first byte is handed out.
    skip: usize,
    since_newline: u64,
    non_blank: bool,
}

impl<'r> ExportStream<'r> {
    /// The export in `inner`, its first `skip` lines to be skipped.
    fn new(inner: &'r mut dyn BufRead, skip: usize) -> Result<Self, String> {
        let head = inner.fill_buf().map_err(|e| format!("cannot read: {e}"))?;
        if head.starts_with(BOM) {
            inner.consume(BOM.len());
        }
        Ok(Self {
            inner,
            skip,
            since_newline: 0,
            non_blank: false,
        })
    }

    /// Notes `bytes` going by, skipped or handed out.
    fn note(since_newline: &mut u64, non_blank: &mut bool, bytes: &[u8]) -> std::io::Result<()> {
        *non_blank = *non_blank || !bytes.iter().all(u8::is_ascii_whitespace);
        *since_newline = match memchr::memrchr(b'\n', bytes) {
            Some(at) => (bytes.len() - at - 1) as u64,
            None => *since_newline + bytes.len() as u64,
        };
        if *since_newline > MAX_LINE {
            return Err(std::io::Error::other(format!(
                "a line longer than {MAX_LINE} bytes: not a CSV export"
            )));
        }
        Ok(())
    }
}

impl Read for ExportStream<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let Self {
            inner,
            skip,
            since_newline,
            non_blank,
        } = self;
        while *skip > 0 {
            let buffer = inner.fill_buf()?;
            if buffer.is_empty() {
                break;
            }
            let (taken, line_ended) = match memchr::memchr(b'\n', buffer) {
                Some(at) => (at + 1, true),
                None => (buffer.len(), false),
            };
            Self::note(since_newline, non_blank, &buffer[..taken])?;
            inner.consume(taken);
            *skip -= usize::from(line_ended);
        }
        let n = inner.read(out)?;
        Self::note(since_newline, non_blank, &out[..n])?;
        Ok(n)
    }
}

/// Where a row's key columns are, once the header line was read.
struct Columns {
    object: usize,
    time: Option<usize>,
    granularity: Option<usize>,
    suspect: Option<usize>,
    /// `(field index, builder column)` of every counter.
    counters: Vec<(usize, usize)>,
}

/// An error at a line (relative to the header line's predecessor) or without one.
type LineError = (Option<u64>, String);

/// The state of reading one file.
struct Parser<'l, 'a, 'e> {
    layout: &'l CsvLayout,
    rows: FileRows<'a, 'e>,
    table: usize,
    /// The node of rows whose object names none.
    file_ne: u32,
    /// The period of the file name, when the layout reads periods from it.
    file_period: Option<(i64, i32)>,
    /// The last time text read and its instant (µs): files hold one or few times.
    last_time: Option<(Vec<u8>, i64)>,
}

impl<'l, 'a, 'e> Parser<'l, 'a, 'e> {
    fn new(layout: &'l CsvLayout, mut rows: FileRows<'a, 'e>, table: &str, file: &str) -> Self {
        let from_file = layout
            .ne_from_file
            .as_ref()
            .and_then(|regex| Some(regex.captures(without_gz(file))?["ne"].to_string()));
        let ne = from_file.unwrap_or_else(|| rows.fallback_ne());
        Self {
            file_ne: rows.ne(&ne),
            table: rows.table(table),
            file_period: rows.fallback_period().ok(),
            layout,
            rows,
            last_time: None,
        }
    }

    /// Reads every line; whether there was a header line at all.
    fn run<R: Read>(&mut self, mut reader: ::csv::Reader<R>) -> Result<bool, LineError> {
        let mut record = ByteRecord::new();
        // Lines of nothing but whitespace are skipped, before the header and after.
        let header_line = loop {
            if !reader.read_byte_record(&mut record).map_err(csv_error)? {
                return Ok(false);
            }
            if !is_blank(&record) {
                break record.position().map(|p| p.line());
            }
        };
        let columns = self.columns(&record).map_err(|m| (header_line, m))?;
        let width = record.len();
        let needs_file_period = matches!(self.layout.period, PeriodSource::FileName)
            || matches!(self.layout.granularity, Granularity::FileName);
        if needs_file_period {
            self.rows.fallback_period().map_err(|reason| {
                let message =
                    format!("the layout takes the period from the file name, and {reason}");
                (None, message)
            })?;
        }
        while reader.read_byte_record(&mut record).map_err(csv_error)? {
            if is_blank(&record) {
                continue;
            }
            let line = record.position().map(|p| p.line());
            if record.len() != width {
                let message = format!("{} fields where the header line has {width}", record.len());
                return Err((line, message));
            }
            self.row(&record, &columns).map_err(|m| (line, m))?;
            self.rows.row_done().map_err(|m| (line, m))?;
        }
        Ok(true)
    }

    /// The key columns and the counters of a header line.
    fn columns(&mut self, header: &ByteRecord) -> Result<Columns, String> {
        let names: Vec<&str> = header
            .iter()
            .map(|name| std::str::from_utf8(name).map(str::trim))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("header line: invalid UTF-8: {e}"))?;
        let find = |name: &str| {
            names
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| format!("no column {name:?} in the header line"))
        };
        let layout = self.layout;
        let time = match &layout.period {
            PeriodSource::Column(time) => Some(find(&time.name)?),
            PeriodSource::FileName => None,
        };
        let granularity = match &layout.granularity {
            Granularity::Column { name, .. } => Some(find(name)?),
            Granularity::Fixed(_) | Granularity::FileName => None,
        };
        let suspect = layout
            .suspect
            .as_ref()
            .map(|(name, _)| find(name))
            .transpose()?;
        let object = find(&layout.object_column)?;
        let keys = [Some(object), time, granularity, suspect];
        let builder = self.rows.builder(self.table);
        let counters = names
            .iter()
            .enumerate()
            .filter(|(i, name)| {
                !keys.contains(&Some(*i))
                    && !name.is_empty()
                    && !layout.ignore_columns.iter().any(|c| c == *name)
            })
            .map(|(i, name)| (i, builder.column(name)))
            .collect();
        Ok(Columns {
            object,
            time,
            granularity,
            suspect,
            counters,
        })
    }

    /// Reads one line into its row.
    fn row(&mut self, record: &ByteRecord, columns: &Columns) -> Result<(), String> {
        let field = |index: usize| record.get(index).unwrap_or_default();
        let text = |index: usize| {
            std::str::from_utf8(field(index))
                .map(str::trim)
                .map_err(|e| format!("invalid UTF-8: {e}"))
        };
        let object = text(columns.object)?;
        let granularity_s = match (&self.layout.granularity, columns.granularity) {
            (Granularity::Column { name, unit_s }, Some(index)) => {
                let value = text(index)?;
                let units: i32 = value
                    .parse()
                    .ok()
                    .filter(|units| *units > 0)
                    .ok_or_else(|| format!("{name} {value:?} is not a positive whole number"))?;
                units * unit_s
            }
            (Granularity::Fixed(seconds), _) => *seconds,
            _ => self.file_period.map_or(0, |(_, seconds)| seconds),
        };
        let period_start = match (&self.layout.period, columns.time) {
            (PeriodSource::Column(time), Some(index)) => {
                let at = self.instant_us(time, field(index))?;
                match time.marks_end {
                    true => at - i64::from(granularity_s) * 1_000_000,
                    false => at,
                }
            }
            _ => self.file_period.map_or(0, |(start, _)| start),
        };
        let ne = match self
            .layout
            .ne_regex
            .as_ref()
            .and_then(|r| r.captures(object))
        {
            Some(captures) => self.rows.ne(&captures["ne"]),
            None => self.file_ne,
        };
        let suspect = match (&self.layout.suspect, columns.suspect) {
            (Some((_, reliable)), Some(index)) => text(index)? != reliable,
            _ => false,
        };
        let table = self.table;
        let builder = self.rows.builder(table);
        let row = builder.row(ne, object, period_start, granularity_s);
        if suspect {
            builder.mark_suspect(row);
        }
        for &(index, column) in &columns.counters {
            let value = classify(field(index)).map_err(|e| format!("invalid UTF-8: {e}"))?;
            self.rows.set(table, row, column, value);
        }
        Ok(())
    }

    /// The instant (µs since the epoch, UTC) of a time cell.
    fn instant_us(&mut self, time: &TimeColumn, raw: &[u8]) -> Result<i64, String> {
        let raw = raw.trim_ascii();
        if let Some((last, at)) = &self.last_time {
            if last == raw {
                return Ok(*at);
            }
        }
        let text = std::str::from_utf8(raw).map_err(|e| format!("invalid UTF-8: {e}"))?;
        let invalid = |e: chrono::ParseError| {
            format!(
                "{} {text:?} does not match {:?}: {e}",
                time.name, time.format
            )
        };
        let at = match time.has_offset {
            true => DateTime::parse_from_str(text, &time.format)
                .map_err(invalid)?
                .timestamp_micros(),
            false => {
                let local = NaiveDateTime::parse_from_str(text, &time.format).map_err(invalid)?;
                local.and_utc().timestamp_micros() - time.utc_offset_s * 1_000_000
            }
        };
        self.last_time = Some((raw.to_vec(), at));
        Ok(at)
    }
}

/// A CSV reader's error, at its line.
fn csv_error(error: ::csv::Error) -> LineError {
    (error.position().map(|p| p.line()), error.to_string())
}

/// Whether every field of a line is blank (the line holds only whitespace).
fn is_blank(record: &ByteRecord) -> bool {
    record.iter().all(|field| field.trim_ascii().is_empty())
}
