//! How names from files become MySQL identifiers.
//!
//! Counter names are untrusted input: they may be longer than MySQL's 64-character
//! limit, contain any character (dots in 3GPP names, but also quotes, backticks, `;`),
//! or differ only in case, which MySQL column names do not distinguish. The rule,
//! applied to every counter column and every table name:
//!
//! 1. every character outside `[A-Za-z0-9_]` becomes `_`
//!    (`RRC.ConnEstabAtt` → `RRC_ConnEstabAtt`);
//! 2. if that result is empty, longer than 64 characters, or already taken in the table
//!    (compared case-insensitively, key columns included), it is cut to 55 characters
//!    and gets `_` plus 8 hex digits of the BLAKE3 hash of the original name;
//! 3. the first name to claim a column keeps it: the mapping is recorded in the
//!    `pmflow_columns` table and reused ever after, so it never changes under a user.
//!    A column that exists in the table (made by a DBA) but is not yet claimed is
//!    claimed by the counter whose step-1 name it is.
//!
//! Identifiers are always written quoted with [`quote`], so even a name the rule let
//! through unchanged can never end or alter a statement.

/// MySQL's maximum identifier length, in characters.
pub const MAX_LEN: usize = 64;

/// Length kept of a name that gets a hash suffix: 55 + `_` + 8 hex digits = 64.
const PREFIX_LEN: usize = 55;

/// Quotes an identifier for MySQL: backticks around it, inner backticks doubled.
pub fn quote(identifier: &str) -> String {
    format!("`{}`", identifier.replace('`', "``"))
}

/// Step 1 of the rule: the name with every character outside `[A-Za-z0-9_]` replaced.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Step 2 of the rule: the sanitized name cut short, plus a hash of the original.
/// `attempt` > 0 varies the hash in the (astronomically unlikely) case that the
/// suffixed name is taken too.
fn hashed(name: &str, attempt: u32) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(name.as_bytes());
    if attempt > 0 {
        hasher.update(&attempt.to_le_bytes());
    }
    let hash = hasher.finalize().to_hex();
    let prefix: String = sanitize(name).chars().take(PREFIX_LEN).collect();
    format!("{prefix}_{}", &hash[..8])
}

/// Step 1 of the rule, when its result is a usable identifier: the name `name` gets
/// unless it is taken.
pub fn plain_name(name: &str) -> Option<String> {
    Some(sanitize(name)).filter(|plain| !plain.is_empty() && plain.len() <= MAX_LEN)
}

/// The column for `name` under the rule, given a test of whether a (lowercased)
/// column name is already taken in the table.
pub fn column_name(name: &str, taken: impl Fn(&str) -> bool) -> String {
    if let Some(plain) = plain_name(name).filter(|p| !taken(&p.to_lowercase())) {
        return plain;
    }
    (0..)
        .map(|attempt| hashed(name, attempt))
        .find(|candidate| !taken(&candidate.to_lowercase()))
        .expect("an untaken hash suffix exists")
}

/// The MySQL table for a measurement table or rule output name: the same rule, with
/// nothing taken (table names are unique where they come from).
pub fn table_name(name: &str) -> String {
    column_name(name, |_| false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_names_are_kept_and_dots_become_underscores() {
        assert_eq!(
            column_name("pmRrcConnEstabSucc", |_| false),
            "pmRrcConnEstabSucc"
        );
        assert_eq!(
            column_name("RRC.ConnEstabAtt", |_| false),
            "RRC_ConnEstabAtt"
        );
    }

    #[test]
    fn long_taken_and_empty_names_get_a_stable_hash_suffix() {
        let long = "x".repeat(100);
        let column = column_name(&long, |_| false);
        assert_eq!(column.len(), MAX_LEN);
        assert_eq!(column, column_name(&long, |_| false));
        let taken = column_name("pmFoo", |c| c == "pmfoo");
        assert!(taken.starts_with("pmFoo_") && taken.len() == 14, "{taken}");
        assert_ne!(column_name("", |_| false), "");
        assert_ne!(
            column_name("a.b", |_| false),
            column_name("a.b", |c| c == "a_b")
        );
    }

    #[test]
    fn hostile_names_become_plain_identifiers() {
        let column = column_name("x`; DROP TABLE t; --'\"", |_| false);
        assert!(
            column
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        );
        assert_eq!(quote("a`b"), "`a``b`");
    }

    #[test]
    fn a_suffix_that_is_taken_too_is_varied() {
        let first = column_name("a.b", |c| c == "a_b");
        let second = column_name("a.b", |c| c == "a_b" || c == first.to_lowercase());
        assert_ne!(first, second);
        assert_eq!(second.len(), first.len());
    }
}
