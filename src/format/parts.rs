//! Large files, read in parts so that memory does not grow with a file's size.
//!
//! A file larger than 64 MiB decompressed is handed over in parts of about
//! [`part_values`](super::PartLimits) counter values, parsed on a thread of its own one
//! part ahead of the pipeline, which delivers the parts one after another. Every row
//! carries the file id, the hash of all of the file's content, so that is read first
//! (a gzip file is inflated once to hash it).
//!
//! Checked first ([`check_first`](super::PartLimits)), the file is parsed once through
//! before any part is handed over, its parts counted and dropped: a broken file is
//! quarantined before any of its rows reaches a sink. Sinks that stage parts and
//! commit a file with its last part need no such check (a broken file's staged parts
//! are never committed), so for them the parts go out as they are parsed, in one pass.
//!
//! Parts are exact unless a row key comes back in a later part (two `measInfo` blocks
//! of one table, far apart, that the whole file would merge into one row): then the
//! file is read whole, as small files are, and its memory grows with it. Checked
//! first, that is known before any part goes out; otherwise the stream ends with
//! [`Part::Whole`], which voids the parts handed over before it.

use std::io::BufReader;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::decompress::{self, Inflating};
use super::{Content, Emit, FileContext, Format, ParseError, ParsedFile, ReadFile};
use super::{Rows, file_id, id_of};

/// The buffer a decompressing stream is read through.
const STREAM_BUFFER: usize = 64 * 1024;

/// What a large file's part stream hands over.
#[derive(Debug)]
pub enum Part {
    /// The file's next part.
    Next(ParsedFile),
    /// The whole file, read again because a row key came back in a later part: the
    /// parts handed over before are void, and nothing follows.
    Whole(ParsedFile),
}

/// The parts of a large file, parsed on a thread of their own as they are taken.
#[derive(Debug)]
pub struct PartStream {
    parts: mpsc::Receiver<Result<Part, String>>,
}

impl PartStream {
    /// The next part; `None` after the last. An error names the file.
    pub async fn next(&mut self) -> Option<Result<Part, String>> {
        self.parts.recv().await
    }
}

/// Reads a large file in parts of `values` counter values, checked first when
/// `check_first` says (see the module's doc). The error names the file.
pub fn read_large(
    format: Arc<dyn Format>,
    bytes: &Bytes,
    ctx: &FileContext,
    max: u64,
    (values, check_first): (u64, bool),
) -> Result<ReadFile, String> {
    let exact = match check_first {
        true => check(&*format, bytes, ctx, max, values)?,
        false => Some(identify(bytes, ctx, max)?),
    };
    let Some((file_id, content_bytes)) = exact else {
        let (parsed, file_id, content_bytes) = parse_whole(&*format, bytes, ctx, max)?;
        return Ok(ReadFile {
            file_id,
            rows: Rows::Whole(parsed),
            content_bytes,
        });
    };
    let file = (bytes.clone(), ctx.clone(), file_id.clone());
    let parts = start_parts(format, file, max, values)
        .map_err(|e| format!("{}: cannot start reading parts: {e}", ctx.file_name))?;
    Ok(ReadFile {
        file_id,
        rows: Rows::Parts(parts),
        content_bytes,
    })
}

/// The check pass: the whole file parsed in parts that are dropped. The file id and
/// decompressed size when its parts are exact, `None` when a row key comes back in a
/// later part (the file must be read whole).
fn check(
    format: &dyn Format,
    bytes: &[u8],
    ctx: &FileContext,
    max: u64,
    values: u64,
) -> Result<Option<(String, u64)>, String> {
    let mut drop_part = |_: ParsedFile| true;
    let (last, file_id, content_bytes) = parse_streamed(bytes, ctx, max, |content, id| {
        let take = &mut drop_part;
        format.parse(content, ctx, id, Emit::Parts { values, take })
    })?;
    Ok((!last.repeated_key).then_some((file_id, content_bytes)))
}

/// The whole file parsed at once (streamed from gzip): its rows, file id and
/// decompressed size. The error names the file.
fn parse_whole(
    format: &dyn Format,
    bytes: &[u8],
    ctx: &FileContext,
    max: u64,
) -> Result<(ParsedFile, String, u64), String> {
    parse_streamed(bytes, ctx, max, |content, id| {
        format.parse(content, ctx, id, Emit::Whole)
    })
}

/// The file id and decompressed size of a file without parsing it: plain bytes are
/// hashed where they lie, a gzip file is inflated once (and refused past `max`).
fn identify(bytes: &[u8], ctx: &FileContext, max: u64) -> Result<(String, u64), String> {
    let (_, file_id, content_bytes) = parse_streamed(bytes, ctx, max, |content, _| {
        if let Content::Stream(stream) = content {
            std::io::copy(stream, &mut std::io::sink()).map_err(|e| ParseError {
                file: ctx.file_name.clone(),
                line: None,
                message: e.to_string(),
            })?;
        }
        Ok(ParsedFile::default())
    })?;
    Ok((file_id, content_bytes))
}

/// Parses the parts on a thread of their own, sending each part as it is complete
/// (and the whole file when the parts turn out not to be exact); it stops when the
/// parts are no longer taken.
fn start_parts(
    format: Arc<dyn Format>,
    (bytes, ctx, file_id): (Bytes, FileContext, String),
    max: u64,
    values: u64,
) -> std::io::Result<PartStream> {
    let (sender, parts) = mpsc::channel(1);
    std::thread::Builder::new()
        .name("pmflow-parts".into())
        .spawn(move || {
            let mut sent = 0;
            let mut send = |part| {
                sent += 1;
                sender.blocking_send(Ok(Part::Next(part))).is_ok()
            };
            let id = || file_id.clone();
            let parsed = parse_streamed(&bytes, &ctx, max, |content, _| {
                let take = &mut send;
                format.parse(content, &ctx, &id, Emit::Parts { values, take })
            });
            let last = match parsed {
                Ok((last, ..)) if last.repeated_key => {
                    parse_whole(&*format, &bytes, &ctx, max).map(|(whole, ..)| Part::Whole(whole))
                }
                // The last part is empty when the file ended right after a part.
                Ok((last, ..)) if last.tables.is_empty() && sent > 0 => return,
                parsed => parsed.map(|(last, ..)| Part::Next(last)),
            };
            // A closed channel is a pipeline that stopped taking parts: nothing to do.
            let _ = sender.blocking_send(last);
        })?;
    Ok(PartStream { parts })
}

/// Runs `parse` over a large file's content, streamed from the gzip `bytes` or where
/// plain `bytes` lie; the result, the file id and the decompressed size. The error
/// names the file.
fn parse_streamed(
    bytes: &[u8],
    ctx: &FileContext,
    max: u64,
    parse: impl FnOnce(Content<'_>, &dyn Fn() -> String) -> Result<ParsedFile, ParseError>,
) -> Result<(ParsedFile, String, u64), String> {
    if !decompress::is_gzip(bytes) {
        let id = file_id(bytes);
        let parsed = parse(Content::Bytes(bytes), &|| id.clone()).map_err(|e| e.to_string())?;
        return Ok((parsed, id, bytes.len() as u64));
    }
    let (inflating, inflated) = Inflating::new(bytes, max);
    let mut stream = BufReader::with_capacity(STREAM_BUFFER, inflating);
    let parsed = parse(Content::Stream(&mut stream), &|| {
        id_of(&inflated.borrow().hasher)
    });
    let inflated = inflated.borrow();
    if let Some(error) = &inflated.error {
        return Err(format!("{}: {error}", ctx.file_name));
    }
    let parsed = parsed.map_err(|e| e.to_string())?;
    Ok((parsed, id_of(&inflated.hasher), inflated.bytes))
}
