//! The archive sink's configuration: a local directory, as a path, `file://` or
//! `parquet://` URL, or an `s3://bucket/prefix` URL (see [`crate::archive::s3`]), and
//! how files are grouped into commits.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `url` | — | the archive's root |
//! | `files_at_once` | 256 | files whose rows share a commit; the sink takes twice as many at once, the next commit's files arriving while one is written |
//! | `group_rows` | 2,000,000 | rows of one table at most in one commit (one data file per date) |
//! | `group_wait_ms` | 10,000 | how long a commit waits at most for files still on their way |
//!
//! A commit takes the files delivered together: it waits while files of the cycle are
//! on their way to the sink, until `files_at_once` files wait, `group_rows` rows of a
//! table wait, or `group_wait_ms` passed. A cycle of up to `files_at_once` files thus
//! adds one data file per (table, date); service mode completes files at least every
//! `group_wait_ms`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::ArchiveSink;
use crate::archive::Archive;
use crate::sink::Sink;
use crate::sink::registry::{SinkConfig, SinkKind, options};

/// Paths and `parquet://`/`file://`/`s3://` URLs: required by default.
pub static KIND: SinkKind = SinkKind {
    schemes: &["parquet", "file", crate::archive::s3::SCHEME],
    required_by_default: true,
    configure: |table| Ok(Arc::new(ArchiveConfig::from_table(table)?)),
};

/// The keys of an archive sink's table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchiveOptions {
    url: String,
    files_at_once: Option<u64>,
    group_rows: Option<u64>,
    group_wait_ms: Option<u64>,
}

/// Where the archive is and how it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveConfig {
    /// The directory, as a path or URL.
    pub url: String,
    /// Files whose rows share a commit (the sink takes twice as many at once).
    pub files_at_once: usize,
    /// Rows of one table at most in one commit.
    pub group_rows: usize,
    /// How long a commit waits at most for files on their way.
    pub group_wait: Duration,
}

impl ArchiveConfig {
    /// Reads an archive sink's table.
    pub fn from_table(table: toml::Table) -> Result<Self, String> {
        let options: ArchiveOptions = options(table)?;
        Ok(Self {
            url: options.url,
            files_at_once: options.files_at_once.unwrap_or(256).max(1) as usize,
            group_rows: options.group_rows.unwrap_or(2_000_000).max(1) as usize,
            group_wait: Duration::from_millis(options.group_wait_ms.unwrap_or(10_000)),
        })
    }
}

impl std::fmt::Display for ArchiveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "archive {}", self.url)
    }
}

#[async_trait]
impl SinkConfig for ArchiveConfig {
    async fn build(&self, system: &str) -> Result<Arc<dyn Sink>, String> {
        let archive = Archive::open(&self.url).map_err(|e| e.to_string())?;
        Ok(Arc::new(ArchiveSink::new(archive, system, self.clone())))
    }
}
