//! Ingest with and without the completeness ledger, in the same run: after every
//! cycle the service computes the completeness of the last closed ROP from the
//! archive in the background (`completeness::last_closed_rop`), so it competes with
//! the next cycles for the cores. This measures what that costs ingest.
//!
//! `PMFLOW_BENCH_NODES` (default 200) 5ga nodes x `PMFLOW_BENCH_ROPS` (default 8)
//! ROPs of the last hours are generated; each round ingests them ROP by ROP, one
//! cycle per ROP, into a fresh archive, once without the ledger and once computing it
//! after every cycle as the service does, alternating for `PMFLOW_BENCH_ROUNDS`
//! (default 3) rounds. Prints files/s of each mode's best round and their ratio.
//!
//! ```text
//! source scripts/env.sh && cargo bench --bench completeness_overhead
//! ```

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DurationRound, TimeDelta, Utc};
use pmflow::archive::Archive;
use pmflow::completeness::last_closed_rop;
use pmflow::config::{Overrides, SystemPlan};
use pmflow::generator::{GenFormat, GenOptions, GenSystem, generate};
use pmflow::pipeline::Pipeline;
use tokio_util::sync::CancellationToken;

/// The generated files, by ROP (their names begin with the ROP's begin).
fn files_by_rop(out: &Path, nodes: usize, rops: usize) -> Vec<Vec<PathBuf>> {
    let quarter = TimeDelta::minutes(15);
    let now = Utc::now().duration_trunc(quarter).expect("a whole quarter");
    let options = GenOptions {
        system: GenSystem::Nr,
        format: GenFormat::ThreeGppXml,
        nodes,
        rops,
        scale: 1,
        seed: 5,
        gzip: false,
        // Every ROP closed (ended 30 minutes ago or earlier).
        start: now - quarter * rops as i32 - TimeDelta::hours(1),
    };
    let mut by_rop: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for path in generate(out, &options, |_| {}).expect("generate") {
        let name = path.file_name().expect("a name").to_string_lossy();
        by_rop.entry(name[..14].to_string()).or_default().push(path);
    }
    by_rop.into_values().collect()
}

/// Ingests the ROPs one cycle each into a fresh archive under `dir`, computing the
/// ledger after every cycle when `ledger` is set; the cycles' time.
fn ingest(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    by_rop: &[Vec<PathBuf>],
    ledger: bool,
) -> Duration {
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let archive = dir.join("archive").display().to_string();
    let overrides = Overrides {
        system: Some("5ga".into()),
        source: Some(inbox.display().to_string()),
        archive: Some(archive.clone()),
        no_settle: true,
        ..Overrides::default()
    };
    let plan = SystemPlan::resolve(None, overrides).expect("plan");
    runtime.block_on(async {
        let pipeline = Pipeline::build(&plan).await.expect("pipeline");
        let mut measured = Vec::new();
        let started = Instant::now();
        for files in by_rop {
            for file in files {
                std::fs::copy(file, inbox.join(file.file_name().expect("a name"))).expect("copy");
            }
            let stats = pipeline
                .run_cycle(&|_| {}, &CancellationToken::new())
                .await
                .expect("cycle");
            assert_eq!(stats.done, files.len() as u64);
            if ledger {
                let archive = archive.clone();
                measured.push(tokio::spawn(async move {
                    let archive = Archive::open(&archive).expect("archive");
                    let now = Utc::now().timestamp_micros();
                    last_closed_rop(&archive, "5ga", now, &Default::default()).await
                }));
            }
        }
        let time = started.elapsed();
        for task in measured {
            let last = task.await.expect("task").expect("completeness");
            assert!(last.is_some_and(|last| last.rop.expected == by_rop[0].len()));
        }
        time
    })
}

fn main() {
    let nodes = common::setting("PMFLOW_BENCH_NODES", 200);
    let rops = common::setting("PMFLOW_BENCH_ROPS", 8);
    let rounds = common::setting("PMFLOW_BENCH_ROUNDS", 3);
    let generated = tempfile::tempdir().expect("temporary folder");
    let by_rop = files_by_rop(generated.path(), nodes, rops);
    let files: usize = by_rop.iter().map(Vec::len).sum();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut best = [Duration::MAX; 2];
    for round in 0..rounds {
        for (mode, ledger) in [(0, false), (1, true)] {
            let dir = tempfile::tempdir().expect("temporary folder");
            let time = ingest(&runtime, dir.path(), &by_rop, ledger);
            println!(
                "round {round}: ledger {}: {:.3} s",
                if ledger { "on " } else { "off" },
                time.as_secs_f64()
            );
            best[mode] = best[mode].min(time);
        }
    }
    let rate = |time: Duration| files as f64 / time.as_secs_f64();
    println!(
        "{files} files in {rops} cycles: without the ledger {:.1} files/s, with it {:.1} files/s; ratio with/without {:.3}",
        rate(best[0]),
        rate(best[1]),
        rate(best[1]) / rate(best[0])
    );
}
