//! The plan stage: aligns each parsed batch to its table's evolving schema, then runs
//! the system's SQL rules over it.

pub mod align;
pub mod rules;

pub use align::SchemaRegistry;
pub use rules::{Rule, RuleError, RuleSet};
