//! Sources: where counter files come from, and where they go when they are done.
//!
//! A source lists candidate files, fetches one into memory, and completes it: into
//! `Done/` once every required sink acknowledged it, into `Failed/` (with the reason
//! beside it) when it cannot be parsed. Files in `Done/` and `Failed/` are never listed,
//! nor are names of files being written ([`NameFilter`]); which listed files are
//! complete enough to take is [`settle`]'s rule. A file whose size changed since it
//! was fetched is not moved: its writer was still at work, and it is taken again.

pub mod ftp;
pub mod local;
pub mod scan_paths;
pub mod settle;

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use tracing::warn;

pub use ftp::FtpSource;
pub use local::LocalDirSource;
pub use scan_paths::ScanPaths;
pub use settle::SettleRules;

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
    /// Size in bytes as listed; once fetched, the size that was read.
    pub size: u64,
    /// Last modification as listed, when the listing tells (see
    /// [`Source::clock_error`] for how exact it is).
    pub modified: Option<SystemTime>,
}

impl SourceFile {
    /// `folder/name`: the file's identity within its source.
    pub fn path(&self) -> String {
        format!("{}/{}", self.folder.trim_end_matches('/'), self.name)
    }
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
    /// How far a listed modification time may be from the true one (time zone,
    /// precision), so that a file's age is never overestimated.
    fn clock_error(&self) -> Duration {
        Duration::ZERO
    }
    /// Checks that the folder can be read, without listing it: what `GET /readyz` asks.
    async fn probe(&self) -> Result<(), SourceError>;
    /// Lists files waiting to be processed that match the filter.
    async fn list(&self) -> Result<Vec<SourceFile>, SourceError>;
    /// Reads a file's bytes.
    async fn fetch(&self, file: &SourceFile) -> Result<Bytes, SourceError>;
    /// Moves a file out of the inbox according to its completion; refuses, leaving it
    /// in place, when its size is no longer `file.size` (the size fetched).
    async fn complete(&self, file: &SourceFile, completion: &Completion)
    -> Result<(), SourceError>;
}

/// Why a file is not moved: its size is no longer the `fetched` size, so its writer
/// was still at work; it stays, to be read again next cycle.
fn changed_since_fetch(fetched: u64, now: u64) -> std::io::Error {
    std::io::Error::other(format!(
        "it changed after it was read ({fetched} bytes, now {now}): left to be read again"
    ))
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

/// Names of files still being written, by default: the temporary names uploaders
/// and writers use before renaming a finished file into place.
pub const DEFAULT_TEMPORARY_NAMES: [&str; 4] = ["*.tmp", "*.part", "*.filepart", ".*"];

/// File-name filter of a plan: glob patterns (`*.xml`, `A*.xml.gz`), any of which
/// must match, and temporary-name patterns (matched ignoring case), none of which may.
#[derive(Debug, Clone)]
pub struct NameFilter {
    include: GlobSet,
    temporary: GlobSet,
}

impl NameFilter {
    /// Builds a filter from glob patterns (an empty list matches every name) and the
    /// patterns of temporary names, which never match.
    pub fn new<T: AsRef<str>>(include: &[String], temporary: &[T]) -> Result<Self, globset::Error> {
        let mut builder = GlobSetBuilder::new();
        for pattern in include {
            builder.add(Glob::new(pattern)?);
        }
        if include.is_empty() {
            builder.add(Glob::new("*")?);
        }
        let mut temporaries = GlobSetBuilder::new();
        for pattern in temporary {
            temporaries.add(
                GlobBuilder::new(pattern.as_ref())
                    .case_insensitive(true)
                    .build()?,
            );
        }
        Ok(Self {
            include: builder.build()?,
            temporary: temporaries.build()?,
        })
    }

    /// Whether a file name passes the filter.
    pub fn matches(&self, name: &str) -> bool {
        self.include.is_match(name) && !self.temporary.is_match(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matches_globs_and_hides_temporary_names() {
        let filter = NameFilter::new(
            &["*.xml".into(), "*.xml.gz".into(), "*.tmp".into()],
            &DEFAULT_TEMPORARY_NAMES,
        )
        .unwrap();
        assert!(filter.matches("A20220418.1900-1915_x.xml"));
        assert!(filter.matches("a.xml.gz"));
        assert!(!filter.matches("a.csv"));
        for temporary in [
            ".a.xml",
            "a.tmp",
            "a.xml.part",
            "a.xml.filepart",
            "A.XML.PART",
        ] {
            assert!(!filter.matches(temporary), "{temporary}");
        }
        let everything = NameFilter::new::<&str>(&[], &[]).unwrap();
        assert!(everything.matches("anything") && everything.matches(".hidden"));
        let custom = NameFilter::new(&[], &["*.uploading"]).unwrap();
        assert!(!custom.matches("a.xml.uploading") && custom.matches("a.xml.part"));
    }
}
