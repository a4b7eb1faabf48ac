//! Node names from TS 32.432 file names, the fallback when a file names no node.
//!
//! `A20220418.1900-1915_seliitdus00487.xml` → `seliitdus00487`. Real names bend the
//! standard: `_` in place of `+` in offsets (`A20230515.0700_0100-0715_0100_GNODEB-0`),
//! a vendor prefix before the type letter, `.gz` suffixes.

use std::sync::LazyLock;

use regex::Regex;

static TS_32_432: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"[A-D]\d{8}\.?\d{4}(?:[-+_]\d{4})?-(?:\d{8}\.)?\d{4}(?:[-+_]\d{4})?_(?P<ne>[^.]+(?:\.[^.]+)*?)(?:\.xml)?(?:\.gz)?$",
    )
    .expect("valid regex")
});

/// The unique-id (node) part of a TS 32.432 file name, if the name follows it.
pub fn node_from_file_name(file_name: &str) -> Option<String> {
    let captures = TS_32_432.captures(file_name)?;
    Some(captures["ne"].to_string())
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
            ("C20190328.0000-0015.xml", None),
            ("pm.xml", None),
        ];
        for (name, ne) in cases {
            assert_eq!(node_from_file_name(name).as_deref(), ne, "{name}");
        }
    }
}
