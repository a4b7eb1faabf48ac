//! A cycle over settled files with the settle rule (the default) and without it
//! (`--no-settle`), in the same run: what waiting for files still being written costs
//! when none is.
//!
//! Generates `PMFLOW_BENCH_FILES` (default 200) 5ga files of large nodes; each round
//! copies them into a fresh local inbox, dated an hour ago (settled long since, as
//! files collected on schedule are), and runs one cycle into a fresh Parquet archive,
//! once per mode, alternating for `PMFLOW_BENCH_ROUNDS` (default 3) rounds. Prints
//! files/s of each mode's best round and their ratio.
//!
//! ```text
//! source scripts/env.sh && cargo bench --bench cycle
//! ```

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use pmflow::config::{Overrides, SystemPlan};
use pmflow::pipeline::Pipeline;
use tokio_util::sync::CancellationToken;

/// Copies `files` into `inbox`, each last modified an hour ago.
fn stage_settled(inbox: &Path, files: &[PathBuf]) {
    std::fs::create_dir_all(inbox).expect("inbox");
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for file in files {
        let to = inbox.join(file.file_name().expect("a name"));
        std::fs::copy(file, &to).expect("copy");
        std::fs::File::options()
            .write(true)
            .open(&to)
            .and_then(|f| f.set_modified(an_hour_ago))
            .expect("set the modification time");
    }
}

/// One cycle over `files` staged in `dir`; the time it took.
fn cycle(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    files: &[PathBuf],
    settle: bool,
) -> Duration {
    let inbox = dir.join("inbox");
    stage_settled(&inbox, files);
    let overrides = Overrides {
        system: Some("5ga".into()),
        source: Some(inbox.display().to_string()),
        archive: Some(dir.join("archive").display().to_string()),
        no_settle: !settle,
        ..Overrides::default()
    };
    let plan = SystemPlan::resolve(None, overrides).expect("plan");
    runtime.block_on(async {
        let pipeline = Pipeline::build(&plan).await.expect("pipeline");
        let started = Instant::now();
        let stats = pipeline
            .run_cycle(&|_| {}, &CancellationToken::new())
            .await
            .expect("cycle");
        let time = started.elapsed();
        assert_eq!(stats.done, files.len() as u64, "every file done");
        time
    })
}

fn main() {
    let count = common::setting("PMFLOW_BENCH_FILES", 200);
    let rounds = common::setting("PMFLOW_BENCH_ROUNDS", 3);
    let generated = tempfile::tempdir().expect("temporary folder");
    let files = common::large_node_files(generated.path(), count);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut best = [Duration::MAX; 2];
    for round in 0..rounds {
        for (mode, settle) in [(0, true), (1, false)] {
            let dir = tempfile::tempdir().expect("temporary folder");
            let time = cycle(&runtime, dir.path(), &files, settle);
            println!(
                "round {round}: settle {}: {:.3} s",
                if settle { "on " } else { "off" },
                time.as_secs_f64()
            );
            best[mode] = best[mode].min(time);
        }
    }
    let rate = |time: Duration| files.len() as f64 / time.as_secs_f64();
    println!(
        "cycle over {} settled files: settle on {:.1} files/s, off {:.1} files/s; ratio on/off {:.3}",
        files.len(),
        rate(best[0]),
        rate(best[1]),
        rate(best[0]) / rate(best[1])
    );
}
