//! The archive sink's configuration: a local directory, as a path, `file://` or
//! `parquet://` URL. It has no other key.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::ArchiveSink;
use crate::archive::Archive;
use crate::sink::Sink;
use crate::sink::registry::{SinkConfig, SinkKind, options};

/// Paths and `parquet://`/`file://` URLs: required by default.
pub static KIND: SinkKind = SinkKind {
    schemes: &["parquet", "file"],
    required_by_default: true,
    configure: |table| Ok(Arc::new(ArchiveConfig::from_table(table)?)),
};

/// The keys of an archive sink's table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchiveOptions {
    url: String,
}

/// Where the archive is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveConfig {
    /// The directory, as a path or URL.
    pub url: String,
}

impl ArchiveConfig {
    /// Reads an archive sink's table.
    pub fn from_table(table: toml::Table) -> Result<Self, String> {
        let options: ArchiveOptions = options(table)?;
        Ok(Self { url: options.url })
    }
}

impl std::fmt::Display for ArchiveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "parquet archive {}", self.url)
    }
}

#[async_trait]
impl SinkConfig for ArchiveConfig {
    async fn build(&self, system: &str) -> Result<Arc<dyn Sink>, String> {
        let archive = Archive::open(&self.url).map_err(|e| e.to_string())?;
        Ok(Arc::new(ArchiveSink::new(archive, system)))
    }
}
