//! The archive on an S3-compatible server (moto, started by `scripts/s3.sh`), checked
//! from outside pmflow: Python `deltalake` reads the tables through their logs on the
//! server, Python's XML parser reads the source files.

mod common;

use std::path::{Path, PathBuf};

use common::delta::assert_same_totals;
use common::{cycle_stat, generate, names_in, s3, stage};

/// `nodes` x `rops` generated 5ga files under `dir`.
fn generated(dir: &Path, nodes: u32, rops: u32) -> Vec<PathBuf> {
    generate(dir, "5ga", nodes, rops);
    names_in(dir).iter().map(|n| dir.join(n)).collect()
}

/// The `ingest` arguments of `inbox` into the archive sink `sink`.
fn ingest_args<'a>(inbox: &'a Path, sink: &'a str) -> [&'a str; 7] {
    let inbox = inbox.to_str().unwrap();
    [
        "ingest",
        inbox,
        "--system",
        "5ga",
        "--sink",
        sink,
        "--no-settle",
    ]
}

/// `SELECT count(*), count(DISTINCT file_id) FROM nrcellcu` over the archive.
fn rows_and_files(archive: &str) -> String {
    let sql = "SELECT count(*), count(DISTINCT file_id) FROM nrcellcu";
    let out = s3::pmflow_ok(&["query", "--archive", archive, "--format", "csv", sql]);
    out.lines().nth(1).unwrap_or_default().to_string()
}

#[test]
fn an_archive_on_s3_holds_every_row_once_through_copies_and_optimize() {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox");
    let files = generated(&tmp.path().join("generated"), 6, 2);
    let archive = s3::archive_url("copies");

    stage(&inbox, &files[..6]);
    let stats = s3::pmflow_ok(&ingest_args(&inbox, &archive));
    assert_eq!(cycle_stat(&stats, "files done"), 6, "{stats}");

    // The other six, and copies of three files already in under other names: the
    // copies add nothing.
    stage(&inbox, &files[6..]);
    for (i, original) in files[..3].iter().enumerate() {
        let name = original.file_name().unwrap().to_string_lossy();
        std::fs::copy(original, inbox.join(format!("copy{i}-{name}"))).unwrap();
    }
    let stats = s3::pmflow_ok(&ingest_args(&inbox, &archive));
    assert_eq!(cycle_stat(&stats, "files done"), 9, "{stats}");
    assert_same_totals(&archive, &s3::env(), &files);
    assert_eq!(rows_and_files(&archive), format!("{},{}", 12 * 12, 12));

    let optimized = s3::pmflow_ok(&["archive", "optimize", "--archive", &archive]);
    assert!(optimized.contains("5ga/nrcellcu"), "{optimized}");
    assert_same_totals(&archive, &s3::env(), &files);
    let history = s3::pmflow_ok(&[
        "archive",
        "history",
        "--archive",
        &archive,
        "--system",
        "5ga",
        "--table",
        "nrcellcu",
    ]);
    assert!(history.contains("OPTIMIZE"), "{history}");
}

#[test]
fn two_processes_writing_the_same_tables_at_once_land_every_row_once() {
    let tmp = tempfile::tempdir().unwrap();
    let files = generated(&tmp.path().join("generated"), 8, 3);
    assert_eq!(files.len(), 24);
    // Each process has 16 files, 8 of them also the other's: they commit into the
    // same tables at the same time, and both hold copies of the same files.
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    stage(&first, &files[..16]);
    stage(&second, &files[8..]);
    // Groups of four files: several commits per process and table.
    let sink = format!("{}?files_at_once=4", s3::archive_url("two-writers"));

    let runs: Vec<_> = [&first, &second]
        .map(|inbox| s3::pmflow(&ingest_args(inbox, &sink)).spawn().unwrap())
        .into_iter()
        .collect();
    for run in runs {
        let output = run.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
    }

    for inbox in [&first, &second] {
        assert_eq!(names_in(inbox), ["Done"], "every file done");
        assert_eq!(names_in(&inbox.join("Done")).len(), 16);
    }
    let archive = sink.split('?').next().unwrap();
    assert_same_totals(archive, &s3::env(), &files);
    assert_eq!(rows_and_files(archive), format!("{},{}", 24 * 12, 24));
}
