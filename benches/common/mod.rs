//! What the benchmarks share: the generated rows (`PMFLOW_BENCH_ROWS` of 50 counters
//! in 1,000-row files), their TSV form for the servers' own bulk loaders, delivery
//! through a sink the way the pipeline delivers (as many files at once as the sink
//! asks for, else 4), and generated 5ga files of large nodes for the source and cycle
//! benchmarks.
#![allow(dead_code)] // each benchmark uses a different subset

pub mod ftp;

use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use futures::{StreamExt, TryStreamExt, stream};
use pmflow::format::TableBatch;
use pmflow::schema;
use pmflow::sink::{PlannedFile, Sink};

/// Counters per row.
pub const COUNTERS: usize = 50;
/// Rows per generated file (one node, 100 cells, 10 periods).
pub const ROWS_PER_FILE: usize = 1000;
/// Files the pipeline delivers at once by default (`workers.deliver`).
pub const DELIVER_AT_ONCE: usize = 4;
const CELLS_PER_NODE: usize = 100;
/// Every tenth counter is a float (a gauge); the others are integers.
const FLOAT_EVERY: usize = 10;

/// One generated file: `ROWS_PER_FILE` rows of one node over 10 periods.
pub fn file(index: usize) -> RecordBatch {
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

/// The batch as TSV lines (timestamps `YYYY-MM-DD hh:mm:ss`, booleans 0/1), the
/// format both `LOAD DATA` and ClickHouse's `TSV` read.
pub fn write_tsv(batch: &RecordBatch, out: &mut impl Write) -> std::io::Result<()> {
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

/// A whole-number setting of a benchmark from the environment, else `default`.
pub fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// The generated files of `PMFLOW_BENCH_ROWS` rows (default 1,000,000).
pub fn files() -> Vec<RecordBatch> {
    let rows = setting("PMFLOW_BENCH_ROWS", 1_000_000);
    (0..rows.div_ceil(ROWS_PER_FILE)).map(file).collect()
}

/// `count` generated 5ga files of large nodes (~97 KB each) written into `out`.
pub fn large_node_files(out: &std::path::Path, count: usize) -> Vec<std::path::PathBuf> {
    let options = pmflow::generator::GenOptions {
        system: pmflow::generator::GenSystem::Nr,
        format: pmflow::generator::GenFormat::ThreeGppXml,
        nodes: count.div_ceil(4),
        rops: 4,
        scale: 8,
        seed: 7,
        gzip: false,
        start: pmflow::generator::default_start(),
    };
    let mut written = pmflow::generator::generate(out, &options, |_| {}).expect("generate");
    written.truncate(count);
    written
}

/// Rows of all `files`.
pub fn total_rows(files: &[RecordBatch]) -> usize {
    files.iter().map(RecordBatch::num_rows).sum()
}

/// Writes every file through `sink` as table `nrcelldu`, as many files at a time as
/// the pipeline's delivery stage gives the sink.
pub async fn deliver(sink: &dyn Sink, files: &[RecordBatch]) {
    let at_once = sink.files_at_once().unwrap_or(DELIVER_AT_ONCE);
    stream::iter(files.iter().enumerate())
        .map(|(i, batch)| async move {
            let file = PlannedFile {
                part: 0,
                last_part: true,
                name: format!("file{i}"),
                file_id: format!("{i:016x}"),
                tables: vec![TableBatch {
                    table: "nrcelldu".into(),
                    batch: batch.clone(),
                }],
                derived: Vec::new(),
            };
            sink.write(&file).await
        })
        .buffer_unordered(at_once)
        .try_collect::<()>()
        .await
        .expect("sink writes")
}

/// Prints the rates of the sink and the baseline and their ratio.
pub fn report(rows: usize, sink: (&str, f64), baseline: (&str, f64)) {
    for (name, secs) in [sink, baseline] {
        println!(
            "{name:<32} {secs:8.2} s {:>10.0} rows/s",
            rows as f64 / secs
        );
    }
    println!(
        "{:<32} {:8.2}",
        "ratio sink / baseline",
        baseline.1 / sink.1
    );
}

/// The MariaDB server of the benchmarks: `PMFLOW_BENCH_MYSQL_URL`, else the test
/// account of `scripts/mariadb.sh`.
pub fn mysql_server() -> url::Url {
    let server = std::env::var("PMFLOW_BENCH_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://pmflow:pmflow@127.0.0.1:3306".to_string());
    url::Url::parse(&server).expect("mysql:// URL")
}

/// Runs SQL through the `mariadb` client of the benchmark server `url`; its output.
pub fn mariadb(url: &url::Url, sql: &str) -> String {
    let mut command = std::process::Command::new("mariadb");
    command
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
        .args(["-e", sql]);
    client_output(&mut command, sql)
}

/// The trimmed stdout of a server's command-line client running `what`; panics with
/// its stderr when it fails.
pub fn client_output(command: &mut std::process::Command, what: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: the client does not run ({e}); see scripts/"));
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// All `files` as one TSV file in the temporary directory, named `name`.
pub fn tsv_file(files: &[RecordBatch], name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(name);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("TSV file"));
    for batch in files {
        write_tsv(batch, &mut out).expect("TSV written");
    }
    out.flush().expect("TSV written");
    path
}
