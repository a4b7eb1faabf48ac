//! pmflow: a dataflow engine for telecom performance-management (PM) counters.
//!
//! Counter files are collected from a [`source`], parsed by a [`format`] into Arrow
//! record batches (one per measurement table), aligned and transformed by the
//! [`plan`] (schema evolution, SQL rules), and delivered to every [`sink`]; the
//! [`pipeline`] wires the stages and completes each file only once every required
//! sink acknowledged it. [`archive`] reads the Delta archive back for `query`, [`replay`] delivers
//! what it holds again through the current rules, and [`completeness`] tells which
//! nodes reported each ROP.
//! [`service`] runs the cycles of many systems on schedules (`pmflow run`), with
//! leader election and HTTP endpoints, and with [`cluster`] shares each system's
//! files among many processes; [`telemetry`] declares its metrics.

pub mod archive;
pub mod cluster;
pub mod completeness;
pub mod config;
pub mod format;
pub mod generator;
pub mod pipeline;
pub mod plan;
pub mod replay;
pub mod retry;
pub mod schema;
pub mod secret;
pub mod service;
pub mod sink;
pub mod source;
pub mod telemetry;
#[cfg(test)]
pub mod test_util;
