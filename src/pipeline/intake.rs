//! The cycle's stream of input files: the source's listing, sorted by the settle rule
//! ([`crate::source::settle`]), then listed again every `settle` while files are still
//! changing, up to `settle_max`. Settled files are sent on as soon as they are known,
//! so complete files never wait for the ones still being written.

use std::collections::HashSet;
use std::time::{Instant, SystemTime};

use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{Pipeline, Progress};
use crate::source::SourceFile;
use crate::telemetry;

/// What the intake of one cycle took and left.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Intake {
    /// Files sent on to be processed.
    pub taken: u64,
    /// Files still changing when the cycle stopped waiting for them.
    pub unsettled: u64,
}

/// Sends the settled files of `listing` (the cycle's first listing) into `files`, then
/// lists again until every listed file is taken, `settle_max` has passed, or `stop`
/// is cancelled. A file is sent once per cycle; `announce` learns how many files
/// are about to be sent before they are.
pub(super) async fn take_settled(
    pipeline: &Pipeline,
    mut listing: Vec<SourceFile>,
    files: UnboundedSender<SourceFile>,
    announce: &(dyn Fn(usize) + Sync),
    progress: &(dyn Fn(Progress<'_>) + Sync),
    stop: &CancellationToken,
) -> Intake {
    let rules = &pipeline.settle;
    let deadline = Instant::now() + rules.settle_max;
    let mut taken = HashSet::new();
    loop {
        let sorted = pipeline
            .observations
            .lock()
            .expect("observations are never poisoned: sorting cannot panic")
            .sort(
                rules,
                pipeline.reader.source.clock_error(),
                listing,
                Instant::now(),
                SystemTime::now(),
            );
        let new: Vec<SourceFile> = sorted
            .ready
            .into_iter()
            .filter(|file| taken.insert((file.folder.clone(), file.name.clone())))
            .collect();
        telemetry::settling(&pipeline.reader.system, sorted.waiting);
        if !new.is_empty() {
            telemetry::scanned(&pipeline.reader.system, new.len() as u64);
            progress(Progress::Listed(new.len() as u64));
            announce(new.len());
        }
        for file in new {
            // The receiver lives as long as the cycle's stages.
            let _ = files.send(file);
        }
        let intake = Intake {
            taken: taken.len() as u64,
            unsettled: sorted.waiting as u64,
        };
        let now = Instant::now();
        if intake.unsettled == 0 || now >= deadline {
            if intake.unsettled > 0 {
                debug!(
                    files = intake.unsettled,
                    "files still changing are left for the next cycle"
                );
            }
            return intake;
        }
        let wait = rules.settle.min(deadline - now);
        tokio::select! {
            () = stop.cancelled() => return intake,
            () = tokio::time::sleep(wait) => {}
        }
        listing = match pipeline.reader.source.list().await {
            Ok(listing) => listing,
            Err(error) => {
                warn!(%error, "listing again failed; files not yet settled wait for the next cycle");
                return intake;
            }
        };
    }
}
