//! Formats: turning the bytes of one counter file into Arrow record batches, one per
//! measurement table.
//!
//! Each format implements [`Format`] and is registered in one place (`formats`, with
//! the plan's [`FormatOptions`]); the plan's `format` picks one by name, or `auto` (the
//! default) the first that recognises a file ([`FormatChoice`]). The parsers:
//! `threegpp` (TS 32.435 `measCollecFile`, TS 28.532 `measDataFile`), `omes` (Nokia),
//! `mdc` (TS 32.401) and `csv` (exports described by the plan). What they share:
//! `xml` (the event source of the XML formats), `file_rows` (a file's tables and
//! parts), `builder` and `column` (rows straight into Arrow arrays with widening
//! counter types), `naming`, `filename` and `time` (table names, TS 32.432 file
//! names, timestamps); `decompress` undoes transport compression (by magic bytes) and
//! `parts` reads large files in parts.

pub mod builder;
pub mod column;
pub mod csv;
pub mod decompress;
pub mod file_rows;
pub mod filename;
pub mod mdc;
pub mod naming;
pub mod omes;
pub mod parts;
pub mod threegpp;
pub mod time;
pub mod xml;

use std::io::Read;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use bytes::Bytes;

/// Why a file could not be parsed: always names the file, and the line where known,
/// so the `.reason` file beside a quarantined file tells an operator where to look.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct ParseError {
    /// Name of the source file.
    pub file: String,
    /// 1-based line of the problem, when the parser knows it.
    pub line: Option<u64>,
    /// What was wrong.
    pub message: String,
}

/// Who and what a file is, as far as a parser needs to know.
#[derive(Debug, Clone)]
pub struct FileContext {
    /// The plan (system) the file belongs to, written into the `system` column.
    pub system: String,
    /// The file's name (no directory), used in errors and as the node-name fallback.
    pub file_name: String,
}

/// The decompressed content of a file, as a parser reads it.
pub enum Content<'a> {
    /// Whole in memory (a plain file as fetched): parsed where it lies.
    Bytes(&'a [u8]),
    /// Decompressed as it is read (a gzip file), so memory does not grow with it.
    Stream(&'a mut dyn std::io::BufRead),
}

/// A fetched file, read.
#[derive(Debug)]
pub struct ReadFile {
    /// Stable id of its decompressed content ([`file_id`]).
    pub file_id: String,
    /// Its rows: whole, or a large file's parts still being parsed.
    pub rows: Rows,
    /// Its size decompressed.
    pub content_bytes: u64,
}

impl ReadFile {
    /// A file read whole.
    fn whole(file_id: String, parsed: ParsedFile, content_bytes: u64) -> Self {
        Self {
            file_id,
            rows: Rows::Whole(parsed),
            content_bytes,
        }
    }
}

/// A file's rows as the pipeline takes them.
#[derive(Debug)]
pub enum Rows {
    /// Every row at once.
    Whole(ParsedFile),
    /// A large file's rows in parts, parsed as they are taken (see [`parts`]).
    Parts(parts::PartStream),
}

/// When a file is large, and how large its parts are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartLimits {
    /// Decompressed bytes a file may have to be read whole.
    pub in_memory: usize,
    /// Counter values (at least) in one part of a larger file.
    pub part_values: u64,
    /// Whether a larger file is parsed once through before its first part is handed
    /// over, so that a broken file's rows never reach a sink; without, parts go out
    /// as they are parsed, in one pass (see [`parts`]).
    pub check_first: bool,
}

impl Default for PartLimits {
    /// Files up to 64 MiB are read whole; larger ones in parts of 1 Mi values (about
    /// 8 MiB of values and the rows around them), so memory does not grow with them,
    /// checked first.
    fn default() -> Self {
        Self {
            in_memory: 64 << 20,
            part_values: 1 << 20,
            check_first: true,
        }
    }
}

/// How a parser hands over a file's rows.
pub enum Emit<'a> {
    /// All at once, as its result.
    Whole,
    /// In parts of at least `values` counter values (ending at a row's end), each
    /// given to `take` once complete, which answers whether to go on; the result is
    /// the last part.
    Parts {
        values: u64,
        take: &'a mut dyn FnMut(ParsedFile) -> bool,
    },
}

/// One measurement table's rows from one file.
#[derive(Debug, Clone)]
pub struct TableBatch {
    /// Table name, derived by the rule of [`naming`].
    pub table: String,
    /// Key columns followed by one column per counter.
    pub batch: RecordBatch,
}

/// Everything a parser extracted from one file.
#[derive(Debug, Clone, Default)]
pub struct ParsedFile {
    /// One batch per measurement table, in order of first appearance.
    pub tables: Vec<TableBatch>,
    /// Number of counter values read (nulls included), for statistics.
    pub counter_values: u64,
    /// Read in parts: whether a row took the key of a row an earlier part handed
    /// out (rows the whole file would have merged).
    pub repeated_key: bool,
}

impl ParsedFile {
    /// Total rows over all tables.
    pub fn rows(&self) -> usize {
        self.tables.iter().map(|t| t.batch.num_rows()).sum()
    }
}

/// A counter-file format: recognises its files by their content and parses them.
pub trait Format: Send + Sync {
    /// The plan's name for it (`format = "3gpp-xml"`).
    fn name(&self) -> &'static str;
    /// Whether a file named `file_name` whose decompressed content starts with `head`
    /// is of this format.
    fn recognises(&self, head: &[u8], file_name: &str) -> bool;
    /// What the plan configured for this format, for `pmflow explain` (`None`: nothing
    /// to configure).
    fn settings(&self) -> Option<String> {
        None
    }
    /// Parses a decompressed file into one batch per measurement table, handed over
    /// as `emit` says; `file_id` (the `file_id` column's value) is asked for once the
    /// content was read to its end, and for each part handed out before.
    fn parse(
        &self,
        content: Content<'_>,
        ctx: &FileContext,
        file_id: &dyn Fn() -> String,
        emit: Emit<'_>,
    ) -> Result<ParsedFile, ParseError>;
}

/// How many leading bytes of a file `auto` looks at.
const SNIFF_BYTES: usize = 4096;

/// What a plan says about its formats beyond their names: the layout of its CSV
/// files (the one format that cannot be read without it).
#[derive(Debug, Clone, Default)]
pub struct FormatOptions {
    /// The plan's `[csv]` section, validated.
    pub csv: Option<csv::layout::CsvLayout>,
}

/// Every format a plan with these options can read, in the order `auto` tries them;
/// the first is what `auto` falls back to for a file none recognises (its parser then
/// says what is wrong with the file). The one place formats are registered.
fn formats(options: &FormatOptions) -> Vec<Arc<dyn Format>> {
    let mut formats: Vec<Arc<dyn Format>> = vec![
        Arc::new(threegpp::ThreeGppXml),
        Arc::new(omes::Omes),
        Arc::new(mdc::Mdc),
    ];
    if let Some(layout) = &options.csv {
        formats.push(Arc::new(csv::Csv::new(layout.clone())));
    }
    formats
}

/// The names a plan's `format` may take.
pub const FORMAT_NAMES: [&str; 5] = ["auto", "3gpp-xml", "omes", "mdc", "csv"];

/// The format a plan asks for.
#[derive(Clone)]
pub enum FormatChoice {
    /// Recognise each file's format by its content, among these.
    Auto(Arc<[Arc<dyn Format>]>),
    /// Always this format.
    Fixed(Arc<dyn Format>),
}

impl std::fmt::Debug for FormatChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Default for FormatChoice {
    /// `auto` among the formats that need no options.
    fn default() -> Self {
        Self::Auto(formats(&FormatOptions::default()).into())
    }
}

impl FormatChoice {
    /// The choice a plan's `format` names: `auto` or a format's name; the error lists
    /// the names known, or says what the format needs.
    pub fn by_name(name: &str, options: &FormatOptions) -> Result<Self, String> {
        let formats = formats(options);
        if name == "auto" {
            return Ok(Self::Auto(formats.into()));
        }
        if let Some(format) = formats.into_iter().find(|format| format.name() == name) {
            return Ok(Self::Fixed(format));
        }
        if FORMAT_NAMES.contains(&name) {
            return Err(format!("format {name:?} needs a [{name}] section"));
        }
        Err(format!(
            "unknown format {name:?} (known: {})",
            FORMAT_NAMES.join(", ")
        ))
    }

    /// The plan's name of this choice.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Auto(_) => "auto",
            Self::Fixed(format) => format.name(),
        }
    }

    /// The settings of the formats of this choice that have any, by format name.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let formats = match self {
            Self::Auto(formats) => formats.to_vec(),
            Self::Fixed(format) => vec![format.clone()],
        };
        formats
            .iter()
            .filter_map(|format| Some((format.name(), format.settings()?)))
            .collect()
    }

    /// The format of a file named `file_name` with this decompressed content.
    pub fn format_of(&self, content: &[u8], file_name: &str) -> Arc<dyn Format> {
        match self {
            Self::Fixed(format) => format.clone(),
            Self::Auto(formats) => {
                let head = &content[..content.len().min(SNIFF_BYTES)];
                formats
                    .iter()
                    .find(|format| format.recognises(head, file_name))
                    .unwrap_or(&formats[0])
                    .clone()
            }
        }
    }

    /// Reads a fetched file: plain content is parsed where it lies; gzip is
    /// decompressed (into memory up to 64 MiB, else as the parser reads it, so memory
    /// does not grow with the file), hashed on the way, and refused past `max`
    /// bytes. A file larger than 64 MiB decompressed is read in parts (see
    /// [`parts`], [`PartLimits`]). The error names the file.
    pub fn read(&self, bytes: &Bytes, ctx: &FileContext, max: u64) -> Result<ReadFile, String> {
        self.read_with(bytes, ctx, max, PartLimits::default())
    }

    /// [`Self::read`], with files large by `limits`.
    pub fn read_with(
        &self,
        bytes: &Bytes,
        ctx: &FileContext,
        max: u64,
        limits: PartLimits,
    ) -> Result<ReadFile, String> {
        let PartLimits {
            in_memory,
            part_values,
            check_first,
        } = limits;
        let parts = (part_values, check_first);
        let named = |e: &dyn std::fmt::Display| format!("{}: {e}", ctx.file_name);
        if !decompress::is_gzip(bytes) {
            if bytes.len() as u64 > max {
                return Err(named(&decompress::DecompressError::TooLarge { max }));
            }
            let format = self.format_of(bytes, &ctx.file_name);
            if bytes.len() > in_memory {
                return parts::read_large(format, bytes, ctx, max, parts);
            }
            let file_id = file_id(bytes);
            let id = || file_id.clone();
            let parsed = format
                .parse(Content::Bytes(bytes), ctx, &id, Emit::Whole)
                .map_err(|e| e.to_string())?;
            return Ok(ReadFile::whole(file_id, parsed, bytes.len() as u64));
        }
        // Up to IN_MEMORY bytes are inflated whole and parsed where they lie (the
        // fast path); a larger file is read in parts.
        let (mut inflating, inflated) = decompress::Inflating::new(bytes, max);
        let mut head = Vec::new();
        let read = (&mut inflating)
            .take(in_memory as u64 + 1)
            .read_to_end(&mut head);
        if let Some(error) = inflated.borrow_mut().error.take() {
            return Err(named(&error));
        }
        read.map_err(|e| named(&e))?;
        let format = self.format_of(&head, &ctx.file_name);
        if head.len() > in_memory {
            drop(head);
            return parts::read_large(format, bytes, ctx, max, parts);
        }
        let file_id = id_of(&inflated.borrow().hasher);
        let id = || file_id.clone();
        let parsed = format
            .parse(Content::Bytes(&head), ctx, &id, Emit::Whole)
            .map_err(|e| e.to_string())?;
        Ok(ReadFile::whole(file_id, parsed, head.len() as u64))
    }
}

/// Content-hash id of a file: the first 16 hex digits of the BLAKE3 hash of its
/// decompressed bytes, so the same content gets the same id however it was
/// compressed or named, and re-ingesting it overwrites rather than duplicates.
pub fn file_id(content: &[u8]) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(content);
    id_of(&hasher)
}

/// The file id of the content a hasher has seen.
pub fn id_of(hasher: &blake3::Hasher) -> String {
    hasher.finalize().to_hex()[..16].to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::parts::Part;

    use super::*;

    #[test]
    fn formats_are_chosen_by_name_or_recognised_by_content() {
        let none = FormatOptions::default();
        assert_eq!(FormatChoice::by_name("auto", &none).unwrap().name(), "auto");
        for name in ["3gpp-xml", "omes", "mdc"] {
            assert_eq!(FormatChoice::by_name(name, &none).unwrap().name(), name);
        }
        let err = FormatChoice::by_name("csv", &none).unwrap_err();
        assert_eq!(err, "format \"csv\" needs a [csv] section");
        let err = FormatChoice::by_name("asn1", &none).unwrap_err();
        assert_eq!(
            err,
            "unknown format \"asn1\" (known: auto, 3gpp-xml, omes, mdc, csv)"
        );
        let layout: csv::layout::CsvSection =
            toml::from_str("object_column = \"Object Name\"\ntable = \"port\"").unwrap();
        let with_csv = FormatOptions {
            csv: Some(layout.layout().unwrap()),
        };
        let auto = FormatChoice::by_name("auto", &with_csv).unwrap();
        let recognised = |head: &[u8], name| auto.format_of(head, name).name();
        let xml = b"<?xml version=\"1.0\"?>\n<md:measDataFile xmlns:md=\"x\">";
        assert_eq!(recognised(xml, "a.xml"), "3gpp-xml");
        assert_eq!(
            recognised(b"<?xml version=\"1.0\"?>\n<OMeS>", "a.xml"),
            "omes"
        );
        let mdc =
            b"<?xml version=\"1.0\"?>\n<!DOCTYPE mdc SYSTEM \"MeasDataCollection.dtd\">\n<mdc>";
        assert_eq!(recognised(mdc, "a.xml"), "mdc");
        assert_eq!(recognised(b"\xEF\xBB\xBFObject Name,x\r\n", "a.csv"), "csv");
        assert_eq!(recognised(b"Name,x\r\n", "a.csv"), "3gpp-xml");
        let auto = FormatChoice::default();
        // Nothing recognises it: the first format's parser says what is wrong.
        let ctx = FileContext {
            system: "t".into(),
            file_name: "x.csv".into(),
        };
        let err = auto
            .read(&Bytes::from_static(b"<other/>"), &ctx, 100)
            .unwrap_err();
        assert!(
            err.starts_with("x.csv") && err.contains("not a 3GPP PM file"),
            "{err}"
        );
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// Every part of a file read, in order (one when it was read whole; the whole
    /// file alone when its stream ends with it), or the stream's error.
    fn parts_or_error(read: ReadFile) -> Result<Vec<ParsedFile>, String> {
        let mut stream = match read.rows {
            Rows::Whole(parsed) => return Ok(vec![parsed]),
            Rows::Parts(stream) => stream,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut parts = Vec::new();
            while let Some(part) = stream.next().await {
                match part? {
                    Part::Next(part) => parts.push(part),
                    Part::Whole(whole) => {
                        assert!(!parts.is_empty(), "the whole comes after parts");
                        assert!(stream.next().await.is_none(), "nothing after the whole");
                        return Ok(vec![whole]);
                    }
                }
            }
            Ok(parts)
        })
    }

    /// [`parts_or_error`] of a file that reads without error.
    fn parts_of(read: ReadFile) -> Vec<ParsedFile> {
        parts_or_error(read).unwrap()
    }

    /// Limits that make a file past `in_memory` bytes large, checked first or not.
    fn limits(in_memory: usize, part_values: u64, check_first: bool) -> PartLimits {
        PartLimits {
            in_memory,
            part_values,
            check_first,
        }
    }

    /// Each table's rows over all parts, every row as its non-null cells (numbers
    /// written alike whether a part held them as integers or floats).
    fn rows_of(parts: &[ParsedFile]) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
        use arrow::util::display::array_value_to_string;
        let mut tables: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
        for table in parts.iter().flat_map(|p| &p.tables) {
            let batch = &table.batch;
            let schema = batch.schema();
            let rows = tables.entry(table.table.clone()).or_default();
            for row in 0..batch.num_rows() {
                let cells = schema.fields().iter().zip(batch.columns());
                let cells = cells.filter(|(_, column)| column.is_valid(row));
                let cells = cells.map(|(field, column)| {
                    let text = array_value_to_string(column, row).unwrap();
                    let text = text.parse::<f64>().map_or(text, |n| n.to_string());
                    (field.name().clone(), text)
                });
                rows.push(cells.collect());
            }
        }
        tables
    }

    /// A generated gNodeB file of the repository's datasets (360 values).
    fn gnb_sample() -> Bytes {
        Bytes::from(
            std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/datasets/5ga/A20260105.0000+0000-0015+0000_gNB0001.xml"
            ))
            .unwrap(),
        )
    }

    fn ctx(file_name: &str) -> FileContext {
        FileContext {
            system: "5ga".into(),
            file_name: file_name.into(),
        }
    }

    #[test]
    fn a_large_file_is_read_in_parts_with_the_rows_of_the_whole() {
        let xml = gnb_sample();
        let (ctx, auto) = (ctx("a.xml"), FormatChoice::default());
        let whole = auto.read(&xml, &ctx, 1 << 20).unwrap();
        let file_id = whole.file_id.clone();
        let whole = parts_of(whole);
        let values = whole[0].counter_values;
        assert_eq!(values, 360);
        // Past 1,000 bytes a file is large: parts of at least 50 values, checked
        // first or not.
        for content in [xml.clone(), Bytes::from(gzip(&xml))] {
            for check_first in [true, false] {
                let read = auto
                    .read_with(&content, &ctx, 1 << 20, limits(1000, 50, check_first))
                    .unwrap();
                assert!(matches!(read.rows, Rows::Parts(_)));
                assert_eq!(read.file_id, file_id);
                assert_eq!(read.content_bytes, xml.len() as u64);
                let parts = parts_of(read);
                let (last, full) = parts.split_last().unwrap();
                assert!(full.len() >= 4 && full.iter().all(|p| p.counter_values >= 50));
                assert!(last.counter_values > 0);
                assert_eq!(parts.iter().map(|p| p.counter_values).sum::<u64>(), values);
                assert_eq!(rows_of(&parts), rows_of(&whole));
            }
        }
    }

    #[test]
    fn a_large_file_whose_row_keys_come_back_in_a_later_part_is_read_whole() {
        let block = |counter: &str, objects: &[(&str, i64)]| {
            let values: String = objects
                .iter()
                .map(|(object, v)| {
                    format!("<measValue measObjLdn=\"{object}\"><r p=\"1\">{v}</r></measValue>")
                })
                .collect();
            format!(
                "<measInfo measInfoId=\"PM=1,PmGroup=Cell\">\
                 <granPeriod duration=\"PT900S\" endTime=\"2026-01-05T00:15:00Z\"/>\
                 <measType p=\"1\">{counter}</measType>{values}</measInfo>"
            )
        };
        let file = |second: &str| {
            Bytes::from(format!(
                "<measCollecFile><fileHeader/><measData><managedElement localDn=\"n1\"/>{}{}\
                 </measData></measCollecFile>",
                block("a", &[("Cell=1", 1), ("Cell=2", 2)]),
                block("b", &[(second, 3)]),
            ))
        };
        let (ctx, auto) = (ctx("b.xml"), FormatChoice::default());
        for check_first in [true, false] {
            let one_row_each = limits(10, 1, check_first);
            // Cell=1 again: its counters merge into one row, so the file is read whole:
            // checked first, before any part; otherwise after its parts, voiding them.
            let read = auto
                .read_with(&file("Cell=1"), &ctx, 1 << 20, one_row_each)
                .unwrap();
            assert_eq!(matches!(read.rows, Rows::Whole(_)), check_first);
            let rows = &rows_of(&parts_of(read))["cell"];
            assert_eq!(rows.len(), 2);
            assert_eq!((rows[0]["a"].as_str(), rows[0]["b"].as_str()), ("1", "3"));
            // A new object: three parts of one row each.
            let read = auto
                .read_with(&file("Cell=3"), &ctx, 1 << 20, one_row_each)
                .unwrap();
            let parts = parts_of(read);
            assert_eq!(
                parts.iter().map(ParsedFile::rows).collect::<Vec<_>>(),
                [1, 1, 1]
            );
            assert_eq!(rows_of(&parts)["cell"].len(), 3);
        }
    }

    #[test]
    fn a_broken_large_file_fails_before_its_parts_when_checked_first_and_after_some_when_not() {
        let xml = gnb_sample();
        let (ctx, auto) = (ctx("a.xml"), FormatChoice::default());
        let cut = xml.slice(..xml.len() - 300);
        let in_memory = auto.read(&cut, &ctx, 1 << 20).unwrap_err();
        assert!(in_memory.starts_with("a.xml, line "), "{in_memory}");
        for content in [cut.clone(), Bytes::from(gzip(&cut))] {
            let checked = auto.read_with(&content, &ctx, 1 << 20, limits(1000, 50, true));
            assert_eq!(checked.unwrap_err(), in_memory);
            let unchecked = auto
                .read_with(&content, &ctx, 1 << 20, limits(1000, 50, false))
                .unwrap();
            let mut stream = match unchecked.rows {
                Rows::Parts(stream) => stream,
                Rows::Whole(_) => panic!("a large file is read in parts"),
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let (parts, error) = runtime.block_on(async {
                let mut parts = 0;
                loop {
                    match stream.next().await {
                        Some(Ok(Part::Next(_))) => parts += 1,
                        Some(Err(error)) => break (parts, error),
                        other => panic!("the stream ends with the error: {other:?}"),
                    }
                }
            });
            assert!(parts >= 4, "{parts} parts before the error");
            assert_eq!(error, in_memory);
            assert!(runtime.block_on(stream.next()).is_none());
        }
    }

    #[test]
    fn a_gzip_file_reads_as_its_plain_content_does() {
        let xml = gnb_sample();
        let ctx = ctx("a.xml");
        let auto = FormatChoice::default();
        let plain = auto.read(&xml, &ctx, 1 << 20).unwrap();
        let zipped = auto.read(&Bytes::from(gzip(&xml)), &ctx, 1 << 20).unwrap();
        assert_eq!(zipped.file_id, plain.file_id);
        assert_eq!(zipped.file_id, file_id(&xml));
        assert_eq!(zipped.content_bytes, xml.len() as u64);
        let (zipped, plain) = (parts_of(zipped), parts_of(plain));
        assert_eq!(zipped[0].counter_values, plain[0].counter_values);
        assert_eq!(rows_of(&zipped), rows_of(&plain));

        let read = |bytes: Vec<u8>, max| auto.read(&Bytes::from(bytes), &ctx, max);
        let err = read(gzip(&xml), 1000).unwrap_err();
        assert_eq!(
            err,
            "a.xml: larger than max_file_bytes (1000 bytes) decompressed"
        );
        let broken = gzip(&xml);
        let err = read(broken[..broken.len() / 2].to_vec(), 1 << 20).unwrap_err();
        assert!(err.starts_with("a.xml: cannot decompress:"), "{err}");
        let err = read(gzip(b"  \n"), 100).unwrap_err();
        assert_eq!(err, "a.xml: empty file");
    }
}
