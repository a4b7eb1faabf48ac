//! Large files, read in parts so that memory does not grow with a file's size.
//!
//! A file larger than 64 MiB decompressed is read twice. The first pass parses it in
//! parts of about [`part_values`](super::PartLimits) counter values that are counted and dropped: it
//! checks the whole file (a broken file is quarantined before any of its rows reaches
//! a sink), gives the file id (the hash of all of its content, which every row
//! carries), and tells whether parts are exact. The second pass, on a thread of its
//! own, parses it again and hands each part over as soon as it is complete, one part
//! ahead of the pipeline, which delivers the parts one after another.
//!
//! Parts are exact unless a row key comes back in a later part (two `measInfo` blocks
//! of one table, far apart, that the whole file would merge into one row): then the
//! file is read whole, as small files are, and its memory grows with it.

use std::io::BufReader;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::decompress::{self, Inflating};
use super::{Content, Emit, FileContext, Format, ParseError, ParsedFile, ReadFile};
use super::{Rows, file_id, id_of};

/// The buffer a decompressing stream is read through.
const STREAM_BUFFER: usize = 64 * 1024;

/// The parts of a large file, parsed on a thread of their own as they are taken.
#[derive(Debug)]
pub struct PartStream {
    parts: mpsc::Receiver<Result<ParsedFile, String>>,
}

impl PartStream {
    /// The next part; `None` after the last. An error names the file.
    pub async fn next(&mut self) -> Option<Result<ParsedFile, String>> {
        self.parts.recv().await
    }
}

/// Reads a large file in parts of `values` counter values (see the module's doc).
/// The error names the file.
pub fn read_large(
    format: Arc<dyn Format>,
    bytes: &Bytes,
    ctx: &FileContext,
    max: u64,
    values: u64,
) -> Result<ReadFile, String> {
    let (mut row_count, mut counter_values) = (0, 0);
    let mut count = |part: ParsedFile| {
        row_count += part.rows() as u64;
        counter_values += part.counter_values;
        true
    };
    let (last, file_id, content_bytes) = parse_streamed(bytes, ctx, max, |content, id| {
        let take = &mut count;
        format.parse(content, ctx, id, Emit::Parts { values, take })
    })?;
    let whole = ReadFile {
        file_id,
        rows: Rows::Whole(ParsedFile::default()),
        content_bytes,
        row_count: row_count + last.rows() as u64,
        counter_values: counter_values + last.counter_values,
    };
    if last.repeated_key {
        let (parsed, ..) = parse_streamed(bytes, ctx, max, |content, id| {
            format.parse(content, ctx, id, Emit::Whole)
        })?;
        return Ok(ReadFile {
            rows: Rows::Whole(parsed),
            ..whole
        });
    }
    let file = (bytes.clone(), ctx.clone(), whole.file_id.clone());
    let parts = start_parts(format, file, max, values)
        .map_err(|e| format!("{}: cannot start reading parts: {e}", ctx.file_name))?;
    Ok(ReadFile {
        rows: Rows::Parts(parts),
        ..whole
    })
}

/// Parses the second pass on a thread of its own, sending each part as it is
/// complete; it stops when the parts are no longer taken.
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
                sender.blocking_send(Ok(part)).is_ok()
            };
            let id = || file_id.clone();
            let parsed = parse_streamed(&bytes, &ctx, max, |content, _| {
                let take = &mut send;
                format.parse(content, &ctx, &id, Emit::Parts { values, take })
            });
            // The last part is empty when the file ended right after a part.
            if matches!(&parsed, Ok((last, ..)) if last.tables.is_empty() && sent > 0) {
                return;
            }
            // A closed channel is a pipeline that stopped taking parts: nothing to do.
            let _ = sender.blocking_send(parsed.map(|(last, ..)| last));
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
