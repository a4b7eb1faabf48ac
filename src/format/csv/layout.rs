//! A plan's `[csv]` section: how the columns of its CSV exports map onto rows.
//!
//! ```toml
//! [csv]
//! delimiter = ","                 # default ","; quoted fields may hold the delimiter
//! header_line = 2                 # 1-based line of the column names (default 1)
//! time_column = "Result Time"     # absent: the period of the TS 32.432 file name
//! time_format = "%Y-%m-%d %H:%M"  # chrono format (default "%Y-%m-%d %H:%M:%S")
//! time_marks = "start"            # "start" (default) or "end" of the period
//! utc_offset = "+08:00"           # applied when the text carries no offset (default UTC)
//! granularity_column = "Granularity Period"   # or granularity_s = 900
//! granularity_unit = "min"        # "s" (default) | "min"
//! object_column = "Object Name"   # required
//! ne_regex = "^(?P<ne>[^/]+)/"    # the node from the object…
//! ne_from_file = "^(?P<ne>OLT-[0-9]+)_"  # …else from the file name, else TS 32.432
//! suspect_column = "Reliability"  # rows whose value differs from reliable_value
//! reliable_value = "Reliable"     #   are suspect
//! table_from_file = "^OLT-[0-9]+_(?P<table>[a-z_]+)_[0-9]{12}[.]csv$"   # or table = "name"
//! ignore_columns = ["NE Type"]    # neither key nor counter
//! ```
//!
//! Every other column is a counter. Validation happens once, when the plan is read:
//! a bad regex, format or offset is an error naming its key, never a per-file surprise.

use regex::Regex;
use serde::Deserialize;

use crate::format::naming::table_from_name;
use crate::format::time::parse_offset_s;

/// The `[csv]` section as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSection {
    /// One ASCII character.
    pub delimiter: Option<String>,
    /// 1-based line holding the column names.
    pub header_line: Option<usize>,
    /// Column of the period's time.
    pub time_column: Option<String>,
    /// chrono format of `time_column`.
    pub time_format: Option<String>,
    /// `start` or `end`.
    pub time_marks: Option<String>,
    /// `+08:00`: the offset of times written without one.
    pub utc_offset: Option<String>,
    /// Column of the period's length.
    pub granularity_column: Option<String>,
    /// Unit of `granularity_column`: `s` or `min`.
    pub granularity_unit: Option<String>,
    /// The period's length in seconds, for files without a granularity column.
    pub granularity_s: Option<i32>,
    /// Column of the measured object.
    pub object_column: Option<String>,
    /// Regex with a group `ne`, applied to the object.
    pub ne_regex: Option<String>,
    /// Regex with a group `ne`, applied to the file name.
    pub ne_from_file: Option<String>,
    /// Column whose value marks a row suspect unless it equals `reliable_value`.
    pub suspect_column: Option<String>,
    /// The value of `suspect_column` of a reliable row.
    pub reliable_value: Option<String>,
    /// Regex with a group `table`, applied to the file name.
    pub table_from_file: Option<String>,
    /// The one table of every file.
    pub table: Option<String>,
    /// Columns that are neither keys nor counters.
    #[serde(default)]
    pub ignore_columns: Vec<String>,
}

/// Where a row's period comes from.
#[derive(Debug, Clone)]
pub enum PeriodSource {
    /// A column of each row.
    Column(TimeColumn),
    /// The TS 32.432 file name's begin and end.
    FileName,
}

/// A time column and how to read it.
#[derive(Debug, Clone)]
pub struct TimeColumn {
    /// Column name.
    pub name: String,
    /// chrono format.
    pub format: String,
    /// Whether the format itself reads an offset (`%z`, `%:z`, …).
    pub has_offset: bool,
    /// Whether the time marks the period's end (else its start).
    pub marks_end: bool,
    /// Seconds east of UTC of times written without an offset.
    pub utc_offset_s: i64,
}

/// Where a row's granularity comes from.
#[derive(Debug, Clone)]
pub enum Granularity {
    /// A column, in units of this many seconds.
    Column { name: String, unit_s: i32 },
    /// The same for every row.
    Fixed(i32),
    /// The TS 32.432 file name's period.
    FileName,
}

/// Where a file's table name comes from.
#[derive(Debug, Clone)]
pub enum TableSource {
    /// Always this table.
    Fixed(String),
    /// The group `table` of this regex over the file name.
    FromFileName(Regex),
}

/// A validated `[csv]` section.
#[derive(Debug, Clone)]
pub struct CsvLayout {
    /// The field delimiter.
    pub delimiter: u8,
    /// 1-based line holding the column names.
    pub header_line: usize,
    /// Where each row's period comes from.
    pub period: PeriodSource,
    /// Where each row's granularity comes from.
    pub granularity: Granularity,
    /// The object column.
    pub object_column: String,
    /// The node from the object.
    pub ne_regex: Option<Regex>,
    /// The node from the file name.
    pub ne_from_file: Option<Regex>,
    /// The suspect column and its reliable value.
    pub suspect: Option<(String, String)>,
    /// The table of a file.
    pub table: TableSource,
    /// Columns that are neither keys nor counters.
    pub ignore_columns: Vec<String>,
}

impl std::fmt::Display for CsvLayout {
    /// One line per key column, as `pmflow explain` shows the layout.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let delimiter = char::from(self.delimiter);
        write!(
            f,
            "delimiter {delimiter:?}, header on line {}",
            self.header_line
        )?;
        match &self.table {
            TableSource::Fixed(table) => write!(f, "\ntable:  {table}")?,
            TableSource::FromFileName(regex) => write!(f, "\ntable:  from the file name {regex}")?,
        }
        write!(f, "\nobject: column {:?}", self.object_column)?;
        let node = match (&self.ne_regex, &self.ne_from_file) {
            (Some(object), Some(file)) => {
                format!("{object} on the object, else {file} on the file name")
            }
            (Some(object), None) => format!("{object} on the object, else the file name"),
            (None, Some(file)) => format!("{file} on the file name"),
            (None, None) => "the TS 32.432 file name, else the file name".into(),
        };
        write!(f, "\nnode:   {node}")?;
        match &self.period {
            PeriodSource::Column(time) => {
                let marks = if time.marks_end { "end" } else { "start" };
                let offset = if time.has_offset {
                    "its own offset".to_string()
                } else {
                    format!("UTC{:+}s", time.utc_offset_s)
                };
                write!(
                    f,
                    "\ntime:   column {:?} as {:?} ({offset}), the period's {marks}",
                    time.name, time.format
                )?;
            }
            PeriodSource::FileName => write!(f, "\ntime:   the TS 32.432 file name")?,
        }
        match &self.granularity {
            Granularity::Column { name, unit_s } => {
                write!(f, "\nlength: column {name:?} in units of {unit_s} s")?
            }
            Granularity::Fixed(seconds) => write!(f, "\nlength: {seconds} s")?,
            Granularity::FileName => write!(f, "\nlength: the TS 32.432 file name")?,
        }
        if let Some((column, reliable)) = &self.suspect {
            write!(f, "\nsuspect: rows whose {column:?} is not {reliable:?}")?;
        }
        if !self.ignore_columns.is_empty() {
            write!(f, "\nignored: {:?}", self.ignore_columns)?;
        }
        Ok(())
    }
}

impl CsvSection {
    /// The layout this section describes; the error names the key (`csv.<key>`).
    pub fn layout(&self) -> Result<CsvLayout, (&'static str, String)> {
        let delimiter = match self.delimiter.as_deref() {
            None => b',',
            Some(text) if text.len() == 1 && text.is_ascii() => text.as_bytes()[0],
            Some(text) => {
                let message = format!("must be one ASCII character, not {text:?}");
                return Err(("csv.delimiter", message));
            }
        };
        let header_line = self.header_line.unwrap_or(1);
        if header_line == 0 {
            return Err(("csv.header_line", "lines count from 1".into()));
        }
        let period = match &self.time_column {
            Some(name) => PeriodSource::Column(self.time_column(name)?),
            None => PeriodSource::FileName,
        };
        let granularity = match (&self.granularity_column, self.granularity_s) {
            (Some(_), Some(_)) => {
                let message = "give granularity_column or granularity_s, not both";
                return Err(("csv.granularity_s", message.into()));
            }
            (Some(name), None) => Granularity::Column {
                name: name.clone(),
                unit_s: match self.granularity_unit.as_deref().unwrap_or("s") {
                    "s" => 1,
                    "min" => 60,
                    other => {
                        let message = format!("must be \"s\" or \"min\", not {other:?}");
                        return Err(("csv.granularity_unit", message));
                    }
                },
            },
            (None, Some(seconds)) if seconds > 0 => Granularity::Fixed(seconds),
            (None, Some(_)) => return Err(("csv.granularity_s", "must be positive".into())),
            (None, None) => Granularity::FileName,
        };
        let object_column = self
            .object_column
            .clone()
            .ok_or(("csv.object_column", "is required".to_string()))?;
        let suspect = match (&self.suspect_column, &self.reliable_value) {
            (Some(column), Some(value)) => Some((column.clone(), value.clone())),
            (None, None) => None,
            (Some(_), None) => {
                let message = "is required with suspect_column";
                return Err(("csv.reliable_value", message.into()));
            }
            (None, Some(_)) => {
                let message = "is required with reliable_value";
                return Err(("csv.suspect_column", message.into()));
            }
        };
        let table = match (&self.table, &self.table_from_file) {
            (Some(name), None) => TableSource::Fixed(
                table_from_name(name).ok_or(("csv.table", format!("no table name in {name:?}")))?,
            ),
            (None, Some(pattern)) => {
                TableSource::FromFileName(named_regex("csv.table_from_file", pattern, "table")?)
            }
            _ => {
                let message = "give exactly one of table and table_from_file";
                return Err(("csv.table", message.into()));
            }
        };
        let regex = |key, pattern: &Option<String>| {
            pattern
                .as_deref()
                .map(|p| named_regex(key, p, "ne"))
                .transpose()
        };
        Ok(CsvLayout {
            delimiter,
            header_line,
            period,
            granularity,
            object_column,
            ne_regex: regex("csv.ne_regex", &self.ne_regex)?,
            ne_from_file: regex("csv.ne_from_file", &self.ne_from_file)?,
            suspect,
            table,
            ignore_columns: self.ignore_columns.clone(),
        })
    }

    fn time_column(&self, name: &str) -> Result<TimeColumn, (&'static str, String)> {
        let format = self
            .time_format
            .clone()
            .unwrap_or_else(|| "%Y-%m-%d %H:%M:%S".into());
        // A format that reads no date and time would give every row the epoch.
        let reads = |spec: &[&str]| spec.iter().any(|s| format.contains(s));
        if !reads(&["%Y", "%F", "%s", "%c"]) || !reads(&["%H", "%R", "%T", "%s", "%c"]) {
            let message = format!("{format:?} must read a date and a time");
            return Err(("csv.time_format", message));
        }
        let marks_end = match self.time_marks.as_deref().unwrap_or("start") {
            "start" => false,
            "end" => true,
            other => {
                let message = format!("must be \"start\" or \"end\", not {other:?}");
                return Err(("csv.time_marks", message));
            }
        };
        let utc_offset_s = match self.utc_offset.as_deref() {
            None => 0,
            Some(text) => parse_offset_s(text).ok_or((
                "csv.utc_offset",
                format!("{text:?} is not an offset such as \"+08:00\""),
            ))?,
        };
        Ok(TimeColumn {
            name: name.to_string(),
            has_offset: format.contains("%z") || format.contains("%:z") || format.contains("%#z"),
            format,
            marks_end,
            utc_offset_s,
        })
    }
}

/// A regex that must have the named group `group`.
fn named_regex(
    key: &'static str,
    pattern: &str,
    group: &str,
) -> Result<Regex, (&'static str, String)> {
    let regex = Regex::new(pattern).map_err(|e| (key, e.to_string()))?;
    if !regex.capture_names().flatten().any(|name| name == group) {
        return Err((key, format!("needs a group named {group}: (?P<{group}>…)")));
    }
    Ok(regex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(toml: &str) -> CsvSection {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn a_full_section_validates() {
        let layout = section(
            r#"
            delimiter = ";"
            header_line = 2
            time_column = "Result Time"
            time_format = "%Y-%m-%d %H:%M"
            time_marks = "end"
            utc_offset = "+08:00"
            granularity_column = "Granularity Period"
            granularity_unit = "min"
            object_column = "Object Name"
            ne_regex = "^(?P<ne>[^/]+)/"
            suspect_column = "Reliability"
            reliable_value = "Reliable"
            table_from_file = "^OLT-[0-9]+_(?P<table>[a-z_]+)_"
            "#,
        )
        .layout()
        .unwrap();
        assert_eq!((layout.delimiter, layout.header_line), (b';', 2));
        let PeriodSource::Column(time) = &layout.period else {
            panic!("a time column")
        };
        assert!(time.marks_end && !time.has_offset);
        assert_eq!(time.utc_offset_s, 8 * 3600);
        assert!(matches!(
            layout.granularity,
            Granularity::Column { unit_s: 60, .. }
        ));
        let minimal = section("object_column = \"o\"\ntable = \"GPON Port\"")
            .layout()
            .unwrap();
        assert!(matches!(minimal.period, PeriodSource::FileName));
        assert!(matches!(minimal.granularity, Granularity::FileName));
        assert!(matches!(minimal.table, TableSource::Fixed(ref t) if t == "gpon_port"));
    }

    #[test]
    fn mistakes_name_their_key() {
        let error = |toml: &str| section(toml).layout().unwrap_err();
        let base = "object_column = \"o\"\ntable = \"t\"\n";
        assert_eq!(error("table = \"t\"").0, "csv.object_column");
        assert_eq!(error("object_column = \"o\"").0, "csv.table");
        assert_eq!(
            error(&format!("{base}delimiter = \"ab\"")).0,
            "csv.delimiter"
        );
        assert_eq!(
            error(&format!("{base}header_line = 0")).0,
            "csv.header_line"
        );
        let (key, message) = error(&format!("{base}ne_regex = \"^([^/]+)/\""));
        assert_eq!(key, "csv.ne_regex");
        assert!(message.contains("(?P<ne>"), "{message}");
        let time = "time_column = \"t\"\n";
        assert_eq!(
            error(&format!("{base}{time}utc_offset = \"8h\"")).0,
            "csv.utc_offset"
        );
        assert_eq!(
            error(&format!("{base}{time}time_format = \"%H:%M\"")).0,
            "csv.time_format"
        );
        assert_eq!(
            error(&format!("{base}{time}time_marks = \"middle\"")).0,
            "csv.time_marks"
        );
        assert_eq!(
            error(&format!("{base}suspect_column = \"r\"")).0,
            "csv.reliable_value"
        );
        assert_eq!(
            error(&format!(
                "{base}granularity_s = 900\ngranularity_column = \"g\""
            ))
            .0,
            "csv.granularity_s"
        );
    }
}
