//! `pmflow completeness`: which nodes reported each ROP of a range (see
//! `pmflow::completeness` for the rules).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use pmflow::archive::Archive;
use pmflow::completeness::{Expectations, RopCompleteness, Rules, completeness};
use pmflow::config::{Overrides, SystemPlan};
use pmflow::replay::parse_moment;

use super::{Failure, OutputFormat};

/// Arguments of `pmflow completeness`.
#[derive(Debug, Args)]
pub struct CompletenessArgs {
    /// The archive: a directory (or parquet:///path, or s3://bucket/prefix).
    #[arg(long)]
    archive: String,
    /// The system.
    #[arg(long)]
    system: String,
    /// First ROP reported (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_moment)]
    from: i64,
    /// End of the range (RFC 3339, exclusive).
    #[arg(long, value_name = "TIME", value_parser = parse_moment)]
    to: i64,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
    /// A plan whose `[completeness]` section gives the defaults of the three flags
    /// below (as the service's API uses it).
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Nodes seen this long before a ROP are expected in it (default 7d).
    #[arg(long, value_parser = humantime::parse_duration)]
    lookback: Option<Duration>,
    /// A node whose first file for a ROP came this long after the ROP's first file
    /// is late (default 30m).
    #[arg(long, value_parser = humantime::parse_duration)]
    late_after: Option<Duration>,
    /// A file naming the nodes expected in every ROP, one per line (default: the
    /// nodes seen within the look-back).
    #[arg(long, value_name = "FILE")]
    nodes: Option<PathBuf>,
}

/// Runs the command.
pub async fn run(args: CompletenessArgs) -> Result<(), Failure> {
    if args.from >= args.to {
        return Err(Failure::Usage(anyhow!("--from must be before --to")));
    }
    let nodes = match &args.nodes {
        Some(path) => Some(
            pmflow::completeness::read_nodes(path)
                .with_context(|| format!("--nodes {}", path.display()))
                .map_err(Failure::Usage)?,
        ),
        None => None,
    };
    let planned = match &args.plan {
        Some(plan) => {
            let overrides = Overrides {
                system: Some(args.system.clone()),
                ..Overrides::default()
            };
            let plan = SystemPlan::resolve(Some(plan), overrides);
            plan.map_err(|e| Failure::Usage(e.into()))?.completeness
        }
        None => Expectations::default(),
    };
    let micros = |duration: Duration| duration.as_micros().min(i64::MAX as u128) as i64;
    let expectations = Expectations {
        lookback: args.lookback.map(micros).or(planned.lookback),
        late_after: args.late_after.map(micros).or(planned.late_after),
        nodes: nodes.or(planned.nodes),
    };
    let rules = expectations.rules(Rules::with_defaults(args.from, args.to));
    let archive = Archive::open(&args.archive).map_err(|e| Failure::Usage(e.into()))?;
    let ledger = completeness(&archive, &args.system, &rules)
        .await
        .context("cannot read the archive")?;
    match args.format {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&ledger).context("JSON")?)
        }
        OutputFormat::Csv => print!("{}", csv(&ledger)),
        OutputFormat::Table => println!("{}", table(&ledger)),
    }
    Ok(())
}

/// The ledger as CSV: node lists joined by spaces.
fn csv(ledger: &[RopCompleteness]) -> String {
    let mut out = String::from(
        "period_start,granularity_s,expected,received,missing,late,late_nodes,partial,partial_nodes\n",
    );
    for rop in ledger {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            rop.period_start,
            rop.granularity_s,
            rop.expected,
            rop.received,
            csv_field(&rop.missing.join(" ")),
            rop.late,
            csv_field(&rop.late_nodes.join(" ")),
            rop.partial,
            csv_field(&rop.partial_nodes.join(" ")),
        ));
    }
    out
}

/// A CSV field, quoted when it must be (node names are data from files).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The ledger as a table for terminals.
fn table(ledger: &[RopCompleteness]) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "period_start",
        "expected",
        "received",
        "missing",
        "late",
        "partial",
    ]);
    for rop in ledger {
        let number = |n: usize| Cell::new(n).set_alignment(CellAlignment::Right);
        table.add_row([
            Cell::new(&rop.period_start),
            number(rop.expected),
            number(rop.received),
            Cell::new(rop.missing.join(" ")),
            Cell::new(rop.late_nodes.join(" ")),
            Cell::new(rop.partial_nodes.join(" ")),
        ]);
    }
    table.to_string()
}
