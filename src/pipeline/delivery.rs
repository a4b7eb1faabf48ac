//! Delivery: a parsed file's tables aligned to their current schemas, run through
//! the rules, and written to every sink of a system — the part of a pipeline that
//! does not care where files come from, shared by ingest (files from a source) and
//! replay (files read back from the archive).
//!
//! Each sink takes as many files at once as it asks for ([`Sink::files_at_once`],
//! else `workers.deliver`); a panicking sink holds the file instead of the process.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use futures::FutureExt;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use super::BuildError;
use super::tracker::Answer;
use crate::config::SinkSpec;
use crate::format::{ParsedFile, TableBatch};
use crate::plan::{Rule, RuleSet, SchemaRegistry};
use crate::sink::{FailureKind, PlannedFile, Sink, SinkError};
use crate::telemetry;

/// A sink, whether the plan requires it, and the files it may take at once.
struct SinkSlot {
    sink: Arc<dyn Sink>,
    required: bool,
    permits: Semaphore,
}

/// The sinks of one system with the schemas and rules files are planned with.
pub struct Delivery {
    system: String,
    sinks: Vec<SinkSlot>,
    /// Files written to sinks at once: the most any sink takes.
    in_flight: usize,
    registry: SchemaRegistry,
    rules: RuleSet,
}

/// Builds the sinks a plan configures for `system`, each with whether it is required.
pub async fn build_sinks(
    system: &str,
    specs: &[SinkSpec],
) -> Result<Vec<(Arc<dyn Sink>, bool)>, BuildError> {
    let mut sinks = Vec::with_capacity(specs.len());
    for spec in specs {
        let sink = spec
            .config
            .build(system)
            .await
            .map_err(|message| BuildError::Sink {
                sink: spec.config.to_string(),
                message,
            })?;
        sinks.push((sink, spec.required));
    }
    Ok(sinks)
}

impl Delivery {
    /// Delivery to `sinks` (each with whether it is required), aligning batches to
    /// `schemas` and running `rules` when some sink stores rule outputs;
    /// `deliver` is the files a sink takes at once unless it says otherwise.
    pub fn new(
        system: String,
        sinks: Vec<(Arc<dyn Sink>, bool)>,
        schemas: HashMap<String, SchemaRef>,
        rules: Vec<Rule>,
        deliver: usize,
    ) -> Self {
        let mut in_flight = deliver;
        let sinks: Vec<SinkSlot> = sinks
            .into_iter()
            .map(|(sink, required)| {
                let at_once = sink.files_at_once().unwrap_or(deliver).max(1);
                in_flight = in_flight.max(at_once);
                SinkSlot {
                    sink,
                    required,
                    permits: Semaphore::new(at_once),
                }
            })
            .collect();
        let rules_wanted = sinks.iter().any(|slot| slot.sink.takes_rule_outputs());
        if !rules_wanted && !rules.is_empty() {
            debug!(
                system,
                "no sink stores rule outputs; the rules run only as views over the archive"
            );
        }
        let rules = if rules_wanted { rules } else { Vec::new() };
        Self {
            system,
            sinks,
            in_flight,
            registry: SchemaRegistry::seeded(schemas),
            rules: RuleSet::new(rules),
        }
    }

    /// Files worth having on their way to the sinks at once: the most any sink takes.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Each sink's kind and whether it is required: the labels of its metrics.
    pub fn sink_labels(&self) -> Vec<(&'static str, bool)> {
        self.sinks
            .iter()
            .map(|slot| (slot.sink.kind(), slot.required))
            .collect()
    }

    /// Tells every sink that the parts of file `file_id` delivered so far will not be
    /// completed (see [`Sink::drop_parts`]).
    pub fn drop_parts(&self, file_id: &str) {
        for slot in &self.sinks {
            slot.sink.drop_parts(file_id);
        }
    }

    /// Tells every sink that `files` more files (negative: fewer) wait for memory
    /// (see [`Sink::hold_back`]).
    pub fn hold_back(&self, files: isize) {
        for slot in &self.sinks {
            slot.sink.hold_back(files);
        }
    }

    /// Tells every sink that `files` more files are on their way to it (negative:
    /// files announced that will not come).
    pub fn announce(&self, files: isize) {
        for slot in &self.sinks {
            slot.sink.announce(files);
        }
    }

    /// Checks that every required sink answers; what is wrong, if anything.
    pub async fn probe(&self) -> Vec<String> {
        let sinks = self
            .sinks
            .iter()
            .filter(|slot| slot.required)
            .map(|slot| async move {
                let error = slot.sink.probe().await.err()?;
                Some(format!("sink {}: {error}", slot.sink.describe()))
            });
        futures::future::join_all(sinks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Aligns the tables of a parsed file (or of part `part` of one) and runs the
    /// rules over them; the planned file and how many warnings that gave.
    pub async fn plan(
        &self,
        name: &str,
        file_id: String,
        part: u32,
        last_part: bool,
        parsed: ParsedFile,
    ) -> (PlannedFile, u64) {
        let mut warnings = 0;
        let mut planned = PlannedFile {
            name: name.to_string(),
            file_id,
            part,
            last_part,
            tables: Vec::new(),
            derived: Vec::new(),
        };
        for TableBatch { table, batch } in parsed.tables {
            let batch = match self.registry.align(&table, &batch) {
                Ok(batch) => batch,
                Err(error) => {
                    warn!(file = name, table, %error, "cannot align batch; keeping it as parsed");
                    warnings += 1;
                    batch
                }
            };
            match self.rules.apply(&table, &batch).await {
                Ok(outputs) => planned.derived.extend(
                    outputs
                        .into_iter()
                        .map(|(table, batch)| TableBatch { table, batch }),
                ),
                Err(error) => {
                    warn!(file = name, table, %error, "rule failed; its output is skipped for this file");
                    warnings += 1;
                }
            }
            planned.tables.push(TableBatch { table, batch });
        }
        (planned, warnings)
    }

    /// Writes one planned file (or part) to every sink at once, each within its
    /// allowance of files; every sink's answer.
    pub async fn write(&self, planned: &PlannedFile) -> Vec<Answer> {
        let answers = futures::future::join_all(self.sinks.iter().map(|slot| async {
            let _permit = slot.permits.acquire().await.expect("never closed");
            // A panicking sink is a bug in it, not in the file: the file is held.
            let result = AssertUnwindSafe(slot.sink.write(planned))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    let message = format!("the sink panicked: {}", panic_message(&*panic));
                    Err(SinkError::new(
                        &*slot.sink,
                        planned,
                        FailureKind::Transient,
                        message,
                    ))
                });
            Answer {
                sink: slot.sink.describe(),
                required: slot.required,
                result,
            }
        }))
        .await;
        for (slot, answer) in self.sinks.iter().zip(&answers) {
            if let Err(error) = &answer.result {
                telemetry::sink_error(&self.system, slot.sink.kind(), slot.required, error.kind);
            }
        }
        answers
    }
}

/// Rows the rules derived for a planned file.
pub fn derived_rows(planned: &PlannedFile) -> u64 {
    planned
        .derived
        .iter()
        .map(|t| t.batch.num_rows() as u64)
        .sum()
}

/// The text a panic carried, when it carried one.
pub(super) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}
