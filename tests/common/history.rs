//! The archive over time, as the time-travel and replay tests drive it: ingesting
//! into the archive alone, nodes re-sending corrected files, moments between
//! commits, and reading the archive as of one.

use std::path::{Path, PathBuf};

use super::{names_in, pmflow_ok, stage};

/// `pmflow ingest` of every file in `inbox` as system 5ga into `archive` only; stdout.
pub fn ingest_5ga(inbox: &Path, archive: &Path) -> String {
    pmflow_ok(&[
        "ingest",
        inbox.to_str().unwrap(),
        "--archive",
        archive.to_str().unwrap(),
        "--system",
        "5ga",
        "--no-settle",
    ])
}

/// `pmflow query --as-of moment --format csv` and the CSV lines after the header.
pub fn query_as_of(archive: &Path, moment: &str, sql: &str) -> Vec<String> {
    let out = pmflow_ok(&[
        "query",
        "--archive",
        archive.to_str().unwrap(),
        "--as-of",
        moment,
        "--format",
        "csv",
        sql,
    ]);
    out.lines().skip(1).map(str::to_string).collect()
}

/// Now, as RFC 3339, a little apart from the commits before and after it (commit
/// times have microseconds; the pause keeps the moment strictly between them).
pub fn moment_between_commits() -> String {
    std::thread::sleep(std::time::Duration::from_millis(20));
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    std::thread::sleep(std::time::Duration::from_millis(20));
    now
}

/// `file` as its node sends it corrected: same name, every `RRC.ConnEstabAtt` (the
/// first counter of NRCellCU) set to `value`, written into folder `into`.
pub fn corrected(file: &Path, value: u32, into: &Path) {
    let text = std::fs::read_to_string(file).unwrap();
    let first_counter = regex::Regex::new(r#"<r p="1">[0-9.]+</r>"#).unwrap();
    let text = first_counter.replace_all(&text, format!(r#"<r p="1">{value}</r>"#));
    std::fs::create_dir_all(into).unwrap();
    std::fs::write(into.join(file.file_name().unwrap()), text.as_bytes()).unwrap();
}

/// Copies of every file of `generated` in the new folder `inbox`.
pub fn stage_all(generated: &Path, inbox: &Path) {
    let files: Vec<PathBuf> = names_in(generated)
        .iter()
        .map(|n| generated.join(n))
        .collect();
    stage(inbox, &files);
}

/// The files of `generated` staged into `tmp/first` and `tmp/late`: node gNB0003's
/// come late. Both folders.
pub fn first_and_late(generated: &Path, tmp: &Path) -> (PathBuf, PathBuf) {
    let (first, late) = (tmp.join("first"), tmp.join("late"));
    for name in names_in(generated) {
        let inbox = if name.contains("gNB0003") {
            &late
        } else {
            &first
        };
        stage(inbox, &[generated.join(name)]);
    }
    (first, late)
}
