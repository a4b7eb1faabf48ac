//! Formats: turning the bytes of one counter file into Arrow record batches, one per
//! measurement table.
//!
//! Each format implements [`Format`] and is registered in [`FORMATS`]; the plan's
//! `format` picks one by name, or `auto` (the default) the first that recognises a
//! file's content ([`FormatChoice`]). `decompress` undoes transport compression (by
//! magic bytes), `builder` accumulates rows into Arrow arrays with widening counter
//! types, `threegpp` is the streaming parser for TS 32.435 `measCollecFile` and
//! TS 28.532 `measDataFile`.

pub mod builder;
pub mod decompress;
pub mod naming;
pub mod threegpp;

use std::io::Read;

use arrow::record_batch::RecordBatch;

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
    /// Its tables.
    pub parsed: ParsedFile,
    /// Its size decompressed.
    pub content_bytes: u64,
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
    /// Whether a file whose decompressed content starts with `head` is of this format.
    fn recognises(&self, head: &[u8]) -> bool;
    /// Parses a whole decompressed file into one batch per measurement table;
    /// `file_id` (the `file_id` column's value) is asked for once the content was
    /// read to its end.
    fn parse(
        &self,
        content: Content<'_>,
        ctx: &FileContext,
        file_id: &dyn Fn() -> String,
    ) -> Result<ParsedFile, ParseError>;
}

/// Every format pmflow reads; the first is what `auto` falls back to for a file no
/// format recognises (its parser then says what is wrong with the file).
pub const FORMATS: [&dyn Format; 1] = [&threegpp::ThreeGppXml];

/// How many leading bytes of a file `auto` looks at.
const SNIFF_BYTES: usize = 4096;

/// The buffer a decompressing stream is read through.
const STREAM_BUFFER: usize = 64 * 1024;

/// Decompressed bytes a file may take in memory whole; past this it streams.
const IN_MEMORY: usize = 64 << 20;

/// The format a plan asks for.
#[derive(Clone, Copy)]
pub enum FormatChoice {
    /// Recognise each file's format by its content.
    Auto,
    /// Always this format.
    Fixed(&'static dyn Format),
}

impl std::fmt::Debug for FormatChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FormatChoice {
    /// The choice a plan's `format` names: `auto` or a format's name; the error lists
    /// the names known.
    pub fn by_name(name: &str) -> Result<Self, String> {
        if name == "auto" {
            return Ok(Self::Auto);
        }
        FORMATS
            .iter()
            .find(|format| format.name() == name)
            .map(|format| Self::Fixed(*format))
            .ok_or_else(|| {
                let known: Vec<&str> = FORMATS.iter().map(|f| f.name()).collect();
                format!(
                    "unknown format {name:?} (known: auto, {})",
                    known.join(", ")
                )
            })
    }

    /// The plan's name of this choice.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Fixed(format) => format.name(),
        }
    }

    /// The format of a file with this decompressed content.
    pub fn format_of(&self, content: &[u8]) -> &'static dyn Format {
        match self {
            Self::Fixed(format) => *format,
            Self::Auto => {
                let head = &content[..content.len().min(SNIFF_BYTES)];
                FORMATS
                    .into_iter()
                    .find(|format| format.recognises(head))
                    .unwrap_or(FORMATS[0])
            }
        }
    }

    /// Reads a fetched file: plain content is parsed where it lies; gzip is
    /// decompressed (into memory up to 64 MiB, else as the parser reads it, so memory
    /// does not grow with the file), hashed on the way, and refused past `max`
    /// bytes. The error names the file.
    pub fn read(&self, bytes: &[u8], ctx: &FileContext, max: u64) -> Result<ReadFile, String> {
        self.read_within(bytes, ctx, max, IN_MEMORY)
    }

    /// [`Self::read`], streaming gzip content past `in_memory` bytes.
    fn read_within(
        &self,
        bytes: &[u8],
        ctx: &FileContext,
        max: u64,
        in_memory: usize,
    ) -> Result<ReadFile, String> {
        let named = |e: &dyn std::fmt::Display| format!("{}: {e}", ctx.file_name);
        if !decompress::is_gzip(bytes) {
            if bytes.len() as u64 > max {
                return Err(named(&decompress::DecompressError::TooLarge { max }));
            }
            let file_id = file_id(bytes);
            let id = || file_id.clone();
            let parsed = self
                .format_of(bytes)
                .parse(Content::Bytes(bytes), ctx, &id)
                .map_err(|e| e.to_string())?;
            return Ok(ReadFile {
                file_id,
                parsed,
                content_bytes: bytes.len() as u64,
            });
        }
        // Up to IN_MEMORY bytes are inflated whole and parsed where they lie (the
        // fast path); a larger file streams through the parser from there on.
        let (mut inflating, inflated) = decompress::Inflating::new(bytes, max);
        let mut head = Vec::new();
        let read = (&mut inflating)
            .take(in_memory as u64 + 1)
            .read_to_end(&mut head);
        if let Some(error) = inflated.borrow_mut().error.take() {
            return Err(named(&error));
        }
        read.map_err(|e| named(&e))?;
        let format = self.format_of(&head);
        let id = || id_of(&inflated.borrow().hasher);
        let parsed = if head.len() <= in_memory {
            format.parse(Content::Bytes(&head), ctx, &id)
        } else {
            let rest = std::io::Cursor::new(head).chain(inflating);
            let mut stream = std::io::BufReader::with_capacity(STREAM_BUFFER, rest);
            format.parse(Content::Stream(&mut stream), ctx, &id)
        };
        let inflated = inflated.borrow();
        if let Some(error) = &inflated.error {
            return Err(named(error));
        }
        Ok(ReadFile {
            file_id: id_of(&inflated.hasher),
            parsed: parsed.map_err(|e| e.to_string())?,
            content_bytes: inflated.bytes,
        })
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
fn id_of(hasher: &blake3::Hasher) -> String {
    hasher.finalize().to_hex()[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_chosen_by_name_or_recognised_by_content() {
        assert_eq!(FormatChoice::by_name("auto").unwrap().name(), "auto");
        assert_eq!(
            FormatChoice::by_name("3gpp-xml").unwrap().name(),
            "3gpp-xml"
        );
        let err = FormatChoice::by_name("omes").unwrap_err();
        assert_eq!(err, "unknown format \"omes\" (known: auto, 3gpp-xml)");
        let auto = FormatChoice::Auto;
        let xml = b"<?xml version=\"1.0\"?>\n<md:measDataFile xmlns:md=\"x\">";
        assert_eq!(auto.format_of(xml).name(), "3gpp-xml");
        assert!(threegpp::ThreeGppXml.recognises(b"<measCollecFile>"));
        assert!(!threegpp::ThreeGppXml.recognises(b"Object Name,Result Time"));
        // Nothing recognises it: the first format's parser says what is wrong.
        let ctx = FileContext {
            system: "t".into(),
            file_name: "x.csv".into(),
        };
        let err = auto.read(b"<other/>", &ctx, 100).unwrap_err();
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

    #[test]
    fn a_gzip_file_reads_as_its_plain_content_does() {
        let xml = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/datasets/5ga/A20260105.0000+0000-0015+0000_gNB0001.xml"
        ))
        .unwrap();
        let ctx = FileContext {
            system: "5ga".into(),
            file_name: "a.xml".into(),
        };
        let auto = FormatChoice::Auto;
        let plain = auto.read(&xml, &ctx, 1 << 20).unwrap();
        let tables = |r: &ReadFile| {
            r.parsed
                .tables
                .iter()
                .map(|t| (t.table.clone(), t.batch.clone()))
                .collect::<Vec<_>>()
        };
        // Whole in memory, and streamed past its first 1,000 bytes.
        for in_memory in [IN_MEMORY, 1000] {
            let zipped = auto.read_within(&gzip(&xml), &ctx, 1 << 20, in_memory);
            let zipped = zipped.unwrap();
            assert_eq!(zipped.file_id, plain.file_id);
            assert_eq!(zipped.file_id, file_id(&xml));
            assert_eq!(zipped.content_bytes, xml.len() as u64);
            assert_eq!(zipped.parsed.counter_values, plain.parsed.counter_values);
            assert_eq!(tables(&zipped), tables(&plain));
        }
        // A broken file names the same line streamed as in memory.
        let cut = &xml[..xml.len() - 300];
        let in_memory = auto.read(cut, &ctx, 1 << 20).unwrap_err();
        let streamed = auto
            .read_within(&gzip(cut), &ctx, 1 << 20, 1000)
            .unwrap_err();
        assert!(in_memory.starts_with("a.xml, line "), "{in_memory}");
        assert_eq!(streamed, in_memory);

        let err = FormatChoice::Auto
            .read(&gzip(&xml), &ctx, 1000)
            .unwrap_err();
        assert_eq!(
            err,
            "a.xml: larger than max_file_bytes (1000 bytes) decompressed"
        );
        let broken = gzip(&xml);
        let err = FormatChoice::Auto
            .read(&broken[..broken.len() / 2], &ctx, 1 << 20)
            .unwrap_err();
        assert!(err.starts_with("a.xml: cannot decompress:"), "{err}");
        let err = FormatChoice::Auto
            .read(&gzip(b"  \n"), &ctx, 100)
            .unwrap_err();
        assert_eq!(err, "a.xml: empty file");
    }
}
