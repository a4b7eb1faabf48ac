//! `pmflow ingest`: one cycle over an inbox (local or FTP), then exit.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use clap::Args;
use pmflow::config::{Overrides, SystemPlan};
use pmflow::pipeline::{BuildError, Pipeline, Progress};
use tokio_util::sync::CancellationToken;

use super::Failure;

/// Arguments of `pmflow ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Inbox: a local directory or an ftp://user:pass@host:port/folder URL (overrides
    /// the plan's [source] url).
    inbox: Option<String>,
    /// Parquet archive directory: a required archive sink (replaces the plan's sinks).
    #[arg(long)]
    archive: Option<String>,
    /// Extra sink URL, repeatable (replaces the plan's sinks).
    #[arg(long = "sink", value_name = "URL")]
    sinks: Vec<String>,
    /// System name; default: the plan's, else the inbox folder's name, else `pm`.
    #[arg(long)]
    system: Option<String>,
    /// Plan file (plans/<system>.toml).
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Take every listed file at once, without waiting for files still being written
    /// to settle (for folders nothing writes into).
    #[arg(long)]
    no_settle: bool,
}

/// Runs the command.
pub async fn run(args: IngestArgs) -> Result<(), Failure> {
    let overrides = Overrides {
        system: args.system,
        source: args.inbox,
        archive: args.archive,
        sinks: args.sinks,
        no_settle: args.no_settle,
    };
    let plan = SystemPlan::resolve(args.plan.as_deref(), overrides)
        .map_err(|e| Failure::Usage(e.into()))?;
    let pipeline = Pipeline::build(&plan).await.map_err(|e| match e {
        e @ (BuildError::Config(_) | BuildError::Source { .. }) => Failure::Usage(e.into()),
        other => Failure::Runtime(other.into()),
    })?;
    let bar = super::file_progress_bar(0);
    let bytes = AtomicU64::new(0);
    let progress = |event: Progress<'_>| match event {
        Progress::Listed(files) => bar.inc_length(files),
        Progress::Finished(report) => {
            let total =
                bytes.fetch_add(report.content_bytes, Ordering::Relaxed) + report.content_bytes;
            bar.set_message(format!("{:.1} MB", total as f64 / 1e6));
            bar.inc(1);
        }
    };
    let stats = pipeline
        .run_cycle(&progress, &CancellationToken::new())
        .await
        .context("cycle failed")?;
    bar.finish_and_clear();
    super::report(&stats)
}
