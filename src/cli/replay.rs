//! `pmflow replay`: a system's archived rows of a time range delivered again through
//! the plan's current rules to sinks (see `pmflow::replay` for what is sent).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, anyhow};
use clap::Args;
use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use pmflow::archive::Archive;
use pmflow::config::{Overrides, SystemPlan};
use pmflow::pipeline::{BuildError, Delivery, Progress, build_sinks};
use pmflow::replay::{self, DaySummary, ReplayError, Request, Selection, Speed};
use tokio_util::sync::CancellationToken;

use super::Failure;

/// Arguments of `pmflow replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The archive read: a directory (or parquet:///path, or s3://bucket/prefix).
    #[arg(long)]
    archive: String,
    /// The system whose tables are replayed.
    #[arg(long)]
    system: String,
    /// First period replayed (RFC 3339): rows with `period_start` at or after it.
    #[arg(long, value_name = "TIME", value_parser = pmflow::replay::parse_moment)]
    from: i64,
    /// End of the range (RFC 3339): rows with `period_start` before it.
    #[arg(long, value_name = "TIME", value_parser = pmflow::replay::parse_moment)]
    to: i64,
    /// Plan file whose rules and sinks are used (default: rules of sql/<system>).
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Sink URL, repeatable: replaces the plan's sinks.
    #[arg(long = "sink", value_name = "URL")]
    sinks: Vec<String>,
    /// Only these tables, comma-separated.
    #[arg(long, value_delimiter = ',')]
    tables: Option<Vec<String>>,
    /// Only nodes whose name matches this glob (e.g. `gNB00*`).
    #[arg(long, value_name = "GLOB")]
    ne: Option<String>,
    /// Read the archive as it was at this moment (RFC 3339): rows ingested at or
    /// before it.
    #[arg(long, value_name = "TIME", value_parser = pmflow::replay::parse_moment)]
    as_of: Option<i64>,
    /// Deliver only the rules' outputs, not the measurement tables.
    #[arg(long)]
    rules_only: bool,
    /// `max` (as fast as the sinks take) or `Nx`: N seconds of data per second.
    #[arg(long, default_value = "max")]
    speed: Speed,
    /// Print the files and rows that would be read per day and table, then exit.
    #[arg(long)]
    dry_run: bool,
}

/// Runs the command.
pub async fn run(args: ReplayArgs) -> Result<(), Failure> {
    if args.from >= args.to {
        return Err(Failure::Usage(anyhow!("--from must be before --to")));
    }
    let archive = Archive::open(&args.archive).map_err(|e| Failure::Usage(e.into()))?;
    let selection = Selection {
        system: args.system.clone(),
        from: args.from,
        to: args.to,
        tables: args.tables,
        ne: args.ne,
        as_of: args.as_of,
    };
    if args.dry_run {
        let days = replay::dry_run(&archive, &selection)
            .await
            .map_err(failure)?;
        println!("{}", render_days(&days));
        return Ok(());
    }
    let explicit_sinks = !args.sinks.is_empty();
    let overrides = Overrides {
        system: Some(args.system),
        sinks: args.sinks,
        ..Overrides::default()
    };
    let mut plan = SystemPlan::resolve(args.plan.as_deref(), overrides)
        .map_err(|e| Failure::Usage(e.into()))?;
    // Sinks given on the command line are all asked for by name, so an archive
    // among them is refused rather than left out.
    let wanted: Option<Vec<String>> =
        explicit_sinks.then(|| plan.sinks.iter().map(|s| s.kind.to_string()).collect());
    plan.sinks = replay::replay_sinks(&plan.sinks, wanted.as_deref())
        .map_err(|message| Failure::Usage(anyhow!(message)))?;
    let sinks = build_sinks(&plan.system, &plan.sinks)
        .await
        .map_err(|e: BuildError| Failure::Runtime(e.into()))?;
    let schemas = archive
        .table_schemas(Some(&plan.system))
        .await
        .context("cannot read the archive's schemas")?;
    let delivery = Delivery::new(
        plan.system.clone(),
        sinks,
        schemas,
        plan.rules.clone(),
        plan.workers.deliver,
    );
    let request = Request {
        selection,
        rules_only: args.rules_only,
        speed: args.speed,
    };
    let bar = super::file_progress_bar(0);
    let rows = AtomicU64::new(0);
    let progress = |event: Progress<'_>| match event {
        Progress::Listed(files) => bar.inc_length(files),
        Progress::Finished(report) => {
            let total = rows.fetch_add(report.rows, Ordering::Relaxed) + report.rows;
            bar.set_message(format!("{total} rows"));
            bar.inc(1);
        }
    };
    let stats = replay::replay(
        &archive,
        &delivery,
        &request,
        &progress,
        &CancellationToken::new(),
    )
    .await
    .map_err(failure)?;
    bar.finish_and_clear();
    super::report(&stats)
}

/// A replay error as a failure: a table or pattern asked for that cannot be read is
/// the caller's mistake (exit 2); the rest are runtime errors.
fn failure(error: ReplayError) -> Failure {
    match error {
        e @ (ReplayError::NoSuchTable { .. } | ReplayError::Pattern(_)) => Failure::Usage(e.into()),
        e => Failure::Runtime(e.into()),
    }
}

/// What `--dry-run` prints: a line per day and table with rows, and the rows in
/// total (a source file has rows in several tables, so its files do not add up).
fn render_days(days: &[DaySummary]) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(["date", "table", "files", "rows"]);
    let mut rows = 0;
    for day in days {
        for summary in day.tables.iter().filter(|s| s.rows > 0) {
            rows += summary.rows;
            table.add_row([
                Cell::new(&day.date),
                Cell::new(&summary.table),
                Cell::new(summary.files).set_alignment(CellAlignment::Right),
                Cell::new(summary.rows).set_alignment(CellAlignment::Right),
            ]);
        }
    }
    table.add_row([
        Cell::new("total"),
        Cell::new(""),
        Cell::new(""),
        Cell::new(rows).set_alignment(CellAlignment::Right),
    ]);
    table.to_string()
}
