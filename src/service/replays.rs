//! Replays requested over HTTP (`/api/v1/replays`): each runs in the background on
//! its own sinks, beside the system's scheduled cycles (never blocking them), one
//! per system at a time — a second one for a system waits, `queued`, until the
//! first ends. The record of the last [`KEPT`] replays stays queryable.
//!
//! A request names sinks by kind or as the status shows them, never by URL: an HTTP
//! caller only chooses among the sinks the operator configured.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::archive::Archive;
use crate::config::SystemPlan;
use crate::pipeline::{Delivery, Progress, build_sinks};
use crate::replay::{self, Request, Selection, Speed, parse_moment, replay_sinks};
use crate::telemetry;

/// How many finished replays are remembered.
pub const KEPT: usize = 100;

/// `POST /api/v1/replays`: what to replay, as JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// The system.
    pub system: String,
    /// First period (RFC 3339).
    pub from: String,
    /// End of the range (RFC 3339, exclusive).
    pub to: String,
    /// Only these tables.
    pub tables: Option<Vec<String>>,
    /// Only nodes matching this glob.
    pub ne: Option<String>,
    /// Read the archive as of this moment (RFC 3339).
    pub as_of: Option<String>,
    /// `max` or `Nx`.
    pub speed: Option<String>,
    /// Deliver only the rules' outputs.
    #[serde(default)]
    pub rules_only: bool,
    /// Sinks by kind or name among the system's configured ones; default all but
    /// the archive.
    pub sinks: Option<Vec<String>>,
}

/// Where a replay is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayState {
    /// Waiting for the system's running replay to end.
    Queued,
    /// Delivering.
    Running,
    /// Every file delivered.
    Done,
    /// Could not read the archive, or a required sink held files back.
    Failed,
    /// Cancelled by `DELETE` or the service's stop.
    Cancelled,
}

impl ReplayState {
    /// Whether the replay has ended.
    fn finished(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }

    /// The state's name, for metric labels.
    fn label(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A replay as `GET /api/v1/replays/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayStatus {
    /// Its id.
    pub id: String,
    /// The system replayed.
    pub system: String,
    /// Where it is.
    pub state: ReplayState,
    /// Files delivered so far.
    pub files: u64,
    /// Rows delivered so far.
    pub rows: u64,
    /// Why it failed.
    pub error: Option<String>,
}

/// Why a replay request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// No such system is served.
    #[error("no system {0:?}")]
    UnknownSystem(String),
    /// The request is invalid; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// The service is stopping.
    #[error("the service is stopping")]
    Stopping,
}

/// One replay's record.
struct Entry {
    id: String,
    system: String,
    state: Mutex<(ReplayState, Option<String>)>,
    files: AtomicU64,
    rows: AtomicU64,
    cancel: CancellationToken,
}

impl Entry {
    fn status(&self) -> ReplayStatus {
        let (state, error) = self.state.lock().expect("state lock").clone();
        ReplayStatus {
            id: self.id.clone(),
            system: self.system.clone(),
            state,
            files: self.files.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            error,
        }
    }

    fn set(&self, state: ReplayState, error: Option<String>) {
        *self.state.lock().expect("state lock") = (state, error);
    }
}

/// A system a replay can be asked for: its plan, where its archive is, and its
/// one-at-a-time slot.
struct Target {
    plan: SystemPlan,
    slot: Arc<Semaphore>,
}

/// Every replay of the service.
pub struct Replays {
    targets: HashMap<String, Target>,
    entries: Mutex<Vec<Arc<Entry>>>,
    stop: CancellationToken,
}

impl Replays {
    /// Replays of the systems of `plans`; `stop` cancels every one.
    pub fn new(plans: &[SystemPlan], stop: CancellationToken) -> Self {
        let targets = plans
            .iter()
            .map(|plan| {
                let target = Target {
                    plan: plan.clone(),
                    slot: Arc::new(Semaphore::new(1)),
                };
                (plan.system.clone(), target)
            })
            .collect();
        Self {
            targets,
            entries: Mutex::default(),
            stop,
        }
    }

    /// Checks a request and starts it in the background; its id.
    pub fn start(self: &Arc<Self>, body: ReplayBody) -> Result<String, RequestError> {
        if self.stop.is_cancelled() {
            return Err(RequestError::Stopping);
        }
        let target = self
            .targets
            .get(&body.system)
            .ok_or_else(|| RequestError::UnknownSystem(body.system.clone()))?;
        let (request, plan) = resolve(&body, &target.plan).map_err(RequestError::Invalid)?;
        let archive = target
            .plan
            .archive_url()
            .ok_or_else(|| RequestError::Invalid(format!("system {} has no archive", body.system)))
            .and_then(|url| Archive::open(url).map_err(|e| RequestError::Invalid(e.to_string())))?;
        let entry = Arc::new(Entry {
            id: format!("{:016x}", rand::random::<u64>()),
            system: body.system.clone(),
            state: Mutex::new((ReplayState::Queued, None)),
            files: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            cancel: self.stop.child_token(),
        });
        self.remember(entry.clone());
        let slot = target.slot.clone();
        let id = entry.id.clone();
        tokio::spawn(async move {
            let permit = tokio::select! {
                permit = slot.acquire_owned() => permit.ok(),
                () = entry.cancel.cancelled() => None,
            };
            let started = Instant::now();
            let (state, error) = match permit {
                Some(_permit) => execute(&entry, &archive, &plan, &request).await,
                None => (ReplayState::Cancelled, None),
            };
            telemetry::replay_finished(&entry.system, state.label(), started.elapsed());
            match &error {
                Some(error) => warn!(system = entry.system, id = entry.id, error, "replay failed"),
                None => info!(
                    system = entry.system,
                    id = entry.id,
                    state = state.label(),
                    "replay ended"
                ),
            }
            entry.set(state, error);
        });
        Ok(id)
    }

    /// A replay's status.
    pub fn get(&self, id: &str) -> Option<ReplayStatus> {
        self.find(id).map(|entry| entry.status())
    }

    /// Every replay remembered, oldest first.
    pub fn list(&self) -> Vec<ReplayStatus> {
        let entries = self.entries.lock().expect("entries lock");
        entries.iter().map(|entry| entry.status()).collect()
    }

    /// Cancels a replay (it stops between files); its status, `None` when unknown.
    pub fn cancel(&self, id: &str) -> Option<ReplayStatus> {
        let entry = self.find(id)?;
        entry.cancel.cancel();
        Some(entry.status())
    }

    fn find(&self, id: &str) -> Option<Arc<Entry>> {
        let entries = self.entries.lock().expect("entries lock");
        entries.iter().find(|entry| entry.id == id).cloned()
    }

    /// Records a new replay, forgetting the oldest finished ones beyond [`KEPT`].
    fn remember(&self, entry: Arc<Entry>) {
        let mut entries = self.entries.lock().expect("entries lock");
        entries.push(entry);
        while entries.len() > KEPT {
            let Some(oldest) = entries.iter().position(|e| e.status().state.finished()) else {
                break;
            };
            entries.remove(oldest);
        }
    }
}

/// A request as a replay and the plan to run it with (its sinks those chosen), or
/// why it is invalid.
fn resolve(body: &ReplayBody, plan: &SystemPlan) -> Result<(Request, SystemPlan), String> {
    let moment = |key: &str, text: &str| parse_moment(text).map_err(|e| format!("{key}: {e}"));
    let (from, to) = (moment("from", &body.from)?, moment("to", &body.to)?);
    if from >= to {
        return Err("from must be before to".into());
    }
    let as_of = body
        .as_of
        .as_deref()
        .map(|text| moment("as_of", text))
        .transpose()?;
    let speed = match &body.speed {
        Some(text) => text.parse::<Speed>().map_err(|e| format!("speed: {e}"))?,
        None => Speed::Max,
    };
    let mut plan = plan.clone();
    plan.sinks =
        replay_sinks(&plan.sinks, body.sinks.as_deref()).map_err(|e| format!("sinks: {e}"))?;
    let request = Request {
        selection: Selection {
            system: body.system.clone(),
            from,
            to,
            tables: body.tables.clone(),
            ne: body.ne.clone(),
            as_of,
        },
        rules_only: body.rules_only,
        speed,
    };
    Ok((request, plan))
}

/// Runs a replay to its end: how it ended, and why when it failed.
async fn execute(
    entry: &Entry,
    archive: &Archive,
    plan: &SystemPlan,
    request: &Request,
) -> (ReplayState, Option<String>) {
    entry.set(ReplayState::Running, None);
    let system = &plan.system;
    let sinks = match build_sinks(system, &plan.sinks).await {
        Ok(sinks) => sinks,
        Err(error) => return (ReplayState::Failed, Some(error.to_string())),
    };
    let schemas = match archive.table_schemas(Some(system)).await {
        Ok(schemas) => schemas,
        Err(error) => return (ReplayState::Failed, Some(error.to_string())),
    };
    let delivery = Delivery::new(
        system.clone(),
        sinks,
        schemas,
        plan.rules.clone(),
        plan.workers.deliver,
    );
    let progress = |event: Progress<'_>| {
        if let Progress::Finished(report) = event {
            entry.files.fetch_add(1, Ordering::Relaxed);
            entry.rows.fetch_add(report.rows, Ordering::Relaxed);
            telemetry::replay_file(system, report);
        }
    };
    match replay::replay(archive, &delivery, request, &progress, &entry.cancel).await {
        Err(error) => (ReplayState::Failed, Some(error.to_string())),
        Ok(_) if entry.cancel.is_cancelled() => (ReplayState::Cancelled, None),
        Ok(stats) if stats.completed() => (ReplayState::Done, None),
        Ok(stats) => (
            ReplayState::Failed,
            Some(format!(
                "{} file(s) not delivered: a required sink failed (see the log); replay the range again",
                stats.held
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn plan() -> SystemPlan {
        let overrides = Overrides {
            system: Some("5ga".into()),
            source: Some("/tmp/in".into()),
            archive: Some("/tmp/archive".into()),
            sinks: vec!["mysql://pm@db/pm".into()],
            ..Overrides::default()
        };
        SystemPlan::resolve(None, overrides).unwrap()
    }

    fn body(json: &str) -> ReplayBody {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_request_becomes_a_replay_into_the_configured_sinks_but_the_archive() {
        let (request, plan) = resolve(
            &body(
                r#"{"system": "5ga", "from": "2026-01-05T00:00:00Z", "to": "2026-01-05T02:00:00+01:00",
                    "tables": ["nrcellcu"], "ne": "gNB*", "speed": "60x", "rules_only": true}"#,
            ),
            &plan(),
        )
        .unwrap();
        assert_eq!(request.selection.from, 1_767_571_200_000_000);
        assert_eq!(request.selection.to, request.selection.from + 3_600_000_000);
        assert_eq!(request.speed, Speed::Times(60.0));
        assert!(request.rules_only);
        assert_eq!(request.selection.tables, Some(vec!["nrcellcu".to_string()]));
        let kinds: Vec<&str> = plan.sinks.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, ["mysql"]);
    }

    #[test]
    fn invalid_requests_say_which_key_is_wrong() {
        let refused = |json: &str| resolve(&body(json), &plan()).unwrap_err();
        let range =
            r#""system": "5ga", "from": "2026-01-05T00:00:00Z", "to": "2026-01-06T00:00:00Z""#;
        assert!(
            refused(r#"{"system": "5ga", "from": "monday", "to": "2026-01-06T00:00:00Z"}"#)
                .starts_with("from: ")
        );
        assert!(refused(&format!(r#"{{{range}, "as_of": "now"}}"#)).starts_with("as_of: "));
        assert!(refused(&format!(r#"{{{range}, "speed": "fast"}}"#)).starts_with("speed: "));
        assert!(
            refused(&format!(r#"{{{range}, "sinks": ["parquet"]}}"#))
                .contains("does not write archives")
        );
        assert!(
            refused(
                r#"{"system": "5ga", "from": "2026-01-06T00:00:00Z", "to": "2026-01-05T00:00:00Z"}"#
            )
            .contains("before")
        );
        assert!(
            serde_json::from_str::<ReplayBody>(&format!(r#"{{{range}, "url": "mysql://x"}}"#))
                .is_err()
        );
    }
}
