//! FTP source throughput against minimal FTP clients, in the same run.
//!
//! Stages `PMFLOW_BENCH_FILES` (default 200) generated 5ga files of large nodes in
//! three folders of a private vsftpd (started with `scripts/ftp.sh`), then collects
//! each folder once, timing list + download + move into `Done/` of every file:
//!
//! - pmflow's `FtpSource` with its pool of 4 sessions, 4 files at once (what a
//!   pipeline with `workers.parse = 4` does);
//! - baseline 1: one plain session, file after file (what a script does);
//! - baseline 4: four plain sessions, each taking a quarter of the files.
//!
//! Prints files/s and MB/s of each and the ratios.
//!
//! ```text
//! source scripts/env.sh && cargo bench --bench ftp_source
//! ```

mod common;

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use pmflow::source::ftp::FtpSettings;
use pmflow::source::{
    Completion, DEFAULT_TEMPORARY_NAMES, FtpSource, NameFilter, Source, scan_paths,
};
use suppaftp::tokio::AsyncRustlsFtpStream;
use suppaftp::types::FileType;
use tokio::io::AsyncReadExt;

/// Sessions of the pool and of the parallel baseline.
const SESSIONS: usize = 4;

/// pmflow's source: list, then fetch and complete `SESSIONS` files at once.
async fn with_source(port: u16, folder: &str) -> u64 {
    let url = format!("ftp://anonymous@127.0.0.1:{port}/pm/{folder}?pool={SESSIONS}");
    let settings = FtpSettings::from_url(&url).expect("URL");
    let filter = NameFilter::new(&[], &DEFAULT_TEMPORARY_NAMES).expect("filter");
    let source = FtpSource::new(settings, filter, scan_paths::DEFAULT_TTL).expect("source");
    let files = source.list().await.expect("list");
    stream::iter(files)
        .map(|file| {
            let source = &source;
            async move {
                let bytes = source.fetch(&file).await.expect("fetch");
                source
                    .complete(&file, &Completion::Done)
                    .await
                    .expect("complete");
                bytes.len() as u64
            }
        })
        .buffer_unordered(SESSIONS)
        .fold(0, |total, bytes| async move { total + bytes })
        .await
}

/// A minimal client: `sessions` plain sessions, each downloading and moving its share
/// of the folder's files one after another.
async fn minimal_clients(port: u16, folder: &str, sessions: usize) -> u64 {
    let path = format!("/pm/{folder}");
    let mut ftp = login(port).await;
    let names = ftp.nlst(Some(&path)).await.expect("NLST");
    ftp.mkdir(format!("{path}/Done")).await.expect("MKD");
    let names: Vec<String> = names
        .into_iter()
        .map(|n| n.rsplit('/').next().unwrap_or(&n).to_string())
        .filter(|n| n != "Done")
        .collect();
    let shares: Vec<Vec<String>> = (0..sessions)
        .map(|s| names.iter().skip(s).step_by(sessions).cloned().collect())
        .collect();
    let totals = futures::future::join_all(shares.into_iter().map(|share| {
        let path = path.clone();
        async move {
            let mut ftp = login(port).await;
            let mut total = 0;
            for name in share {
                let from = format!("{path}/{name}");
                let mut stream = ftp.retr_as_stream(&from).await.expect("RETR");
                let mut bytes = Vec::new();
                stream.read_to_end(&mut bytes).await.expect("read");
                stream.finish().await.expect("end of RETR");
                ftp.rename(&from, &format!("{path}/Done/{name}"))
                    .await
                    .expect("RNFR/RNTO");
                total += bytes.len() as u64;
            }
            total
        }
    }))
    .await;
    totals.iter().sum()
}

async fn login(port: u16) -> AsyncRustlsFtpStream {
    let mut ftp = AsyncRustlsFtpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .expect("connect");
    ftp.login("anonymous", "").await.expect("login");
    ftp.transfer_type(FileType::Binary).await.expect("TYPE I");
    ftp
}

fn report(name: &str, files: usize, bytes: u64, time: Duration) -> f64 {
    let secs = time.as_secs_f64();
    let rate = files as f64 / secs;
    println!(
        "{name:<34} {rate:>8.1} files/s  {:>7.1} MB/s  ({files} files, {:.1} MB, {secs:.2} s)",
        bytes as f64 / 1e6 / secs,
        bytes as f64 / 1e6
    );
    rate
}

fn main() {
    let count = common::setting("PMFLOW_BENCH_FILES", 200);
    let generated = tempfile::tempdir().expect("temporary folder");
    let files = common::large_node_files(generated.path(), count);
    let server = common::ftp::FtpServer::start(0);
    for folder in ["source", "one", "four"] {
        server.stage(folder, &files);
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let timed = |folder: &str, run: &dyn Fn() -> u64| {
        let started = Instant::now();
        let bytes = run();
        let time = started.elapsed();
        assert_eq!(
            server.done(folder),
            files.len(),
            "{folder}: every file moved"
        );
        (bytes, time)
    };
    let (bytes, time) = timed("source", &|| {
        runtime.block_on(with_source(server.port, "source"))
    });
    let source = report("pmflow FtpSource (pool of 4)", files.len(), bytes, time);
    let (bytes, time) = timed("one", &|| {
        runtime.block_on(minimal_clients(server.port, "one", 1))
    });
    let one = report("minimal client, 1 session", files.len(), bytes, time);
    let (bytes, time) = timed("four", &|| {
        runtime.block_on(minimal_clients(server.port, "four", SESSIONS))
    });
    let four = report("minimal client, 4 sessions", files.len(), bytes, time);
    println!(
        "ratio pmflow / 1 session: {:.2}; pmflow / 4 sessions: {:.2}",
        source / one,
        source / four
    );
}
