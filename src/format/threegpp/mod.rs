//! Streaming parser for 3GPP XML PM files: TS 32.435 `measCollecFile` and TS 28.532
//! `measDataFile`.
//!
//! One pass of quick-xml events, no DOM: counter values go from the event straight
//! into the [`TableBuilder`] of their table. Both encodings are read, also mixed in one
//! file: positional (`<measType p>` / `<r p>`, sparse or out of order, mapped by `p`) and
//! list (`<measTypes>` / `<measResults>`). No DTD or external entity is ever fetched:
//! only the five predefined entities and character references are expanded.

mod filename;
mod time;
mod values;

use std::io::BufRead;

use foldhash::HashMap;
use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

use super::builder::{TableBuilder, Value, classify};
use super::naming::{FALLBACK_TABLE, table_from_meas_info_id, table_from_object};
use super::{Content, Emit, FileContext, ParseError, ParsedFile, TableBatch};

pub use filename::node_from_file_name;

/// 3GPP XML as a [`super::Format`]: `3gpp-xml`, recognised by its root element.
#[derive(Debug, Clone, Copy)]
pub struct ThreeGppXml;

impl super::Format for ThreeGppXml {
    fn name(&self) -> &'static str {
        "3gpp-xml"
    }

    fn recognises(&self, head: &[u8]) -> bool {
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
        match content {
            Content::Bytes(bytes) => parse_events(&mut SliceEvents::new(bytes), ctx, file_id, emit),
            Content::Stream(reader) => {
                parse_events(&mut StreamEvents::new(reader), ctx, file_id, emit)
            }
        }
    }
}

/// Parses one decompressed 3GPP XML file in memory into one batch per measurement
/// table, its `file_id` the hash of `content`.
pub fn parse(content: &[u8], ctx: &FileContext) -> Result<ParsedFile, ParseError> {
    let file_id = || super::file_id(content);
    parse_events(&mut SliceEvents::new(content), ctx, &file_id, Emit::Whole)
}

/// Where a value read on the fast path goes: its position `p` and raw text.
type StoreValue<'s> = dyn FnMut(u32, &[u8]) -> Result<(), String> + 's;

/// Where the parser's XML events come from: a file in memory, read without copying,
/// or a stream (a gzip file decompressed as it is read), so memory does not grow with
/// the file's size.
trait Events {
    /// The next event.
    fn next_event(&mut self) -> quick_xml::Result<Event<'_>>;
    /// Whether nothing but whitespace was read so far (checked at the end).
    fn blank(&self) -> bool;
    /// The line the reader stopped at after an error (1-based).
    fn error_line(&self) -> u64;
    /// Hands the `<r p="N">v</r>` elements that come next to `store` without making
    /// events of them ([`values`]); called only right after a start or end tag. A
    /// source that cannot look ahead hands none.
    fn take_values(&mut self, _store: &mut StoreValue<'_>) -> Result<(), String> {
        Ok(())
    }
}

/// A file in memory.
struct SliceEvents<'a> {
    reader: Reader<&'a [u8]>,
    content: &'a [u8],
    /// Bytes taken by [`Events::take_values`] behind the reader's back: its positions
    /// are this much short.
    taken: u64,
}

impl<'a> SliceEvents<'a> {
    fn new(content: &'a [u8]) -> Self {
        let mut reader = Reader::from_reader(content);
        reader.config_mut().check_end_names = true;
        Self {
            reader,
            content,
            taken: 0,
        }
    }
}

impl Events for SliceEvents<'_> {
    fn next_event(&mut self) -> quick_xml::Result<Event<'_>> {
        self.reader.read_event()
    }

    fn blank(&self) -> bool {
        self.content.iter().all(u8::is_ascii_whitespace)
    }

    fn error_line(&self) -> u64 {
        let position = self
            .reader
            .error_position()
            .max(self.reader.buffer_position())
            + self.taken;
        let end = (position as usize).min(self.content.len());
        1 + self.content[..end].iter().filter(|&&b| b == b'\n').count() as u64
    }

    fn take_values(&mut self, store: &mut StoreValue<'_>) -> Result<(), String> {
        // The reader is between tags (after a start or end tag), so it resumes
        // correctly at the end of any whole element taken from under it.
        let rest = self.reader.get_mut();
        while let Some(value) = values::next_value(rest) {
            let (skipped, element) = rest.split_at(value.start);
            self.taken += skipped.len() as u64;
            *rest = element;
            store(value.p, value.text)?;
            let element_len = value.end - value.start;
            self.taken += element_len as u64;
            *rest = &element[element_len..];
        }
        Ok(())
    }
}

/// A stream, read through a buffer that holds one event at a time; lines are
/// counted as the bytes go by.
struct StreamEvents<'r> {
    reader: Reader<LineCounting<'r>>,
    buf: Vec<u8>,
}

impl<'r> StreamEvents<'r> {
    fn new(stream: &'r mut dyn BufRead) -> Self {
        let mut reader = Reader::from_reader(LineCounting {
            inner: stream,
            newlines: 0,
            non_blank: false,
            since_markup: 0,
        });
        reader.config_mut().check_end_names = true;
        Self {
            reader,
            buf: Vec::new(),
        }
    }
}

impl Events for StreamEvents<'_> {
    fn next_event(&mut self) -> quick_xml::Result<Event<'_>> {
        self.buf.clear();
        self.reader.read_event_into(&mut self.buf)
    }

    fn blank(&self) -> bool {
        !self.reader.get_ref().non_blank
    }

    fn error_line(&self) -> u64 {
        1 + self.reader.get_ref().newlines
    }
}

/// The longest run of bytes without markup a streamed file may have: a PM file's
/// texts are values and names, so a longer one is garbage (a gzip bomb of zeros),
/// refused before the XML reader buffers it.
const MAX_TEXT_RUN: u64 = 16 << 20;

/// A buffered reader that counts the newlines it has handed out, whether it handed
/// out anything but whitespace, and the bytes since the last `<`.
struct LineCounting<'r> {
    inner: &'r mut dyn BufRead,
    newlines: u64,
    non_blank: bool,
    since_markup: u64,
}

impl std::io::Read for LineCounting<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for LineCounting<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.since_markup > MAX_TEXT_RUN {
            return Err(std::io::Error::other(format!(
                "more than {MAX_TEXT_RUN} bytes without markup: not a PM file"
            )));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if let Ok(buffer) = self.inner.fill_buf() {
            let consumed = &buffer[..amount.min(buffer.len())];
            self.newlines += memchr::memchr_iter(b'\n', consumed).count() as u64;
            if !self.non_blank {
                self.non_blank = !consumed.iter().all(u8::is_ascii_whitespace);
            }
            self.since_markup = match memchr::memrchr(b'<', consumed) {
                Some(at) => (consumed.len() - at - 1) as u64,
                None => self.since_markup + consumed.len() as u64,
            };
        }
        self.inner.consume(amount);
    }
}

/// Parses the events of one file; `file_id` is asked for once every event was read,
/// and for every part handed out before.
fn parse_events(
    events: &mut impl Events,
    ctx: &FileContext,
    file_id: &dyn Fn() -> String,
    emit: Emit<'_>,
) -> Result<ParsedFile, ParseError> {
    let mut parser = Parser::new(ctx, file_id, emit);
    let result = parser.run(events);
    if events.blank() {
        return Err(ParseError {
            file: ctx.file_name.clone(),
            line: None,
            message: "empty file".to_string(),
        });
    }
    match result {
        Ok(()) => parser.finish().map_err(|message| ParseError {
            file: ctx.file_name.clone(),
            line: None,
            message,
        }),
        Err(message) => Err(ParseError {
            file: ctx.file_name.clone(),
            line: Some(events.error_line()),
            message,
        }),
    }
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
    ctx: &'a FileContext,
    file_id: &'a dyn Fn() -> String,
    /// Values per part and where parts go, when the file is read in parts.
    parts: Option<(u64, &'e mut dyn FnMut(ParsedFile) -> bool)>,
    /// `counter_values` when the current part began.
    part_start: u64,
    root_seen: bool,
    depth: usize,
    in_header: bool,
    file_sender: Option<String>,
    /// Node names of the file; index is the `ne` id used by the builders.
    ne_names: Vec<String>,
    current_ne: Option<u32>,
    tables: Vec<(String, TableBuilder)>,
    table_index: HashMap<String, usize>,
    info: MeasInfo,
    row: Option<CurrentRow>,
    target: TextTarget,
    text: Vec<u8>,
    counter_values: u64,
}

impl<'a, 'e> Parser<'a, 'e> {
    fn new(ctx: &'a FileContext, file_id: &'a dyn Fn() -> String, emit: Emit<'e>) -> Self {
        Self {
            ctx,
            file_id,
            parts: match emit {
                Emit::Whole => None,
                Emit::Parts { values, take } => Some((values, take)),
            },
            part_start: 0,
            root_seen: false,
            depth: 0,
            in_header: false,
            file_sender: None,
            ne_names: Vec::new(),
            current_ne: None,
            tables: Vec::new(),
            table_index: HashMap::default(),
            info: MeasInfo::default(),
            row: None,
            target: TextTarget::None,
            text: Vec::new(),
            counter_values: 0,
        }
    }

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
                self.current_ne = Some(self.intern_ne(ne));
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
                    self.tables[table].1.mark_suspect(row);
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
                let values = self.counter_values - self.part_start;
                if self
                    .parts
                    .as_ref()
                    .is_some_and(|(per_part, _)| values >= *per_part)
                {
                    let part = self.take_part()?;
                    let taken = self.parts.as_mut().is_some_and(|(_, take)| take(part));
                    if !taken {
                        return Err("stopped: its parts are no longer taken".into());
                    }
                }
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
        let (end_us, duration_s) = self
            .info
            .period
            .ok_or("<measValue> before the <granPeriod> of its measInfo")?;
        let table = self.resolve_table(object);
        let ne = match self.current_ne {
            Some(ne) => ne,
            None => {
                let name = self.fallback_ne();
                let ne = self.intern_ne(name);
                self.current_ne = Some(ne);
                ne
            }
        };
        let period_start = end_us - i64::from(duration_s) * 1_000_000;
        let row = self.tables[table]
            .1
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
        let table = match self.table_index.get(&name) {
            Some(&index) => index,
            None => {
                self.tables.push((name.clone(), TableBuilder::default()));
                self.table_index.insert(name, self.tables.len() - 1);
                self.tables.len() - 1
            }
        };
        let builder = &mut self.tables[table].1;
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
        self.tables[table].1.set(row, column, value);
        self.counter_values += 1;
        Ok(())
    }

    fn info_label(&self) -> String {
        self.info
            .id
            .as_deref()
            .map_or("(without measInfoId)".into(), |id| format!("{id:?}"))
    }

    fn intern_ne(&mut self, name: String) -> u32 {
        if let Some(i) = self.ne_names.iter().position(|n| *n == name) {
            return i as u32;
        }
        self.ne_names.push(name);
        self.ne_names.len() as u32 - 1
    }

    /// Node name when the file's `managedElement` names none: the file sender, then the
    /// TS 32.432 file name, then the whole file name.
    fn fallback_ne(&self) -> String {
        self.file_sender
            .clone()
            .or_else(|| node_from_file_name(&self.ctx.file_name))
            .unwrap_or_else(|| self.ctx.file_name.clone())
    }

    /// The rows read since the last part (all of them when the file is read whole).
    fn take_part(&mut self) -> Result<ParsedFile, String> {
        let file_id = (self.file_id)();
        let remember = self.parts.is_some();
        let mut tables = Vec::with_capacity(self.tables.len());
        for (table, builder) in &mut self.tables {
            if builder.num_rows() == 0 {
                continue;
            }
            let batch = match remember {
                true => builder.take_part(&self.ctx.system, &file_id, &self.ne_names),
                false => std::mem::take(builder).finish(&self.ctx.system, &file_id, &self.ne_names),
            };
            let batch = batch.map_err(|e| format!("table {table}: {e}"))?;
            tables.push(TableBatch {
                table: table.clone(),
                batch,
            });
        }
        let counter_values = self.counter_values - self.part_start;
        self.part_start = self.counter_values;
        Ok(ParsedFile {
            tables,
            counter_values,
            repeated_key: false,
        })
    }

    /// The whole file's rows, or the last part's.
    fn finish(mut self) -> Result<ParsedFile, String> {
        let repeated_key = self.tables.iter().any(|(_, b)| b.repeated_key());
        let last = self.take_part()?;
        Ok(ParsedFile {
            repeated_key,
            ..last
        })
    }
}

/// Value of an attribute by local name, unescaped and trimmed.
fn attr(e: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, String> {
    let Some(raw) = find_attribute(e, name)? else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&raw).map_err(invalid_utf8)?;
    let value =
        quick_xml::escape::unescape(text).map_err(|e| format!("malformed attribute value: {e}"))?;
    Ok(Some(value.trim().to_string()))
}

/// The first of several attributes that is present and not empty.
fn first_non_empty(e: &BytesStart<'_>, names: &[&[u8]]) -> Result<Option<String>, String> {
    for name in names {
        if let Some(value) = attr(e, name)?.filter(|v| !v.is_empty()) {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

fn invalid_utf8(error: std::str::Utf8Error) -> String {
    format!("invalid UTF-8: {error}")
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
    values::parse_position(digits).ok_or_else(|| {
        format!(
            "{element} has an invalid position p={:?}",
            String::from_utf8_lossy(digits)
        )
    })
}

/// Raw value of an attribute by local name.
fn find_attribute<'e>(
    e: &'e BytesStart<'_>,
    name: &[u8],
) -> Result<Option<std::borrow::Cow<'e, [u8]>>, String> {
    for attribute in e.attributes().with_checks(false) {
        let attribute = attribute.map_err(|e| format!("malformed attribute: {e}"))?;
        if attribute.key.local_name().as_ref() == name {
            return Ok(Some(attribute.value));
        }
    }
    Ok(None)
}

/// Expands a character reference or one of the five predefined entities; any other
/// entity is an error (DTD-declared entities are never expanded).
fn resolve_reference(reference: &BytesRef<'_>) -> Result<String, String> {
    if let Some(ch) = reference.resolve_char_ref().map_err(|e| e.to_string())? {
        return Ok(ch.to_string());
    }
    let name = reference.decode().map_err(|e| e.to_string())?;
    quick_xml::escape::resolve_predefined_entity(&name)
        .map(str::to_string)
        .ok_or_else(|| format!("undefined entity &{name};"))
}
