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
    /// Stable id of the file's content, written into the `file_id` column.
    pub file_id: String,
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
    /// Parses a whole decompressed file into one batch per measurement table.
    fn parse(&self, content: &[u8], ctx: &FileContext) -> Result<ParsedFile, ParseError>;
}

/// Every format pmflow reads; the first is what `auto` falls back to for a file no
/// format recognises (its parser then says what is wrong with the file).
pub const FORMATS: [&dyn Format; 1] = [&threegpp::ThreeGppXml];

/// How many leading bytes of a file `auto` looks at.
const SNIFF_BYTES: usize = 4096;

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

    /// Parses a decompressed file with its format.
    pub fn parse(&self, content: &[u8], ctx: &FileContext) -> Result<ParsedFile, ParseError> {
        self.format_of(content).parse(content, ctx)
    }
}

/// Content-hash id of a file: the first 16 hex digits of the BLAKE3 hash of its
/// decompressed bytes, so the same content gets the same id however it was
/// compressed or named, and re-ingesting it overwrites rather than duplicates.
pub fn file_id(content: &[u8]) -> String {
    let hash = blake3::hash(content);
    hash.to_hex()[..16].to_string()
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
            file_id: "0".into(),
        };
        let err = auto.parse(b"<other/>", &ctx).unwrap_err().to_string();
        assert!(
            err.starts_with("x.csv") && err.contains("not a 3GPP PM file"),
            "{err}"
        );
    }
}
