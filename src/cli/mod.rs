//! Command line: one module per subcommand. This is the binary's edge, where errors
//! become `anyhow` reports and exit codes.
//!
//! Exit codes: 0 the command completed (quarantined files included); 1 a runtime
//! error; 2 invalid arguments or plan; 3 files were held back because a required sink
//! failed (or a file could not be fetched or moved) — they are retried next cycle.

mod archive;
mod completeness;
mod ddl;
mod explain;
mod generate;
mod ingest;
mod query;
mod replay;
mod run;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// pmflow: telecom PM counter files → Arrow → DataFusion → Parquet archive and databases.
#[derive(Debug, Parser)]
#[command(name = "pmflow", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run as a service: every system of a config on its schedule, with leader
    /// election and HTTP health/metrics, until SIGTERM.
    Run(run::RunArgs),
    /// Run one cycle over every file of an inbox, print its statistics, exit.
    Ingest(ingest::IngestArgs),
    /// Run SQL over the archive (each measurement table and rule is a table).
    Query(query::QueryArgs),
    /// Deliver a system's archived rows of a time range again, through the current
    /// rules, to sinks (recompute rules, reload or back-fill a store).
    Replay(replay::ReplayArgs),
    /// Show a plan: its source, sinks, rules and the plans the rules compile to.
    Explain(explain::ExplainArgs),
    /// Generate realistic synthetic PM files for demos and benchmarks.
    Gen(generate::GenArgs),
    /// Print the DDL that other systems need to read what pmflow delivers.
    Ddl(ddl::DdlArgs),
    /// Which nodes reported each ROP of a range: expected, received, missing, late,
    /// partial.
    Completeness(completeness::CompletenessArgs),
    /// Maintain the archive's Delta tables: optimize, vacuum, history.
    Archive(archive::ArchiveArgs),
}

/// Errors a subcommand reports, classified for the exit code.
#[derive(Debug)]
enum Failure {
    /// Arguments or plan are invalid (exit 2).
    Usage(anyhow::Error),
    /// Files were held back for the next cycle (exit 3).
    Held(u64),
    /// Anything else (exit 1).
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Runtime(error)
    }
}

/// Lets a one-shot command end quietly, as Unix tools do, when the reader of its
/// output goes away (`pmflow query … | head`) instead of panicking in `println!`.
/// Sockets are unaffected: Rust writes to them with `MSG_NOSIGNAL`.
fn quiet_on_closed_output() {
    // SAFETY: restores the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The service logs each cycle at info; one-shot commands print their own results.
    let default_level = match cli.command {
        Command::Run(_) => "info",
        _ => "warn",
    };
    if !matches!(cli.command, Command::Run(_)) {
        quiet_on_closed_output();
    }
    // delta-rs warns of each commit another writer won; pmflow retries those itself
    // (archive::table) and says so at debug.
    let default_filter = format!("{default_level},deltalake_core::kernel::transaction=error");
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("PMFLOW_LOG")
                .unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Ingest(args) => ingest::run(args).await,
            Command::Query(args) => query::run(args).await,
            Command::Replay(args) => replay::run(args).await,
            Command::Explain(args) => explain::run(args).await,
            Command::Gen(args) => generate::run(args),
            Command::Ddl(args) => ddl::run(args).await,
            Command::Archive(args) => archive::run(args).await,
            Command::Completeness(args) => completeness::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(error)) => {
            eprintln!("error: {}", render(&error));
            ExitCode::from(2)
        }
        Err(Failure::Held(files)) => {
            eprintln!(
                "error: {files} file(s) held back for the next cycle (see the warnings above)"
            );
            ExitCode::from(3)
        }
        Err(Failure::Runtime(error)) => {
            eprintln!("error: {}", render(&error));
            ExitCode::from(1)
        }
    }
}

/// How results are printed (`--format`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OutputFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header line.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// A progress bar over files with a message (MB so far) and an ETA. Drawn on stderr
/// only when it is a terminal, so logs and CI output stay clean.
fn file_progress_bar(files: u64) -> indicatif::ProgressBar {
    let style =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files · {msg} · {eta}")
            .expect("valid template");
    indicatif::ProgressBar::new(files).with_style(style)
}

/// Prints a cycle's (or replay's) statistics; files held back are a failure (exit 3).
fn report(stats: &pmflow::pipeline::CycleStats) -> Result<(), Failure> {
    println!("{}", stats.render());
    if stats.completed() {
        Ok(())
    } else {
        Err(Failure::Held(stats.held))
    }
}

/// An error and its causes on one line, without repeating a cause that an outer
/// message already quotes (DataFusion's errors embed their sources).
fn render(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}
