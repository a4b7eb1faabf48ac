//! The tracker's rule: what happens to a source file once its sinks have answered.
//!
//! Kept pure so that "nothing lost, nothing doubled" is one small, tested decision:
//! a file moves to `Done/` only when every required sink acknowledged it; an optional
//! sink's failure is reported but never holds a file back.

use crate::sink::SinkError;

/// What to do with a file whose rows were delivered (or not).
#[derive(Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Every required sink acknowledged: complete the file. Optional sinks' failures
    /// are carried for reporting.
    Complete { optional_failures: Vec<String> },
    /// A required sink failed: leave the file where it is for the next cycle.
    Hold { reasons: Vec<String> },
}

/// Settles a file from each sink's `(required, result)`.
pub fn settle(results: Vec<(bool, Result<(), SinkError>)>) -> Settlement {
    let mut required_failures = Vec::new();
    let mut optional_failures = Vec::new();
    for (required, result) in results {
        if let Err(error) = result {
            let target = if required {
                &mut required_failures
            } else {
                &mut optional_failures
            };
            target.push(error.to_string());
        }
    }
    if required_failures.is_empty() {
        Settlement::Complete { optional_failures }
    } else {
        Settlement::Hold {
            reasons: required_failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(sink: &str) -> Result<(), SinkError> {
        Err(SinkError {
            sink: sink.into(),
            file: "f".into(),
            message: "down".into(),
        })
    }

    #[test]
    fn a_required_failure_holds_the_file() {
        let settlement = settle(vec![(true, Ok(())), (true, failed("mysql"))]);
        assert_eq!(
            settlement,
            Settlement::Hold {
                reasons: vec!["sink mysql: file f: down".into()]
            }
        );
    }

    #[test]
    fn optional_failures_do_not_hold_the_file() {
        let settlement = settle(vec![(true, Ok(())), (false, failed("kafka"))]);
        assert_eq!(
            settlement,
            Settlement::Complete {
                optional_failures: vec!["sink kafka: file f: down".into()]
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
