//! Cluster mode's scaling: files/s of one system with 1, 2 and 3 `pmflow run` nodes
//! when downloads are slow, reported as ratios to one node, in the same run.
//!
//! A private vsftpd (`scripts/ftp.sh`) throttles every session to
//! `PMFLOW_BENCH_RATE` bytes/s (default 20,000: the work is latency-bound, as with
//! remote sites); `PMFLOW_BENCH_FILES` (default 240) generated 5ga files (~14 KB) are
//! staged once every node of the round has its task partitions, and the round ends
//! when all of them are in `Done/`. Each round has a fresh tansu broker (`tansu` from
//! `scripts/kafka.sh`), its own ZooKeeper chroot on the shared server
//! (`scripts/zookeeper.sh`, or `PMFLOW_TEST_ZOOKEEPER`) and its own archive; every
//! node has 2 parse workers (concurrent downloads).
//!
//! ```text
//! source scripts/env.sh && scripts/zookeeper.sh && cargo bench --bench cluster_scaling
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::ftp::FtpServer;
use pmflow::generator::{GenFormat, GenOptions, GenSystem, default_start, generate};

/// How long a round may take before the benchmark gives up.
const ROUND_TIMEOUT: Duration = Duration::from_secs(600);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Kills a child process when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a tansu broker in memory and waits until it listens.
fn broker(port: u16) -> Process {
    let address = format!("tcp://127.0.0.1:{port}");
    let child = Command::new("tansu")
        .args(["broker", "--listener-url", &address])
        .args(["--advertised-listener-url", &address])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tansu runs (install it with scripts/kafka.sh)");
    let process = Process(child);
    wait_until("tansu to listen", Duration::from_secs(30), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    process
}

/// Creates the ZooKeeper node `path` on `zookeeper`.
fn create_chroot(zookeeper: &str, path: &str) {
    use zookeeper_client::{Acls, Client, CreateMode};
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = Client::connect(zookeeper)
            .await
            .unwrap_or_else(|e| panic!("ZooKeeper at {zookeeper} (scripts/zookeeper.sh): {e}"));
        let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
        client.create(path, b"", &options).await.expect("chroot");
    });
}

fn wait_until(what: &str, timeout: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET path` of a node's HTTP endpoints; the body, if it answered.
fn get(http: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(http).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response.split_once("\r\n\r\n")?.1.to_string())
}

/// How many members with task partitions the node at `http` lists.
fn members_with_partitions(http: &str) -> usize {
    let Some(body) = get(http, "/api/v1/systems") else {
        return 0;
    };
    let Ok(systems) = serde_json::from_str::<serde_json::Value>(&body) else {
        return 0;
    };
    systems[0]["cluster"]["members"]
        .as_array()
        .map_or(0, |members| {
            members
                .iter()
                .filter(|m| m["partitions"].as_array().is_some_and(|p| !p.is_empty()))
                .count()
        })
}

/// Files the node at `http` completed, from its metrics.
fn processed(http: &str) -> u64 {
    let metrics = get(http, "/metrics").unwrap_or_default();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("pmflow_files_processed_total{system=\"5ga\"} "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// One round: `nodes` nodes collect `files` through `ftp`; the time from staging the
/// files to the last one in `Done/`, and how many files each node completed.
fn round(
    nodes: usize,
    files: &[PathBuf],
    ftp: &FtpServer,
    zookeeper: &str,
    dir: &Path,
) -> (Duration, Vec<u64>) {
    let broker_port = free_port();
    let _broker = broker(broker_port);
    let chroot = format!("/pmflow-bench-{}-{nodes}", std::process::id());
    create_chroot(zookeeper, &chroot);
    let folder = format!("round{nodes}");
    let inbox = ftp.folder(&folder);
    let plan = dir.join("plan.toml");
    std::fs::write(
        &plan,
        "system = \"5ga\"\n[source]\ninclude = [\"A*.xml\"]\n[workers]\nparse = 2\n",
    )
    .expect("plan");
    let archive = dir.join(format!("archive{nodes}"));
    let source = format!("ftp://anonymous@127.0.0.1:{}/pm/{folder}", ftp.port);
    let mut https = Vec::new();
    let _nodes: Vec<Process> = (0..nodes)
        .map(|_| {
            let http = format!("127.0.0.1:{}", free_port());
            let child = Command::new(env!("CARGO_BIN_EXE_pmflow"))
                .arg("run")
                .args(["--plan", plan.to_str().expect("utf-8")])
                .args(["--source", &source])
                .args(["--archive", archive.to_str().expect("utf-8")])
                .args(["--cron", "* * * * * *", "--initial-delay", "0"])
                .args(["--zookeeper", &format!("{zookeeper}{chroot}")])
                .args(["--cluster", &format!("kafka://127.0.0.1:{broker_port}")])
                .args(["--http", &http])
                .env("PMFLOW_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("pmflow run starts");
            https.push(http);
            Process(child)
        })
        .collect();
    wait_until("every node's partitions", Duration::from_secs(120), || {
        https
            .iter()
            .all(|http| members_with_partitions(http) == nodes)
    });
    let started = Instant::now();
    for file in files {
        let name = file.file_name().expect("a name");
        std::fs::copy(file, inbox.join(name)).expect("stage");
    }
    let done = inbox.join("Done");
    wait_until("every file in Done/", ROUND_TIMEOUT, || {
        std::fs::read_dir(&done).map_or(0, Iterator::count) == files.len()
    });
    let time = started.elapsed();
    (time, https.iter().map(|http| processed(http)).collect())
}

fn main() {
    let count = env_or("PMFLOW_BENCH_FILES", 240) as usize;
    let rate = env_or("PMFLOW_BENCH_RATE", 20_000);
    let zookeeper =
        std::env::var("PMFLOW_TEST_ZOOKEEPER").unwrap_or_else(|_| "127.0.0.1:2181".to_string());
    let dir = tempfile::tempdir().expect("temporary directory");
    let options = GenOptions {
        system: GenSystem::Nr,
        format: GenFormat::ThreeGppXml,
        nodes: count.div_ceil(2),
        rops: 2,
        scale: 1,
        seed: 7,
        gzip: false,
        start: default_start(),
    };
    let mut files = generate(&dir.path().join("generated"), &options, |_| {}).expect("generate");
    files.truncate(count);
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    println!(
        "{} files, {:.1} KB each on average, downloads throttled to {:.0} KB/s per session",
        files.len(),
        bytes as f64 / files.len() as f64 / 1e3,
        rate as f64 / 1e3
    );
    let ftp = FtpServer::start(rate);
    let mut one_node = None;
    for nodes in 1..=3 {
        let (time, per_node) = round(nodes, &files, &ftp, &zookeeper, dir.path());
        let files_per_second = files.len() as f64 / time.as_secs_f64();
        let base = *one_node.get_or_insert(files_per_second);
        println!(
            "{nodes} node(s): {:>6.2} s  {files_per_second:>6.2} files/s  {:.2}x one node  \
             (files per node: {per_node:?})",
            time.as_secs_f64(),
            files_per_second / base
        );
    }
}
