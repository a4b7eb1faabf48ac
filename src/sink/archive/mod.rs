//! The archive sink: raw counters as they arrived (schema-aligned, before the rules)
//! into the archive's Delta tables (see `crate::archive`).
//!
//! Files delivered together go into each table in one commit ([`GroupCommit`], keyed
//! by table): one data file per date, at most `group_rows` rows (see `config` for
//! how long a commit waits for the files of its cycle). A large file
//! delivered in parts is staged part by part (data files written, not committed) and
//! committed with its last part, so a table holds all of a source file or none of
//! it. A file the table already holds adds nothing.

pub mod config;

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use self::config::ArchiveConfig;
use super::group_commit::GroupCommit;
use super::{PlannedFile, Sink, SinkError, TableFailure};
use crate::archive::table::StagedFile;
use crate::archive::{Archive, ArchiveError};

/// Writes each file's measurement tables into the archive.
pub struct ArchiveSink {
    archive: Archive,
    system: String,
    settings: ArchiveConfig,
    groups: GroupCommit,
    /// The staged data files of large files still being delivered, by file and table.
    staged: Mutex<HashMap<String, HashMap<String, Vec<StagedFile>>>>,
}

impl ArchiveSink {
    /// A sink writing `system`'s files into `archive` as `settings` say.
    pub fn new(archive: Archive, system: &str, settings: ArchiveConfig) -> Self {
        Self {
            archive,
            system: system.to_string(),
            groups: GroupCommit::waiting_for_files(settings.files_at_once, settings.group_wait),
            settings,
            staged: Mutex::default(),
        }
    }

    /// Appends a whole file's tables, each with the files delivered at the same time.
    async fn write_whole(&self, file: &PlannedFile) -> Result<(), TableFailure> {
        let entries = file
            .tables
            .iter()
            .map(|t| (t.table.clone(), t.batch.clone()))
            .collect();
        let insert = |table: &str, batches| {
            let archived = self.archive.table(&self.system, table);
            let table = table.to_string();
            async move {
                let appended = archived.append(batches).await;
                appended.map(|_| ()).map_err(|e| failure(&table, e))
            }
        };
        self.groups
            .submit_file(entries, self.settings.group_rows, insert)
            .await
    }

    /// Stages a part of a large file; with its last part, commits all of them.
    async fn write_part(&self, file: &PlannedFile) -> Result<(), TableFailure> {
        if file.part == 0 {
            self.staged
                .lock()
                .expect("staged lock")
                .remove(&file.file_id);
        }
        for table in &file.tables {
            let archived = self.archive.table(&self.system, &table.table);
            let staged = archived
                .stage(&table.batch)
                .await
                .map_err(|e| failure(&table.table, e))?;
            let mut all = self.staged.lock().expect("staged lock");
            let of_file = all.entry(file.file_id.clone()).or_default();
            of_file
                .entry(table.table.clone())
                .or_default()
                .extend(staged);
        }
        if !file.last_part {
            return Ok(());
        }
        let of_file = self
            .staged
            .lock()
            .expect("staged lock")
            .remove(&file.file_id);
        for (table, staged) in of_file.unwrap_or_default() {
            let archived = self.archive.table(&self.system, &table);
            archived
                .commit_staged(&file.file_id, staged)
                .await
                .map_err(|e| failure(&table, e))?;
        }
        Ok(())
    }
}

/// A table's archive error as the sink reports it: bad rows are refused for good,
/// anything else may pass.
fn failure(table: &str, error: ArchiveError) -> TableFailure {
    let transient = !matches!(error, ArchiveError::Rows { .. });
    TableFailure::new(table, error, transient)
}

#[async_trait]
impl Sink for ArchiveSink {
    fn describe(&self) -> String {
        self.archive.url()
    }

    fn kind(&self) -> &'static str {
        "archive"
    }

    async fn probe(&self) -> Result<(), String> {
        self.archive.probe().await
    }

    fn announce(&self, files: isize) {
        self.groups.announce(files);
    }

    fn hold_back(&self, files: isize) {
        self.groups.hold_back(files);
    }

    /// Many: files written together share commits; twice a commit's worth, so
    /// that the next commit's files arrive while one is written.
    fn files_at_once(&self) -> Option<usize> {
        Some(self.groups.files_at_once())
    }

    /// No: the archive keeps counters as they arrived; rules are views over it.
    fn takes_rule_outputs(&self) -> bool {
        false
    }

    /// Yes: parts are written as data files that only their file's last part
    /// commits.
    fn stages_parts(&self) -> bool {
        true
    }

    /// Forgets the staged data files; never committed, they are never read, and
    /// `archive vacuum` removes them.
    fn drop_parts(&self, file_id: &str) {
        self.staged.lock().expect("staged lock").remove(file_id);
    }

    async fn write(&self, file: &PlannedFile) -> Result<(), SinkError> {
        let whole = file.part == 0 && file.last_part;
        let written = match whole {
            true => {
                // A file read in parts may come again whole: its parts are void.
                self.drop_parts(&file.file_id);
                self.write_whole(file).await
            }
            false => self.write_part(file).await,
        };
        written.map_err(|failure| SinkError::new(self, file, failure.kind(), failure.to_string()))
    }
}
