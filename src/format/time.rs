//! Times and durations as real files write them, which is not always valid
//! `xs:dateTime`: offsets with or without a colon (`+02:00`, `+0100`), with seconds
//! (`-05:00:00`), `Z`, or none at all (taken as UTC); fractional seconds; and ISO 8601
//! durations (`PT900S`, `PT15M`, `PT1H`, `P1D`).

use chrono::NaiveDateTime;

/// Parses a timestamp into microseconds since the Unix epoch, UTC.
pub fn parse_timestamp_us(text: &str) -> Option<i64> {
    let text = text.trim();
    let (local, rest) = (text.get(..19)?, &text[19..]);
    let local =
        NaiveDateTime::parse_from_str(&local.replacen(' ', "T", 1), "%Y-%m-%dT%H:%M:%S").ok()?;
    let (fraction_us, offset) = split_fraction(rest)?;
    let offset_s = parse_offset_s(offset)?;
    let utc_us = local.and_utc().timestamp_micros() + fraction_us;
    Some(utc_us - offset_s * 1_000_000)
}

/// Parses a compact timestamp (TS 32.401: `YYYYMMDDhhmmss`, then optionally `Z` or an
/// offset such as `+0200`; none is UTC) into microseconds since the Unix epoch, UTC.
pub fn parse_compact_us(text: &str) -> Option<i64> {
    let text = text.trim();
    let (local, offset) = (text.get(..14)?, &text[14..]);
    let local = NaiveDateTime::parse_from_str(local, "%Y%m%d%H%M%S").ok()?;
    Some(local.and_utc().timestamp_micros() - parse_offset_s(offset)? * 1_000_000)
}

/// Splits `.123+02:00` into (123000 µs, `+02:00`).
fn split_fraction(rest: &str) -> Option<(i64, &str)> {
    let Some(digits_and_offset) = rest.strip_prefix('.') else {
        return Some((0, rest));
    };
    let end = digits_and_offset
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits_and_offset.len());
    let digits = &digits_and_offset[..end];
    if digits.is_empty() {
        return None;
    }
    let micros: String = digits
        .chars()
        .chain(std::iter::repeat('0'))
        .take(6)
        .collect();
    Some((micros.parse().ok()?, &digits_and_offset[end..]))
}

/// Parses `""`, `Z`, `+HH`, `+HHMM`, `+HH:MM`, `+HH:MM:SS` into seconds east of UTC.
pub fn parse_offset_s(offset: &str) -> Option<i64> {
    if offset.is_empty() || offset == "Z" {
        return Some(0);
    }
    let sign = match offset.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() % 2 != 0 || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let part = |i: usize| digits.get(i..i + 2).map_or(Ok(0), str::parse::<i64>);
    let seconds = part(0).ok()? * 3600 + part(2).ok()? * 60 + part(4).ok()?;
    Some(sign * seconds)
}

/// Parses an ISO 8601 duration of days, hours, minutes and seconds into seconds.
pub fn parse_duration_s(text: &str) -> Option<i32> {
    let body = text.trim().strip_prefix('P')?;
    let (date, time) = body.split_once('T').unwrap_or((body, ""));
    let mut total: i64 = 0;
    for (part, units) in [
        (date, &[('D', 86_400)][..]),
        (time, &[('H', 3600), ('M', 60), ('S', 1)][..]),
    ] {
        let mut number = String::new();
        for ch in part.chars() {
            if ch.is_ascii_digit() {
                number.push(ch);
            } else {
                let &(_, factor) = units.iter().find(|(unit, _)| *unit == ch)?;
                total += number.parse::<i64>().ok()? * factor;
                number.clear();
            }
        }
        if !number.is_empty() {
            return None;
        }
    }
    i32::try_from(total).ok().filter(|s| *s > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 951_912_000_000_000; // 2000-03-01T12:00:00Z in µs

    #[test]
    fn offsets_in_every_spelling() {
        assert_eq!(parse_timestamp_us("2000-03-01T14:00:00+02:00"), Some(T));
        assert_eq!(parse_timestamp_us("2000-03-01T14:00:00+0200"), Some(T));
        assert_eq!(parse_timestamp_us("2000-03-01T14:00:00+02"), Some(T));
        assert_eq!(parse_timestamp_us("2000-03-01T12:00:00Z"), Some(T));
        assert_eq!(parse_timestamp_us("2000-03-01T12:00:00"), Some(T));
        assert_eq!(
            parse_timestamp_us("2000-03-01T07:00:00.000-05:00:00"),
            Some(T)
        );
        assert_eq!(
            parse_timestamp_us("2000-03-01T12:00:00.5Z"),
            Some(T + 500_000)
        );
        assert_eq!(parse_timestamp_us("2000-03-01"), None);
        assert_eq!(parse_timestamp_us("2000-03-01T12:00:00+2"), None);
    }

    #[test]
    fn compact_timestamps() {
        assert_eq!(parse_compact_us("20000301120000"), Some(T));
        assert_eq!(parse_compact_us("20000301120000Z"), Some(T));
        assert_eq!(parse_compact_us("20000301140000+0200"), Some(T));
        assert_eq!(parse_compact_us("20000301070000-05:00"), Some(T));
        assert_eq!(parse_compact_us("200003011200"), None);
        assert_eq!(parse_compact_us("20001301120000"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_s("PT900S"), Some(900));
        assert_eq!(parse_duration_s("PT15M"), Some(900));
        assert_eq!(parse_duration_s("PT1H"), Some(3600));
        assert_eq!(parse_duration_s("P1DT1M"), Some(86_460));
        assert_eq!(parse_duration_s("PT"), None);
        assert_eq!(parse_duration_s("900"), None);
        assert_eq!(parse_duration_s("PT5X"), None);
    }
}
