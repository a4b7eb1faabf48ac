//! Transport compression, detected by magic bytes rather than trusted file names.

use std::borrow::Cow;
use std::io::Read;

use flate2::read::MultiGzDecoder;

/// The two bytes every gzip member starts with (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A file that cannot be decompressed, or may not be.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    /// The gzip stream is truncated or corrupt.
    #[error("cannot decompress: {0}")]
    Corrupt(#[from] std::io::Error),
    /// The content is larger than the plan allows (a gzip bomb, or a file too big to
    /// hold): reading stopped there.
    #[error("larger than max_file_bytes ({max} bytes) decompressed")]
    TooLarge { max: u64 },
}

/// Returns `bytes` decompressed when they are gzip (any number of members), or as
/// they are otherwise. A truncated or corrupt gzip stream is an error, and so is
/// content of more than `max` bytes: decompression stops there, so memory stays
/// bounded whatever the file claims.
pub fn decompress(bytes: &[u8], max: u64) -> Result<Cow<'_, [u8]>, DecompressError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        if bytes.len() as u64 > max {
            return Err(DecompressError::TooLarge { max });
        }
        return Ok(Cow::Borrowed(bytes));
    }
    let expected = bytes
        .len()
        .saturating_mul(8)
        .min(max.saturating_add(1) as usize);
    let mut out = Vec::with_capacity(expected);
    MultiGzDecoder::new(bytes)
        .take(max.saturating_add(1))
        .read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(DecompressError::TooLarge { max });
    }
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
        let out = decompress(b"<x/>", 4).unwrap();
        assert!(matches!(out, Cow::Borrowed(b"<x/>")));
    }

    #[test]
    fn gzip_is_detected_by_magic_bytes() {
        assert_eq!(
            decompress(&gzip(b"<measCollecFile/>"), 100)
                .unwrap()
                .as_ref(),
            b"<measCollecFile/>"
        );
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let data = gzip(&vec![b'a'; 10_000]);
        assert!(matches!(
            decompress(&data[..data.len() / 2], u64::MAX),
            Err(DecompressError::Corrupt(_))
        ));
    }

    #[test]
    fn content_over_the_limit_is_refused_without_reading_it_all() {
        let bomb = gzip(&vec![0; 1 << 20]);
        let err = decompress(&bomb, 1000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "larger than max_file_bytes (1000 bytes) decompressed"
        );
        assert!(decompress(b"<x/>", 3).is_err());
        assert_eq!(decompress(&bomb, 1 << 20).unwrap().len(), 1 << 20);
    }
}
