//! A local directory as a source: the embedded default's inbox. Its path may have
//! glob segments (`/data/pm/*/5ga`), see [`ScanPaths`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    Completion, DONE_DIR, FAILED_DIR, NameFilter, REASON_SUFFIX, ScanPaths, Source, SourceError,
    SourceFile, changed_since_fetch, merge_listings,
};

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

    /// The files of one folder that pass the filter.
    async fn list_folder(&self, folder: String) -> Result<Vec<SourceFile>, SourceError> {
        let list_err = |e| self.error("list", self.folders.label(&folder), e);
        let mut entries = tokio::fs::read_dir(&folder).await.map_err(list_err)?;
        let mut files = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(list_err)? {
            let metadata = entry.metadata().await.map_err(list_err)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if metadata.is_file() && self.filter.matches(&name) {
                files.push(SourceFile {
                    folder: folder.clone(),
                    name,
                    size: metadata.len(),
                    modified: metadata.modified().ok(),
                });
            }
        }
        Ok(files)
    }
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

/// Moves `from` into `dir` under its own name, or `name.1`, `name.2`, … when a file of
/// that name is already there, so neither file is lost.
async fn move_into(from: &Path, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    tokio::fs::create_dir_all(dir).await?;
    let mut target = dir.join(name);
    let mut n = 0;
    while tokio::fs::try_exists(&target).await? {
        n += 1;
        target = dir.join(format!("{name}.{n}"));
    }
    tokio::fs::rename(from, &target).await?;
    Ok(target)
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

    async fn fetch(&self, file: &SourceFile) -> Result<Bytes, SourceError> {
        let bytes = tokio::fs::read(Path::new(&file.folder).join(&file.name))
            .await
            .map_err(|e| self.error("fetch", &file.name, e))?;
        Ok(Bytes::from(bytes))
    }

    async fn complete(
        &self,
        file: &SourceFile,
        completion: &Completion,
    ) -> Result<(), SourceError> {
        let folder = Path::new(&file.folder);
        let from = folder.join(&file.name);
        let size = tokio::fs::metadata(&from)
            .await
            .map_err(|e| self.error("complete", &file.name, e))?
            .len();
        if size != file.size {
            let error = changed_since_fetch(file.size, size);
            return Err(self.error("complete", &file.name, error));
        }
        let result = match completion {
            Completion::Done => move_into(&from, &folder.join(DONE_DIR), &file.name).await,
            Completion::Failed(reason) => {
                let failed = folder.join(FAILED_DIR);
                async {
                    let moved = move_into(&from, &failed, &file.name).await?;
                    let mut reason_path = moved.into_os_string();
                    reason_path.push(REASON_SUFFIX);
                    tokio::fs::write(reason_path, format!("{reason}\n")).await?;
                    Ok(failed)
                }
                .await
            }
        };
        result
            .map(|_| ())
            .map_err(|e| self.error("complete", &file.name, e))
    }
}
