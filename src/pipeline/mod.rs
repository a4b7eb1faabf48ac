//! Wiring: one cycle of one system, from source to sinks to completion.
//!
//! ```text
//! list (again, while files settle) ─► fetch (twice `workers.parse` at once)
//!      ─► decompress + parse (`workers.parse` at once, each file on a task of its own;
//!      on the blocking pool, but small uncompressed files in place)
//!      ─► bounded queue (`workers.queue` parsed files)
//!      ─► align + rules (`workers.deliver` files at once)
//!      ─► every sink, each taking as many files at once as it asks for
//!         ([`Sink::files_at_once`], else `workers.deliver`) ─► tracker
//! ```
//!
//! Files in memory are bounded by the queue, the files being planned, and the most
//! files any sink takes at once, and by an estimate of the bytes they hold
//! ([`memory`]: `workers.memory_mb`). The same stages run over a cluster's tasks
//! ([`Pipeline::process`]).

mod delivery;
mod held;
mod intake;
mod memory;
mod read;
pub mod stats;
pub mod tracker;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use futures::{Stream, StreamExt, stream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::archive::{Archive, ArchiveError};
use crate::config::{ConfigError, SourceSpec, SystemPlan, Workers};
use crate::format::parts::{Part, PartStream};
use crate::format::{FormatChoice, ParsedFile, PartLimits, Rows};
use crate::plan::Rule;
use crate::sink::{PlannedFile, Sink};
use crate::source::settle::{Observations, SettleRules};
use crate::source::{Completion, FtpSource, LocalDirSource, Source, SourceError, SourceFile};
use crate::telemetry;

pub use delivery::{Delivery, build_sinks, derived_rows};
use held::HeldFiles;
use memory::MemoryBudget;
use read::{FETCH_AHEAD, Fetched, FileReader, ParseFailure, no_measurements};
pub use stats::{CycleStats, FileOutcome, FileReport};
use tracker::{Settlement, settle};

/// What a running cycle reports as it goes, for progress bars and logs.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// The source listed this many more files to take (a cycle may list again while
    /// files settle).
    Listed(u64),
    /// One file is finished (done, failed or held).
    Finished(&'a FileReport),
}

/// A pipeline could not be built from its plan.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The plan is not runnable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The source cannot be set up from its settings (e.g. an unusable CA file).
    #[error("source {source_name}: {message}")]
    Source {
        source_name: String,
        message: String,
    },
    /// The archive could not be opened or read.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A sink cannot be made from its configuration (e.g. invalid client options).
    #[error("sink {sink}: {message}")]
    Sink {
        /// The sink, described without secrets.
        sink: String,
        /// What its client library said.
        message: String,
    },
}

/// A file ready for its sinks after the plan stage: its first (or only) part planned,
/// and a large file's further parts.
struct Planned {
    file: SourceFile,
    report: FileReport,
    planned: PlannedFile,
    more: Option<PartsAhead>,
    /// The file's share of the memory budget, given back once it is finished.
    memory: OwnedSemaphorePermit,
}

/// A large file's parts still to deliver, read one ahead so that every part is
/// known to be the last or not before it is written (a sink that stores a file in
/// one transaction commits with its last part).
struct PartsAhead {
    next: Part,
    stream: PartStream,
}

impl PartsAhead {
    /// The parts after `stream`'s next one, if any: `Ok(None)` when the stream ends.
    async fn after(mut stream: PartStream) -> Result<Option<Self>, Option<String>> {
        match stream.next().await {
            None => Ok(None),
            Some(Ok(next)) => Ok(Some(Self { next, stream })),
            Some(Err(error)) => Err(Some(error)),
        }
    }
}

/// What a pipeline is made of.
pub struct Parts {
    /// The system's name.
    pub system: String,
    /// Where files come from.
    pub source: Arc<dyn Source>,
    /// When a listed file is complete enough to take.
    pub settle: SettleRules,
    /// The format files are read in.
    pub format: FormatChoice,
    /// Files larger than this, decompressed, are quarantined.
    pub max_file_bytes: u64,
    /// Whether a file without any measurement completes instead of being quarantined.
    pub allow_empty: bool,
    /// Which files are read in parts, and how large the parts are (whether they are
    /// checked first is the sinks' business: [`Sink::stages_parts`]).
    pub part_limits: PartLimits,
    /// The sinks, each with whether the plan requires it.
    pub sinks: Vec<(Arc<dyn Sink>, bool)>,
    /// The tables' current schemas, which batches are aligned to.
    pub schemas: HashMap<String, SchemaRef>,
    /// The SQL rules.
    pub rules: Vec<Rule>,
    /// Concurrency.
    pub workers: Workers,
}

/// Everything one system needs to run cycles.
pub struct Pipeline {
    /// The system, its source and how its files are read.
    reader: Arc<FileReader>,
    /// When a listed file is complete enough to take.
    settle: SettleRules,
    /// What the source's listings saw, across cycles.
    observations: Mutex<Observations>,
    /// Since when files have been held back, across cycles.
    held: Mutex<HeldFiles>,
    /// The sinks, and the schemas and rules files are planned with.
    delivery: Delivery,
    /// What the files in flight may hold.
    memory: MemoryBudget,
    workers: Workers,
}

impl Pipeline {
    /// Builds the pipeline of a plan: opens sinks, loads rules, and seeds the schema
    /// registry with the archive's current table schemas.
    pub async fn build(plan: &SystemPlan) -> Result<Self, BuildError> {
        let source: Arc<dyn Source> = match plan.require_runnable()? {
            SourceSpec::Local(dir) => Arc::new(
                LocalDirSource::new(dir, plan.include.clone(), plan.scan_ttl).map_err(
                    |message| BuildError::Source {
                        source_name: dir.display().to_string(),
                        message,
                    },
                )?,
            ),
            SourceSpec::Ftp(settings) => Arc::new(
                FtpSource::new((**settings).clone(), plan.include.clone(), plan.scan_ttl).map_err(
                    |message| BuildError::Source {
                        source_name: settings.redacted.clone(),
                        message,
                    },
                )?,
            ),
        };
        let schemas = match plan.archive_url() {
            Some(url) => {
                Archive::open(url)?
                    .table_schemas(Some(&plan.system))
                    .await?
            }
            None => Default::default(),
        };
        let sinks = delivery::build_sinks(&plan.system, &plan.sinks).await?;
        Ok(Self::new(Parts {
            system: plan.system.clone(),
            source,
            settle: plan.settle,
            format: plan.format.clone(),
            max_file_bytes: plan.max_file_bytes,
            allow_empty: plan.allow_empty,
            part_limits: plan.part_limits,
            sinks,
            schemas,
            rules: plan.rules.clone(),
            workers: plan.workers,
        }))
    }

    /// A pipeline of parts made elsewhere: [`Pipeline::build`]'s, or a test's
    /// in-memory sources and sinks.
    pub fn new(parts: Parts) -> Self {
        // Parts may go out unchecked only when every sink keeps them invisible until
        // the file's last part.
        let every_sink_stages = parts.sinks.iter().all(|(sink, _)| sink.stages_parts());
        let part_limits = PartLimits {
            check_first: !every_sink_stages,
            ..parts.part_limits
        };
        let delivery = Delivery::new(
            parts.system.clone(),
            parts.sinks,
            parts.schemas,
            parts.rules,
            parts.workers.deliver,
        );
        Self {
            reader: Arc::new(FileReader {
                system: parts.system,
                source: parts.source,
                format: parts.format,
                max_file_bytes: parts.max_file_bytes,
                allow_empty: parts.allow_empty,
                part_limits,
                parsing: Semaphore::new(parts.workers.parse),
            }),
            settle: parts.settle,
            observations: Mutex::default(),
            held: Mutex::default(),
            delivery,
            memory: MemoryBudget::new(parts.workers.memory),
            workers: parts.workers,
        }
    }

    /// Runs one cycle over every file the source lists once it has settled, telling
    /// `progress` how many files were taken and when each one is finished.
    ///
    /// Once `stop` is cancelled no further file is fetched; files already fetched are
    /// delivered and completed, and the rest stay in the inbox (counted as held).
    pub async fn run_cycle(
        &self,
        progress: &(dyn Fn(Progress<'_>) + Sync),
        stop: &CancellationToken,
    ) -> Result<CycleStats, SourceError> {
        let started = Instant::now();
        let listing = match self.reader.source.list().await {
            Ok(files) => files,
            Err(error) => {
                telemetry::cycle_failed(&self.reader.system, started.elapsed());
                return Err(error);
            }
        };
        let mut stats = CycleStats {
            system: self.reader.system.clone(),
            ..CycleStats::default()
        };
        telemetry::cycle_started(&self.reader.system);
        let (files_tx, files_rx) = mpsc::unbounded_channel::<SourceFile>();
        let announce = |files: usize| self.announce(files as isize);
        let intake = intake::take_settled(self, listing, files_tx, &announce, progress, stop);
        let files = stream::unfold(files_rx, |mut rx| async move {
            let file = rx.recv().await?;
            Some((file, rx))
        });
        let mut held = Vec::new();
        let process = self.process(files, stop, |report| {
            stats.add(&report);
            progress(Progress::Finished(&report));
            if report.outcome == FileOutcome::Held {
                held.push(report.file);
            }
        });
        let (intake, left) = futures::join!(intake, process);
        stats.scanned = intake.taken + intake.unsettled;
        stats.unsettled = intake.unsettled;
        if !left.is_empty() {
            self.announce(-(left.len() as isize));
            debug!(
                files = left.len(),
                "stopping: files left for the next cycle"
            );
        }
        for file in &left {
            let report = FileReport {
                file: file.path(),
                outcome: FileOutcome::Held,
                ..FileReport::default()
            };
            stats.add(&report);
            telemetry::file_finished(&self.reader.system, &report);
            held.push(report.file);
        }
        stats.oldest_held = self
            .held
            .lock()
            .expect("held files are never poisoned: updating cannot panic")
            .update(held, Instant::now());
        stats.wall = started.elapsed();
        telemetry::cycle_finished(&stats);
        Ok(stats)
    }

    /// Lists the source and sends its files into `files` as they settle, as a cycle's
    /// intake does, without processing them: what a cluster's leader hands out as
    /// tasks ([`crate::cluster`]). Ends when every listed file was sent, `settle_max`
    /// passed, or `stop` is cancelled.
    pub async fn list_settled(
        &self,
        files: mpsc::UnboundedSender<SourceFile>,
        stop: &CancellationToken,
    ) -> Result<(), SourceError> {
        let listing = self.reader.source.list().await?;
        let announce = |_: usize| {};
        intake::take_settled(self, listing, files, &announce, &|_| {}, stop).await;
        Ok(())
    }

    /// Fetches, parses, plans and delivers every file of `files` — a cycle's intake,
    /// or the tasks a cluster node is given — calling `finished` with each file's
    /// report as it ends. Each file must have been announced to the sinks
    /// ([`Pipeline::announce`]) before it is sent. Once `stop` is cancelled no
    /// further file is fetched; the files not fetched are returned.
    pub async fn process(
        &self,
        files: impl Stream<Item = SourceFile>,
        stop: &CancellationToken,
        mut finished: impl FnMut(FileReport),
    ) -> Vec<SourceFile> {
        let (tx, rx) = mpsc::channel::<(Fetched, OwnedSemaphorePermit)>(self.workers.queue);
        // A fetch starts only once its file has a place in the queue and its share of
        // the memory budget, so a started download is never left half-read (holding
        // a source connection) while the queue is full.
        let parse_stage = files
            .map(move |file| {
                let tx = tx.clone();
                async move {
                    let slot = tokio::select! {
                        biased;
                        () = stop.cancelled() => None,
                        slot = tx.reserve_owned() => slot.ok(),
                    };
                    let Some(slot) = slot else {
                        return Some(file);
                    };
                    match self.take_memory(&file, stop).await {
                        Some(memory) if !stop.is_cancelled() => {
                            slot.send((self.reader.read(file).await, memory));
                            None
                        }
                        _ => Some(file),
                    }
                }
            })
            .buffer_unordered(self.workers.parse * FETCH_AHEAD)
            .filter_map(|left| async move { left })
            .collect::<Vec<SourceFile>>();
        let queued = stream::unfold(rx, |mut rx| async move {
            let fetched = rx.recv().await?;
            Some(((fetched, rx.len()), rx))
        })
        .map(|(fetched, depth)| {
            telemetry::queue_depth(&self.reader.system, depth);
            fetched
        });
        let deliver_stage = queued
            .map(|(fetched, memory)| self.plan_fetched(fetched, memory))
            .buffer_unordered(self.workers.deliver)
            .map(|planned| async move {
                match planned {
                    Ok(planned) => self.deliver(planned).await,
                    Err(finished) => {
                        self.announce(-1);
                        finished
                    }
                }
            })
            .buffer_unordered(self.delivery.in_flight())
            .for_each(|report| {
                telemetry::file_finished(&self.reader.system, &report);
                finished(report);
                async {}
            });
        let (left, ()) = futures::join!(parse_stage, deliver_stage);
        left
    }

    /// Checks that the source and every required sink answer; what is wrong, if
    /// anything (empty = ready).
    pub async fn probe(&self) -> Vec<String> {
        let source = async {
            self.reader
                .source
                .probe()
                .await
                .err()
                .map(|e| e.to_string())
        };
        let (source, sinks) = futures::join!(source, self.delivery.probe());
        source.into_iter().chain(sinks).collect()
    }

    /// Each sink's kind and whether it is required: the labels of its metrics.
    pub fn sink_labels(&self) -> Vec<(&'static str, bool)> {
        self.delivery.sink_labels()
    }

    /// How many files [`Pipeline::process`] works on at once (fetching, queued,
    /// delivering): what a feeder that can hand files to others should give it.
    pub fn files_at_once(&self) -> usize {
        self.workers.parse * FETCH_AHEAD + self.workers.queue + self.workers.deliver
    }

    /// The source, described without secrets.
    pub fn source_name(&self) -> String {
        self.reader.source.describe()
    }

    /// The system this pipeline runs.
    pub fn system(&self) -> &str {
        &self.reader.system
    }

    /// Tells every sink that `files` more files are on their way to it (negative:
    /// files announced that will not come), so that sinks that write files together
    /// wait for them.
    pub fn announce(&self, files: isize) {
        self.delivery.announce(files);
    }

    /// `file`'s share of the memory budget, or `None` when `stop` came first. While
    /// a file waits for it, the sinks write what they hold without waiting for more
    /// (see [`memory`]).
    async fn take_memory(
        &self,
        file: &SourceFile,
        stop: &CancellationToken,
    ) -> Option<OwnedSemaphorePermit> {
        if let Some(memory) = self.memory.try_take(file) {
            return Some(memory);
        }
        self.delivery.hold_back(1);
        let memory = tokio::select! {
            biased;
            () = stop.cancelled() => None,
            memory = self.memory.take(file) => Some(memory),
        };
        self.delivery.hold_back(-1);
        memory
    }

    /// Plans a parsed file; a file that failed to fetch or parse is finished here
    /// (held, or quarantined) and its report returned as the error.
    async fn plan_fetched(
        &self,
        fetched: Fetched,
        memory: OwnedSemaphorePermit,
    ) -> Result<Planned, FileReport> {
        let Fetched {
            file,
            mut report,
            result,
        } = fetched;
        let (file_id, rows) = match result {
            Ok(read) => read,
            Err(ParseFailure::Fetch(error)) if error.error.kind() == ErrorKind::NotFound => {
                debug!(%error, "the file is gone: another process completed it");
                report.outcome = FileOutcome::Gone;
                return Err(report);
            }
            Err(ParseFailure::Fetch(error)) => return Err(held(report, &file, error.to_string())),
            Err(ParseFailure::Interrupted(reason)) => return Err(held(report, &file, reason)),
            Err(ParseFailure::Invalid(reason)) => {
                return Err(self.quarantine(report, &file, reason).await);
            }
        };
        let (first, more) = match rows {
            Rows::Whole(parsed) => (Part::Whole(parsed), None),
            Rows::Parts(mut parts) => match parts.next().await {
                Some(Ok(Part::Next(first))) => match PartsAhead::after(parts).await {
                    Ok(more) => (Part::Next(first), more),
                    Err(error) => {
                        return Err(self.parts_failed(report, &file, &file_id, error).await);
                    }
                },
                Some(Ok(whole)) => (whole, None),
                failed => {
                    let error = failed.and_then(Result::err);
                    return Err(self.parts_failed(report, &file, &file_id, error).await);
                }
            },
        };
        let (Part::Next(parsed) | Part::Whole(parsed)) = first;
        let planned = self
            .plan_part(&file, &file_id, (0, more.is_none()), parsed, &mut report)
            .await;
        Ok(Planned {
            file,
            report,
            planned,
            more,
            memory,
        })
    }

    /// Plans part `part` of a file (part 0 and last of a file delivered whole),
    /// counting its rows, time and warnings into `report`.
    async fn plan_part(
        &self,
        file: &SourceFile,
        file_id: &str,
        (part, last_part): (u32, bool),
        parsed: ParsedFile,
        report: &mut FileReport,
    ) -> PlannedFile {
        let started = Instant::now();
        report.rows += parsed.rows() as u64;
        report.counter_values += parsed.counter_values;
        let (planned, warnings) = self
            .delivery
            .plan(&file.name, file_id.to_string(), part, last_part, parsed)
            .await;
        report.plan += started.elapsed();
        report.warnings += warnings;
        report.derived_rows += derived_rows(&planned);
        planned
    }

    /// Writes a planned file to every sink — a large file part after part, until a
    /// required sink fails — and completes it as the tracker decides.
    async fn deliver(&self, planned: Planned) -> FileReport {
        let Planned {
            file,
            mut report,
            planned,
            mut more,
            memory: _memory,
        } = planned;
        let started = Instant::now();
        let mut answers = self.delivery.write(&planned).await;
        let (file_id, mut part) = (planned.file_id.clone(), planned.part);
        drop(planned);
        while let Some(PartsAhead { next, stream }) = more {
            if answers.iter().any(|a| a.required && a.result.is_err()) {
                break;
            }
            let (parsed, restart) = match next {
                Part::Next(parsed) => (parsed, false),
                Part::Whole(parsed) => (parsed, true),
            };
            more = match restart {
                true => None,
                false => match PartsAhead::after(stream).await {
                    Ok(more) => more,
                    Err(error) => return self.parts_failed(report, &file, &file_id, error).await,
                },
            };
            part = match restart {
                // The whole file replaces the parts delivered before.
                true => {
                    (report.rows, report.counter_values, report.derived_rows) = (0, 0, 0);
                    0
                }
                false => part + 1,
            };
            let planned = self
                .plan_part(&file, &file_id, (part, more.is_none()), parsed, &mut report)
                .await;
            let written = self.delivery.write(&planned).await;
            for (answer, next) in answers.iter_mut().zip(written) {
                if restart || answer.result.is_ok() {
                    *answer = next;
                }
            }
        }
        report.sink = started.elapsed();
        // Only a file read in parts gets here without rows it should have.
        if report.rows == 0 && !self.reader.allow_empty {
            return self
                .quarantine(report, &file, no_measurements(&file.name))
                .await;
        }
        match settle(answers) {
            Settlement::Complete { optional_failures } => {
                for failure in &optional_failures {
                    warn!(file = file.name, failure, "optional sink failed");
                }
                report.warnings += optional_failures.len() as u64;
                report.outcome = self.finish(&file, &Completion::Done).await;
                report
            }
            Settlement::Hold { reasons } => {
                for reason in &reasons {
                    warn!(
                        file = file.name,
                        reason, "required sink failed; the file stays for the next cycle"
                    );
                }
                report.outcome = FileOutcome::Held;
                report.reason = Some(reasons.join("; "));
                report
            }
            Settlement::Reject { reason } => self.quarantine(report, &file, reason).await,
        }
    }

    /// A large file whose parts could not all be read. Checked first, its content
    /// was read through before, so only the machine can be at fault: it stays for
    /// the next cycle, which delivers it again from its first part. Unchecked, the
    /// file itself is broken: the sinks forget the parts they staged, and the file is
    /// quarantined.
    async fn parts_failed(
        &self,
        report: FileReport,
        file: &SourceFile,
        file_id: &str,
        error: Option<String>,
    ) -> FileReport {
        let error = error.unwrap_or_else(|| format!("{}: the parts ended early", file.name));
        if self.reader.part_limits.check_first {
            return held(report, file, format!("reading parts failed: {error}"));
        }
        self.delivery.drop_parts(file_id);
        self.quarantine(report, file, error).await
    }

    /// Moves a file to `Failed/` for `reason` (or holds it when it cannot be moved).
    async fn quarantine(
        &self,
        mut report: FileReport,
        file: &SourceFile,
        reason: String,
    ) -> FileReport {
        warn!(file = file.name, reason, "quarantining file");
        report.outcome = self.finish(file, &Completion::Failed(reason.clone())).await;
        report.reason = Some(reason);
        report
    }

    /// Completes a file; how it ended (held when it could not be moved).
    async fn finish(&self, file: &SourceFile, completion: &Completion) -> FileOutcome {
        match (self.complete(file, completion).await, completion) {
            (false, _) => FileOutcome::Held,
            (true, Completion::Done) => FileOutcome::Done,
            (true, Completion::Failed(_)) => FileOutcome::Failed,
        }
    }

    /// Moves a file out of the inbox; `false` when that failed (it stays for the next
    /// cycle, where it is rewritten idempotently).
    async fn complete(&self, file: &SourceFile, completion: &Completion) -> bool {
        match self.reader.source.complete(file, completion).await {
            Ok(()) => {
                debug!(file = file.name, ?completion, "completed");
                true
            }
            Err(error) => {
                warn!(%error, "cannot complete file; it stays for the next cycle");
                false
            }
        }
    }
}

/// A file that stays in its folder for the next cycle, for `reason` (of this process
/// or of the moment, not of the file).
fn held(mut report: FileReport, file: &SourceFile, reason: String) -> FileReport {
    warn!(
        file = file.name,
        reason, "the file stays for the next cycle"
    );
    report.outcome = FileOutcome::Held;
    report.reason = Some(reason);
    report
}

#[cfg(test)]
mod tests;
