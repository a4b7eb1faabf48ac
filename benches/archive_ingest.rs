//! `pmflow ingest` from a local inbox into a fresh Delta archive, against the ceiling
//! of a bare single-core quick-xml extraction of the same bytes, in the same run; the
//! ingest's peak RSS; the archive's commit latency per cycle; and the time to open a
//! table after a year of commits.
//!
//! - Shapes: `small`, `PMFLOW_BENCH_SMALL_FILES` (default 5,000) generated 5ga files of
//!   small nodes (~14 KB: 1,000 nodes x 5 periods); `large`,
//!   `PMFLOW_BENCH_LARGE_FILES` (default 3) files of huge nodes (scale
//!   `PMFLOW_BENCH_LARGE_SCALE`, default 6,000: ~70 MB each, read in parts).
//! - Each of `PMFLOW_BENCH_ROUNDS` (default 2) rounds times, per shape, the ceiling
//!   (read each file and extract every value with quick-xml on one thread) and the
//!   release `pmflow ingest --no-settle` (every core) into a fresh archive; the best
//!   of each is reported, and their ratio (ingest throughput / ceiling).
//! - Commit latency: the small shape's files parsed per period (one cycle of 1,000
//!   nodes), each cycle's tables appended to one archive at once, as the sink does.
//! - A year of commits: one table given `PMFLOW_BENCH_YEAR_COMMITS` (default 35,040:
//!   a commit every 15 minutes for a year) commits of one data file each, with
//!   checkpoints every 100 versions over the last thousand (what opening reads), then
//!   opened afresh through pmflow's archive.
//!
//! ```text
//! source scripts/env.sh && cargo bench --bench archive_ingest
//! ```

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use deltalake_core::checkpoints;
use deltalake_core::kernel::{Action, Add};
use deltalake_core::logstore::commit_uri_from_version;
use object_store::{PutMode, PutPayload};
use pmflow::archive::Archive;
use pmflow::format::FileContext;
use pmflow::generator::{GenOptions, GenSystem, default_start, generate};
use quick_xml::Reader;
use quick_xml::events::Event;

/// One shape of input: its generated files and their bytes.
struct Shape {
    name: &'static str,
    files: Vec<PathBuf>,
    bytes: u64,
}

/// Generates `nodes` x `rops` 5ga files of `scale` into `out`.
fn shape(name: &'static str, out: &Path, nodes: usize, rops: usize, scale: usize) -> Shape {
    let options = GenOptions {
        system: GenSystem::Nr,
        format: pmflow::generator::GenFormat::ThreeGppXml,
        nodes,
        rops,
        scale,
        seed: 11,
        gzip: false,
        start: default_start(),
    };
    let files = generate(out, &options, |_| {}).expect("generate");
    let bytes = files
        .iter()
        .map(|f| std::fs::metadata(f).expect("a file").len())
        .sum();
    Shape { name, files, bytes }
}

/// The ceiling: every file read and every value extracted (integers summed, other
/// texts counted) by quick-xml on one thread.
fn extract(files: &[PathBuf]) -> (Duration, u64) {
    let started = Instant::now();
    let mut checksum = 0u64;
    for file in files {
        let bytes = std::fs::read(file).expect("read");
        let mut reader = Reader::from_reader(bytes.as_slice());
        loop {
            match reader.read_event().expect("well-formed") {
                Event::Text(text) => {
                    let text = text.trim_ascii();
                    checksum = match std::str::from_utf8(text).ok().map(str::parse::<i64>) {
                        Some(Ok(value)) => checksum.wrapping_add(value as u64),
                        _ => checksum.wrapping_add(1),
                    };
                }
                Event::Eof => break,
                _ => {}
            }
        }
    }
    (started.elapsed(), checksum)
}

/// `pmflow ingest` of `files` (linked into a fresh inbox) into a fresh archive: its
/// wall time and peak RSS in bytes.
fn ingest(files: &[PathBuf], dir: &Path) -> (Duration, u64) {
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    for file in files {
        std::fs::hard_link(file, inbox.join(file.file_name().expect("a name"))).expect("link");
    }
    let archive = dir.join("archive");
    let started = Instant::now();
    // Reaped by wait4 (which also reports its peak memory), not by `Child::wait`.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_pmflow"))
        .args(["ingest", "--system", "5ga", "--no-settle", "--archive"])
        .arg(&archive)
        .arg(&inbox)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("pmflow runs");
    let (status, peak_rss) = wait_with_peak_rss(child.id());
    let time = started.elapsed();
    assert!(status == 0, "pmflow ingest failed ({status})");
    let done = std::fs::read_dir(inbox.join("Done"))
        .expect("Done/")
        .count();
    assert_eq!(done, files.len(), "every file done");
    (time, peak_rss)
}

/// Waits for the process `pid`; its exit status and peak resident memory in bytes.
fn wait_with_peak_rss(pid: u32) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is valid, and wait4 only writes into the two
    // out-parameters it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid as libc::pid_t, "wait4");
    (status, usage.ru_maxrss as u64 * 1024)
}

/// Per shape, the best ceiling and ingest times of `rounds`, and the peak RSS.
fn ingest_against_ceiling(shapes: &[Shape], rounds: usize) {
    for shape in shapes {
        let mut best = (Duration::MAX, Duration::MAX);
        let mut peak = 0;
        for round in 0..rounds {
            let (ceiling, _) = extract(&shape.files);
            let dir = tempfile::tempdir().expect("temporary folder");
            let (ingest, rss) = ingest(&shape.files, dir.path());
            println!(
                "{} round {round}: ceiling {:.2} s, ingest {:.2} s, peak RSS {} MiB",
                shape.name,
                ceiling.as_secs_f64(),
                ingest.as_secs_f64(),
                rss >> 20
            );
            best = (best.0.min(ceiling), best.1.min(ingest));
            peak = peak.max(rss);
        }
        let mb_s = |time: Duration| shape.bytes as f64 / 1e6 / time.as_secs_f64();
        println!(
            "{}: {} files, {:.0} MB: ceiling (1 core) {:.0} MB/s, ingest ({} cores) {:.0} MB/s = {:.2}x the ceiling; peak RSS {} MiB",
            shape.name,
            shape.files.len(),
            shape.bytes as f64 / 1e6,
            mb_s(best.0),
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            mb_s(best.1),
            best.0.as_secs_f64() / best.1.as_secs_f64(),
            peak >> 20
        );
    }
}

/// The tables of `files`, parsed, by table name.
fn tables_of(files: &[PathBuf]) -> BTreeMap<String, Vec<RecordBatch>> {
    let mut tables: BTreeMap<String, Vec<RecordBatch>> = BTreeMap::new();
    for file in files {
        let ctx = FileContext {
            system: "5ga".into(),
            file_name: file.file_name().expect("a name").to_string_lossy().into(),
        };
        let parsed =
            pmflow::format::threegpp::parse(&std::fs::read(file).expect("read"), &ctx).unwrap();
        for table in parsed.tables {
            tables.entry(table.table).or_default().push(table.batch);
        }
    }
    tables
}

/// Appends each cycle's tables (all at once, as the sink does) to one archive; the
/// latency of each cycle's commits.
async fn commit_latency(cycles: &[Vec<PathBuf>]) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let archive = Archive::open(dir.path().to_str().expect("a path")).expect("archive");
    let mut latencies = Vec::new();
    for (cycle, files) in cycles.iter().enumerate() {
        let tables = tables_of(files);
        let rows: usize = tables.values().flatten().map(RecordBatch::num_rows).sum();
        let started = Instant::now();
        let appends = tables.into_iter().map(|(table, batches)| {
            let table = archive.table("5ga", &table);
            async move { table.append(batches).await.expect("append") }
        });
        let appended = futures::future::join_all(appends).await;
        let latency = started.elapsed();
        println!(
            "commit cycle {cycle}: {} files, {} tables, {rows} rows: {:.3} s",
            files.len(),
            appended.len(),
            latency.as_secs_f64()
        );
        latencies.push(latency);
    }
    latencies.sort();
    println!(
        "commit latency per cycle of {} files: median {:.3} s, max {:.3} s",
        cycles[0].len(),
        latencies[latencies.len() / 2].as_secs_f64(),
        latencies[latencies.len() - 1].as_secs_f64()
    );
}

/// Gives one table `commits` commits of one data file each (on days in turn, as a
/// year of 15-minute cycles) and checkpoints, then opens it afresh
/// through pmflow's archive. The commits after the first are written as delta-rs
/// writes them (an `add` action put if absent), without their data files: opening a
/// table reads only its log.
async fn year_of_commits(first_file: &Path, commits: usize) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let root = dir.path().to_str().expect("a path");
    let archive = Archive::open(root).expect("archive");
    let tables = tables_of(&[first_file.to_path_buf()]);
    let (name, batches) = tables.into_iter().next().expect("a table");
    let table = archive.table("5ga", &name);
    table.append(batches).await.expect("the first commit");
    let mut delta = table.loaded().await.expect("load").expect("the table");
    let store = delta.log_store().object_store(None);
    let started = Instant::now();
    for version in 1..commits as u64 {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date")
            + chrono::Days::new(version / 96);
        let add = Add {
            path: format!("date={day}/part-year-{version:06}.zstd.parquet"),
            partition_values: [("date".to_string(), Some(day.to_string()))].into(),
            size: 20_000,
            modification_time: chrono::Utc::now().timestamp_millis(),
            data_change: true,
            stats: None,
            tags: None,
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
            clustering_provider: None,
        };
        let line = serde_json::to_string(&Action::Add(add)).expect("JSON");
        store
            .put_opts(
                &commit_uri_from_version(Some(version)),
                PutPayload::from(line),
                PutMode::Create.into(),
            )
            .await
            .expect("commit");
        // Opening reads the latest checkpoint and the commits after it, so only the
        // last thousand versions get one every 100 as delta-rs makes them; earlier,
        // one every 5,000 keeps building the state fast.
        let last_thousand = version + 1_000 >= commits as u64;
        if version % 5_000 == 0 || (last_thousand && version % 100 == 0) {
            delta.update_state().await.expect("update");
            checkpoints::create_checkpoint(&delta, None)
                .await
                .expect("checkpoint");
        }
        if version % 5_000 == 0 {
            println!(
                "year: {version} commits in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let logs = std::fs::read_dir(
        dir.path()
            .join(format!("system=5ga/table={name}/_delta_log")),
    )
    .expect("a log")
    .count();
    let started = Instant::now();
    let reopened = Archive::open(root).expect("archive");
    let schema = reopened.table("5ga", &name).schema().await.expect("schema");
    let open = started.elapsed();
    assert!(schema.is_some());
    let files = reopened
        .table("5ga", &name)
        .loaded()
        .await
        .expect("load")
        .expect("the table")
        .snapshot()
        .expect("a snapshot")
        .log_data()
        .num_files();
    assert_eq!(files, commits, "one data file per commit");
    println!(
        "a year of commits: {commits} versions ({logs} entries in _delta_log, {files} live files): opened with its schema in {:.3} s",
        open.as_secs_f64()
    );
}

fn main() {
    let small_files = common::setting("PMFLOW_BENCH_SMALL_FILES", 5_000);
    let large_files = common::setting("PMFLOW_BENCH_LARGE_FILES", 3);
    let large_scale = common::setting("PMFLOW_BENCH_LARGE_SCALE", 6_000);
    let rounds = common::setting("PMFLOW_BENCH_ROUNDS", 2);
    let year = common::setting("PMFLOW_BENCH_YEAR_COMMITS", 35_040);
    let generated = tempfile::tempdir().expect("temporary folder");
    let nodes = 1_000.min(small_files);
    let small = shape(
        "small",
        &generated.path().join("small"),
        nodes,
        small_files.div_ceil(nodes),
        1,
    );
    let large = shape(
        "large",
        &generated.path().join("large"),
        large_files,
        1,
        large_scale,
    );
    ingest_against_ceiling(&[small, large], rounds);

    let small = generated.path().join("small");
    let mut cycles: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(&small).expect("generated files") {
        let path = entry.expect("an entry").path();
        let period = path.file_name().expect("a name").to_string_lossy()[..14].to_string();
        cycles.entry(period).or_default().push(path);
    }
    let cycles: Vec<Vec<PathBuf>> = cycles.into_values().collect();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(commit_latency(&cycles));
    runtime.block_on(year_of_commits(&cycles[0][0], year));
}
