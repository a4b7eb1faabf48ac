//! A local directory as a source: the embedded default's inbox.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use super::{
    Completion, DONE_DIR, FAILED_DIR, NameFilter, REASON_SUFFIX, Source, SourceError, SourceFile,
};

/// Files directly inside one directory (not its sub-directories).
#[derive(Debug, Clone)]
pub struct LocalDirSource {
    dir: PathBuf,
    filter: NameFilter,
}

impl LocalDirSource {
    /// A source over `dir`, listing the files that pass `filter`.
    pub fn new(dir: impl Into<PathBuf>, filter: NameFilter) -> Self {
        Self {
            dir: dir.into(),
            filter,
        }
    }

    fn error(&self, action: &'static str, file: &str, error: std::io::Error) -> SourceError {
        SourceError {
            source_name: self.describe(),
            action,
            file: file.to_string(),
            error,
        }
    }
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
        tokio::fs::read_dir(&self.dir)
            .await
            .map(drop)
            .map_err(|e| self.error("read", "", e))
    }

    async fn list(&self) -> Result<Vec<SourceFile>, SourceError> {
        let list_err = |e| self.error("list", "", e);
        let mut entries = tokio::fs::read_dir(&self.dir).await.map_err(list_err)?;
        let mut files = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(list_err)? {
            let metadata = entry.metadata().await.map_err(list_err)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if metadata.is_file() && self.filter.matches(&name) {
                files.push(SourceFile {
                    name,
                    size: metadata.len(),
                });
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    async fn fetch(&self, file: &SourceFile) -> Result<Bytes, SourceError> {
        let bytes = tokio::fs::read(self.dir.join(&file.name))
            .await
            .map_err(|e| self.error("fetch", &file.name, e))?;
        Ok(Bytes::from(bytes))
    }

    async fn complete(
        &self,
        file: &SourceFile,
        completion: &Completion,
    ) -> Result<(), SourceError> {
        let from = self.dir.join(&file.name);
        let result = match completion {
            Completion::Done => move_into(&from, &self.dir.join(DONE_DIR), &file.name).await,
            Completion::Failed(reason) => {
                let failed = self.dir.join(FAILED_DIR);
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
