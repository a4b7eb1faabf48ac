//! Completeness of every ROP: did every node report? For a system and a range of
//! ROPs, the nodes expected, received, missing, late and partial ([`ledger`] states
//! the rules), computed from what the archive holds — so it survives restarts and
//! is the same on every node of a cluster. A node that re-sent a corrected file
//! counts once; its first file's arrival decides whether it was late.

pub mod ledger;

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int32Type, TimestampMicrosecondType};
use datafusion::common::{ScalarValue, TableReference};
use datafusion::functions_aggregate::expr_fn::min;
use datafusion::logical_expr::{ident, lit};
use datafusion::prelude::SessionContext;
use foldhash::{HashMap, HashMapExt};

use crate::archive::data_file::INGESTED_AT;
use crate::archive::{Archive, ArchiveError, DATE_PARTITION, HISTORY_SUFFIX, ReadOptions};
use crate::schema;
pub use ledger::{Observation, RopCompleteness, Rules, SILENT_ROPS, ledger, silent_nodes};

/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;

/// A node's ROP: (node number, `period_start`, `granularity_s`).
type NodeRop = (u32, i64, i32);

/// The archive could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CompletenessError {
    /// The archive could not be opened or listed.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// Reading a table failed.
    #[error("reading archive table {table}: {source}")]
    Read {
        table: String,
        source: datafusion::error::DataFusionError,
    },
}

/// The completeness of every ROP of `system` in `[rules.from, rules.to)`.
pub async fn completeness(
    archive: &Archive,
    system: &str,
    rules: &Rules,
) -> Result<Vec<RopCompleteness>, CompletenessError> {
    let observations = observe(archive, system, rules.from - rules.lookback, rules.to).await?;
    Ok(ledger(&observations, rules))
}

/// What a plan's `[completeness]` section sets for its system; unset values take the
/// defaults of where the ledger is asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    /// How far back a node seen counts as expected (µs).
    pub lookback: Option<i64>,
    /// How long after a ROP's first file a node's first file counts as late (µs).
    pub late_after: Option<i64>,
    /// The nodes expected in every ROP (else those seen within the look-back).
    pub nodes: Option<BTreeSet<String>>,
}

impl Expectations {
    /// The rules for ROPs in `[from, to)`: these expectations over `defaults`.
    pub fn rules(&self, defaults: Rules) -> Rules {
        Rules {
            lookback: self.lookback.unwrap_or(defaults.lookback),
            late_after: self.late_after.unwrap_or(defaults.late_after),
            nodes: self.nodes.clone().or(defaults.nodes),
            ..defaults
        }
    }
}

/// The nodes a node-list file names: one per line; blank lines and lines beginning
/// with `#` are skipped.
pub fn read_nodes(path: &std::path::Path) -> std::io::Result<BTreeSet<String>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// A system's last closed ROP, as the service exports it after every cycle.
#[derive(Debug, Clone)]
pub struct LastClosedRop {
    /// Begin of the ROP (µs since the epoch).
    pub period_start: i64,
    /// Its completeness.
    pub rop: RopCompleteness,
    /// Nodes missing in it and in each of the [`SILENT_ROPS`] − 1 closed ROPs before.
    pub silent: Vec<String>,
}

/// The completeness of `system`'s last closed ROP at `now` (µs) — the latest that
/// ended `late_after` (default 30 minutes) ago or earlier — with the nodes expected
/// as `expectations` say (default: those seen within a day before it), and the nodes
/// silent since; `None` when the day holds no ROP.
pub async fn last_closed_rop(
    archive: &Archive,
    system: &str,
    now: i64,
    expectations: &Expectations,
) -> Result<Option<LastClosedRop>, CompletenessError> {
    let defaults = Rules {
        lookback: DAY_US,
        ..Rules::with_defaults(now - DAY_US, now)
    };
    let rules = expectations.rules(defaults);
    let rules = Rules {
        to: now - rules.late_after,
        ..rules
    };
    let ledger = completeness(archive, system, &rules).await?;
    let start_of = |rop: &RopCompleteness| {
        chrono::DateTime::parse_from_rfc3339(&rop.period_start)
            .map_or(i64::MAX, |start| start.timestamp_micros())
    };
    let closed = ledger.iter().rposition(|rop| {
        start_of(rop).saturating_add(i64::from(rop.granularity_s) * 1_000_000) <= rules.to
    });
    Ok(closed.map(|last| LastClosedRop {
        period_start: start_of(&ledger[last]),
        silent: silent_nodes(&ledger[..=last], SILENT_ROPS),
        rop: ledger[last].clone(),
    }))
}

/// What the archive holds of each node and ROP of `system` with `period_start` in
/// `[from, to)`: tables with rows, and when the first of them was ingested.
pub async fn observe(
    archive: &Archive,
    system: &str,
    from: i64,
    to: i64,
) -> Result<Vec<Observation>, CompletenessError> {
    let ctx = SessionContext::new();
    let options = ReadOptions {
        as_of: None,
        system: Some(system.to_string()),
    };
    let tables = archive.register_tables(&ctx, options).await?;
    let moment = |micros| {
        lit(ScalarValue::TimestampMicrosecond(
            Some(micros),
            Some("UTC".into()),
        ))
    };
    let day = |micros: i64| lit(ScalarValue::Date32(Some(micros.div_euclid(DAY_US) as i32)));
    let keep = ident(DATE_PARTITION)
        .gt_eq(day(from))
        .and(ident(DATE_PARTITION).lt_eq(day(to)))
        .and(ident(schema::PERIOD_START).gt_eq(moment(from)))
        .and(ident(schema::PERIOD_START).lt(moment(to)));
    let mut seen: HashMap<NodeRop, (u32, i64)> = HashMap::new();
    // Node names are numbered as they come, each stored once.
    let mut numbers: HashMap<Arc<str>, u32> = HashMap::new();
    let mut names: Vec<Arc<str>> = Vec::new();
    for table in &tables {
        let failed = |source| CompletenessError::Read {
            table: table.clone(),
            source,
        };
        let batches = ctx
            .table(TableReference::bare(format!("{table}{HISTORY_SUFFIX}")))
            .await
            .and_then(|frame| frame.filter(keep.clone()))
            .and_then(|frame| {
                frame.aggregate(
                    vec![
                        ident(schema::NE),
                        ident(schema::PERIOD_START),
                        ident(schema::GRANULARITY_S),
                    ],
                    vec![min(ident(INGESTED_AT)).alias("first_ingested")],
                )
            })
            .map_err(failed)?
            .collect()
            .await
            .map_err(failed)?;
        for batch in &batches {
            let visit = |ne: &str, period_start: i64, granularity_s: i32, first: i64| {
                let number = match numbers.get(ne) {
                    Some(number) => *number,
                    None => {
                        let name: Arc<str> = Arc::from(ne);
                        names.push(name.clone());
                        numbers.insert(name, names.len() as u32 - 1);
                        names.len() as u32 - 1
                    }
                };
                let entry = seen
                    .entry((number, period_start, granularity_s))
                    .or_insert((0, first));
                entry.0 += 1;
                entry.1 = entry.1.min(first);
            };
            rows(batch, visit).map_err(|e| failed(e.into()))?;
        }
    }
    Ok(seen
        .into_iter()
        .map(
            |((ne, period_start, granularity_s), (tables, first_ingested))| Observation {
                ne: names[ne as usize].clone(),
                period_start,
                granularity_s,
                tables,
                first_ingested,
            },
        )
        .collect())
}

/// Calls `visit` with the node, period, granularity and first ingest time of each
/// row of an aggregate.
fn rows(
    batch: &RecordBatch,
    mut visit: impl FnMut(&str, i64, i32, i64),
) -> Result<(), arrow::error::ArrowError> {
    let ne = cast(batch.column(0), &DataType::Utf8)?;
    let ne = ne.as_string::<i32>();
    let periods = batch.column(1).as_primitive::<TimestampMicrosecondType>();
    let granularities = batch.column(2).as_primitive::<Int32Type>();
    let first = batch.column(3).as_primitive::<TimestampMicrosecondType>();
    for row in 0..batch.num_rows() {
        if !ne.is_null(row) && !periods.is_null(row) {
            visit(
                ne.value(row),
                periods.value(row),
                granularities.value(row),
                first.value(row),
            );
        }
    }
    Ok(())
}
