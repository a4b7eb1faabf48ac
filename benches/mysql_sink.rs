//! MySQL sink throughput against MariaDB's own bulk path, in the same run.
//!
//! Writes `PMFLOW_BENCH_ROWS` (default 1,000,000) generated rows of 50 counters through
//! the sink, 1,000-row files delivered 4 at a time as the pipeline does, into a fresh
//! database; then loads the same rows, as TSV, into an identical empty table with
//! `LOAD DATA LOCAL INFILE` through the `mariadb` client (the baseline). Prints rows/s
//! of both and their ratio.
//!
//! ```text
//! scripts/mariadb.sh && cargo bench --bench mysql_sink
//! ```
//! The server is `PMFLOW_BENCH_MYSQL_URL` (default: the test account of
//! `scripts/mariadb.sh`); its databases `pmflow_bench_sink` and `pmflow_bench_load`
//! are replaced. `PMFLOW_BENCH_SINK_PARAMS` (e.g. `writers=8&batch_rows=2000`) sets
//! the sink's URL parameters.

mod common;

use std::time::Instant;

use pmflow::sink::MySqlSink;
use pmflow::sink::mysql::MySqlSettings;

use common::COUNTERS;

fn main() {
    let server = common::mysql_server();
    let files = common::files();
    let rows = common::total_rows(&files);
    for db in ["pmflow_bench_sink", "pmflow_bench_load"] {
        common::mariadb(
            &server,
            &format!("DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}"),
        );
    }
    println!("{rows} rows x {COUNTERS} counters in {} files", files.len());

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _in_runtime = runtime.enter();
    let mut sink_url = server.clone();
    sink_url.set_path("/pmflow_bench_sink");
    sink_url.set_query(std::env::var("PMFLOW_BENCH_SINK_PARAMS").ok().as_deref());
    let settings = MySqlSettings::from_url(sink_url.as_str()).expect("URL");
    let writers = settings.writers;
    let sink = MySqlSink::new(settings).expect("sink");
    let started = Instant::now();
    runtime.block_on(common::deliver(&sink, &files));
    let sink_secs = started.elapsed().as_secs_f64();

    let tsv = common::tsv_file(&files, "pmflow_bench_load.tsv");
    common::mariadb(
        &server,
        "CREATE TABLE pmflow_bench_load.nrcelldu LIKE pmflow_bench_sink.nrcelldu",
    );
    let started = Instant::now();
    common::mariadb(
        &server,
        &format!(
            "LOAD DATA LOCAL INFILE '{}' INTO TABLE pmflow_bench_load.nrcelldu",
            tsv.display()
        ),
    );
    let load_secs = started.elapsed().as_secs_f64();
    std::fs::remove_file(&tsv).ok();

    for db in ["pmflow_bench_sink", "pmflow_bench_load"] {
        let count = common::mariadb(&server, &format!("SELECT COUNT(*) FROM {db}.nrcelldu"));
        assert_eq!(count, rows.to_string(), "{db} holds every row");
    }
    let checksum = |db: &str| {
        common::mariadb(
            &server,
            &format!(
                "SELECT SUM(pmCounter01), SUM(pmCounter10), MAX(period_start) FROM {db}.nrcelldu"
            ),
        )
    };
    assert_eq!(checksum("pmflow_bench_sink"), checksum("pmflow_bench_load"));
    common::report(
        rows,
        (&format!("mysql sink ({writers} writers)"), sink_secs),
        ("LOAD DATA LOCAL INFILE", load_secs),
    );
}
