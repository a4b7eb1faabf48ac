//! The completeness ledger as a pure function of what the archive holds: for every
//! ROP of a range, the nodes expected, received, missing, late and partial.
//!
//! The rules:
//! - **ROPs** are the grid of each granularity the system reports in
//!   (`period_start` multiples of it), so a ROP from which no file at all came is
//!   listed too, with every expected node missing.
//! - **Expected** in a ROP: the nodes of the list given, else every node seen in the
//!   system within the look-back window before it (the ROP included).
//! - **Received**: the nodes with rows in the ROP (a node that re-sent a corrected
//!   file counts once). **Missing**: expected and not received.
//! - **Late**: received, but its first file for the ROP arrived (was ingested) more
//!   than `late_after` after the ROP's first file.
//! - **Partial**: received with fewer tables than the node usually sends (its most
//!   frequent count of tables per ROP within the look-back window).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};

use serde::Serialize;

/// What the archive holds of one node in one ROP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The node.
    pub ne: Arc<str>,
    /// Begin of the ROP (microseconds since the epoch, UTC).
    pub period_start: i64,
    /// The ROP's length in seconds.
    pub granularity_s: i32,
    /// How many tables the node sent rows of for the ROP.
    pub tables: u32,
    /// When its first rows for the ROP were ingested (microseconds).
    pub first_ingested: i64,
}

/// How the ledger is computed.
#[derive(Debug, Clone)]
pub struct Rules {
    /// First ROP reported (microseconds).
    pub from: i64,
    /// End of the range (exclusive).
    pub to: i64,
    /// How far back a node seen counts as expected (microseconds).
    pub lookback: i64,
    /// How long after a ROP's first file a node's first file counts as late.
    pub late_after: i64,
    /// The nodes expected in every ROP, when known; else those seen.
    pub nodes: Option<BTreeSet<String>>,
}

impl Rules {
    /// Look-back of 7 days, late after 30 minutes, the nodes seen expected: what
    /// `pmflow completeness` and the API use unless told otherwise.
    pub fn with_defaults(from: i64, to: i64) -> Self {
        Self {
            from,
            to,
            lookback: 7 * 86_400_000_000,
            late_after: 30 * 60_000_000,
            nodes: None,
        }
    }
}

/// One ROP's completeness: what `pmflow completeness` prints and the API returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RopCompleteness {
    /// Begin of the ROP (RFC 3339, UTC).
    pub period_start: String,
    /// The ROP's length in seconds.
    pub granularity_s: i32,
    /// Nodes expected.
    pub expected: usize,
    /// Nodes received.
    pub received: usize,
    /// Nodes expected and not received, by name.
    pub missing: Vec<String>,
    /// Nodes whose first file came late.
    pub late: usize,
    /// Their names.
    pub late_nodes: Vec<String>,
    /// Nodes that sent fewer tables than usual.
    pub partial: usize,
    /// Their names.
    pub partial_nodes: Vec<String>,
}

impl RopCompleteness {
    /// Whether every expected node came, in time and whole.
    pub fn complete(&self) -> bool {
        self.missing.is_empty() && self.late == 0 && self.partial == 0
    }
}

/// The completeness of every ROP of `[rules.from, rules.to)`, in order, from the
/// `observations` of that range and of the look-back window before it.
///
/// Each node's observations are walked once, in order, against the ROP grid, with a
/// window of the look-back sliding along: the work grows with nodes x ROPs, not with
/// their square.
pub fn ledger(observations: &[Observation], rules: &Rules) -> Vec<RopCompleteness> {
    let rops = grid(observations, rules);
    let index: HashMap<(i64, i32), usize> =
        rops.iter().enumerate().map(|(i, rop)| (*rop, i)).collect();
    let mut entries: Vec<Tally> = rops.iter().map(|_| Tally::default()).collect();
    let mut first_file: Vec<Option<i64>> = vec![None; rops.len()];
    let mut by_node: HashMap<(&str, i32), Vec<&Observation>> = HashMap::new();
    for observation in observations {
        if let Some(&i) = index.get(&(observation.period_start, observation.granularity_s)) {
            let first = first_file[i].get_or_insert(observation.first_ingested);
            *first = (*first).min(observation.first_ingested);
        }
        by_node
            .entry((&*observation.ne, observation.granularity_s))
            .or_default()
            .push(observation);
    }
    for ((ne, granularity), mut seen) in by_node {
        seen.sort_by_key(|o| o.period_start);
        let listed = rules.nodes.as_ref().map(|nodes| nodes.contains(ne));
        let mut window = Window::default();
        for (i, &(start, _)) in rops.iter().enumerate().filter(|(_, r)| r.1 == granularity) {
            window.slide(&seen, start, rules.lookback);
            let here = window.here(&seen, start);
            let tally = &mut entries[i];
            let expected = listed.unwrap_or(window.any());
            if expected {
                tally.expected += 1;
            }
            match here {
                None if expected => tally.missing.push(ne.to_string()),
                None => {}
                Some(observation) => {
                    tally.received += 1;
                    if observation.first_ingested - first_file[i].unwrap_or(0) > rules.late_after {
                        tally.late.push(ne.to_string());
                    }
                    if observation.tables < window.usual_tables() {
                        tally.partial.push(ne.to_string());
                    }
                }
            }
        }
    }
    if let Some(nodes) = &rules.nodes {
        let observed: BTreeSet<&str> = observations.iter().map(|o| &*o.ne).collect();
        for never in nodes.iter().filter(|ne| !observed.contains(ne.as_str())) {
            for tally in &mut entries {
                tally.expected += 1;
                tally.missing.push(never.clone());
            }
        }
    }
    rops.into_iter()
        .zip(entries)
        .map(|((start, granularity), tally)| tally.entry(start, granularity))
        .collect()
}

/// The ROPs of the range: each granularity's multiples in `[from, to)`, in order.
fn grid(observations: &[Observation], rules: &Rules) -> Vec<(i64, i32)> {
    let granularities: BTreeSet<i32> = observations
        .iter()
        .map(|o| o.granularity_s)
        .filter(|g| *g > 0)
        .collect();
    let mut rops = Vec::new();
    for granularity in granularities {
        let step = i64::from(granularity) * 1_000_000;
        let mut start = rules.from.div_euclid(step) * step;
        if start < rules.from {
            start += step;
        }
        while start < rules.to {
            rops.push((start, granularity));
            start += step;
        }
    }
    rops.sort();
    rops
}

/// What one ROP's entry is counted from.
#[derive(Debug, Default)]
struct Tally {
    expected: usize,
    received: usize,
    missing: Vec<String>,
    late: Vec<String>,
    partial: Vec<String>,
}

impl Tally {
    fn entry(mut self, start: i64, granularity_s: i32) -> RopCompleteness {
        for names in [&mut self.missing, &mut self.late, &mut self.partial] {
            names.sort();
        }
        RopCompleteness {
            period_start: rfc3339(start),
            granularity_s,
            expected: self.expected,
            received: self.received,
            missing: self.missing,
            late: self.late.len(),
            late_nodes: self.late,
            partial: self.partial.len(),
            partial_nodes: self.partial,
        }
    }
}

/// One node's observations within the look-back before a ROP, ROP included
/// (`seen[lo..hi]`), and how often each count of tables occurs among them.
#[derive(Debug, Default)]
struct Window {
    lo: usize,
    hi: usize,
    tables: BTreeMap<u32, usize>,
}

impl Window {
    /// Moves the window to end with the ROP starting at `start`.
    fn slide(&mut self, seen: &[&Observation], start: i64, lookback: i64) {
        while self.hi < seen.len() && seen[self.hi].period_start <= start {
            *self.tables.entry(seen[self.hi].tables).or_default() += 1;
            self.hi += 1;
        }
        while self.lo < self.hi && seen[self.lo].period_start <= start - lookback {
            let count = self.tables.entry(seen[self.lo].tables).or_default();
            *count -= 1;
            if *count == 0 {
                self.tables.remove(&seen[self.lo].tables);
            }
            self.lo += 1;
        }
    }

    /// Whether the node was seen within the window.
    fn any(&self) -> bool {
        self.hi > self.lo
    }

    /// The node's observation of the ROP starting at `start`, if any.
    fn here<'o>(&self, seen: &[&'o Observation], start: i64) -> Option<&'o Observation> {
        seen[self.lo..self.hi]
            .last()
            .copied()
            .filter(|o| o.period_start == start)
    }

    /// The count of tables the node sends most often (the larger on a tie).
    fn usual_tables(&self) -> u32 {
        self.tables
            .iter()
            .max_by_key(|(tables, times)| (**times, **tables))
            .map_or(0, |(tables, _)| *tables)
    }
}

/// A moment as RFC 3339 text, UTC, to the second.
fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|moment| moment.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// ROPs in a row a node must miss to count as silent: an hour of 15-minute ROPs.
pub const SILENT_ROPS: usize = 4;

/// The nodes missing in each of the last `rops` entries of a ledger (in ROP order):
/// nodes gone silent, not just late once. Fewer entries than `rops`: none.
pub fn silent_nodes(ledger: &[RopCompleteness], rops: usize) -> Vec<String> {
    let Some(last) = ledger.len().checked_sub(rops).map(|start| &ledger[start..]) else {
        return Vec::new();
    };
    let Some((first, rest)) = last.split_first() else {
        return Vec::new();
    };
    first
        .missing
        .iter()
        .filter(|node| rest.iter().all(|rop| rop.missing.contains(node)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROP: i64 = 900_000_000;
    const MINUTE: i64 = 60_000_000;

    fn seen(ne: &str, rop: i64, tables: u32, ingested_minutes: i64) -> Observation {
        Observation {
            ne: ne.into(),
            period_start: rop * ROP,
            granularity_s: 900,
            tables,
            first_ingested: (rop + 1) * ROP + ingested_minutes * MINUTE,
        }
    }

    fn rules(from_rop: i64, to_rop: i64) -> Rules {
        Rules::with_defaults(from_rop * ROP, to_rop * ROP)
    }

    #[test]
    fn a_node_whose_file_never_came_is_missing_in_that_rop_only() {
        let mut seen_all = Vec::new();
        for rop in 0..3 {
            for node in ["a", "b", "c"] {
                if !(node == "b" && rop == 1) {
                    seen_all.push(seen(node, rop, 2, 0));
                }
            }
        }
        let ledger = ledger(&seen_all, &rules(0, 3));
        assert_eq!(ledger.len(), 3);
        assert_eq!(ledger[0].period_start, "1970-01-01T00:00:00Z");
        assert!(ledger[0].complete() && ledger[2].complete());
        assert_eq!((ledger[1].expected, ledger[1].received), (3, 2));
        assert_eq!(ledger[1].missing, ["b"]);
    }

    #[test]
    fn a_node_missing_in_each_of_the_last_rops_is_silent() {
        let mut observations = Vec::new();
        for rop in 0..6 {
            observations.push(seen("a", rop, 1, 0));
            // b stops after ROP 1; c misses ROP 3 only.
            if rop < 2 {
                observations.push(seen("b", rop, 1, 0));
            }
            if rop != 3 {
                observations.push(seen("c", rop, 1, 0));
            }
        }
        let ledger = ledger(&observations, &rules(0, 6));
        assert_eq!(silent_nodes(&ledger, 4), ["b"]);
        assert_eq!(silent_nodes(&ledger[..5], 2), ["b"]);
        assert_eq!(silent_nodes(&ledger[..4], 1), ["b", "c"]);
        assert!(silent_nodes(&ledger, 5).is_empty());
        assert!(silent_nodes(&ledger[..3], 4).is_empty());
    }

    #[test]
    fn late_and_partial_nodes_are_named_and_a_rop_without_files_is_listed() {
        let observations = vec![
            seen("a", 0, 2, 0),
            seen("b", 0, 2, 0),
            seen("a", 1, 2, 0),
            seen("b", 1, 1, 45),
        ];
        let ledger = ledger(&observations, &rules(0, 3));
        assert!(ledger[0].complete());
        assert_eq!(ledger[1].late_nodes, ["b"]);
        assert_eq!(ledger[1].partial_nodes, ["b"]);
        assert!(ledger[1].missing.is_empty());
        assert_eq!((ledger[2].expected, ledger[2].received), (2, 0));
        assert_eq!(ledger[2].missing, ["a", "b"]);
    }

    #[test]
    fn a_node_list_sets_who_is_expected_and_the_look_back_forgets_old_nodes() {
        let observations = vec![seen("old", 0, 1, 0), seen("a", 10, 1, 0)];
        let mut listed = rules(10, 11);
        listed.nodes = Some(["a".to_string(), "new".to_string()].into());
        assert_eq!(ledger(&observations, &listed)[0].missing, ["new"]);
        let mut short = rules(10, 11);
        short.lookback = 5 * ROP;
        assert!(ledger(&observations, &short)[0].missing.is_empty());
        assert_eq!(ledger(&observations, &rules(10, 11))[0].missing, ["old"]);
    }
}
