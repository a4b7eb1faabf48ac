//! `pmflow query`: SQL over the archive, one row per row key (every version in
//! `<table>_history`), optionally as of a moment.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use clap::Args;
use datafusion::prelude::SessionContext;
use pmflow::archive::{Archive, ReadOptions};
use pmflow::plan::rules;
use pmflow::schema;
use tracing::warn;

use super::{Failure, OutputFormat};

/// Arguments of `pmflow query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Archive directory (or parquet:///path, or s3://bucket/prefix).
    #[arg(long)]
    archive: String,
    /// The SQL query.
    sql: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
    /// Rules tree (`<dir>/<system>/*.sql`) exposed as views; default `sql` if present.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Read the archive as it was at this moment (RFC 3339): only rows ingested at or
    /// before it.
    #[arg(long, value_name = "TIME", value_parser = pmflow::replay::parse_moment)]
    as_of: Option<i64>,
}

/// Registers every rule under `dir/<system>/` as a view, skipping rules whose table is
/// not in the archive and names already taken.
async fn register_rule_views(ctx: &SessionContext, dir: &std::path::Path) -> anyhow::Result<()> {
    let Ok(systems) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut dirs: Vec<PathBuf> = systems.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    for system_dir in dirs.iter().filter(|d| d.is_dir()) {
        for rule in rules::load_dir(system_dir)? {
            if ctx.table_exist(rule.name.as_str())? || !ctx.table_exist(rule.table.as_str())? {
                continue;
            }
            let view = format!(
                "CREATE VIEW \"{}\" AS {}",
                rule.name.replace('"', "\"\""),
                rule.sql
            );
            if let Err(error) = ctx.sql(&view).await {
                warn!(rule = rule.name, %error, "rule cannot be exposed as a view");
            }
        }
    }
    Ok(())
}

/// `batch` with its vector (list) columns in their text form, which CSV can hold.
fn vectors_as_text(batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
    let schema = batch.schema();
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        match column.as_list_opt::<i32>() {
            Some(vectors) => {
                fields.push(Field::new(field.name(), DataType::Utf8, true));
                columns.push(Arc::new(schema::vector_text(vectors)?) as ArrayRef);
            }
            None => {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn print(batches: &[RecordBatch], format: OutputFormat) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    match format {
        OutputFormat::Table => println!("{}", arrow::util::pretty::pretty_format_batches(batches)?),
        OutputFormat::Csv => {
            let mut writer = arrow::csv::Writer::new(stdout.lock());
            for batch in batches {
                writer.write(&vectors_as_text(batch)?)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = arrow::json::ArrayWriter::new(stdout.lock());
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            println!();
        }
    }
    Ok(())
}

/// Runs the command.
pub async fn run(args: QueryArgs) -> Result<(), Failure> {
    let archive = Archive::open(&args.archive).map_err(|e| Failure::Usage(e.into()))?;
    let ctx =
        SessionContext::new_with_config(rules::session_config().with_information_schema(true));
    archive
        .register_tables(
            &ctx,
            ReadOptions {
                as_of: args.as_of,
                system: None,
            },
        )
        .await
        .context("cannot read the archive")?;
    let rules_dir = args.rules.unwrap_or_else(|| PathBuf::from("sql"));
    register_rule_views(&ctx, &rules_dir).await?;
    let frame = ctx
        .sql(&args.sql)
        .await
        .map_err(|e| Failure::Usage(e.into()))?;
    let batches = frame.collect().await.context("query failed")?;
    print(&batches, args.format)?;
    Ok(())
}
