//! A local directory as a source: the embedded default's inbox. Its path may have
//! glob segments (`/data/pm/*/5ga`), see [`ScanPaths`].

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    Completion, DONE_DIR, FAILED_DIR, NameFilter, REASON_SUFFIX, ScanPaths, Source, SourceError,
    SourceFile, changed_since_fetch, merge_listings,
};

/// Files up to this size are read on the task that fetches them.
const READ_IN_PLACE_MAX: u64 = 1 << 20;

/// Files directly inside a directory, or inside every directory matching a pattern
/// (not their sub-directories).
#[derive(Debug)]
pub struct LocalDirSource {
    dir: PathBuf,
    folders: ScanPaths,
    filter: NameFilter,
}

impl LocalDirSource {
    /// A source over `dir` (or the directories its glob segments match, resolved again
    /// after `scan_ttl`), listing the files that pass `filter`.
    pub fn new(
        dir: impl Into<PathBuf>,
        filter: NameFilter,
        scan_ttl: Duration,
    ) -> Result<Self, String> {
        let dir = dir.into();
        Ok(Self {
            folders: ScanPaths::new(&dir.to_string_lossy(), scan_ttl)?,
            dir,
            filter,
        })
    }

    fn error(&self, action: &'static str, file: &str, error: std::io::Error) -> SourceError {
        SourceError {
            source_name: self.describe(),
            action,
            file: file.to_string(),
            error,
        }
    }

    /// The files of one folder that pass the filter, listed in one blocking call (a
    /// hop to the blocking pool per file costs more than reading its metadata).
    async fn list_folder(&self, folder: String) -> Result<Vec<SourceFile>, SourceError> {
        let label = self.folders.label(&folder).to_string();
        let filter = self.filter.clone();
        let files = tokio::task::spawn_blocking(move || files_of(&folder, &filter))
            .await
            .unwrap_or_else(|e| Err(e.into()));
        files.map_err(|e| self.error("list", &label, e))
    }
}

/// The files directly inside `folder` whose names pass `filter`.
fn files_of(folder: &str, filter: &NameFilter) -> std::io::Result<Vec<SourceFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if metadata.is_file() && filter.matches(&name) {
            files.push(SourceFile {
                folder: folder.to_string(),
                name,
                size: metadata.len(),
                modified: metadata.modified().ok(),
            });
        }
    }
    Ok(files)
}

/// The names of the sub-directories of `dir`.
async fn subdirectories(dir: String) -> std::io::Result<Vec<String>> {
    let mut entries = tokio::fs::read_dir(&dir).await?;
    let mut names = Vec::new();
    while let Some(entry) = entries.next_entry().await? {
        if entry.file_type().await?.is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(names)
}

/// Moves `from` into `dir` (created when missing) under its own name, or `name.1`,
/// `name.2`, … when a file of that name is already there, so neither file is lost.
fn move_into(from: &Path, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    let mut target = dir.join(name);
    let mut n = 0;
    while std::fs::exists(&target)? {
        n += 1;
        target = dir.join(format!("{name}.{n}"));
    }
    match std::fs::rename(from, &target) {
        Err(error) if error.kind() == ErrorKind::NotFound && !dir.exists() => {
            std::fs::create_dir_all(dir)?;
            std::fs::rename(from, &target)?;
        }
        moved => moved?,
    }
    Ok(target)
}

/// Moves a file that is still as large as when it was fetched (`size`) into `Done/`,
/// or into `Failed/` next to a file holding the reason.
fn complete_file(
    folder: &Path,
    name: &str,
    size: u64,
    completion: &Completion,
) -> std::io::Result<()> {
    let from = folder.join(name);
    let now = std::fs::metadata(&from)?.len();
    if now != size {
        return Err(changed_since_fetch(size, now));
    }
    match completion {
        Completion::Done => move_into(&from, &folder.join(DONE_DIR), name).map(drop),
        Completion::Failed(reason) => {
            let moved = move_into(&from, &folder.join(FAILED_DIR), name)?;
            let mut reason_path = moved.into_os_string();
            reason_path.push(REASON_SUFFIX);
            std::fs::write(reason_path, format!("{reason}\n"))
        }
    }
}

#[async_trait]
impl Source for LocalDirSource {
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    async fn probe(&self) -> Result<(), SourceError> {
        tokio::fs::read_dir(self.folders.base())
            .await
            .map(drop)
            .map_err(|e| self.error("read", "", e))
    }

    async fn list(&self) -> Result<Vec<SourceFile>, SourceError> {
        let folders = self
            .folders
            .folders(subdirectories)
            .await
            .map_err(|e| self.error("list", "", e))?;
        let listings =
            futures::future::join_all(folders.into_iter().map(|folder| self.list_folder(folder)))
                .await;
        merge_listings(&self.folders, listings).await
    }

    /// A small file is read in place (a hop to the blocking pool and back costs more
    /// than reading it), a larger one on the blocking pool.
    async fn fetch(&self, file: &SourceFile) -> Result<Bytes, SourceError> {
        let path = Path::new(&file.folder).join(&file.name);
        let bytes = match file.size <= READ_IN_PLACE_MAX {
            true => std::fs::read(path),
            false => tokio::fs::read(path).await,
        };
        let bytes = bytes.map_err(|e| self.error("fetch", &file.name, e))?;
        Ok(Bytes::from(bytes))
    }

    /// In place: the few metadata calls of a move (check, probe, rename) cost less
    /// than a hop to the blocking pool and back.
    async fn complete(
        &self,
        file: &SourceFile,
        completion: &Completion,
    ) -> Result<(), SourceError> {
        complete_file(Path::new(&file.folder), &file.name, file.size, completion)
            .map_err(|e| self.error("complete", &file.name, e))
    }
}
