//! ClickHouse sink throughput against ClickHouse's own text bulk path, in the same run.
//!
//! Writes `PMFLOW_BENCH_ROWS` (default 1,000,000) generated rows of 50 counters through
//! the sink, 1,000-row files delivered as many at a time as the sink takes (its
//! `files_at_once`), as the pipeline does, into a fresh database; then inserts the same rows, as one TSV stream, into an identical empty
//! table with `clickhouse-client --query "INSERT … FORMAT TSV"` (the baseline). Prints
//! rows/s of both and their ratio.
//!
//! ```text
//! scripts/clickhouse.sh && cargo bench --bench clickhouse_sink
//! ```
//! The server is `PMFLOW_BENCH_CLICKHOUSE_URL` (default `clickhouse://default@127.0.0.1:8123`,
//! its native port 9000 for the client); its databases `pmflow_bench_sink` and
//! `pmflow_bench_load` are replaced. `PMFLOW_BENCH_SINK_PARAMS` sets the sink's URL
//! parameters.

mod common;

use std::process::{Command, Stdio};
use std::time::Instant;

use pmflow::sink::ClickHouseSink;
use pmflow::sink::clickhouse::ClickHouseSettings;

use common::COUNTERS;

/// Runs SQL through `clickhouse-client` on `host`, with `input` as its stdin.
fn clickhouse(host: &str, sql: &str, input: Option<&std::path::Path>) -> String {
    let stdin = match input {
        Some(path) => Stdio::from(std::fs::File::open(path).expect("input file")),
        None => Stdio::null(),
    };
    let mut command = Command::new("clickhouse-client");
    command
        .args(["--host", host, "--multiquery", "--query", sql])
        .stdin(stdin);
    common::client_output(&mut command, sql)
}

/// Waits until the server merges no parts, so that neither measurement pays for the
/// other's background work.
fn wait_for_merges(host: &str) {
    while clickhouse(host, "SELECT count() FROM system.merges", None) != "0" {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn main() {
    let server = std::env::var("PMFLOW_BENCH_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "clickhouse://default@127.0.0.1:8123".to_string());
    let server = url::Url::parse(&server).expect("clickhouse:// URL");
    let host = server.host_str().expect("host").to_string();
    let files = common::files();
    let rows = common::total_rows(&files);
    for db in ["pmflow_bench_sink", "pmflow_bench_load"] {
        clickhouse(
            &host,
            &format!("DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}"),
            None,
        );
    }
    println!("{rows} rows x {COUNTERS} counters in {} files", files.len());

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut sink_url = server.clone();
    sink_url.set_path("/pmflow_bench_sink");
    sink_url.set_query(std::env::var("PMFLOW_BENCH_SINK_PARAMS").ok().as_deref());
    let settings = ClickHouseSettings::from_url(sink_url.as_str()).expect("URL");
    let sink = ClickHouseSink::new(settings);
    wait_for_merges(&host);
    let started = Instant::now();
    runtime.block_on(common::deliver(&sink, &files));
    let sink_secs = started.elapsed().as_secs_f64();

    let tsv = common::tsv_file(&files, "pmflow_bench_load_ch.tsv");
    clickhouse(
        &host,
        "CREATE TABLE pmflow_bench_load.nrcelldu AS pmflow_bench_sink.nrcelldu",
        None,
    );
    wait_for_merges(&host);
    let started = Instant::now();
    clickhouse(
        &host,
        "INSERT INTO pmflow_bench_load.nrcelldu FORMAT TSV",
        Some(&tsv),
    );
    let load_secs = started.elapsed().as_secs_f64();
    std::fs::remove_file(&tsv).ok();

    let checksum = |db: &str| {
        clickhouse(
            &host,
            &format!(
                "SELECT count(), sum(pmCounter01), sum(pmCounter10), max(period_start) \
                 FROM {db}.nrcelldu"
            ),
            None,
        )
    };
    let sunk = checksum("pmflow_bench_sink");
    assert!(sunk.starts_with(&format!("{rows}\t")), "every row: {sunk}");
    assert_eq!(sunk, checksum("pmflow_bench_load"));
    common::report(
        rows,
        ("clickhouse sink (RowBinary)", sink_secs),
        ("clickhouse-client INSERT FORMAT TSV", load_secs),
    );
}
