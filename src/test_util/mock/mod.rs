//! In-memory sources and sinks whose behaviour a test chooses, and the journal they
//! write what happened into, in order.

mod sink;
mod source;

use std::sync::Mutex;

pub use sink::{Behaviour, MemorySink};
pub use source::{MemorySource, pm_file};

/// What the mock parts did, in the order they did it: `stored <sink> <file>` (with
/// `#<part>` for a large file's later parts), `dropped <sink> <file id>` (a staging
/// sink told to forget a file's parts), `done <file>`, `failed <file>`.
#[derive(Debug, Default)]
pub struct Journal {
    events: Mutex<Vec<String>>,
}

impl Journal {
    /// Appends an event.
    pub fn record(&self, event: String) {
        self.events.lock().expect("journal lock").push(event);
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<String> {
        self.events.lock().expect("journal lock").clone()
    }

    /// The position of an event, if it happened.
    pub fn position(&self, event: &str) -> Option<usize> {
        self.events().iter().position(|e| e == event)
    }
}
