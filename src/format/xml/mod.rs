//! What the XML formats (3GPP, OMeS, mdc) share: one event source over a file in
//! memory or a stream, and the attribute and reference helpers their parsers use.
//!
//! Rule: no DTD or external entity is ever fetched or expanded. A `DOCTYPE` is read as
//! an event and ignored; only the five predefined entities and character references
//! are expanded, any other reference is an error. Errors name the line the reader
//! stopped at.

pub mod values;

use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

use super::{Content, ParseError, ParsedFile};

/// Where a value read on the fast path goes: its position `p` and raw text.
pub type StoreValue<'s> = dyn FnMut(u32, &[u8]) -> Result<(), String> + 's;

/// Where the parser's XML events come from: a file in memory, read without copying,
/// or a stream (a gzip file decompressed as it is read), so memory does not grow with
/// the file's size.
pub trait Events {
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
pub struct SliceEvents<'a> {
    reader: Reader<&'a [u8]>,
    content: &'a [u8],
    /// Bytes taken by [`Events::take_values`] behind the reader's back: its positions
    /// are this much short.
    taken: u64,
}

impl<'a> SliceEvents<'a> {
    pub fn new(content: &'a [u8]) -> Self {
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
pub struct StreamEvents<'r> {
    reader: Reader<LineCounting<'r>>,
    buf: Vec<u8>,
}

impl<'r> StreamEvents<'r> {
    pub fn new(stream: &'r mut dyn BufRead) -> Self {
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

/// Whether the start of a file holds the start tag of element `name` (no namespace
/// prefix), as a root element that tells a format.
pub fn has_start_tag(head: &[u8], name: &str) -> bool {
    let tag = format!("<{name}");
    memchr::memmem::find_iter(head, tag.as_bytes()).any(|at| {
        let next = head.get(at + tag.len());
        next.is_some_and(|b| *b == b'>' || b.is_ascii_whitespace())
    })
}

/// A format's parser of the events of one XML file.
pub trait Handler {
    /// Reads every event; the error is what is wrong where the reader stopped.
    fn run(&mut self, events: &mut impl Events) -> Result<(), String>;
    /// The rows read, once every event was.
    fn finish(self) -> Result<ParsedFile, String>;
}

/// Parses one decompressed XML file with `handler`: in place when it is in memory,
/// else as it streams. A blank file is "empty file"; errors of the reader name its
/// line.
pub fn parse(
    content: Content<'_>,
    file_name: &str,
    handler: impl Handler,
) -> Result<ParsedFile, ParseError> {
    match content {
        Content::Bytes(bytes) => parse_events(&mut SliceEvents::new(bytes), file_name, handler),
        Content::Stream(reader) => parse_events(&mut StreamEvents::new(reader), file_name, handler),
    }
}

fn parse_events(
    events: &mut impl Events,
    file_name: &str,
    mut handler: impl Handler,
) -> Result<ParsedFile, ParseError> {
    let result = handler.run(events);
    let error = |line, message| ParseError {
        file: file_name.to_string(),
        line,
        message,
    };
    if events.blank() {
        return Err(error(None, "empty file".to_string()));
    }
    match result {
        Ok(()) => handler.finish().map_err(|message| error(None, message)),
        Err(message) => Err(error(Some(events.error_line()), message)),
    }
}

/// A parser that sees a file as elements with their text: what the formats whose
/// values are leaf elements (OMeS, mdc) need, without handling events themselves.
pub trait Elements {
    /// An element begins; `depth` is 1 for the root.
    fn start(&mut self, element: &BytesStart<'_>, depth: usize) -> Result<(), String>;
    /// An element ends, with the text directly inside it since its last child.
    fn end(&mut self, name: &[u8], text: &[u8], depth: usize) -> Result<(), String>;
    /// The rows read, once every element was.
    fn finish(self) -> Result<ParsedFile, String>;
}

/// A parser of elements handles a file's events by [`walk`]ing them.
impl<T: Elements> Handler for T {
    fn run(&mut self, events: &mut impl Events) -> Result<(), String> {
        walk(events, self)
    }

    fn finish(self) -> Result<ParsedFile, String> {
        Elements::finish(self)
    }
}

/// Walks every element of a file through `elements`; the error says what is wrong
/// where the reader stopped, including a file that ends inside an element.
pub fn walk(events: &mut impl Events, elements: &mut impl Elements) -> Result<(), String> {
    let mut depth = 0;
    let mut text = Vec::new();
    loop {
        match events
            .next_event()
            .map_err(|e| format!("malformed XML: {e}"))?
        {
            Event::Start(e) => {
                depth += 1;
                text.clear();
                elements.start(&e, depth)?;
            }
            Event::Empty(e) => {
                text.clear();
                elements.start(&e, depth + 1)?;
                elements.end(e.local_name().as_ref(), &[], depth + 1)?;
            }
            Event::End(e) => {
                elements.end(e.local_name().as_ref(), &text, depth)?;
                text.clear();
                depth -= 1;
            }
            Event::Text(e) => text.extend_from_slice(&e),
            Event::CData(e) => text.extend_from_slice(&e),
            Event::GeneralRef(e) => text.extend_from_slice(resolve_reference(&e)?.as_bytes()),
            Event::Eof => break,
            _ => {}
        }
    }
    if depth > 0 {
        return Err("unexpected end of file: the document is truncated".into());
    }
    Ok(())
}

/// An element's text as UTF-8, trimmed.
pub fn text_str(text: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(text.trim_ascii()).map_err(invalid_utf8)
}

/// Value of an attribute by local name, unescaped and trimmed.
pub fn attr(e: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, String> {
    let Some(raw) = find_attribute(e, name)? else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&raw).map_err(invalid_utf8)?;
    let value =
        quick_xml::escape::unescape(text).map_err(|e| format!("malformed attribute value: {e}"))?;
    Ok(Some(value.trim().to_string()))
}

/// The first of several attributes that is present and not empty.
pub fn first_non_empty(e: &BytesStart<'_>, names: &[&[u8]]) -> Result<Option<String>, String> {
    for name in names {
        if let Some(value) = attr(e, name)?.filter(|v| !v.is_empty()) {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

/// The message of a value that is not UTF-8.
pub fn invalid_utf8(error: std::str::Utf8Error) -> String {
    format!("invalid UTF-8: {error}")
}

/// Raw value of an attribute by local name.
pub fn find_attribute<'e>(
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
pub fn resolve_reference(reference: &BytesRef<'_>) -> Result<String, String> {
    if let Some(ch) = reference.resolve_char_ref().map_err(|e| e.to_string())? {
        return Ok(ch.to_string());
    }
    let name = reference.decode().map_err(|e| e.to_string())?;
    quick_xml::escape::resolve_predefined_entity(&name)
        .map(str::to_string)
        .ok_or_else(|| format!("undefined entity &{name};"))
}
