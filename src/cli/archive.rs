//! `pmflow archive optimize|vacuum|history|convert`: maintenance of the archive's Delta
//! tables, and conversion of archives of the earlier hive layout.

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use pmflow::archive::Archive;
use pmflow::archive::table::ArchiveTable;

use super::Failure;

/// Arguments of `pmflow archive`.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    command: ArchiveCommand,
}

#[derive(Debug, Subcommand)]
enum ArchiveCommand {
    /// Compact each date partition's data files (a closed day into one file).
    Optimize {
        #[command(flatten)]
        tables: Tables,
    },
    /// Delete the data files no version of the retention period needs.
    Vacuum {
        #[command(flatten)]
        tables: Tables,
        /// How long replaced files stay readable by time travel (e.g. 7d, 36h).
        #[arg(long, value_parser = humantime::parse_duration)]
        retain: Duration,
    },
    /// Convert the tables of an earlier pmflow's archive (hive folders of Parquet files)
    /// into Delta tables in place; run again to finish a conversion cut short.
    Convert {
        /// Archive directory (or parquet:///path, or s3://bucket/prefix).
        #[arg(long)]
        archive: String,
        /// Only this system's tables.
        #[arg(long)]
        system: Option<String>,
    },
    /// Every commit of one table: version, time, operation, files and rows added.
    History {
        /// Archive directory (or parquet:///path, or s3://bucket/prefix).
        #[arg(long)]
        archive: String,
        /// The system.
        #[arg(long)]
        system: String,
        /// The table.
        #[arg(long)]
        table: String,
    },
}

/// Which tables a maintenance command works on.
#[derive(Debug, Args)]
struct Tables {
    /// Archive directory (or parquet:///path, or s3://bucket/prefix).
    #[arg(long)]
    archive: String,
    /// Only this system's tables.
    #[arg(long)]
    system: Option<String>,
    /// Only tables of this name.
    #[arg(long)]
    table: Option<String>,
}

impl Tables {
    /// The archive and the tables selected, as (name, table).
    async fn open(&self) -> Result<Vec<(String, std::sync::Arc<ArchiveTable>)>, Failure> {
        let archive = Archive::open(&self.archive).map_err(|e| Failure::Usage(e.into()))?;
        let names = archive
            .table_names(self.system.as_deref())
            .await
            .context("cannot list the archive")?;
        Ok(names
            .into_iter()
            .filter(|(_, table)| self.table.as_ref().is_none_or(|t| t == table))
            .map(|(system, table)| {
                let handle = archive.table(&system, &table);
                (format!("{system}/{table}"), handle)
            })
            .collect())
    }
}

/// A table of results with `header`, printed on stdout.
fn print(header: &[&str], rows: Vec<Vec<String>>) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    for row in rows {
        table.add_row(row);
    }
    println!("{table}");
}

/// Runs the command.
pub async fn run(args: ArchiveArgs) -> Result<(), Failure> {
    match args.command {
        ArchiveCommand::Optimize { tables } => {
            let mut rows = Vec::new();
            for (name, table) in tables.open().await? {
                let done = table.optimize().await.context("optimize failed")?;
                rows.push(vec![
                    name,
                    done.partitions.to_string(),
                    done.files_removed.to_string(),
                    done.files_added.to_string(),
                ]);
            }
            print(
                &["table", "dates compacted", "files removed", "files added"],
                rows,
            );
        }
        ArchiveCommand::Vacuum { tables, retain } => {
            let mut rows = Vec::new();
            for (name, table) in tables.open().await? {
                let deleted = table.vacuum(retain).await.context("vacuum failed")?;
                rows.push(vec![name, deleted.to_string()]);
            }
            print(&["table", "files deleted"], rows);
        }
        ArchiveCommand::Convert { archive, system } => convert(&archive, system.as_deref()).await?,
        ArchiveCommand::History {
            archive,
            system,
            table,
        } => {
            let archive = Archive::open(&archive).map_err(|e| Failure::Usage(e.into()))?;
            let history = archive
                .table(&system, &table)
                .history()
                .await
                .context("cannot read the table's log")?;
            if history.is_empty() {
                let message = anyhow::anyhow!("no table {system}/{table} in the archive");
                return Err(Failure::Usage(message));
            }
            let text = |n: Option<u64>| n.map_or_else(String::new, |n| n.to_string());
            let rows = history
                .into_iter()
                .map(|commit| {
                    let time = commit
                        .timestamp_ms
                        .and_then(chrono::DateTime::from_timestamp_millis)
                        .map_or_else(String::new, |t| t.to_rfc3339());
                    vec![
                        commit.version.to_string(),
                        time,
                        commit.operation,
                        text(commit.files),
                        text(commit.rows),
                        text(commit.source_files),
                    ]
                })
                .collect();
            let header = [
                "version",
                "time",
                "operation",
                "files",
                "rows",
                "source files",
            ];
            print(&header, rows);
        }
    }
    Ok(())
}

/// `pmflow archive convert`: every table folder of the archive (of one system), its
/// hive files into its Delta table, with a progress bar on terminals.
async fn convert(archive: &str, system: Option<&str>) -> Result<(), Failure> {
    let archive = Archive::open(archive).map_err(|e| Failure::Usage(e.into()))?;
    let folders = archive
        .table_folders(system)
        .await
        .context("cannot list the archive")?;
    let bar = indicatif::ProgressBar::new(folders.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} tables {msg}")
            .expect("a valid template"),
    );
    let mut rows = Vec::new();
    for (system, table, _) in folders {
        bar.set_message(format!("{system}/{table}"));
        let done = archive
            .convert_table(&system, &table)
            .await
            .with_context(|| format!("converting {system}/{table} failed; run again to resume"))?;
        bar.inc(1);
        if done.hive_files > 0 {
            rows.push(vec![
                format!("{system}/{table}"),
                done.source_files.to_string(),
                done.already_held.to_string(),
                done.hive_files.to_string(),
            ]);
        }
    }
    bar.finish_and_clear();
    let header = [
        "table",
        "source files",
        "already held",
        "hive files removed",
    ];
    print(&header, rows);
    Ok(())
}
