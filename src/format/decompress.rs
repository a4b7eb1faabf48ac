//! Transport compression, detected by magic bytes rather than trusted file names.
//! A gzip file is decompressed through [`Inflating`], which stops past
//! `max_file_bytes` and hashes on the way, so a large file can stream through its
//! parser without being held whole.

use std::cell::RefCell;
use std::io::Read;
use std::rc::Rc;

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

/// Whether `bytes` are gzip.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// What an [`Inflating`] stream has produced so far.
#[derive(Debug, Default)]
pub struct Inflated {
    /// Hash of the decompressed bytes so far (the file id, once all are read).
    pub hasher: blake3::Hasher,
    /// Decompressed bytes so far.
    pub bytes: u64,
    /// Why decompression stopped early, if it did.
    pub error: Option<DecompressError>,
}

/// A gzip file decompressed as it is read: hashed and counted on the way, and
/// failing once more than `max` bytes came out. What it produced is shared, so the
/// file id can be taken while a parser still holds the stream.
pub struct Inflating<'a> {
    decoder: MultiGzDecoder<&'a [u8]>,
    max: u64,
    inflated: Rc<RefCell<Inflated>>,
}

impl<'a> Inflating<'a> {
    /// A stream over the gzip `bytes`, and what it will have produced.
    pub fn new(bytes: &'a [u8], max: u64) -> (Self, Rc<RefCell<Inflated>>) {
        let inflated = Rc::new(RefCell::new(Inflated::default()));
        let stream = Self {
            decoder: MultiGzDecoder::new(bytes),
            max,
            inflated: inflated.clone(),
        };
        (stream, inflated)
    }
}

impl Read for Inflating<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut inflated = self.inflated.borrow_mut();
        let n = match self.decoder.read(out) {
            Ok(n) => n,
            Err(error) => {
                let message = error.to_string();
                inflated.error = Some(DecompressError::Corrupt(error));
                return Err(std::io::Error::other(message));
            }
        };
        inflated.bytes += n as u64;
        if inflated.bytes > self.max {
            inflated.error = Some(DecompressError::TooLarge { max: self.max });
            return Err(std::io::Error::other("larger than max_file_bytes"));
        }
        inflated.hasher.update(&out[..n]);
        Ok(n)
    }
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
    fn gzip_is_detected_by_magic_bytes() {
        assert!(is_gzip(&gzip(b"<measCollecFile/>")));
        assert!(!is_gzip(b"<measCollecFile/>"));
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let data = gzip(&vec![b'a'; 10_000]);
        let (mut stream, inflated) = Inflating::new(&data[..data.len() / 2], u64::MAX);
        assert!(stream.read_to_end(&mut Vec::new()).is_err());
        assert!(matches!(
            inflated.borrow().error,
            Some(DecompressError::Corrupt(_))
        ));
    }

    #[test]
    fn inflating_hashes_counts_and_stops_past_the_limit() {
        let data = vec![b'x'; 100_000];
        let zipped = gzip(&data);
        let (mut stream, inflated) = Inflating::new(&zipped, 200_000);
        let mut out = Vec::new();
        stream.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        let inflated = inflated.borrow();
        assert_eq!(inflated.bytes, 100_000);
        assert_eq!(inflated.hasher.finalize(), blake3::hash(&data));
        let (mut stream, inflated) = Inflating::new(&zipped, 1000);
        assert!(stream.read_to_end(&mut Vec::new()).is_err());
        assert!(matches!(
            inflated.borrow().error,
            Some(DecompressError::TooLarge { max: 1000 })
        ));
    }
}
