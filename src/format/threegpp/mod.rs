//! Streaming parser for 3GPP XML PM files: TS 32.435 `measCollecFile` and TS 28.532
//! `measDataFile`.
//!
//! One pass of quick-xml events, no DOM: counter values go from the event straight
//! into the [`TableBuilder`] of their table. Both encodings are read, also mixed in one
//! file: positional (`<measType p>` / `<r p>`, sparse or out of order, mapped by `p`) and
//! list (`<measTypes>` / `<measResults>`). No DTD or external entity is ever fetched:
//! only the five predefined entities and character references are expanded.

use quick_xml::events::{BytesStart, Event};

use super::builder::{Value, classify};
use super::file_rows::FileRows;
use super::naming::{FALLBACK_TABLE, table_from_meas_info_id, table_from_object};
use super::time;
use super::xml::{self, Events, attr, find_attribute, first_non_empty, invalid_utf8};
use super::xml::{resolve_reference, values::parse_position};
use super::{Content, Emit, FileContext, ParseError, ParsedFile};

/// 3GPP XML as a [`super::Format`]: `3gpp-xml`, recognised by its root element.
#[derive(Debug, Clone, Copy)]
pub struct ThreeGppXml;

impl super::Format for ThreeGppXml {
    fn name(&self) -> &'static str {
        "3gpp-xml"
    }

    fn recognises(&self, head: &[u8], _file_name: &str) -> bool {
        let root = |name: &[u8]| head.windows(name.len()).any(|w| w == name);
        // The root element, possibly with a namespace prefix (`<md:measCollecFile`).
        root(b"measCollecFile") || root(b"measDataFile")
    }

    fn parse(
        &self,
        content: Content<'_>,
        ctx: &FileContext,
        file_id: &dyn Fn() -> String,
        emit: Emit<'_>,
    ) -> Result<ParsedFile, ParseError> {
        xml::parse(content, &ctx.file_name, Parser::new(ctx, file_id, emit))
    }
}

/// Parses one decompressed 3GPP XML file in memory into one batch per measurement
/// table, its `file_id` the hash of `content`.
pub fn parse(content: &[u8], ctx: &FileContext) -> Result<ParsedFile, ParseError> {
    let file_id = || super::file_id(content);
    let parser = Parser::new(ctx, &file_id, Emit::Whole);
    xml::parse(Content::Bytes(content), &ctx.file_name, parser)
}

/// Which element's text is being collected.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TextTarget {
    None,
    MeasType(u32),
    MeasTypes,
    R(u32),
    MeasResults,
    Suspect,
}

/// What is known of the `measInfo` being read.
#[derive(Debug, Default)]
struct MeasInfo {
    id: Option<String>,
    /// `(end of period in µs, duration in s)` from `granPeriod`.
    period: Option<(i64, i32)>,
    /// Counter names by position `p` (list positions count from 1).
    types: Vec<(u32, String)>,
    /// Table index and column index by `p`, once the table is known.
    resolved: Option<(usize, Vec<Option<usize>>)>,
}

/// Rows of the `measValue` being read.
#[derive(Debug, Clone, Copy)]
struct CurrentRow {
    table: usize,
    row: usize,
}

struct Parser<'a, 'e> {
    rows: FileRows<'a, 'e>,
    root_seen: bool,
    depth: usize,
    in_header: bool,
    file_sender: Option<String>,
    current_ne: Option<u32>,
    info: MeasInfo,
    row: Option<CurrentRow>,
    target: TextTarget,
    text: Vec<u8>,
}

impl<'a, 'e> Parser<'a, 'e> {
    fn new(ctx: &'a FileContext, file_id: &'a dyn Fn() -> String, emit: Emit<'e>) -> Self {
        Self {
            rows: FileRows::new(ctx, file_id, emit),
            root_seen: false,
            depth: 0,
            in_header: false,
            file_sender: None,
            current_ne: None,
            info: MeasInfo::default(),
            row: None,
            target: TextTarget::None,
            text: Vec::new(),
        }
    }
}

impl xml::Handler for Parser<'_, '_> {
    fn run(&mut self, events: &mut impl Events) -> Result<(), String> {
        loop {
            let mut values_may_follow = false;
            match events
                .next_event()
                .map_err(|e| format!("malformed XML: {e}"))?
            {
                Event::Start(e) => {
                    self.depth += 1;
                    self.start(&e)?;
                    values_may_follow = e.local_name().as_ref() == b"measValue";
                }
                Event::Empty(e) => {
                    self.start(&e)?;
                    self.end(e.local_name().as_ref())?;
                }
                Event::End(e) => {
                    self.depth = self.depth.saturating_sub(1);
                    self.end(e.local_name().as_ref())?;
                    values_may_follow = e.local_name().as_ref() == b"r";
                }
                Event::Text(e) if self.target != TextTarget::None => {
                    self.text.extend_from_slice(&e)
                }
                Event::CData(e) if self.target != TextTarget::None => {
                    self.text.extend_from_slice(&e)
                }
                Event::GeneralRef(e) if self.target != TextTarget::None => {
                    self.text
                        .extend_from_slice(resolve_reference(&e)?.as_bytes());
                }
                Event::Eof => break,
                _ => {}
            }
            if values_may_follow && self.row.is_some() {
                events.take_values(&mut |p, text| self.store_raw(p, text))?;
            }
        }
        if !self.root_seen {
            return Err("not a 3GPP PM file: no <measCollecFile> or <measDataFile> root".into());
        }
        if self.depth > 0 {
            return Err("unexpected end of file: the document is truncated".into());
        }
        Ok(())
    }

    fn finish(self) -> Result<ParsedFile, String> {
        self.rows.finish()
    }
}

impl Parser<'_, '_> {
    fn start(&mut self, e: &BytesStart<'_>) -> Result<(), String> {
        let name = e.local_name();
        let name = name.as_ref();
        if !self.root_seen {
            return match name {
                b"measCollecFile" | b"measDataFile" => {
                    self.root_seen = true;
                    Ok(())
                }
                other => Err(format!(
                    "not a 3GPP PM file: root element is <{}>",
                    String::from_utf8_lossy(other)
                )),
            };
        }
        match name {
            b"r" => self.begin_text(TextTarget::R(position(e, "<r>")?)),
            b"measValue" => self.begin_meas_value(e)?,
            b"measResults" => self.begin_text(TextTarget::MeasResults),
            b"suspect" => self.begin_text(TextTarget::Suspect),
            b"measType" => self.begin_text(TextTarget::MeasType(position(e, "<measType>")?)),
            b"measTypes" => self.begin_text(TextTarget::MeasTypes),
            b"measInfo" => {
                self.info = MeasInfo {
                    id: attr(e, b"measInfoId")?,
                    ..MeasInfo::default()
                };
            }
            b"granPeriod" => {
                let end = attr(e, b"endTime")?.ok_or("<granPeriod> without endTime")?;
                let duration = attr(e, b"duration")?.ok_or("<granPeriod> without duration")?;
                let end_us = time::parse_timestamp_us(&end)
                    .ok_or_else(|| format!("invalid granPeriod endTime {end:?}"))?;
                let duration_s = time::parse_duration_s(&duration)
                    .ok_or_else(|| format!("invalid granPeriod duration {duration:?}"))?;
                self.info.period = Some((end_us, duration_s));
            }
            b"fileHeader" => self.in_header = true,
            b"fileSender" => {
                let sender = first_non_empty(e, &[b"localDn", b"senderName"])?;
                self.file_sender = sender;
            }
            b"managedElement" | b"measEntity" => {
                let ne = first_non_empty(e, &[b"localDn", b"userLabel"])?;
                let ne = ne.unwrap_or_else(|| self.fallback_ne());
                self.current_ne = Some(self.rows.ne(&ne));
            }
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, name: &[u8]) -> Result<(), String> {
        match (name, self.target) {
            (b"r", TextTarget::R(p)) => {
                let text = std::mem::take(&mut self.text);
                let stored = self.store_raw(p, &text);
                self.text = text;
                stored?;
            }
            (b"measResults", TextTarget::MeasResults) => {
                let text = std::mem::take(&mut self.text);
                let stored = text
                    .split(u8::is_ascii_whitespace)
                    .filter(|token| !token.is_empty())
                    .enumerate()
                    .try_for_each(|(i, token)| {
                        let value = classify(token).map_err(invalid_utf8)?;
                        self.store(i as u32 + 1, value)
                    });
                self.text = text;
                stored?;
            }
            (b"suspect", TextTarget::Suspect)
                if self.text.trim_ascii().eq_ignore_ascii_case(b"true") =>
            {
                if let Some(CurrentRow { table, row }) = self.row {
                    self.rows.builder(table).mark_suspect(row);
                }
            }
            (b"measType", TextTarget::MeasType(p)) => {
                let counter = self.text_str()?.trim().to_string();
                if counter.is_empty() {
                    return Err(format!("empty <measType p=\"{p}\">"));
                }
                self.info.types.push((p, counter));
            }
            (b"measTypes", TextTarget::MeasTypes) => {
                let start = self.info.types.len() as u32;
                let names: Vec<String> = self
                    .text_str()?
                    .split_ascii_whitespace()
                    .map(str::to_string)
                    .collect();
                let numbered = names
                    .into_iter()
                    .enumerate()
                    .map(|(i, n)| (start + i as u32 + 1, n));
                self.info.types.extend(numbered);
            }
            (b"measValue", _) => {
                self.row = None;
                self.rows.row_done()?;
            }
            (b"fileHeader", _) => self.in_header = false,
            _ => {}
        }
        self.target = TextTarget::None;
        Ok(())
    }

    fn text_str(&self) -> Result<&str, String> {
        std::str::from_utf8(&self.text).map_err(invalid_utf8)
    }

    fn begin_text(&mut self, target: TextTarget) {
        self.target = target;
        self.text.clear();
    }

    fn begin_meas_value(&mut self, e: &BytesStart<'_>) -> Result<(), String> {
        // Borrowed, not allocated: this runs once per row.
        let raw = find_attribute(e, b"measObjLdn")?.unwrap_or_default();
        let object = quick_xml::escape::unescape(std::str::from_utf8(&raw).map_err(invalid_utf8)?)
            .map_err(|e| format!("malformed measObjLdn: {e}"))?;
        let object = object.trim();
        let (period_start, duration_s) = match self.info.period {
            Some((end_us, duration_s)) => (end_us - i64::from(duration_s) * 1_000_000, duration_s),
            None => self.rows.fallback_period().map_err(|reason| {
                format!("<measValue> without a <granPeriod> in its measInfo, and {reason}")
            })?,
        };
        let table = self.resolve_table(object);
        let ne = match self.current_ne {
            Some(ne) => ne,
            None => {
                let name = self.fallback_ne();
                let ne = self.rows.ne(&name);
                self.current_ne = Some(ne);
                ne
            }
        };
        let row = self
            .rows
            .builder(table)
            .row(ne, object, period_start, duration_s);
        self.row = Some(CurrentRow { table, row });
        Ok(())
    }

    /// Resolves the current measInfo's table (on its first measValue) and maps its
    /// counter positions to columns.
    fn resolve_table(&mut self, object: &str) -> usize {
        if let Some((table, _)) = &self.info.resolved {
            return *table;
        }
        let name = self
            .info
            .id
            .as_deref()
            .and_then(table_from_meas_info_id)
            .or_else(|| table_from_object(object))
            .unwrap_or_else(|| FALLBACK_TABLE.to_string());
        let table = self.rows.table(&name);
        let builder = self.rows.builder(table);
        let max_p = self
            .info
            .types
            .iter()
            .map(|(p, _)| *p as usize)
            .max()
            .unwrap_or(0);
        let mut columns = vec![None; max_p + 1];
        for (p, counter) in &self.info.types {
            columns[*p as usize] = Some(builder.column(counter));
        }
        self.info.resolved = Some((table, columns));
        table
    }

    /// Stores the raw text of the value at position `p`.
    fn store_raw(&mut self, p: u32, text: &[u8]) -> Result<(), String> {
        let value = classify(text).map_err(invalid_utf8)?;
        self.store(p, value)
    }

    fn store(&mut self, p: u32, value: Value<'_>) -> Result<(), String> {
        let Some(CurrentRow { table, row }) = self.row else {
            return Err("counter value outside <measValue>".into());
        };
        let column = match &self.info.resolved {
            Some((_, columns)) => columns.get(p as usize).copied().flatten(),
            None => None,
        };
        let column = column.ok_or_else(|| {
            format!(
                "value at position {p} has no matching measType in measInfo {}",
                self.info_label()
            )
        })?;
        self.rows.set(table, row, column, value);
        Ok(())
    }

    fn info_label(&self) -> String {
        self.info
            .id
            .as_deref()
            .map_or("(without measInfoId)".into(), |id| format!("{id:?}"))
    }

    /// Node name when the file's `managedElement` names none: the file sender, then the
    /// TS 32.432 file name, then the whole file name.
    fn fallback_ne(&self) -> String {
        self.file_sender
            .clone()
            .unwrap_or_else(|| self.rows.fallback_ne())
    }
}

/// The `p` attribute of `<r>` and `<measType>`. This runs once per counter value, the
/// parser's hottest path, so the usual lone `p="N"` is read straight from the raw
/// attribute bytes; anything else goes through the attribute parser.
fn position(e: &BytesStart<'_>, element: &str) -> Result<u32, String> {
    let raw = e.attributes_raw().trim_ascii();
    let lone = raw
        .strip_prefix(b"p=\"")
        .and_then(|rest| rest.strip_suffix(b"\""));
    let digits = match lone {
        Some(digits) => std::borrow::Cow::Borrowed(digits),
        None => find_attribute(e, b"p")?.ok_or_else(|| format!("{element} without p attribute"))?,
    };
    let digits = digits.trim_ascii();
    parse_position(digits).ok_or_else(|| {
        format!(
            "{element} has an invalid position p={:?}",
            String::from_utf8_lossy(digits)
        )
    })
}
