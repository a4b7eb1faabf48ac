//! TS 32.432 file names, the fallback for the node and the period when a file's
//! content lacks them.
//!
//! `A20220418.1900-1915_seliitdus00487.xml` → node `seliitdus00487`, period
//! 2022-04-18 19:00 UTC, 900 s. Real names bend the standard: `_` in place of `+` in
//! offsets (`A20230515.0700_0100-0715_0100_GNODEB-0`), a vendor prefix before the type
//! letter, an end date (`A20260105.2345+0000-20260106.0000+0000_x`), `.gz` suffixes.
//! Times without an offset are UTC; an end at or before the begin without an end date
//! is on the next day.

use std::sync::LazyLock;

use chrono::{NaiveDate, NaiveTime};
use regex::Regex;

static TS_32_432: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"[A-D](?P<date>\d{8})\.?(?P<begin>\d{4})(?P<begin_offset>[-+_]\d{4})?-(?:(?P<end_date>\d{8})\.)?(?P<end>\d{4})(?P<end_offset>[-+_]\d{4})?(?:_(?P<ne>[^.]+(?:\.[^.]+)*?))?(?:\.(?:xml|csv|txt))?(?:\.gz)?$",
    )
    .expect("valid regex")
});

/// What a TS 32.432 file name tells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileName {
    /// The unique-id (node) part.
    pub ne: Option<String>,
    /// `(start µs since the epoch, granularity s)`.
    pub period: Option<(i64, i32)>,
}

impl FileName {
    /// What `file_name` tells; nothing when it does not follow TS 32.432.
    pub fn parse(file_name: &str) -> Self {
        let Some(captures) = TS_32_432.captures(file_name) else {
            return Self::default();
        };
        let group = |name| captures.name(name).map(|m| m.as_str());
        let day = group("date").and_then(date);
        let end_day = group("end_date").map_or(day, date);
        let begin = day.and_then(|d| moment_us(d, group("begin")?, group("begin_offset")));
        let end = end_day.and_then(|d| moment_us(d, group("end")?, group("end_offset")));
        let period = begin.zip(end).and_then(|(begin, mut end)| {
            if end <= begin && group("end_date").is_none() {
                end += 86_400_000_000;
            }
            let seconds = i32::try_from((end - begin) / 1_000_000).ok()?;
            (seconds > 0).then_some((begin, seconds))
        });
        Self {
            ne: group("ne").map(str::to_string),
            period,
        }
    }
}

fn date(digits: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

/// `hhmm` on `day` at `offset` (`+hhmm`, `-hhmm`, `_hhmm` for `+`), in µs UTC.
fn moment_us(day: NaiveDate, hhmm: &str, offset: Option<&str>) -> Option<i64> {
    let time = NaiveTime::parse_from_str(hhmm, "%H%M").ok()?;
    let local = day.and_time(time).and_utc().timestamp_micros();
    let offset_s = match offset {
        None => 0,
        Some(text) => {
            let sign = if text.starts_with('-') { -1 } else { 1 };
            let hours: i64 = text[1..3].parse().ok()?;
            let minutes: i64 = text[3..5].parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
    };
    Some(local - offset_s * 1_000_000)
}

/// The unique-id (node) part of a TS 32.432 file name, if the name follows it.
pub fn node_from_file_name(file_name: &str) -> Option<String> {
    FileName::parse(file_name).ne
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_bent_names() {
        let cases = [
            (
                "A20220418.1900-1915_seliitdus00487.xml",
                Some("seliitdus00487"),
            ),
            (
                "A20230515.0700_0100-0715_0100_GNODEB-0.xml",
                Some("GNODEB-0"),
            ),
            ("A20181002.0000-1000-0015-1000_5G.xml.gz", Some("5G")),
            (
                "PM202007171301+020024C202007171207+0200-1215+0200_45678.xml",
                Some("45678"),
            ),
            ("A20260105.0000+0800-0015+0800_OLT-1.csv", Some("OLT-1")),
            ("C20190328.0000-0015.xml", None),
            ("pm.xml", None),
        ];
        for (name, ne) in cases {
            assert_eq!(node_from_file_name(name).as_deref(), ne, "{name}");
        }
    }

    #[test]
    fn periods_in_utc_from_local_times_and_offsets() {
        // 2022-04-18T19:00:00Z.
        const T: i64 = 1_650_308_400_000_000;
        let period = |name| FileName::parse(name).period;
        assert_eq!(
            period("A20220418.1900-1915_seliitdus00487.xml"),
            Some((T, 900))
        );
        assert_eq!(
            period("A20220418.2100+0200-2115+0200_x.xml"),
            Some((T, 900))
        );
        assert_eq!(
            period("A20220418.2100_0200-2200_0200_x.xml"),
            Some((T, 3600))
        );
        assert_eq!(
            period("A20220418.1400-0500-1415-0500_x.xml.gz"),
            Some((T, 900))
        );
        // Past midnight, with and without an end date.
        let late = T + 4 * 3_600_000_000 + 45 * 60_000_000;
        assert_eq!(period("A20220418.2345-0000_x.xml"), Some((late, 900)));
        assert_eq!(
            period("A20220418.2345-20220419.0000_x.xml"),
            Some((late, 900))
        );
        assert_eq!(period("C20190328.0000-0015.xml").map(|p| p.1), Some(900));
        assert_eq!(period("A20221318.1900-1915_x.xml"), None);
        assert_eq!(period("pm.xml"), None);
    }
}
