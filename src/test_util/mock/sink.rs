//! A sink whose answer a test chooses.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::Journal;
use crate::sink::{FailureKind, PlannedFile, Sink, SinkError};

/// How a [`MemorySink`] answers every file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Stores it (after `delay`).
    Store,
    /// Fails as a store that is down does.
    Transient,
    /// Refuses the data for good.
    Reject,
    /// Panics, as a bug would.
    Panic,
    /// Stores every part of a file but this one, which it refuses for good.
    RejectPart(u32),
}

/// A sink that answers as its [`Behaviour`] says, after a delay, journaling what it
/// stored.
pub struct MemorySink {
    name: String,
    behaviour: Behaviour,
    delay: Duration,
    journal: Arc<Journal>,
    rule_outputs: bool,
    stages_parts: bool,
}

impl MemorySink {
    /// A sink named `name` answering with `behaviour` after `delay`.
    pub fn new(name: &str, behaviour: Behaviour, delay: Duration, journal: Arc<Journal>) -> Self {
        Self {
            name: name.to_string(),
            behaviour,
            delay,
            journal,
            rule_outputs: true,
            stages_parts: false,
        }
    }

    /// The same sink, storing measurement tables only (as the archive does).
    pub fn without_rule_outputs(mut self) -> Self {
        self.rule_outputs = false;
        self
    }

    /// The same sink, staging a large file's parts until its last (as the archive
    /// does): it journals `dropped <sink> <file id>` when told to forget them.
    pub fn staging_parts(mut self) -> Self {
        self.stages_parts = true;
        self
    }
}

#[async_trait]
impl Sink for MemorySink {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn probe(&self) -> Result<(), String> {
        Ok(())
    }

    fn takes_rule_outputs(&self) -> bool {
        self.rule_outputs
    }

    fn stages_parts(&self) -> bool {
        self.stages_parts
    }

    fn drop_parts(&self, file_id: &str) {
        self.journal
            .record(format!("dropped {} {file_id}", self.name));
    }

    async fn write(&self, file: &PlannedFile) -> Result<(), SinkError> {
        tokio::time::sleep(self.delay).await;
        let fail = |kind| Err(SinkError::new(self, file, kind, "table Cells: no"));
        match self.behaviour {
            Behaviour::RejectPart(part) if part == file.part => fail(FailureKind::Rejected),
            Behaviour::Store | Behaviour::RejectPart(_) => {
                let part = match file.part {
                    0 => String::new(),
                    part => format!("#{part}"),
                };
                let derived: usize = file.derived.iter().map(|t| t.batch.num_rows()).sum();
                let derived = match derived {
                    0 => String::new(),
                    rows => format!(" +{rows} derived"),
                };
                self.journal
                    .record(format!("stored {} {}{part}{derived}", self.name, file.name));
                Ok(())
            }
            Behaviour::Transient => fail(FailureKind::Transient),
            Behaviour::Reject => fail(FailureKind::Rejected),
            Behaviour::Panic => panic!("{} is broken", self.name),
        }
    }
}
