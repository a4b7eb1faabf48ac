//! Helpers shared by the integration tests: run the real binary, stage files into
//! temporary inboxes, parse files through the library, read cells.
#![allow(dead_code)] // each test binary uses a different subset

pub mod clickhouse;
pub mod delta;
pub mod five_ga;
pub mod ftp;
pub mod history;
pub mod kafka;
pub mod mysql;
pub mod s3;
pub mod service;
pub mod zookeeper;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Output;

use arrow::array::AsArray;
use arrow::util::display::array_value_to_string;
use pmflow::format::{self, FileContext, ParsedFile};

/// The repository root (where `datasets/`, `sql/` and `plans/` are).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `pmflow` binary built for this test run, from the repository root.
pub fn pmflow<S: AsRef<OsStr>>(args: &[S]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_pmflow"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("pmflow runs")
}

/// Runs `pmflow` and returns its stdout, failing the test with stderr on error.
pub fn pmflow_ok<S: AsRef<OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    stdout_of_success(args, pmflow(args))
}

/// The stdout of a `pmflow` run with `args`, failing the test with stderr on error.
pub fn stdout_of_success<S: std::fmt::Debug>(args: &[S], output: Output) -> String {
    assert!(
        output.status.success(),
        "pmflow {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// `pmflow query --format csv` and the CSV lines after the header.
pub fn query_csv(archive: &Path, sql: &str) -> Vec<String> {
    let out = pmflow_ok(&[
        "query",
        "--archive",
        archive.to_str().unwrap(),
        "--format",
        "csv",
        sql,
    ]);
    out.lines().skip(1).map(str::to_string).collect()
}

/// `pmflow gen` of `nodes` x `rops` files of a system into `out`.
pub fn generate(out: &Path, system: &str, nodes: u32, rops: u32) {
    let (nodes, rops) = (nodes.to_string(), rops.to_string());
    let out = out.to_str().unwrap();
    pmflow_ok(&[
        "gen", "--out", out, "--system", system, "--nodes", &nodes, "--rops", &rops,
    ]);
}

/// Copies files into `dir` (created), returning their new paths. The copies are dated
/// two days back, as files that arrived before the run are: settled for every source
/// (an FTP listing's time may be 14 h off), so a cycle takes them at once. Tests of
/// files still being written make theirs fresh.
pub fn stage(dir: &Path, files: &[PathBuf]) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let arrived = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
    files
        .iter()
        .map(|f| {
            let to = dir.join(f.file_name().unwrap());
            std::fs::copy(f, &to).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&to)
                .and_then(|file| file.set_modified(arrived))
                .unwrap();
            to
        })
        .collect()
}

/// Runs `scripts/<script>` with `env` to start a private server, failing the test
/// with the script's stderr when `server` does not start.
pub fn start_with_script(script: &str, env: &[(&str, OsString)], server: &str) {
    let output = std::process::Command::new(repo().join("scripts").join(script))
        .envs(env.iter().map(|(key, value)| (key, value)))
        .output()
        .unwrap_or_else(|e| panic!("scripts/{script} runs: {e}"));
    assert!(
        output.status.success(),
        "{server} did not start: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A dataset file by its path under `datasets/`.
pub fn dataset(path: &str) -> PathBuf {
    repo().join("datasets").join(path)
}

/// Parses a file through the library as the pipeline does.
pub fn parse_file(path: &Path) -> Result<ParsedFile, String> {
    let bytes = std::fs::read(path).unwrap();
    parse_bytes(&path.file_name().unwrap().to_string_lossy(), &bytes)
}

/// Parses bytes as a 3GPP XML file of the given name, as the pipeline reads it.
pub fn parse_bytes(name: &str, bytes: &[u8]) -> Result<ParsedFile, String> {
    let xml = format::FormatChoice::by_name("3gpp-xml", &Default::default()).unwrap();
    parse_bytes_as(&xml, name, bytes)
}

/// Parses bytes as a file of the given name in the chosen format, as the pipeline
/// reads it.
pub fn parse_bytes_as(
    format: &format::FormatChoice,
    name: &str,
    bytes: &[u8],
) -> Result<ParsedFile, String> {
    let ctx = FileContext {
        system: "test".into(),
        file_name: name.into(),
    };
    let read = format.read(&bytes::Bytes::copy_from_slice(bytes), &ctx, u64::MAX)?;
    match read.rows {
        format::Rows::Whole(parsed) => Ok(parsed),
        format::Rows::Parts(_) => panic!("{name}: test files are read whole (under 64 MiB)"),
    }
}

/// Every value of `column` in `table` for rows whose object is `object`, as text
/// (`""` for null; a vector in its text form, `1,,3`), in row order.
pub fn cells(parsed: &ParsedFile, table: &str, object: &str, column: &str) -> Vec<String> {
    let batch = &parsed
        .tables
        .iter()
        .find(|t| t.table == table)
        .unwrap_or_else(|| panic!("no table {table}; tables: {:?}", table_names(parsed)))
        .batch;
    let objects = batch.column_by_name("object").unwrap();
    let mut values = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column} in {table}"))
        .clone();
    if let Some(vectors) = values.as_list_opt::<i32>() {
        values = std::sync::Arc::new(pmflow::schema::vector_text(vectors).unwrap());
    }
    (0..batch.num_rows())
        .filter(|&row| array_value_to_string(objects, row).unwrap() == object)
        .map(|row| {
            if values.is_null(row) {
                String::new()
            } else {
                array_value_to_string(&values, row).unwrap()
            }
        })
        .collect()
}

/// The one value of a cell; fails unless exactly one row matches.
pub fn cell(parsed: &ParsedFile, table: &str, object: &str, column: &str) -> String {
    let values = cells(parsed, table, object, column);
    assert_eq!(values.len(), 1, "{table}/{object}/{column}: {values:?}");
    values.into_iter().next().unwrap()
}

/// Table names of a parsed file.
pub fn table_names(parsed: &ParsedFile) -> Vec<&str> {
    parsed.tables.iter().map(|t| t.table.as_str()).collect()
}

/// The value of a row of the cycle statistics table `ingest` prints, by its label.
pub fn cycle_stat(stats: &str, label: &str) -> u64 {
    let line = stats
        .lines()
        .find(|line| line.contains(label))
        .unwrap_or_else(|| panic!("no {label:?} in {stats}"));
    line.split(|c: char| !c.is_ascii_digit())
        .rfind(|part| !part.is_empty())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no number in {line:?}"))
}

/// Sorted names of the entries of a directory (none when it does not exist).
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Two numbers printed by a database and by DataFusion are the same value: integers
/// exactly, floating-point sums to 1e-9 relative (the summation order differs). `null`
/// is how the database prints null (DataFusion's CSV prints nothing).
pub fn same_number(database: &str, archive: &str, null: &str) -> bool {
    match (database, archive) {
        (d, "") if d == null => true,
        _ if database == archive => true,
        _ => match (database.parse::<f64>(), archive.parse::<f64>()) {
            (Ok(a), Ok(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
            _ => false,
        },
    }
}

/// Generated 5GA files of 2 nodes x 4 periods, split into the first two periods and
/// the last two, in which node 2 brings the new counter `RRU.MaxLayerDlMimo`.
pub fn early_and_late_files(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let generated = tmp.join("gen");
    generate(&generated, "5ga", 2, 4);
    let (early, late) = (tmp.join("early"), tmp.join("late"));
    for name in names_in(&generated) {
        let early_period = name.contains("0000+0000") || name.contains("0015+0000-");
        stage(
            if early_period { &early } else { &late },
            &[generated.join(name)],
        );
    }
    (early, late)
}

/// Per (ne, period) of [`early_and_late_files`]: rows of `nrcelldu`, and rows with
/// a value of `RRU.MaxLayerDlMimo` (node 2's last two periods only).
pub const NEW_COUNTER_ROWS: [&str; 8] = [
    "gNB0001\t12\t0",
    "gNB0001\t12\t0",
    "gNB0001\t12\t0",
    "gNB0001\t12\t0",
    "gNB0002\t12\t0",
    "gNB0002\t12\t0",
    "gNB0002\t12\t12",
    "gNB0002\t12\t12",
];

/// A file of node `ne1` whose counters have the given names, with values 1, 2, 3, ….
pub fn file_with_counters(names: &[&str]) -> String {
    let types: String = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("<measType p=\"{}\">{n}</measType>", i + 1))
        .collect();
    let values: String = (1..=names.len())
        .map(|i| format!("<r p=\"{i}\">{i}</r>"))
        .collect();
    format!(
        "<measCollecFile><measData><managedElement localDn=\"ne1\"/>\
         <measInfo measInfoId=\"Cells\"><granPeriod duration=\"PT900S\" endTime=\"2026-01-05T00:15:00Z\"/>\
         {types}<measValue measObjLdn=\"Cell=1\">{values}</measValue>\
         </measInfo></measData></measCollecFile>"
    )
}

/// An inbox in `dir` holding one file of node `ne1` whose counters have the given
/// names ([`file_with_counters`]).
pub fn inbox_with_counters(dir: &Path, names: &[&str]) -> PathBuf {
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let xml = file_with_counters(names);
    std::fs::write(inbox.join("A20260105.0000+0000-0015+0000_ne1.xml"), xml).unwrap();
    inbox
}

/// Counter names that break a statement spliced together from them: a statement
/// separator with a comment, quotes of each kind, names equal but for case.
pub const HOSTILE_COUNTER_NAMES: [&str; 7] = [
    "x`; DROP TABLE canary; --",
    "a'b",
    "c\"d",
    "e;f",
    "g--h",
    "pmFoo",
    "PMFOO",
];

/// Output names of the shipped SQL rules (`sql/*/*.sql`): derived tables, not
/// measurement tables.
pub const RULE_OUTPUTS: [&str; 5] = [
    "lte_rrc_setup_sr",
    "nr_rrc_setup_sr",
    "nr_dl_prb_utilisation",
    "amf_registration_sr",
    "smf_pdu_session_sr",
];

/// Stages a copy of every dataset file of `system` into `dir`.
pub fn stage_dataset(dir: &Path, system: &str) {
    let files: Vec<_> = names_in(&dataset(system))
        .iter()
        .map(|n| dataset(system).join(n))
        .collect();
    stage(dir, &files);
}

/// The arguments of `pmflow ingest` of `inbox` as `system` into `sink` (and the
/// archive when given).
pub fn ingest_args(inbox: &Path, system: &str, sink: &str, archive: Option<&Path>) -> Vec<String> {
    let mut args: Vec<String> = [
        "ingest",
        inbox.to_str().unwrap(),
        "--system",
        system,
        "--sink",
        sink,
    ]
    .map(String::from)
    .into();
    if let Some(archive) = archive {
        args.extend(["--archive".to_string(), archive.display().to_string()]);
    }
    args
}

/// `pmflow ingest` as [`ingest_args`] says, checked to succeed; its stdout.
pub fn ingest_into(inbox: &Path, system: &str, sink: &str, archive: Option<&Path>) -> String {
    pmflow_ok(&ingest_args(inbox, system, sink, archive))
}

/// A database a test queries through the server's command-line client.
pub trait QueryClient {
    /// The client's tab-separated output of `sql`, or its error message.
    fn try_query(&self, sql: &str) -> Result<String, String>;

    /// Rows of a query, each row's fields joined by tabs.
    fn rows(&self, sql: &str) -> Vec<String> {
        self.try_query(sql)
            .unwrap_or_else(|e| panic!("{}: {e}", sql.chars().take(300).collect::<String>()))
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The single value of a query.
    fn value(&self, sql: &str) -> String {
        let rows = self.rows(sql);
        assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
        rows.into_iter().next().unwrap()
    }
}
