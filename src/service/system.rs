//! One system in the service: its schedule loop, its cycles (never two at once), and
//! the status `GET /api/v1/systems` reports.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::leader::Leadership;
use super::schedule::Schedule;
use crate::archive::Archive;
use crate::cluster::role::{ClusterRole, ClusterStatus};
use crate::completeness::{self, Expectations};
use crate::config::SystemPlan;
use crate::pipeline::{CycleStats, Pipeline};
use crate::sink::archive::config::ArchiveConfig;
use crate::telemetry;

/// Why a requested cycle did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Another process leads this system.
    #[error("this process does not lead the system")]
    NotLeader,
    /// The previous cycle still runs.
    #[error("a cycle is already running")]
    Busy,
    /// The service is stopping.
    #[error("the service is stopping")]
    Stopping,
}

/// What started a cycle.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// The initial run or a cron tick.
    Schedule,
    /// `POST /api/v1/systems/{name}/scan`.
    Request,
}

/// A system as `GET /api/v1/systems` shows it (no secrets: URLs are redacted).
#[derive(Debug, Clone, Serialize)]
pub struct SystemStatus {
    /// System name.
    pub system: String,
    /// Source, without password.
    pub source: String,
    /// Sinks, without passwords.
    pub sinks: Vec<String>,
    /// Cron expression.
    pub schedule: String,
    /// Whether this process leads the system.
    pub leader: bool,
    /// Whether a cycle runs now.
    pub running: bool,
    /// Cycles run since start.
    pub cycles: u64,
    /// Scheduled runs skipped because a cycle was still running.
    pub skipped_runs: u64,
    /// When the next scheduled run is due (RFC 3339, UTC).
    pub next_run: Option<String>,
    /// The last finished cycle.
    pub last_cycle: Option<CycleSummary>,
    /// Why the last cycle failed, if it did.
    pub last_error: Option<String>,
    /// The system's cluster, in cluster mode.
    pub cluster: Option<ClusterStatus>,
}

/// A finished cycle's statistics, for the status.
#[derive(Debug, Clone, Serialize)]
pub struct CycleSummary {
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// Wall-clock time.
    pub wall_seconds: f64,
    /// Files listed.
    pub scanned: u64,
    /// Files moved to `Done/`.
    pub done: u64,
    /// Files moved to `Failed/`.
    pub failed: u64,
    /// Files left for the next cycle.
    pub held: u64,
    /// Files still being written, left for the next cycle.
    pub unsettled: u64,
    /// Bytes fetched.
    pub bytes: u64,
    /// Rows parsed.
    pub rows: u64,
    /// Counter values parsed.
    pub counter_values: u64,
    /// Rows produced by the rules.
    pub derived_rows: u64,
    /// Rule and optional-sink errors.
    pub warnings: u64,
}

impl CycleSummary {
    fn new(started_at: DateTime<Utc>, stats: &CycleStats) -> Self {
        Self {
            started_at: rfc3339(started_at),
            wall_seconds: stats.wall.as_secs_f64(),
            scanned: stats.scanned,
            done: stats.done,
            failed: stats.failed,
            held: stats.held,
            unsettled: stats.unsettled,
            bytes: stats.totals.bytes,
            rows: stats.totals.rows,
            counter_values: stats.totals.counter_values,
            derived_rows: stats.totals.derived_rows,
            warnings: stats.totals.warnings,
        }
    }
}

/// The first tick of `schedule` after `after`, if the expression has any left: when it
/// is due on the monotonic clock, and its wall-clock time.
fn next_tick(schedule: &Schedule, after: DateTime<Utc>) -> Option<(Instant, DateTime<Utc>)> {
    let next = schedule.next_after(after)?;
    let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Some((Instant::now() + wait, next))
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Runs one system's cycles.
pub struct SystemRunner {
    pipeline: Pipeline,
    schedule: Schedule,
    /// When the system's archive tables are compacted, if ever.
    optimize: Option<Schedule>,
    /// The URLs of the system's archives.
    archives: Vec<String>,
    /// What completeness expects of the system (the plan's `[completeness]`).
    expectations: Expectations,
    leadership: Leadership,
    /// The system's share of a cluster, in cluster mode.
    cluster: Option<ClusterRole>,
    /// One permit: held by the running cycle.
    cycle: Arc<Semaphore>,
    stop: CancellationToken,
    status: Mutex<SystemStatus>,
}

impl SystemRunner {
    /// A runner for `plan`'s built `pipeline`; `stop` ends its loop and its cycles.
    /// In cluster mode (`cluster`), a cycle publishes the files as tasks and
    /// [`SystemRunner::run_worker`] processes the tasks this process is given.
    pub fn new(
        plan: &SystemPlan,
        pipeline: Pipeline,
        schedule: Schedule,
        optimize: Option<Schedule>,
        leadership: Leadership,
        cluster: Option<ClusterRole>,
        stop: CancellationToken,
    ) -> Self {
        let archives = plan
            .sinks
            .iter()
            .filter_map(|sink| sink.config_of::<ArchiveConfig>())
            .map(|archive| archive.url.clone())
            .collect();
        let status = SystemStatus {
            system: plan.system.clone(),
            source: plan
                .source
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            sinks: plan.sinks.iter().map(ToString::to_string).collect(),
            schedule: schedule.expression().to_string(),
            leader: false,
            running: false,
            cycles: 0,
            skipped_runs: 0,
            next_run: None,
            last_cycle: None,
            last_error: None,
            cluster: None,
        };
        Self {
            pipeline,
            schedule,
            optimize,
            archives,
            expectations: plan.completeness.clone(),
            leadership,
            cluster,
            cycle: Arc::new(Semaphore::new(1)),
            stop,
            status: Mutex::new(status),
        }
    }

    /// The system's name.
    pub fn system(&self) -> &str {
        self.pipeline.system()
    }

    /// What completeness expects of the system.
    pub fn expectations(&self) -> &Expectations {
        &self.expectations
    }

    /// The URL of the system's (first) archive, which completeness is read from.
    pub fn archive(&self) -> Option<&str> {
        self.archives.first().map(String::as_str)
    }

    /// The current status.
    pub fn status(&self) -> SystemStatus {
        let mut status = self.lock_status().clone();
        status.leader = *self.leadership.borrow();
        status.cluster = self.cluster.as_ref().map(ClusterRole::status);
        status
    }

    /// In cluster mode, consumes the system's tasks until the service stops (then
    /// finishes the files already fetched); without a cluster, returns at once.
    pub async fn run_worker(self: Arc<Self>) {
        if let Some(role) = &self.cluster {
            role.work(&self.pipeline, &self.stop).await;
        }
    }

    /// What keeps the system from being ready (source, required sink or, in cluster
    /// mode, the brokers not answering); empty when ready.
    pub async fn probe(&self) -> Vec<String> {
        let cluster = async {
            let role = self.cluster.as_ref()?;
            role.probe(self.system()).await.err()
        };
        let (mut problems, cluster) = futures::join!(self.pipeline.probe(), cluster);
        problems.extend(cluster);
        problems
    }

    /// Runs the schedule until the service stops, then waits for the running cycle:
    /// a run at the initial delay, and one at every cron tick.
    pub async fn run(self: Arc<Self>) {
        let mut initial = Some(Instant::now() + self.schedule.initial_delay());
        let mut tick = next_tick(&self.schedule, Utc::now());
        while let Some(due) = initial.into_iter().chain(tick.map(|t| t.0)).min() {
            self.lock_status().next_run = Some(rfc3339(
                Utc::now() + due.saturating_duration_since(Instant::now()),
            ));
            tokio::select! {
                () = tokio::time::sleep_until(due.into()) => {}
                () = self.stop.cancelled() => break,
            }
            if initial.is_some_and(|at| at <= due) {
                initial = None;
            }
            if let Some((at, wall)) = tick
                && at <= due
            {
                // After the tick just due even if the clocks disagree by a little, so
                // one tick never fires twice.
                tick = next_tick(&self.schedule, wall.max(Utc::now()));
            }
            if let Err(refusal) = self.clone().start_cycle(Trigger::Schedule) {
                match refusal {
                    Refusal::Busy => {
                        warn!(
                            system = self.system(),
                            "previous cycle still running; run skipped"
                        );
                        telemetry::cycle_skipped(self.system());
                        self.lock_status().skipped_runs += 1;
                    }
                    Refusal::NotLeader => {
                        debug!(system = self.system(), "not the leader; run skipped");
                    }
                    Refusal::Stopping => break,
                }
            }
        }
        self.lock_status().next_run = None;
        if !self.stop.is_cancelled() {
            warn!(
                system = self.system(),
                "the cron expression has no further runs"
            );
            self.stop.cancelled().await;
        }
        let _ = self.cycle.acquire().await;
    }

    /// Compacts the system's archive tables at every tick of its optimize schedule
    /// while this process leads the system, between cycles (never during one), until
    /// the service stops.
    pub async fn run_maintenance(self: Arc<Self>) {
        let Some(schedule) = &self.optimize else {
            return;
        };
        while let Some((due, _)) = next_tick(schedule, Utc::now()) {
            tokio::select! {
                () = tokio::time::sleep_until(due.into()) => {}
                () = self.stop.cancelled() => return,
            }
            if !*self.leadership.borrow() {
                continue;
            }
            let _between_cycles = tokio::select! {
                permit = self.cycle.acquire() => permit,
                () = self.stop.cancelled() => return,
            };
            for url in &self.archives {
                self.optimize_archive(url).await;
            }
        }
    }

    /// Compacts every table of the system in the archive at `url`; failures are logged
    /// (the next tick tries again).
    async fn optimize_archive(&self, url: &str) {
        let system = self.system();
        let archive = match Archive::open(url) {
            Ok(archive) => archive,
            Err(error) => return warn!(system, %error, "cannot open the archive to optimize it"),
        };
        let tables = match archive.table_names(Some(system)).await {
            Ok(tables) => tables,
            Err(error) => return warn!(system, %error, "cannot list the archive's tables"),
        };
        for (_, table) in tables {
            match archive.table(system, &table).optimize().await {
                Ok(done) => info!(
                    system,
                    table,
                    files_removed = done.files_removed,
                    files_added = done.files_added,
                    "archive table optimized"
                ),
                Err(error) => warn!(system, table, %error, "optimize failed"),
            }
        }
    }

    /// Starts a cycle now, as `POST /api/v1/systems/{name}/scan` asks.
    pub fn request_cycle(self: Arc<Self>) -> Result<(), Refusal> {
        self.start_cycle(Trigger::Request)
    }

    /// Starts a cycle in the background unless one runs, the process does not lead
    /// the system, or the service stops.
    fn start_cycle(self: Arc<Self>, trigger: Trigger) -> Result<(), Refusal> {
        if self.stop.is_cancelled() {
            return Err(Refusal::Stopping);
        }
        if !*self.leadership.borrow() {
            return Err(Refusal::NotLeader);
        }
        let permit = self
            .cycle
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Busy)?;
        debug!(system = self.system(), ?trigger, "starting a cycle");
        tokio::spawn(self.run_cycle(permit));
        Ok(())
    }

    /// One cycle; it stops fetching files when the service stops or leadership is
    /// lost.
    async fn run_cycle(self: Arc<Self>, _permit: OwnedSemaphorePermit) {
        let started_at = Utc::now();
        self.lock_status().running = true;
        let stop = self.stop.child_token();
        let mut leadership = self.leadership.clone();
        let lost_leadership = async {
            while leadership.changed().await.is_ok() {
                if !*leadership.borrow_and_update() {
                    warn!(
                        system = self.system(),
                        "leadership lost; the cycle stops fetching"
                    );
                    stop.cancel();
                    break;
                }
            }
            std::future::pending::<()>().await
        };
        let result = tokio::select! {
            result = self.cycle_or_publish(&stop) => result,
            () = lost_leadership => unreachable!("never completes"),
        };
        if result.is_ok() {
            tokio::spawn(self.clone().measure_completeness());
        }
        let mut status = self.lock_status();
        status.running = false;
        status.cycles += 1;
        match result {
            Ok(Some(stats)) => {
                info!(system = self.system(), "cycle finished\n{}", stats.render());
                status.last_cycle = Some(CycleSummary::new(started_at, &stats));
                status.last_error = None;
            }
            Ok(None) => status.last_error = None,
            Err(cause) => {
                error!(system = self.system(), error = %cause, "cycle failed");
                status.last_error = Some(cause.to_string());
            }
        }
    }

    /// A cycle: its statistics; in cluster mode the files are published as tasks
    /// instead (`None`).
    async fn cycle_or_publish(
        &self,
        stop: &CancellationToken,
    ) -> Result<Option<CycleStats>, crate::source::SourceError> {
        let Some(role) = &self.cluster else {
            return self.pipeline.run_cycle(&|_| {}, stop).await.map(Some);
        };
        role.publish(&self.pipeline, stop).await.map(|_| None)
    }

    /// Exports the completeness of the system's last closed ROP
    /// ([`completeness::last_closed_rop`]) and names its silent nodes in the log.
    /// Failures are logged; the next cycle tries again.
    async fn measure_completeness(self: Arc<Self>) {
        let Some(url) = self.archive() else {
            return;
        };
        let system = self.system();
        let now = Utc::now().timestamp_micros();
        let last = match Archive::open(url) {
            Ok(archive) => {
                completeness::last_closed_rop(&archive, system, now, &self.expectations).await
            }
            Err(error) => Err(error.into()),
        };
        match last {
            Ok(Some(last)) => {
                if !last.silent.is_empty() {
                    let rops = completeness::SILENT_ROPS;
                    warn!(system, nodes = ?last.silent, "nodes silent for {rops} ROPs");
                }
                telemetry::last_closed_rop(system, last.period_start, &last.rop, last.silent.len());
            }
            Ok(None) => {}
            Err(error) => warn!(system, %error, "cannot compute the last ROP's completeness"),
        }
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, SystemStatus> {
        self.status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
