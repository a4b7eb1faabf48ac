//! System 5ga as the source and service tests use it: generated files, a plan that
//! collects `A*.xml` only, and what an archive holds (its files and the `nrcelldu`
//! rows), so a cycle from any source can be compared with a local one.

use std::path::{Path, PathBuf};

use super::{generate, names_in, pmflow_ok, query_csv, stage};

/// A plan of system 5ga collecting only `A*.xml` files, with `parse` parse workers.
pub fn plan(dir: &Path, parse: usize) -> PathBuf {
    let path = dir.join("plan.toml");
    std::fs::write(
        &path,
        format!("system = \"5ga\"\n[source]\ninclude = [\"A*.xml\"]\n[workers]\nparse = {parse}\n"),
    )
    .unwrap();
    path
}

/// `pmflow ingest` of `source` with `plan` into `archive`.
pub fn ingest_args(source: &str, plan: &Path, archive: &Path) -> Vec<String> {
    [
        "ingest",
        source,
        "--plan",
        plan.to_str().unwrap(),
        "--archive",
        archive.to_str().unwrap(),
    ]
    .map(String::from)
    .into()
}

/// Every Parquet file of an archive (paths name system, table, day and file id), and
/// the rows of its `nrcelldu` table.
pub fn archived(archive: &Path) -> (Vec<String>, Vec<String>) {
    let mut files = Vec::new();
    let mut dirs = vec![archive.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path.strip_prefix(archive).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    let rows = query_csv(
        archive,
        "SELECT count(*), sum(\"TB.TotNbrDl\") FROM nrcelldu",
    );
    (files, rows)
}

/// What a local inbox of the same files archives: the expected result of any source.
pub fn archived_from_local(
    files: &[PathBuf],
    tmp: &Path,
    plan: &Path,
) -> (Vec<String>, Vec<String>) {
    let (inbox, archive) = (tmp.join("local"), tmp.join("local-archive"));
    stage(&inbox, files);
    pmflow_ok(&ingest_args(inbox.to_str().unwrap(), plan, &archive));
    archived(&archive)
}

/// `pmflow gen` of 5ga files; their paths.
pub fn generated(tmp: &Path, nodes: u32, rops: u32) -> Vec<PathBuf> {
    let dir = tmp.join("generated");
    generate(&dir, "5ga", nodes, rops);
    names_in(&dir).iter().map(|n| dir.join(n)).collect()
}
