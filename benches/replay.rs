//! `pmflow replay` of a day into MariaDB against `pmflow ingest` of the same files
//! into MariaDB, and replay's reading of the archive against a bare DataFusion scan
//! of the same Parquet files, in the same run.
//!
//! - A day of generated 5ga files (`PMFLOW_BENCH_NODES` nodes, default 40, x 96
//!   periods) is ingested into a fresh archive (not timed).
//! - Each of `PMFLOW_BENCH_ROUNDS` (default 2) rounds times the release
//!   `pmflow ingest --no-settle` of the files into a fresh database and `pmflow
//!   replay` of the day from the archive into another fresh one (same sinks, same
//!   rules); both databases must then hold the same rows. The best of each is
//!   reported as measurement rows/s, and their ratio (replay / ingest).
//! - Reading: the replay's reader (one row per key over the archive's views, in the
//!   windows a replay reads, grouped by source file) against DataFusion reading the same day's
//!   Parquet files of every table and filtering them to the day; best of the rounds,
//!   and their ratio (bare scan time / replay read time).
//!
//! ```text
//! scripts/mariadb.sh && source scripts/env.sh && cargo bench --bench replay
//! ```
//! The server is `PMFLOW_BENCH_MYSQL_URL` (default: the test account of
//! `scripts/mariadb.sh`); its databases `pmflow_bench_ingest` and
//! `pmflow_bench_replay` are replaced.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use datafusion::prelude::{ParquetReadOptions, SessionContext, ident, lit};
use datafusion::scalar::ScalarValue;
use pmflow::archive::Archive;
use pmflow::generator::{GenOptions, GenSystem, default_start, generate};
use pmflow::replay::Selection;
use pmflow::replay::read::ArchiveReader;

const DAY: &str = "2026-01-05";
const HOUR_US: i64 = 3_600_000_000;

/// Runs the release binary with `args`, checking that it succeeds.
fn pmflow(args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_pmflow"))
        .args(args)
        .output()
        .expect("pmflow runs");
    assert!(
        output.status.success(),
        "pmflow {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `pmflow ingest` of `inbox` as system 5ga into the sink given by `flag value`.
fn ingest(inbox: &Path, flag: &str, value: &str) {
    let inbox = inbox.to_str().expect("UTF-8 path");
    pmflow(&[
        "ingest",
        inbox,
        "--system",
        "5ga",
        "--no-settle",
        flag,
        value,
    ]);
}

/// Hard links of `files` in the new folder `inbox`.
fn staged(files: &[PathBuf], inbox: &Path) -> PathBuf {
    std::fs::create_dir_all(inbox).expect("inbox");
    for file in files {
        std::fs::hard_link(file, inbox.join(file.file_name().expect("a name"))).expect("link");
    }
    inbox.to_path_buf()
}

/// A fresh database `name` on `server`, and its sink URL.
fn fresh_database(server: &url::Url, name: &str) -> String {
    common::mariadb(
        server,
        &format!("DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}"),
    );
    let mut url = server.clone();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Rows of the measurement tables of database `name`, and a checksum of them.
fn holdings(server: &url::Url, name: &str) -> String {
    common::mariadb(
        server,
        &format!(
            "SELECT (SELECT COUNT(*) FROM {name}.nrcellcu), (SELECT COUNT(*) FROM {name}.nrcelldu), \
             (SELECT SUM(RRC_ConnEstabAtt) FROM {name}.nrcellcu), \
             (SELECT COUNT(*) FROM {name}.nr_rrc_setup_sr)"
        ),
    )
}

/// The replay's reading of the day: every window's files.
async fn replay_read(archive: &Archive, selection: &Selection) -> (Duration, u64) {
    let started = Instant::now();
    let reader = ArchiveReader::open(archive, selection)
        .await
        .expect("reader");
    let mut rows = 0;
    for window in reader.windows(selection.from, selection.to) {
        let files = reader.files(window).await.expect("read");
        rows += files.iter().map(|f| f.rows()).sum::<u64>();
    }
    (started.elapsed(), rows)
}

/// A bare DataFusion scan of the day's Parquet files of every table of the system,
/// filtered to the day.
async fn bare_scan(archive: &Path, selection: &Selection) -> (Duration, u64) {
    let started = Instant::now();
    let ctx = SessionContext::new();
    let moment = |micros| {
        lit(ScalarValue::TimestampMicrosecond(
            Some(micros),
            Some("UTC".into()),
        ))
    };
    let mut rows = 0;
    for table in ["nrcellcu", "nrcelldu"] {
        let folder = archive.join(format!("system=5ga/table={table}/date={DAY}/"));
        let batches = ctx
            .read_parquet(
                folder.to_str().expect("UTF-8 path"),
                ParquetReadOptions::default(),
            )
            .await
            .expect("scan")
            .filter(
                ident("period_start")
                    .gt_eq(moment(selection.from))
                    .and(ident("period_start").lt(moment(selection.to))),
            )
            .expect("filter")
            .collect()
            .await
            .expect("collect");
        rows += batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
    }
    (started.elapsed(), rows)
}

fn main() {
    let nodes = common::setting("PMFLOW_BENCH_NODES", 40);
    let rounds = common::setting("PMFLOW_BENCH_ROUNDS", 2);
    let server = common::mysql_server();
    let tmp = tempfile::tempdir().expect("temporary folder");
    let options = GenOptions {
        system: GenSystem::Nr,
        format: pmflow::generator::GenFormat::ThreeGppXml,
        nodes,
        rops: 96,
        scale: 1,
        seed: 5,
        gzip: false,
        start: default_start(),
    };
    let files = generate(&tmp.path().join("gen"), &options, |_| {}).expect("generate");
    let archive = tmp.path().join("archive");
    let archive_arg = archive.to_str().expect("UTF-8 path");
    let inbox = staged(&files, &tmp.path().join("archive-inbox"));
    ingest(&inbox, "--archive", archive_arg);
    println!(
        "{} files of {nodes} nodes x 96 periods archived",
        files.len()
    );

    let (mut ingest_best, mut replay_best) = (Duration::MAX, Duration::MAX);
    for round in 0..rounds {
        let sink = fresh_database(&server, "pmflow_bench_ingest");
        let inbox = staged(&files, &tmp.path().join(format!("inbox{round}")));
        let started = Instant::now();
        ingest(&inbox, "--sink", &sink);
        ingest_best = ingest_best.min(started.elapsed());

        let sink = fresh_database(&server, "pmflow_bench_replay");
        let started = Instant::now();
        pmflow(&[
            "replay",
            "--archive",
            archive_arg,
            "--system",
            "5ga",
            "--from",
            "2026-01-05T00:00:00Z",
            "--to",
            "2026-01-06T00:00:00Z",
            "--sink",
            &sink,
        ]);
        replay_best = replay_best.min(started.elapsed());
        assert_eq!(
            holdings(&server, "pmflow_bench_ingest"),
            holdings(&server, "pmflow_bench_replay"),
            "replay and ingest leave the same rows"
        );
    }
    let rows: u64 = holdings(&server, "pmflow_bench_replay")
        .split('\t')
        .take(2)
        .map(|n| n.parse::<u64>().expect("a count"))
        .sum();
    println!("{rows} measurement rows");
    let rows = rows as usize;
    common::report(
        rows,
        ("replay into MariaDB", replay_best.as_secs_f64()),
        ("ingest into MariaDB", ingest_best.as_secs_f64()),
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let opened = Archive::open(archive_arg).expect("archive");
    let selection = Selection {
        system: "5ga".into(),
        from: default_start().timestamp_micros(),
        to: default_start().timestamp_micros() + 24 * HOUR_US,
        tables: None,
        ne: None,
        as_of: None,
    };
    let (mut read_best, mut scan_best) = (Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        let (read, read_rows) = runtime.block_on(replay_read(&opened, &selection));
        let (scan, scan_rows) = runtime.block_on(bare_scan(&archive, &selection));
        assert_eq!(read_rows, scan_rows, "both read every row of the day");
        assert_eq!(read_rows as usize, rows, "the rows delivered");
        read_best = read_best.min(read);
        scan_best = scan_best.min(scan);
    }
    common::report(
        rows,
        ("replay read of the day", read_best.as_secs_f64()),
        ("bare DataFusion scan", scan_best.as_secs_f64()),
    );
}
