//! The fast path for the runs of `<r p="N">value</r>` that hold almost every value of
//! a positional 3GPP file.
//!
//! Rule: [`next_value`] accepts exactly `<r p="N">text</r>` (double quotes, a valid
//! position, text without markup or references), after optional whitespace, and
//! accepts nothing else. Whatever it does not accept the XML reader reads as usual, so
//! the fast path changes how fast values are read, never what a file means or which
//! files are refused.

/// A value element found by [`next_value`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RValue<'a> {
    /// Offset of the element's `<` (after the whitespace before it).
    pub start: usize,
    /// Offset just after its `</r>`.
    pub end: usize,
    /// Its position `p`.
    pub p: u32,
    /// Its raw text.
    pub text: &'a [u8],
}

/// The `<r p="N">text</r>` element at the start of `bytes` (after whitespace), or
/// `None` when what comes next is anything else.
pub fn next_value(bytes: &[u8]) -> Option<RValue<'_>> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = bytes[start..].strip_prefix(b"<r p=\"")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let p = parse_position(&rest[..digits])?;
    let rest = rest[digits..].strip_prefix(b"\">")?;
    let len = memchr::memchr2(b'<', b'&', rest)?;
    let (text, rest) = rest.split_at(len);
    let rest = rest.strip_prefix(b"</r>")?;
    Some(RValue {
        start,
        end: bytes.len() - rest.len(),
        p,
        text,
    })
}

/// A position `p`: 1 to 1,000,000, plain decimal digits.
pub fn parse_position(digits: &[u8]) -> Option<u32> {
    let is_number =
        !digits.is_empty() && digits.len() <= 7 && digits.iter().all(u8::is_ascii_digit);
    let p = is_number.then(|| {
        digits
            .iter()
            .fold(0u32, |p, d| p * 10 + u32::from(d - b'0'))
    });
    p.filter(|p| (1..=1_000_000).contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_value_element_after_whitespace() {
        let bytes = b"\n  <r p=\"12\">1,0,3</r>\n<r p=\"13\">";
        let value = next_value(bytes).unwrap();
        assert_eq!((value.start, value.p, value.text), (3, 12, &b"1,0,3"[..]));
        assert_eq!(&bytes[value.end..], b"\n<r p=\"13\">");
        let empty = next_value(b"<r p=\"1\"></r>").unwrap();
        assert_eq!((empty.p, empty.text, empty.end), (1, &b""[..], 13));
    }

    #[test]
    fn leaves_everything_else_to_the_xml_reader() {
        for other in [
            &b"</measValue>"[..],
            b"<suspect>true</suspect>",
            b"<r p='1'>5</r>",
            b"<r p=\"1\" >5</r>",
            b"<r p=\"0\">5</r>",
            b"<r p=\"99999999\">5</r>",
            b"<r p=\"1\"/>",
            b"<r p=\"1\">a&amp;b</r>",
            b"<r p=\"1\"><![CDATA[5]]></r>",
            b"<r p=\"1\">5</r >",
            b"<r p=\"1\">5</rr>",
            b"<r p=\"1\">5",
            b"  ",
        ] {
            assert_eq!(
                next_value(other),
                None,
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn positions_are_one_to_a_million() {
        assert_eq!(parse_position(b"1"), Some(1));
        assert_eq!(parse_position(b"1000000"), Some(1_000_000));
        assert_eq!(parse_position(b"1000001"), None);
        assert_eq!(parse_position(b"0"), None);
        assert_eq!(parse_position(b""), None);
        assert_eq!(parse_position(b"1a"), None);
    }
}
