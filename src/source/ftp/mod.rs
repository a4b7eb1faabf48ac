//! An FTP folder as a source: how network elements deliver their counter files.
//!
//! - [`settings`]: the `ftp://` URL;
//! - [`pool`]: the bounded pool of control connections the workers share.
//!
//! Listing parses `LIST` (servers such as vsftpd have no `MLSD`), whose times are in
//! the server's zone and to the minute (see [`LIST_CLOCK_ERROR`]); files are downloaded
//! into memory with `RETR`, retried with backoff and jitter when the connection drops
//! (a file that still cannot be read stays for the next cycle); completion renames the
//! file with `RNFR`/`RNTO` into `Done/` or `Failed/` beside it, creating the folder
//! when missing and choosing `name.1`, `name.2`, … when the name is taken, since a
//! rename onto an existing file would replace it. Before the move, `SIZE` checks that
//! the file is still the size downloaded.

pub mod pool;
pub mod settings;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use deadpool::managed::{Object, PoolError};
use futures::future::BoxFuture;
use suppaftp::list::File;
use suppaftp::{FtpError, FtpResult, Status};
use tokio::io::AsyncReadExt;
use tracing::debug;

use self::pool::{Connection, FtpPool};
pub use self::settings::FtpSettings;
use super::{
    Completion, DONE_DIR, FAILED_DIR, NameFilter, REASON_SUFFIX, ScanPaths, Source, SourceError,
    SourceFile, changed_since_fetch, merge_listings,
};

/// How far a `LIST` time may be from the true UTC time: servers print it in their own
/// zone (UTC-12 to UTC+14) and to the minute.
pub const LIST_CLOCK_ERROR: Duration = Duration::from_secs(14 * 3600 + 60);

/// Files directly inside one folder of an FTP server, or inside every folder matching
/// a pattern (see [`ScanPaths`]).
pub struct FtpSource {
    settings: FtpSettings,
    folders: ScanPaths,
    filter: NameFilter,
    pool: FtpPool,
}

/// Why an operation on the server failed.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// No connection could be had (server down, pool exhausted past the timeout).
    #[error("no connection: {0}")]
    Pool(PoolError<FtpError>),
    /// The server refused, or the connection broke.
    #[error(transparent)]
    Ftp(#[from] FtpError),
}

impl Failure {
    /// Whether trying again may succeed: broken connections and the server's 4xx
    /// ("try again later") replies; 5xx replies (no such file, permission denied) are
    /// final.
    fn is_transient(&self) -> bool {
        match self {
            Failure::Pool(_) => true,
            Failure::Ftp(FtpError::UnexpectedResponse(response)) => {
                (400..500).contains(&response.status.code())
            }
            Failure::Ftp(_) => true,
        }
    }
}

/// Whether the server answered "file unavailable" (550): no such file or folder.
fn is_unavailable(error: &FtpError) -> bool {
    matches!(error, FtpError::UnexpectedResponse(r) if r.status == Status::FileUnavailable)
}

impl FtpSource {
    /// A source over the folder of `settings` (or the folders its glob segments
    /// match, resolved again after `scan_ttl`), listing the files that pass `filter`.
    /// Connects on first use; fails only when the folder pattern or the TLS settings
    /// are unusable.
    pub fn new(
        settings: FtpSettings,
        filter: NameFilter,
        scan_ttl: std::time::Duration,
    ) -> Result<Self, String> {
        Ok(Self {
            pool: pool::pool(&settings)?,
            folders: ScanPaths::new(&settings.folder, scan_ttl)?,
            settings,
            filter,
        })
    }

    /// The entries of `folder`'s `LIST`.
    async fn entries(&self, folder: &str) -> Result<Vec<File>, SourceError> {
        let lines = self
            .with_connection("list", self.folders.label(folder), |ftp| {
                let folder = folder.to_string();
                Box::pin(async move { ftp.list(Some(&folder)).await })
            })
            .await?;
        Ok(lines
            .iter()
            .filter_map(|line| File::from_str(line).ok())
            .collect())
    }

    /// The files of one folder that pass the filter.
    async fn list_folder(&self, folder: String) -> Result<Vec<SourceFile>, SourceError> {
        let entries = self.entries(&folder).await?;
        Ok(entries
            .iter()
            .filter(|entry| entry.is_file() && self.filter.matches(entry.name()))
            .map(|entry| SourceFile {
                folder: folder.clone(),
                name: entry.name().to_string(),
                size: entry.size() as u64,
                modified: Some(entry.modified()),
            })
            .collect())
    }

    /// Runs `operation` on a pooled connection, retrying transient failures with
    /// backoff. A connection whose operation failed other than by a server reply is
    /// closed, not pooled again.
    async fn with_connection<T>(
        &self,
        action: &'static str,
        file: &str,
        operation: impl Fn(&mut Connection) -> BoxFuture<'_, FtpResult<T>>,
    ) -> Result<T, SourceError> {
        let attempt = || async {
            let mut connection = self.pool.get().await.map_err(Failure::Pool)?;
            let result = operation(&mut connection).await;
            if let Err(error) = &result
                && !matches!(error, FtpError::UnexpectedResponse(_))
            {
                debug!(%error, "closing an FTP connection after a failure");
                drop(Object::take(connection));
            }
            result.map_err(Failure::Ftp)
        };
        let what = format!("{action} {file} on FTP");
        self.settings
            .backoff
            .run(&what, Failure::is_transient, attempt)
            .await
            .map_err(|failure| self.error(action, file, failure))
    }

    fn error(&self, action: &'static str, file: &str, failure: Failure) -> SourceError {
        let kind = match &failure {
            Failure::Ftp(error) if is_unavailable(error) => std::io::ErrorKind::NotFound,
            _ => std::io::ErrorKind::Other,
        };
        SourceError {
            source_name: self.describe(),
            action,
            file: file.to_string(),
            error: std::io::Error::new(kind, failure),
        }
    }
}

/// The server path of `name` in `folder`.
fn server_path(folder: &str, name: &str) -> String {
    format!("{}/{name}", folder.trim_end_matches('/'))
}

/// Downloads `path` whole.
async fn download(ftp: &mut Connection, path: String, size: u64) -> FtpResult<Bytes> {
    let mut stream = ftp.retr_as_stream(&path).await?;
    let mut bytes = Vec::with_capacity(size as usize);
    stream
        .read_to_end(&mut bytes)
        .await
        .map_err(FtpError::ConnectionError)?;
    stream.finish().await?;
    Ok(Bytes::from(bytes))
}

/// Renames `from` into `folder` under `name`, or `name.1`, `name.2`, … when taken;
/// creates the folder when missing. The path the file now has.
async fn move_into(
    ftp: &mut Connection,
    from: &str,
    folder: &str,
    name: &str,
) -> FtpResult<String> {
    let mut target = format!("{folder}/{name}");
    let mut n = 0;
    // `SIZE` answers 550 for a name that is free (or a folder not made yet).
    while ftp.size(&target).await.is_ok() {
        n += 1;
        target = format!("{folder}/{name}.{n}");
    }
    match ftp.rename(from, &target).await {
        Err(error) if is_unavailable(&error) => {
            if let Err(error) = ftp.mkdir(folder).await {
                debug!(folder, %error, "mkdir refused (made by another worker?)");
            }
            ftp.rename(from, &target).await?;
        }
        result => result?,
    }
    Ok(target)
}

#[async_trait]
impl Source for FtpSource {
    fn describe(&self) -> String {
        self.settings.redacted.clone()
    }

    fn clock_error(&self) -> Duration {
        LIST_CLOCK_ERROR
    }

    /// One attempt, no retries: log in (or reuse a session) and enter the folder.
    async fn probe(&self) -> Result<(), SourceError> {
        let attempt = async {
            let mut ftp = self.pool.get().await.map_err(Failure::Pool)?;
            ftp.cwd(self.folders.base()).await.map_err(Failure::Ftp)
        };
        attempt
            .await
            .map_err(|failure| self.error("read", "", failure))
    }

    async fn list(&self) -> Result<Vec<SourceFile>, SourceError> {
        let subfolders = |folder: String| async move {
            let entries = self.entries(&folder).await?;
            Ok::<_, SourceError>(
                entries
                    .iter()
                    .filter(|entry| entry.is_directory())
                    .map(|entry| entry.name().to_string())
                    .collect(),
            )
        };
        let folders = self.folders.folders(subfolders).await?;
        let listings =
            futures::future::join_all(folders.into_iter().map(|folder| self.list_folder(folder)))
                .await;
        merge_listings(&self.folders, listings).await
    }

    async fn fetch(&self, file: &SourceFile) -> Result<Bytes, SourceError> {
        let path = server_path(&file.folder, &file.name);
        let size = file.size;
        self.with_connection("fetch", &file.name, |ftp| {
            Box::pin(download(ftp, path.clone(), size))
        })
        .await
    }

    async fn complete(
        &self,
        file: &SourceFile,
        completion: &Completion,
    ) -> Result<(), SourceError> {
        let from = server_path(&file.folder, &file.name);
        let sub = match completion {
            Completion::Done => DONE_DIR,
            Completion::Failed(_) => FAILED_DIR,
        };
        let folder = server_path(&file.folder, sub);
        let fetched = file.size;
        // `Ok(Some(size))`: not moved, the file is now `size` bytes.
        let changed = self
            .with_connection("complete", &file.name, |ftp| {
                let (from, folder, name) = (from.clone(), folder.clone(), file.name.clone());
                let reason = match completion {
                    Completion::Done => None,
                    Completion::Failed(reason) => Some(format!("{reason}\n")),
                };
                Box::pin(async move {
                    let size = ftp.size(&from).await? as u64;
                    if size != fetched {
                        return Ok(Some(size));
                    }
                    let moved = move_into(ftp, &from, &folder, &name).await?;
                    if let Some(reason) = reason {
                        ftp.put_file(format!("{moved}{REASON_SUFFIX}"), &mut reason.as_bytes())
                            .await?;
                    }
                    Ok(None)
                })
            })
            .await?;
        match changed {
            None => Ok(()),
            Some(size) => Err(SourceError {
                source_name: self.describe(),
                action: "complete",
                file: file.name.clone(),
                error: changed_since_fetch(fetched, size),
            }),
        }
    }
}
