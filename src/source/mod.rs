//! Sources: where counter files come from, and where they go when they are done.
//!
//! A source lists candidate files, fetches one into memory, and completes it: into
//! `Done/` once every required sink acknowledged it, into `Failed/` (with the reason
//! beside it) when it cannot be parsed. Files in `Done/` and `Failed/` are never listed.

pub mod ftp;
pub mod local;
pub mod scan_paths;

use async_trait::async_trait;
use bytes::Bytes;
use globset::{Glob, GlobSet, GlobSetBuilder};
use tracing::warn;

pub use ftp::FtpSource;
pub use local::LocalDirSource;
pub use scan_paths::ScanPaths;

/// Folder, beside the listed files, that completed files move into.
pub const DONE_DIR: &str = "Done";
/// Folder, beside the listed files, that unparseable files move into.
pub const FAILED_DIR: &str = "Failed";
/// Suffix of the file written beside a failed file, holding the reason.
pub const REASON_SUFFIX: &str = ".reason";

/// A file a source listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The folder it is in (one of the source's scan paths).
    pub folder: String,
    /// File name without directory.
    pub name: String,
    /// Size in bytes as listed.
    pub size: u64,
}

/// How a file leaves its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// Every required sink acknowledged every row: move to `Done/`.
    Done,
    /// The file cannot be parsed: move to `Failed/` with this reason beside it.
    Failed(String),
}

/// A source failed to list, fetch or complete.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: cannot {action}{}: {error}", if file.is_empty() { String::new() } else { format!(" {file}") })]
pub struct SourceError {
    /// The source, described without secrets.
    pub source_name: String,
    /// What was attempted: `list`, `fetch`, `complete`.
    pub action: &'static str,
    /// The file concerned (empty for `list`).
    pub file: String,
    /// The underlying error.
    pub error: std::io::Error,
}

/// A place counter files are collected from.
#[async_trait]
pub trait Source: Send + Sync {
    /// Human-readable location, never including credentials.
    fn describe(&self) -> String;
    /// Checks that the folder can be read, without listing it: what `GET /readyz` asks.
    async fn probe(&self) -> Result<(), SourceError>;
    /// Lists files waiting to be processed that match the filter.
    async fn list(&self) -> Result<Vec<SourceFile>, SourceError>;
    /// Reads a file's bytes.
    async fn fetch(&self, file: &SourceFile) -> Result<Bytes, SourceError>;
    /// Moves a file out of the inbox according to its completion.
    async fn complete(&self, file: &SourceFile, completion: &Completion)
    -> Result<(), SourceError>;
}

/// The files of a source's folders, from each folder's listing. A folder that could
/// not be listed is skipped with a warning (and the folders are resolved again next
/// time); only when none could be listed does the listing fail.
pub async fn merge_listings(
    paths: &ScanPaths,
    listings: Vec<Result<Vec<SourceFile>, SourceError>>,
) -> Result<Vec<SourceFile>, SourceError> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let folders = listings.len();
    for listing in listings {
        match listing {
            Ok(listed) => files.extend(listed),
            Err(error) => errors.push(error),
        }
    }
    if !errors.is_empty() {
        paths.forget().await;
        if errors.len() == folders {
            return Err(errors.swap_remove(0));
        }
        for error in &errors {
            warn!(%error, "folder skipped this cycle");
        }
    }
    files.sort_by(|a, b| (&a.folder, &a.name).cmp(&(&b.folder, &b.name)));
    Ok(files)
}

/// File-name filter of a plan: glob patterns (`*.xml`, `A*.xml.gz`), any of which
/// must match. Hidden files (`.name`) never match: uploads in progress use them.
#[derive(Debug, Clone)]
pub struct NameFilter {
    globs: GlobSet,
}

impl NameFilter {
    /// Builds a filter from glob patterns; an empty list matches every visible file.
    pub fn new(patterns: &[String]) -> Result<Self, globset::Error> {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            builder.add(Glob::new(pattern)?);
        }
        if patterns.is_empty() {
            builder.add(Glob::new("*")?);
        }
        Ok(Self {
            globs: builder.build()?,
        })
    }

    /// Whether a file name passes the filter.
    pub fn matches(&self, name: &str) -> bool {
        !name.starts_with('.') && self.globs.is_match(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matches_globs_and_hides_dotfiles() {
        let filter = NameFilter::new(&["*.xml".into(), "*.xml.gz".into()]).unwrap();
        assert!(filter.matches("A20220418.1900-1915_x.xml"));
        assert!(filter.matches("a.xml.gz"));
        assert!(!filter.matches("a.csv"));
        assert!(!filter.matches(".a.xml"));
        assert!(NameFilter::new(&[]).unwrap().matches("anything"));
    }
}
