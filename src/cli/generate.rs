//! `pmflow gen`: synthetic PM files.

use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use pmflow::generator::{GenFormat, GenOptions, GenSystem, default_start, generate};

use super::Failure;

/// Arguments of `pmflow gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Output directory (created when missing).
    #[arg(long)]
    out: PathBuf,
    /// Which system's files.
    #[arg(long, value_enum)]
    system: GenSystem,
    /// The files' format; default the system's own (CSV for ont, else 3gpp-xml).
    #[arg(long, value_enum)]
    format: Option<GenFormat>,
    /// Number of network elements.
    #[arg(long, default_value_t = 10)]
    nodes: usize,
    /// Number of 15-minute periods per element.
    #[arg(long, default_value_t = 4)]
    rops: usize,
    /// Objects (cells, slices) per node, as a multiple of a small node's.
    #[arg(long, default_value_t = 1)]
    scale: usize,
    /// Random seed: the same seed gives the same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write gzip-compressed files.
    #[arg(long)]
    gzip: bool,
    /// Begin of the first period (RFC 3339); default 2026-01-05T00:00:00Z.
    #[arg(long)]
    start: Option<DateTime<Utc>>,
}

/// Runs the command.
pub fn run(args: GenArgs) -> Result<(), Failure> {
    let options = GenOptions {
        system: args.system,
        format: args.format.unwrap_or(args.system.default_format()),
        nodes: args.nodes,
        rops: args.rops,
        scale: args.scale,
        seed: args.seed,
        gzip: args.gzip,
        start: args.start.unwrap_or_else(default_start),
    };
    let files_per_report = match options.format {
        GenFormat::Csv => options.system.groups_count(),
        _ => 1,
    };
    let bar = super::file_progress_bar((args.nodes * args.rops * files_per_report) as u64);
    let mut bytes = 0u64;
    let files = generate(&args.out, &options, |written| {
        bytes += written;
        bar.set_message(format!("{:.1} MB", bytes as f64 / 1e6));
        bar.inc(1);
    })
    .with_context(|| format!("cannot write into {}", args.out.display()))?;
    bar.finish_and_clear();
    println!(
        "wrote {} files, {bytes} bytes, into {}",
        files.len(),
        args.out.display()
    );
    Ok(())
}
