//! The one deterministic rule that turns a `measInfoId` (or, when it is missing, a
//! measured object's class) into a measurement table name.
//!
//! Rule, in order:
//! 1. When the id is a distinguished name (`PM=1,PmGroup=NRCellCU_GNBCUCP`), take the
//!    value of its last component (`NRCellCU_GNBCUCP`).
//! 2. Lowercase it; every run of characters outside `a-z0-9` becomes one `_`; leading
//!    and trailing `_` are dropped.
//! 3. A name starting with a digit gets the prefix `t_`.
//! 4. A name longer than 48 characters is cut to 39 and given `_` plus the first 8 hex
//!    digits of the BLAKE3 hash of the original id, so distinct long ids stay distinct.
//!
//! Without `measInfoId`, the class of the last component of the first `measObjLdn`
//! is used (`RncFunction=RF-1,UtranCell=Gbg-997` → `utrancell`); with neither, the
//! table is `measinfo`.

/// Longest table name the rule produces: short enough for every sink's identifier
/// limit (MySQL: 64) with room for suffixes.
pub const MAX_TABLE_NAME: usize = 48;

/// Table name used when a measInfo has neither an id nor a named object.
pub const FALLBACK_TABLE: &str = "measinfo";

/// Table name for a `measInfoId`.
pub fn table_from_meas_info_id(id: &str) -> Option<String> {
    let last_value = id.rsplit(',').next().unwrap_or(id);
    let value = last_value.split_once('=').map_or(last_value, |(_, v)| v);
    sanitize(value, id)
}

/// Table name from a name a plan or a file name gives (`GPON Port` → `gpon_port`).
pub fn table_from_name(name: &str) -> Option<String> {
    sanitize(name, name)
}

/// Table name from a measured object's DN: the class of its last component.
pub fn table_from_object(object: &str) -> Option<String> {
    let last = object.rsplit(',').next()?;
    let class = last.split_once('=').map_or(last, |(class, _)| class);
    sanitize(class, object)
}

fn sanitize(value: &str, original: &str) -> Option<String> {
    let mut name = String::with_capacity(value.len());
    for ch in value.chars() {
        if ch.is_ascii_alphanumeric() {
            name.push(ch.to_ascii_lowercase());
        } else if !name.ends_with('_') {
            name.push('_');
        }
    }
    let name = name.trim_matches('_');
    if name.is_empty() {
        return None;
    }
    let mut name = if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("t_{name}")
    } else {
        name.to_string()
    };
    if name.len() > MAX_TABLE_NAME {
        let hash = blake3::hash(original.as_bytes()).to_hex();
        name.truncate(39);
        name.push('_');
        name.push_str(&hash[..8]);
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ericsson_pm_group_takes_last_value() {
        assert_eq!(
            table_from_meas_info_id("PM=1,PmGroup=NRCellCU_GNBCUCP").as_deref(),
            Some("nrcellcu_gnbcucp")
        );
    }

    #[test]
    fn plain_ids_are_lowercased_and_cleaned() {
        assert_eq!(table_from_meas_info_id("NX2CB").as_deref(), Some("nx2cb"));
        assert_eq!(table_from_meas_info_id("a b--c").as_deref(), Some("a_b_c"));
        assert_eq!(
            table_from_meas_info_id("5GC AMF").as_deref(),
            Some("t_5gc_amf")
        );
        assert_eq!(table_from_meas_info_id("---"), None);
    }

    #[test]
    fn long_ids_keep_a_hash_suffix() {
        let a = table_from_meas_info_id(&"x".repeat(80)).unwrap();
        let b = table_from_meas_info_id(&format!("{}y", "x".repeat(80))).unwrap();
        assert_eq!(a.len(), 48);
        assert_ne!(a, b);
    }

    #[test]
    fn object_class_is_the_fallback() {
        assert_eq!(
            table_from_object("RncFunction=RF-1,UtranCell=Gbg-997").as_deref(),
            Some("utrancell")
        );
        assert_eq!(table_from_object(""), None);
    }
}
