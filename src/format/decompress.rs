//! Transport compression, detected by magic bytes rather than trusted file names.

use std::borrow::Cow;
use std::io::Read;

use flate2::read::MultiGzDecoder;

/// The two bytes every gzip member starts with (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Returns `bytes` decompressed when they are gzip (any number of members), or as
/// they are otherwise. A truncated or corrupt gzip stream is an error.
pub fn decompress(bytes: &[u8]) -> std::io::Result<Cow<'_, [u8]>> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(8));
    MultiGzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn plain_bytes_pass_through_borrowed() {
        let out = decompress(b"<x/>").unwrap();
        assert!(matches!(out, Cow::Borrowed(b"<x/>")));
    }

    #[test]
    fn gzip_is_detected_by_magic_bytes() {
        assert_eq!(
            decompress(&gzip(b"<measCollecFile/>")).unwrap().as_ref(),
            b"<measCollecFile/>"
        );
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let data = gzip(&vec![b'a'; 10_000]);
        assert!(decompress(&data[..data.len() / 2]).is_err());
    }
}
