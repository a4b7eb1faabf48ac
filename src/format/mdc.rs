//! Streaming parser for the legacy 3GPP TS 32.401 measurement file (`mdc`), as older
//! network elements still write it:
//! `mdc/mfh(ffv,sn,st,vn,cbt)/md(neid(neun,nedn),mi(mts,gp,mt…,mv(moid,r…,sf)))/mff(ts)`.
//!
//! Rules:
//! - A `DOCTYPE` (these files name `MeasDataCollection.dtd`) is never fetched: it is
//!   ignored, as any DTD is ([`super::xml`]).
//! - Timestamps are `YYYYMMDDhhmmss`, optionally followed by `Z` or an offset; none is
//!   UTC. `mts` ends the period and `gp` is its length in seconds; without them, the
//!   TS 32.432 file name's period.
//! - The node is `neun`, else `nedn`, else the header's `sn`, else the file name's.
//! - The table is the class of the last component of the first `moid` of an `mi`
//!   ([`super::naming`]); the n-th `r` of an `mv` is the value of the n-th `mt`.
//! - `sf` = `TRUE` (any case) marks the row suspect.

use quick_xml::events::BytesStart;

use super::builder::classify;
use super::file_rows::FileRows;
use super::naming::{FALLBACK_TABLE, table_from_object};
use super::time::parse_compact_us;
use super::xml::{self, Elements, invalid_utf8, text_str};
use super::{Content, Emit, FileContext, Format, ParseError, ParsedFile};

/// TS 32.401 `mdc` as a [`Format`]: `mdc`, recognised by its root element.
#[derive(Debug, Clone, Copy)]
pub struct Mdc;

impl Format for Mdc {
    fn name(&self) -> &'static str {
        "mdc"
    }

    fn recognises(&self, head: &[u8], _file_name: &str) -> bool {
        xml::has_start_tag(head, "mdc")
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
            sender: None,
            neun: None,
            nedn: None,
            ne: None,
            info: Info::default(),
            row: None,
        };
        xml::parse(content, &ctx.file_name, parser)
    }
}

/// What is known of the `mi` being read.
#[derive(Debug, Default)]
struct Info {
    /// End of the period (µs), from `mts`.
    end_us: Option<i64>,
    /// Length of the period (s), from `gp`.
    seconds: Option<i32>,
    /// Counter names in order (`mt`); the builder column of each once the table is
    /// known.
    types: Vec<String>,
    resolved: Option<(usize, Vec<usize>)>,
}

/// The `mv` being read: its row once `moid` was read, and the `r` elements so far.
#[derive(Debug, Clone, Copy)]
struct Row {
    table_row: Option<(usize, usize)>,
    values: usize,
}

struct Parser<'a, 'e> {
    rows: FileRows<'a, 'e>,
    sender: Option<String>,
    neun: Option<String>,
    nedn: Option<String>,
    /// The node of the current `md`.
    ne: Option<u32>,
    info: Info,
    row: Option<Row>,
}

impl Elements for Parser<'_, '_> {
    fn finish(self) -> Result<ParsedFile, String> {
        self.rows.finish()
    }

    fn start(&mut self, element: &BytesStart<'_>, depth: usize) -> Result<(), String> {
        let name = element.local_name();
        match (depth, name.as_ref()) {
            (1, b"mdc") => {}
            (1, other) => {
                return Err(format!(
                    "not a TS 32.401 mdc file: root element is <{}>",
                    String::from_utf8_lossy(other)
                ));
            }
            (_, b"md") => {
                (self.neun, self.nedn, self.ne) = (None, None, None);
            }
            (_, b"mi") => self.info = Info::default(),
            (_, b"mv") => {
                self.row = Some(Row {
                    table_row: None,
                    values: 0,
                })
            }
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, name: &[u8], text: &[u8], _depth: usize) -> Result<(), String> {
        match name {
            b"sn" => self.sender = Some(text_str(text)?.to_string()),
            b"neun" => self.neun = Some(text_str(text)?.to_string()),
            b"nedn" => self.nedn = Some(text_str(text)?.to_string()),
            b"mts" => {
                let text = text_str(text)?;
                let end = parse_compact_us(text).ok_or_else(|| format!("invalid mts {text:?}"))?;
                self.info.end_us = Some(end);
            }
            b"gp" => {
                let text = text_str(text)?;
                let seconds = text.parse().ok().filter(|s: &i32| *s > 0);
                self.info.seconds = Some(seconds.ok_or_else(|| format!("invalid gp {text:?}"))?);
            }
            b"mt" => self.info.types.push(text_str(text)?.to_string()),
            b"moid" => self.begin_row(text_str(text)?)?,
            b"r" => self.store(text)?,
            b"sf" if text_str(text)?.eq_ignore_ascii_case("true") => {
                if let Some((table, row)) = self.row.and_then(|r| r.table_row) {
                    self.rows.builder(table).mark_suspect(row);
                }
            }
            // Taken either way: a row ends with its `mv`.
            b"mv" if self.row.take().is_some_and(|r| r.table_row.is_some()) => {
                self.rows.row_done()?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Parser<'_, '_> {
    /// Opens the row of an `mv` once its `moid` is read.
    fn begin_row(&mut self, object: &str) -> Result<(), String> {
        if self.row.is_none() {
            return Err("<moid> outside <mv>".into());
        }
        let table = match &self.info.resolved {
            Some((table, _)) => *table,
            None => {
                let name = table_from_object(object);
                let table = self.rows.table(name.as_deref().unwrap_or(FALLBACK_TABLE));
                let builder = self.rows.builder(table);
                let columns = self.info.types.iter().map(|t| builder.column(t)).collect();
                self.info.resolved = Some((table, columns));
                table
            }
        };
        let (start, seconds) = match (self.info.end_us, self.info.seconds) {
            (Some(end), Some(seconds)) => (end - i64::from(seconds) * 1_000_000, seconds),
            _ => self
                .rows
                .fallback_period()
                .map_err(|reason| format!("an <mi> without <mts> and <gp>, and {reason}"))?,
        };
        let ne = match self.ne {
            Some(ne) => ne,
            None => {
                let name = [&self.neun, &self.nedn, &self.sender]
                    .into_iter()
                    .flatten()
                    .find(|name| !name.is_empty())
                    .cloned()
                    .unwrap_or_else(|| self.rows.fallback_ne());
                let ne = self.rows.ne(&name);
                self.ne = Some(ne);
                ne
            }
        };
        let index = self.rows.builder(table).row(ne, object, start, seconds);
        if let Some(row) = &mut self.row {
            row.table_row = Some((table, index));
        }
        Ok(())
    }

    /// Stores the value of the next `r` of the current row.
    fn store(&mut self, text: &[u8]) -> Result<(), String> {
        let Some(Row {
            table_row: Some((table, row)),
            values,
        }) = self.row
        else {
            return Err("<r> outside an <mv> with a <moid>".into());
        };
        let columns = self.info.resolved.as_ref().map(|(_, c)| c);
        let column = columns.and_then(|c| c.get(values)).copied();
        let column = column.ok_or_else(|| {
            format!(
                "{} <r> values where the <mi> has {} <mt>",
                values + 1,
                self.info.types.len()
            )
        })?;
        let value = classify(text).map_err(invalid_utf8)?;
        self.rows.set(table, row, column, value);
        if let Some(row) = &mut self.row {
            row.values += 1;
        }
        Ok(())
    }
}
