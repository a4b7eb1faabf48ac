//! System 5ga as the source and service tests use it: generated files, a plan that
//! collects `A*.xml` only, and what an archive holds (the rows of each source file
//! per table, and a sum), so a cycle from any source can be compared with a local one.

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

/// What an archive holds: for each table, the rows of each source file
/// (`table,file_id,rows`), and the count and a sum of the `nrcelldu` rows.
pub fn archived(archive: &Path) -> (Vec<String>, Vec<String>) {
    let per_file = ["nrcellcu", "nrcelldu"]
        .iter()
        .flat_map(|table| {
            let sql = format!(
                "SELECT '{table}', file_id, count(*) FROM {table} GROUP BY file_id ORDER BY file_id"
            );
            query_csv(archive, &sql)
        })
        .collect();
    let rows = query_csv(
        archive,
        "SELECT count(*), sum(\"TB.TotNbrDl\") FROM nrcelldu",
    );
    (per_file, rows)
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
