//! Streaming parser for Nokia OMeS PM files:
//! `OMeS/PMSetup[@startTime,@interval]/PMMOResult/(MO…, measurement)`.
//!
//! Rules:
//! - The period begins at `PMSetup@startTime` (offsets such as `-05:00:00` are read)
//!   and lasts `@interval` minutes; without them, the TS 32.432 file name's period.
//! - A `PMMOResult` is one row. Its first `MO` names the object: `DN`, else
//!   `localMoid` (a `DN:` prefix dropped); further `MO`s (dimensions) are appended to
//!   it after a `,`. The node is `baseId`, else the DN's first two components
//!   (`PLMN-PLMN/MRBTS-1`), else the file name's.
//! - The one other child of a `PMMOResult` is the measurement: its
//!   `@measurementType` (else its element name) is the table, and each of its child
//!   elements a counter, named by the element (a counter written twice keeps its
//!   last value).

use foldhash::HashMap;
use quick_xml::events::BytesStart;

use super::builder::classify;
use super::file_rows::FileRows;
use super::naming::{FALLBACK_TABLE, table_from_name};
use super::time::parse_timestamp_us;
use super::xml::{self, Elements, attr, invalid_utf8, text_str};
use super::{Content, Emit, FileContext, Format, ParseError, ParsedFile};

/// Nokia OMeS as a [`Format`]: `omes`, recognised by its root element.
#[derive(Debug, Clone, Copy)]
pub struct Omes;

impl Format for Omes {
    fn name(&self) -> &'static str {
        "omes"
    }

    fn recognises(&self, head: &[u8], _file_name: &str) -> bool {
        xml::has_start_tag(head, "OMeS")
    }

    fn parse(
        &self,
        content: Content<'_>,
        ctx: &FileContext,
        file_id: &dyn Fn() -> String,
        emit: Emit<'_>,
    ) -> Result<ParsedFile, ParseError> {
        let parser = Parser {
            rows: FileRows::new(ctx, file_id, emit),
            period: None,
            mos: Vec::new(),
            mo: Mo::default(),
            measurement: None,
            columns: HashMap::default(),
        };
        xml::parse(content, &ctx.file_name, parser)
    }
}

/// Depths of the elements the rules name.
const PM_SETUP: usize = 2;
const PM_MO_RESULT: usize = 3;
const RESULT_CHILD: usize = 4;
const COUNTER: usize = 5;

/// What one `MO` element said.
#[derive(Debug, Default)]
struct Mo {
    dn: Option<String>,
    base_id: Option<String>,
    local_moid: Option<String>,
}

/// The row being filled by a measurement element.
#[derive(Debug, Clone, Copy)]
struct Measurement {
    table: usize,
    row: usize,
}

struct Parser<'a, 'e> {
    rows: FileRows<'a, 'e>,
    /// `(start µs, seconds)` of the current `PMSetup`.
    period: Option<(i64, i32)>,
    /// The `MO`s of the current `PMMOResult`.
    mos: Vec<Mo>,
    /// The `MO` being read.
    mo: Mo,
    measurement: Option<Measurement>,
    /// Column of a counter element name, per table.
    columns: HashMap<usize, HashMap<Box<[u8]>, usize>>,
}

impl Elements for Parser<'_, '_> {
    fn finish(self) -> Result<ParsedFile, String> {
        self.rows.finish()
    }

    fn start(&mut self, element: &BytesStart<'_>, depth: usize) -> Result<(), String> {
        let name = element.local_name();
        let name = name.as_ref();
        match depth {
            1 if name != b"OMeS" => Err(format!(
                "not an OMeS file: root element is <{}>",
                String::from_utf8_lossy(name)
            )),
            PM_SETUP if name == b"PMSetup" => {
                self.period = self.setup_period(element)?;
                Ok(())
            }
            PM_MO_RESULT if name == b"PMMOResult" => {
                self.mos.clear();
                self.measurement = None;
                Ok(())
            }
            RESULT_CHILD if name == b"MO" => {
                self.mo = Mo::default();
                Ok(())
            }
            RESULT_CHILD => self.begin_measurement(element),
            _ => Ok(()),
        }
    }

    fn end(&mut self, name: &[u8], text: &[u8], depth: usize) -> Result<(), String> {
        match (depth, name) {
            (COUNTER, b"DN") => self.mo.dn = Some(text_str(text)?.to_string()),
            (COUNTER, b"baseId") => self.mo.base_id = Some(text_str(text)?.to_string()),
            (COUNTER, b"localMoid") => self.mo.local_moid = Some(text_str(text)?.to_string()),
            (COUNTER, counter) => self.store(counter, text)?,
            (RESULT_CHILD, b"MO") => self.mos.push(std::mem::take(&mut self.mo)),
            // Taken either way: a row ends with its measurement element.
            (RESULT_CHILD, _) if self.measurement.take().is_some() => self.rows.row_done()?,
            _ => {}
        }
        Ok(())
    }
}

impl Parser<'_, '_> {
    /// The period a `PMSetup` gives, if it gives one.
    fn setup_period(&self, element: &BytesStart<'_>) -> Result<Option<(i64, i32)>, String> {
        let (Some(start), Some(interval)) =
            (attr(element, b"startTime")?, attr(element, b"interval")?)
        else {
            return Ok(None);
        };
        let start_us = parse_timestamp_us(&start)
            .ok_or_else(|| format!("invalid PMSetup startTime {start:?}"))?;
        let minutes: i32 = interval
            .parse()
            .ok()
            .filter(|m| *m > 0)
            .ok_or_else(|| format!("invalid PMSetup interval {interval:?} (minutes)"))?;
        Ok(Some((start_us, minutes * 60)))
    }

    /// Opens the row of a measurement element.
    fn begin_measurement(&mut self, element: &BytesStart<'_>) -> Result<(), String> {
        let first = self
            .mos
            .first()
            .ok_or("a measurement before the <MO> of its PMMOResult")?;
        let object_of = |mo: &Mo| {
            mo.dn.clone().or_else(|| {
                let moid = mo.local_moid.as_deref()?;
                Some(moid.strip_prefix("DN:").unwrap_or(moid).to_string())
            })
        };
        let objects: Vec<String> = self.mos.iter().filter_map(object_of).collect();
        let ne = first
            .base_id
            .clone()
            .or_else(|| first.dn.as_deref().and_then(node_of_dn))
            .unwrap_or_else(|| self.rows.fallback_ne());
        let table = match attr(element, b"measurementType")? {
            Some(kind) => table_from_name(&kind),
            None => table_from_name(
                std::str::from_utf8(element.local_name().as_ref()).map_err(invalid_utf8)?,
            ),
        };
        let table = self.rows.table(table.as_deref().unwrap_or(FALLBACK_TABLE));
        let (start, seconds) = match self.period {
            Some(period) => period,
            None => self
                .rows
                .fallback_period()
                .map_err(|reason| format!("no PMSetup startTime and interval, and {reason}"))?,
        };
        let ne = self.rows.ne(&ne);
        let row = self
            .rows
            .builder(table)
            .row(ne, &objects.join(","), start, seconds);
        self.measurement = Some(Measurement { table, row });
        Ok(())
    }

    /// Stores a counter element's value in the current row.
    fn store(&mut self, counter: &[u8], text: &[u8]) -> Result<(), String> {
        let Some(Measurement { table, row }) = self.measurement else {
            return Ok(());
        };
        let columns = self.columns.entry(table).or_default();
        let column = match columns.get(counter) {
            Some(&column) => column,
            None => {
                let name = std::str::from_utf8(counter).map_err(invalid_utf8)?;
                let column = self.rows.builder(table).column(name);
                columns.insert(counter.into(), column);
                column
            }
        };
        let value = classify(text).map_err(invalid_utf8)?;
        self.rows.set(table, row, column, value);
        Ok(())
    }
}

/// The node of a Nokia DN: its first two components (`PLMN-PLMN/MRBTS-1/LNBTS-1` →
/// `PLMN-PLMN/MRBTS-1`).
fn node_of_dn(dn: &str) -> Option<String> {
    let mut components = dn.splitn(3, '/');
    let (first, second) = (components.next()?, components.next()?);
    Some(format!("{first}/{second}"))
}
