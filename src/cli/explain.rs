//! `pmflow explain`: what a plan does, and what its rules compile to.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use pmflow::archive::Archive;
use pmflow::config::{Overrides, SystemPlan};
use pmflow::plan::rules::CompiledRule;

use super::Failure;

/// Arguments of `pmflow explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Plan file (plans/<system>.toml).
    #[arg(long)]
    plan: Option<PathBuf>,
    /// System name (default: the plan's); its rules are read from sql/<system>.
    #[arg(long)]
    system: Option<String>,
    /// Archive whose table schemas the rules are compiled against (default: the plan's).
    #[arg(long)]
    archive: Option<String>,
}

/// Runs the command.
pub async fn run(args: ExplainArgs) -> Result<(), Failure> {
    let overrides = Overrides {
        system: args.system,
        archive: args.archive,
        ..Overrides::default()
    };
    let plan = SystemPlan::resolve(args.plan.as_deref(), overrides)
        .map_err(|e| Failure::Usage(e.into()))?;
    println!("system:  {}", plan.system);
    println!(
        "format:  {} (files up to {} bytes decompressed, read whole up to {}; files without measurements {})",
        plan.format.name(),
        plan.max_file_bytes,
        plan.part_limits.in_memory,
        if plan.allow_empty {
            "complete"
        } else {
            "quarantined"
        }
    );
    for (format, settings) in plan.format.settings() {
        println!("{format}:     {}", settings.replace('\n', "\n         "));
    }
    match &plan.source {
        Some(source) => {
            println!("source:  {source}");
            println!("settle:  {}", plan.settle);
        }
        None => println!("source:  (none)"),
    }
    for sink in &plan.sinks {
        println!("sink:    {sink}");
    }
    let w = plan.workers;
    println!(
        "workers: parse {} · deliver {} · queue {} · memory {} MiB",
        w.parse,
        w.deliver,
        w.queue,
        w.memory >> 20
    );
    match &plan.rules_dir {
        Some(dir) => println!("rules:   {} ({} rule(s))", dir.display(), plan.rules.len()),
        None => println!("rules:   (none)"),
    }
    let schemas = match plan.archive_url() {
        Some(url) => {
            let archive = Archive::open(url).map_err(|e| Failure::Usage(e.into()))?;
            archive
                .table_schemas(Some(&plan.system))
                .await
                .context("cannot read the archive")?
        }
        None => Default::default(),
    };
    for rule in &plan.rules {
        println!(
            "\n── rule {} (reads table {}) ──\n{}",
            rule.name,
            rule.table,
            rule.sql.trim()
        );
        match schemas.get(&rule.table) {
            Some(schema) => match CompiledRule::compile(rule, schema.clone()).await {
                Ok(compiled) => println!("compiles to:\n{}", compiled.plan.display_indent()),
                Err(error) => println!("does not compile against the archive's schema: {error}"),
            },
            None => println!(
                "(table {} is not in the archive yet: the rule is compiled on its first batch)",
                rule.table
            ),
        }
    }
    Ok(())
}
