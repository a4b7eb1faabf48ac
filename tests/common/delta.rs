//! The archive's totals and sums as independent readers see them: Python `deltalake`
//! reads the tables through their logs, Python's XML parser reads the source files
//! (`tests/delta/totals.py`, `tests/delta/sums.py`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::repo;

/// The JSON that the reader `tests/delta/<script>` prints for `args`, run with `env`.
fn python_reader(script: &str, args: &[&OsStr], env: &[(&str, String)]) -> Value {
    let output = std::process::Command::new("python3")
        .arg(repo().join("tests/delta").join(script))
        .args(args)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "tests/delta/{script} failed (is Python deltalake installed? scripts/test.sh installs it):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Rows, counter values and their sum in the archive at `root` (a directory or an
/// `s3://` URL, reached with `env`) and in `files`.
pub fn independent_totals(root: &str, env: &[(&str, String)], files: &[PathBuf]) -> (Value, Value) {
    let mut args = vec![OsStr::new(root), OsStr::new("5ga")];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let totals = python_reader("totals.py", &args, env);
    (totals["archive"].clone(), totals["files"].clone())
}

/// Asserts the archive holds exactly the rows, values and sum of `files`, as read by
/// the independent readers.
pub fn assert_same_totals(root: &str, env: &[(&str, String)], files: &[PathBuf]) {
    let (archived, parsed) = independent_totals(root, env, files);
    assert_eq!(archived["rows"], parsed["rows"], "no row added or lost");
    assert_eq!(archived["values"], parsed["values"]);
    let (a, p) = (
        archived["sum"].as_f64().unwrap(),
        parsed["sum"].as_f64().unwrap(),
    );
    assert!((a - p).abs() <= p.abs() * 1e-12, "sums {a} vs {p}");
    assert!(parsed["rows"].as_u64().unwrap() > 0);
}

/// Row count and the sum of each numeric counter of every table of an archive, as
/// Python `deltalake` reads them (`tests/delta/sums.py`): what the database sinks'
/// tables are compared with. Read once, compared table by table.
pub struct ArchiveSums(Value);

impl ArchiveSums {
    /// Reads every table of the archive at `archive` (a directory).
    pub fn read(archive: &Path) -> Self {
        Self(python_reader("sums.py", &[archive.as_os_str()], &[]))
    }

    /// `COUNT(*)` of `table`, then the sum of each of `counters`, as SQL prints them
    /// (the sum of a counter without values empty, as NULL in CSV).
    pub fn row(&self, table: &str, counters: &[String]) -> Vec<String> {
        let entry = &self.0[table];
        assert!(entry.is_object(), "table {table} not in the archive");
        let sum = |counter: &String| match &entry["sums"][counter] {
            Value::String(sum) => sum.clone(),
            _ => String::new(),
        };
        std::iter::once(entry["rows"].to_string())
            .chain(counters.iter().map(sum))
            .collect()
    }
}
