//! The tracker's rule: what happens to a source file once its sinks have answered.
//!
//! Kept pure so that "nothing lost, nothing doubled" is one small, tested decision:
//!
//! - a required sink that **rejected** the file (the store refuses this data for
//!   good) sends it to `Failed/` at once, its reason naming that sink, the table and
//!   the store's message, and which sinks had already stored it: retrying a file no
//!   store will take would only hold it forever;
//! - otherwise a required sink that failed **transiently** holds the file in its
//!   folder for the next cycle (never quarantined for its age);
//! - otherwise every required sink acknowledged: the file moves to `Done/`. An
//!   optional sink's failure, of either kind, is reported but never holds a file back.

use crate::sink::{FailureKind, SinkError};

/// One sink's answer for a file.
#[derive(Debug)]
pub struct Answer {
    /// The sink, described without secrets.
    pub sink: String,
    /// Whether the sink is required by the plan.
    pub required: bool,
    /// `Ok` once the sink stored every row.
    pub result: Result<(), SinkError>,
}

/// What to do with a file whose rows were delivered (or not).
#[derive(Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Every required sink acknowledged: complete the file. Optional sinks' failures
    /// are carried for reporting.
    Complete { optional_failures: Vec<String> },
    /// A required sink failed transiently: leave the file where it is for the next
    /// cycle.
    Hold { reasons: Vec<String> },
    /// A required sink refused the file for good: quarantine it with this reason.
    Reject { reason: String },
}

/// Settles a file from every sink's answer.
pub fn settle(answers: Vec<Answer>) -> Settlement {
    let stored: Vec<&str> = answers
        .iter()
        .filter(|a| a.result.is_ok())
        .map(|a| a.sink.as_str())
        .collect();
    let mut rejections = Vec::new();
    let mut transient = Vec::new();
    let mut optional_failures = Vec::new();
    for answer in &answers {
        let Err(error) = &answer.result else { continue };
        match (answer.required, error.kind) {
            (false, _) => optional_failures.push(error.to_string()),
            (true, FailureKind::Rejected) => rejections.push(error.to_string()),
            (true, FailureKind::Transient) => transient.push(error.to_string()),
        }
    }
    if !rejections.is_empty() {
        let stored = match stored.is_empty() {
            true => "no sink had stored it".to_string(),
            false => format!("already stored by: {}", stored.join(", ")),
        };
        return Settlement::Reject {
            reason: format!("rejected by {}; {stored}", rejections.join("; ")),
        };
    }
    if transient.is_empty() {
        Settlement::Complete { optional_failures }
    } else {
        Settlement::Hold { reasons: transient }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(sink: &str, required: bool) -> Answer {
        Answer {
            sink: sink.into(),
            required,
            result: Ok(()),
        }
    }

    fn failed(sink: &str, required: bool, kind: FailureKind) -> Answer {
        Answer {
            sink: sink.into(),
            required,
            result: Err(SinkError {
                sink: sink.into(),
                file: "f".into(),
                kind,
                message: "table t: down".into(),
            }),
        }
    }

    #[test]
    fn a_required_transient_failure_holds_the_file() {
        let settlement = settle(vec![
            stored("parquet", true),
            failed("mysql", true, FailureKind::Transient),
        ]);
        assert_eq!(
            settlement,
            Settlement::Hold {
                reasons: vec!["sink mysql: file f: table t: down".into()]
            }
        );
    }

    #[test]
    fn a_required_rejection_quarantines_the_file_naming_who_stored_it() {
        let settlement = settle(vec![
            stored("parquet", true),
            failed("mysql", true, FailureKind::Rejected),
            failed("clickhouse", true, FailureKind::Transient),
            stored("kafka", false),
        ]);
        assert_eq!(
            settlement,
            Settlement::Reject {
                reason: "rejected by sink mysql: file f: table t: down; \
                         already stored by: parquet, kafka"
                    .into()
            }
        );
        let alone = settle(vec![failed("mysql", true, FailureKind::Rejected)]);
        assert_eq!(
            alone,
            Settlement::Reject {
                reason: "rejected by sink mysql: file f: table t: down; no sink had stored it"
                    .into()
            }
        );
    }

    #[test]
    fn optional_failures_of_either_kind_do_not_hold_the_file() {
        let settlement = settle(vec![
            stored("parquet", true),
            failed("kafka", false, FailureKind::Transient),
            failed("clickhouse", false, FailureKind::Rejected),
        ]);
        assert_eq!(
            settlement,
            Settlement::Complete {
                optional_failures: vec![
                    "sink kafka: file f: table t: down".into(),
                    "sink clickhouse: file f: table t: down".into()
                ]
            }
        );
        assert_eq!(
            settle(vec![]),
            Settlement::Complete {
                optional_failures: vec![]
            }
        );
    }
}
