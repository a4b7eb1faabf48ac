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

use std::io::{BufWriter, Write};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use futures::{StreamExt, TryStreamExt, stream};
use pmflow::format::TableBatch;
use pmflow::schema;
use pmflow::sink::mysql::MySqlSettings;
use pmflow::sink::{MySqlSink, PlannedFile, Sink};

const COUNTERS: usize = 50;
const ROWS_PER_FILE: usize = 1000;
const CELLS_PER_NODE: usize = 100;
/// Every tenth counter is a float (a gauge); the others are integers.
const FLOAT_EVERY: usize = 10;

/// One generated file: `ROWS_PER_FILE` rows of one node over 10 periods.
fn file(index: usize) -> RecordBatch {
    let rows = ROWS_PER_FILE;
    let period = |row: usize| 1_767_571_200_000_000 + (row / CELLS_PER_NODE) as i64 * 900_000_000;
    let ne = format!("gNB{index:05}");
    let mut fields = schema::key_fields();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["5ga"; rows])),
        Arc::new(StringArray::from(vec![ne.as_str(); rows])),
        Arc::new(StringArray::from_iter_values((0..rows).map(|r| {
            format!(
                "ManagedElement={ne},GNBDUFunction=1,NRCellDU={}",
                r % CELLS_PER_NODE
            )
        }))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values((0..rows).map(period)).with_timezone("UTC"),
        ),
        Arc::new(Int32Array::from(vec![900; rows])),
        Arc::new(BooleanArray::from(vec![false; rows])),
        Arc::new(StringArray::from(vec![format!("{index:016x}"); rows])),
    ];
    for counter in 0..COUNTERS {
        let name = format!("pmCounter{counter:02}");
        let value = |row: usize| (index * 7919 + row * 31 + counter * 17) % 100_000;
        if counter % FLOAT_EVERY == 0 {
            fields.push(Field::new(name, DataType::Float64, true));
            columns.push(Arc::new(Float64Array::from_iter_values(
                (0..rows).map(|r| value(r) as f64 / 8.0),
            )));
        } else {
            fields.push(Field::new(name, DataType::Int64, true));
            columns.push(Arc::new(Int64Array::from_iter_values(
                (0..rows).map(|r| value(r) as i64),
            )));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("valid batch")
}

/// The batch as TSV lines in `LOAD DATA`'s default format.
fn write_tsv(batch: &RecordBatch, out: &mut impl Write) -> std::io::Result<()> {
    let formatters: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &Default::default()))
        .collect::<Result<_, _>>()
        .expect("formatters");
    for row in 0..batch.num_rows() {
        for (i, formatter) in formatters.iter().enumerate() {
            if i > 0 {
                out.write_all(b"\t")?;
            }
            let text = formatter.value(row).to_string();
            match i {
                3 => out.write_all(text.trim_end_matches('Z').replace('T', " ").as_bytes())?,
                5 => out.write_all(if text == "true" { b"1" } else { b"0" })?,
                _ => out.write_all(text.as_bytes())?,
            }
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Runs SQL through the `mariadb` client of the benchmark server.
fn mariadb(url: &url::Url, sql: &str) -> String {
    let output = Command::new("mariadb")
        .args([
            "--protocol=TCP",
            "--local-infile=1",
            "--batch",
            "--skip-column-names",
        ])
        .arg(format!("-h{}", url.host_str().expect("host")))
        .arg(format!("-P{}", url.port().unwrap_or(3306)))
        .arg(format!("-u{}", url.username()))
        .arg(format!("-p{}", url.password().unwrap_or("")))
        .args(["-e", sql])
        .output()
        .expect("the mariadb client runs (scripts/mariadb.sh installs it)");
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

fn main() {
    let rows: usize = std::env::var("PMFLOW_BENCH_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    let server = std::env::var("PMFLOW_BENCH_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://pmflow:pmflow@127.0.0.1:3306".to_string());
    let server = url::Url::parse(&server).expect("mysql:// URL");
    let files: Vec<RecordBatch> = (0..rows.div_ceil(ROWS_PER_FILE)).map(file).collect();
    let rows = files.iter().map(RecordBatch::num_rows).sum::<usize>();
    for db in ["pmflow_bench_sink", "pmflow_bench_load"] {
        mariadb(
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
    let sink = MySqlSink::new(settings, true).expect("sink");
    let started = Instant::now();
    runtime.block_on(async {
        stream::iter(files.iter().enumerate())
            .map(|(i, batch)| {
                let sink = &sink;
                async move {
                    let file = PlannedFile {
                        name: format!("file{i}"),
                        file_id: format!("{i:016x}"),
                        tables: vec![TableBatch {
                            table: "nrcelldu".into(),
                            batch: batch.clone(),
                        }],
                        derived: Vec::new(),
                    };
                    sink.write(&file).await
                }
            })
            .buffer_unordered(4)
            .try_collect::<()>()
            .await
            .expect("sink writes")
    });
    let sink_secs = started.elapsed().as_secs_f64();

    let tsv = std::env::temp_dir().join("pmflow_bench_load.tsv");
    let mut out = BufWriter::new(std::fs::File::create(&tsv).expect("TSV file"));
    for batch in &files {
        write_tsv(batch, &mut out).expect("TSV written");
    }
    out.flush().expect("TSV written");
    drop(out);
    mariadb(
        &server,
        "CREATE TABLE pmflow_bench_load.nrcelldu LIKE pmflow_bench_sink.nrcelldu",
    );
    let started = Instant::now();
    mariadb(
        &server,
        &format!(
            "LOAD DATA LOCAL INFILE '{}' INTO TABLE pmflow_bench_load.nrcelldu",
            tsv.display()
        ),
    );
    let load_secs = started.elapsed().as_secs_f64();
    std::fs::remove_file(&tsv).ok();

    for db in ["pmflow_bench_sink", "pmflow_bench_load"] {
        let count = mariadb(&server, &format!("SELECT COUNT(*) FROM {db}.nrcelldu"));
        assert_eq!(count, rows.to_string(), "{db} holds every row");
    }
    let checksum = |db: &str| {
        mariadb(
            &server,
            &format!(
                "SELECT SUM(pmCounter01), SUM(pmCounter10), MAX(period_start) FROM {db}.nrcelldu"
            ),
        )
    };
    assert_eq!(checksum("pmflow_bench_sink"), checksum("pmflow_bench_load"));

    let (sink_rate, load_rate) = (rows as f64 / sink_secs, rows as f64 / load_secs);
    println!("mysql sink ({writers} writers): {sink_secs:8.2} s {sink_rate:>10.0} rows/s");
    println!("LOAD DATA LOCAL INFILE:      {load_secs:8.2} s {load_rate:>10.0} rows/s");
    println!("ratio sink / LOAD DATA:      {:8.2}", sink_rate / load_rate);
}
