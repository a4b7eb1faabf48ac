//! The folders a source scans. A source's folder may have glob segments, as when every
//! network element delivers into a folder of its own (`/pm/*/5ga`, `/pm/gNB*`); the
//! folders matching it are found by listing the tree and kept for a while (`scan_ttl_s`,
//! default 1 h), since listing a large tree every cycle costs more than the new files.
//! `Done/` and `Failed/` never match a glob: completed files are not collected again.

use std::future::Future;
use std::time::{Duration, Instant};

use globset::{Glob, GlobMatcher};
use tokio::sync::Mutex;

use super::{DONE_DIR, FAILED_DIR};

/// How long a resolved list of folders is used before the tree is listed again.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// One path segment after the first glob.
#[derive(Debug)]
enum Segment {
    /// Matches folders of exactly this name.
    Literal(String),
    /// Matches folders whose name the glob matches.
    Glob(GlobMatcher),
}

impl Segment {
    fn matches(&self, name: &str) -> bool {
        match self {
            Segment::Literal(literal) => name == literal,
            Segment::Glob(glob) => name != DONE_DIR && name != FAILED_DIR && glob.is_match(name),
        }
    }
}

/// A source's folder or folder pattern, and the folders it last resolved to.
#[derive(Debug)]
pub struct ScanPaths {
    /// The path up to the first glob segment (the whole path when there is none).
    base: String,
    /// The segments from the first glob on.
    rest: Vec<Segment>,
    ttl: Duration,
    cache: Mutex<Option<(Instant, Vec<String>)>>,
}

/// Whether a path segment is a glob pattern.
fn is_glob(segment: &str) -> bool {
    segment.contains(['*', '?', '[', '{'])
}

/// `parent/name` without doubling the separator.
fn join(parent: &str, name: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{name}")
    } else {
        format!("{parent}/{name}")
    }
}

impl ScanPaths {
    /// Folders of `pattern` (`/`-separated), resolved again after `ttl`.
    pub fn new(pattern: &str, ttl: Duration) -> Result<Self, String> {
        let segments: Vec<&str> = pattern.split('/').collect();
        let first_glob = segments
            .iter()
            .position(|s| is_glob(s))
            .unwrap_or(segments.len());
        let base = match segments[..first_glob].join("/") {
            base if base.is_empty() && pattern.starts_with('/') => "/".to_string(),
            base => base,
        };
        let rest = segments[first_glob..]
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| match is_glob(s) {
                true => Glob::new(s)
                    .map(|g| Segment::Glob(g.compile_matcher()))
                    .map_err(|e| format!("folder pattern {pattern:?}: {e}")),
                false => Ok(Segment::Literal(s.to_string())),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            base,
            rest,
            ttl,
            cache: Mutex::new(None),
        })
    }

    /// The folders to scan: the folder itself when it has no glob; else those
    /// matching, from the cache while it is younger than the TTL, else found with
    /// `subfolders` (the names of a folder's sub-folders).
    pub async fn folders<F, Fut, E>(&self, subfolders: F) -> Result<Vec<String>, E>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<Vec<String>, E>>,
    {
        if self.rest.is_empty() {
            return Ok(vec![self.base.clone()]);
        }
        let mut cache = self.cache.lock().await;
        if let Some((resolved, folders)) = cache.as_ref()
            && resolved.elapsed() < self.ttl
        {
            return Ok(folders.clone());
        }
        let mut folders = vec![self.base.clone()];
        for segment in &self.rest {
            let mut next = Vec::new();
            for folder in folders {
                let names = subfolders(folder.clone()).await?;
                next.extend(
                    names
                        .iter()
                        .filter(|name| segment.matches(name))
                        .map(|name| join(&folder, name)),
                );
            }
            folders = next;
        }
        folders.sort();
        *cache = Some((Instant::now(), folders.clone()));
        Ok(folders)
    }

    /// How messages name `folder`: not at all when it is the source's only folder
    /// (the source's own name says it), else by its path.
    pub fn label<'a>(&self, folder: &'a str) -> &'a str {
        if self.rest.is_empty() { "" } else { folder }
    }

    /// The path up to the first glob segment: the folder a probe checks.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Forgets the resolved folders (one of them could not be listed: the tree
    /// changed), so the next cycle lists the tree again.
    pub async fn forget(&self) {
        *self.cache.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A tree of folders: path → sub-folder names; counts the listings.
    struct Tree {
        folders: HashMap<&'static str, Vec<&'static str>>,
        listings: AtomicUsize,
    }

    impl Tree {
        async fn subfolders(&self, path: String) -> Result<Vec<String>, String> {
            self.listings.fetch_add(1, Ordering::Relaxed);
            let names = self.folders.get(path.as_str()).ok_or(path)?;
            Ok(names.iter().map(|n| n.to_string()).collect())
        }
    }

    fn tree() -> Tree {
        Tree {
            folders: HashMap::from([
                ("/pm", vec!["gnb1", "gnb2", "enb1", "Done"]),
                ("/pm/gnb1", vec!["5ga", "tmp"]),
                ("/pm/gnb2", vec!["5ga"]),
                ("/pm/enb1", vec!["4ga"]),
                ("/pm/Done", vec!["5ga"]),
            ]),
            listings: AtomicUsize::new(0),
        }
    }

    #[tokio::test]
    async fn globs_resolve_level_by_level_and_skip_done_and_failed() {
        let tree = tree();
        let paths = ScanPaths::new("/pm/*/5ga", DEFAULT_TTL).unwrap();
        let folders = paths.folders(|p| tree.subfolders(p)).await.unwrap();
        assert_eq!(folders, ["/pm/gnb1/5ga", "/pm/gnb2/5ga"]);
        let paths = ScanPaths::new("/pm/gnb*", DEFAULT_TTL).unwrap();
        let folders = paths.folders(|p| tree.subfolders(p)).await.unwrap();
        assert_eq!(folders, ["/pm/gnb1", "/pm/gnb2"]);
    }

    #[tokio::test]
    async fn a_plain_folder_is_never_listed_and_results_are_cached_until_the_ttl() {
        let tree = tree();
        let plain = ScanPaths::new("/pm/gnb1/5ga", DEFAULT_TTL).unwrap();
        let folders = plain.folders(|p| tree.subfolders(p)).await.unwrap();
        assert_eq!(folders, ["/pm/gnb1/5ga"]);
        assert_eq!(tree.listings.load(Ordering::Relaxed), 0);

        let cached = ScanPaths::new("/pm/*", DEFAULT_TTL).unwrap();
        cached.folders(|p| tree.subfolders(p)).await.unwrap();
        cached.folders(|p| tree.subfolders(p)).await.unwrap();
        assert_eq!(tree.listings.load(Ordering::Relaxed), 1);
        cached.forget().await;
        cached.folders(|p| tree.subfolders(p)).await.unwrap();
        assert_eq!(tree.listings.load(Ordering::Relaxed), 2);

        let expired = ScanPaths::new("/pm/*", Duration::ZERO).unwrap();
        expired.folders(|p| tree.subfolders(p)).await.unwrap();
        expired.folders(|p| tree.subfolders(p)).await.unwrap();
        assert_eq!(tree.listings.load(Ordering::Relaxed), 4);
    }

    #[tokio::test]
    async fn relative_patterns_and_listing_errors() {
        let tree = Tree {
            folders: HashMap::from([("in", vec!["a", "b"])]),
            listings: AtomicUsize::new(0),
        };
        let paths = ScanPaths::new("in/*", DEFAULT_TTL).unwrap();
        let folders = paths.folders(|p| tree.subfolders(p)).await.unwrap();
        assert_eq!(folders, ["in/a", "in/b"]);
        let missing = ScanPaths::new("out/*", DEFAULT_TTL).unwrap();
        let err = missing.folders(|p| tree.subfolders(p)).await.unwrap_err();
        assert_eq!(err, "out");
        assert!(ScanPaths::new("/pm/[", DEFAULT_TTL).is_err());
    }
}
