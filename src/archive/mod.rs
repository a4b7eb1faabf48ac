//! The archive: one Delta Lake table per (system, table), on a local directory or S3
//! ([`s3`]).
//!
//! Layout: `system=<s>/table=<t>/` is a Delta table (its log in `_delta_log/`),
//! partitioned by `date` (the UTC day of `period_start`), its data files
//! `date=<YYYY-MM-DD>/part-<random>.zstd.parquet` written by pmflow itself (see
//! [`data_file`]) and committed through the Delta log (see [`table`]). Every row keeps
//! its source file's `file_id` and the `ingested_at` of its commit. A table's schema
//! is the Delta table's schema: nothing is read from data files at start-up. Other
//! engines (Python `deltalake`, Spark, Trino, DuckDB, ClickHouse) read the tables as
//! they are. The archive sink writes through [`ArchiveTable::append`]; `query`,
//! `replay`, `explain` and `ddl` read through [`Archive::register_tables`] (one row
//! per row key, every version in `<table>_history`, optionally as of a moment) and
//! [`Archive::table_schemas`].

pub mod convert;
pub mod data_file;
pub mod ledger;
pub mod maintenance;
mod read;
pub mod s3;
pub mod table;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use futures::{StreamExt, TryStreamExt, stream};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::prefix::PrefixStore;
use url::Url;

pub use self::read::{HISTORY_SUFFIX, ReadOptions};
pub use self::table::{Appended, ArchiveTable};
use crate::schema;

/// The archive could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The object store failed.
    #[error("archive {root}: {source}")]
    Store {
        root: String,
        source: object_store::Error,
    },
    /// The Delta log or DataFusion refused an operation on a table.
    #[error("archive table {table}: {message}")]
    Delta { table: String, message: String },
    /// Rows that cannot be written as the table's schema says (refused for good).
    #[error("archive table {table}: {message}")]
    Rows { table: String, message: String },
    /// The archive URL is not one pmflow can open.
    #[error(
        "archive URL {0:?}: use a local directory (a path, file:// or parquet:// URL) or s3://bucket/prefix"
    )]
    Url(String),
}

/// Partition column of every archive table: the UTC day of `period_start`.
pub const DATE_PARTITION: &str = "date";

/// How many tables are opened at once when reading many.
const TABLES_AT_ONCE: usize = 8;

/// A handle on one archive root; clones share the tables opened.
#[derive(Debug, Clone)]
pub struct Archive {
    /// The root as a directory URL (`file:///…/` or `s3://bucket/prefix/`).
    root: Url,
    /// The store, rooted at the archive's root.
    store: Arc<dyn ObjectStore>,
    tables: Arc<Mutex<OpenTables>>,
}

/// The tables opened so far, by (system, table).
type OpenTables = HashMap<(String, String), Arc<ArchiveTable>>;

impl Archive {
    /// Opens the archive at a directory path, a `file://` or `parquet://` URL (the
    /// directory is created when needed), or an `s3://bucket/prefix` URL.
    pub fn open(url: &str) -> Result<Self, ArchiveError> {
        let bad_url = || ArchiveError::Url(url.to_string());
        let path = match url.split_once("://") {
            None => url,
            Some(("parquet" | "file", path)) if path.starts_with('/') => path,
            Some((s3::SCHEME, _)) => return Self::open_s3(url),
            Some(_) => return Err(bad_url()),
        };
        let root = std::path::absolute(path).map_err(|_| bad_url())?;
        let store_error = |source| ArchiveError::Store {
            root: root.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&root).map_err(|e| {
            store_error(object_store::Error::Generic {
                store: "local",
                source: Box::new(e),
            })
        })?;
        let store = LocalFileSystem::new_with_prefix(&root).map_err(store_error)?;
        Ok(Self {
            root: Url::from_directory_path(&root).map_err(|_| bad_url())?,
            store: Arc::new(store),
            tables: Arc::default(),
        })
    }

    /// Opens an archive on S3, configured by the `AWS_*` environment variables.
    fn open_s3(url: &str) -> Result<Self, ArchiveError> {
        let mut root = Url::parse(url).map_err(|_| ArchiveError::Url(url.to_string()))?;
        if root.host_str().is_none_or(str::is_empty) {
            return Err(ArchiveError::Url(url.to_string()));
        }
        if !root.path().ends_with('/') {
            root.set_path(&format!("{}/", root.path()));
        }
        s3::register();
        let (bucket, prefix) = s3::bucket_store(&root).map_err(|source| ArchiveError::Store {
            root: url.to_string(),
            source,
        })?;
        let store: Arc<dyn ObjectStore> = match prefix.as_ref() {
            "" => bucket,
            _ => Arc::new(PrefixStore::new(bucket, prefix)),
        };
        Ok(Self {
            root,
            store,
            tables: Arc::default(),
        })
    }

    /// Where the archive is, for messages: its directory, or its URL.
    pub fn location(&self) -> String {
        match self.root.to_file_path() {
            Ok(path) if self.root.scheme() == "file" => {
                // Without the directory URL's trailing slash.
                let path: std::path::PathBuf = path.components().collect();
                path.display().to_string()
            }
            _ => self.root.to_string(),
        }
    }

    /// The archive as a sink URL: `parquet:///dir` or `s3://bucket/prefix/`.
    pub fn url(&self) -> String {
        match self.root.scheme() {
            "file" => format!("parquet://{}", self.location()),
            _ => self.root.to_string(),
        }
    }

    /// Checks that the archive's root can be listed.
    pub async fn probe(&self) -> Result<(), String> {
        self.store
            .list_with_delimiter(None)
            .await
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", self.location()))
    }

    fn store_err(&self, source: object_store::Error) -> ArchiveError {
        ArchiveError::Store {
            root: self.location(),
            source,
        }
    }

    /// The table of `system` named `table` (it need not exist yet).
    pub fn table(&self, system: &str, table: &str) -> Arc<ArchiveTable> {
        let mut tables = self.tables.lock().expect("tables lock");
        tables
            .entry((system.to_string(), table.to_string()))
            .or_insert_with(|| {
                let url = self
                    .root
                    .join(&format!("system={system}/table={table}/"))
                    .expect("a directory URL joins a relative path");
                Arc::new(ArchiveTable::new(url, format!("{system}/{table}")))
            })
            .clone()
    }

    /// The (system, table) pairs of the archive's Delta tables, optionally of one
    /// system only, in order. Folders of the earlier layout are named in a warning.
    pub async fn table_names(
        &self,
        system: Option<&str>,
    ) -> Result<Vec<(String, String)>, ArchiveError> {
        let mut names = Vec::new();
        for (system, table, has_log) in self.table_folders(system).await? {
            if has_log {
                names.push((system, table));
            } else {
                tracing::warn!(
                    system,
                    table,
                    "folder without a Delta log (a Parquet archive of an earlier pmflow?) is not read; convert it with `pmflow archive convert`"
                );
            }
        }
        Ok(names)
    }

    /// Every `system=<s>/table=<t>/` folder (of one system, if given), in order, and
    /// whether it has a Delta log (a folder without one is of the earlier hive
    /// layout; one with a log may still hold hive files of a conversion cut short).
    pub async fn table_folders(
        &self,
        system: Option<&str>,
    ) -> Result<Vec<(String, String, bool)>, ArchiveError> {
        let systems = match system {
            Some(system) => vec![system.to_string()],
            None => self.folders(None, "system=").await?,
        };
        let mut folders = Vec::new();
        for system in systems {
            let prefix = StorePath::from(format!("system={system}"));
            for table in self.folders(Some(&prefix), "table=").await? {
                let log = StorePath::from(format!("system={system}/table={table}/_delta_log"));
                let has_log = self
                    .store
                    .list_with_delimiter(Some(&log))
                    .await
                    .is_ok_and(|listing| !listing.objects.is_empty());
                folders.push((system.clone(), table, has_log));
            }
        }
        folders.sort();
        Ok(folders)
    }

    /// The values of the `<key>…` folders under `prefix`.
    async fn folders(
        &self,
        prefix: Option<&StorePath>,
        key: &str,
    ) -> Result<Vec<String>, ArchiveError> {
        let listing = match self.store.list_with_delimiter(prefix).await {
            Ok(listing) => listing,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(self.store_err(e)),
        };
        Ok(listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename()?.strip_prefix(key).map(str::to_string))
            .collect())
    }

    /// The measurement schema of every table (merged over systems when `system` is
    /// `None`), from the Delta metadata.
    pub async fn table_schemas(
        &self,
        system: Option<&str>,
    ) -> Result<HashMap<String, SchemaRef>, ArchiveError> {
        let names = self.table_names(system).await?;
        let schemas: Vec<(String, SchemaRef)> = stream::iter(names)
            .map(|(system, table)| async move {
                let schema = self.table(&system, &table).schema().await?;
                Ok::<_, ArchiveError>(schema.map(|s| (table, s)))
            })
            .buffered(TABLES_AT_ONCE)
            .try_filter_map(|found| async move { Ok(found) })
            .try_collect()
            .await?;
        let mut by_table: BTreeMap<String, Vec<SchemaRef>> = BTreeMap::new();
        for (table, schema) in schemas {
            by_table.entry(table).or_default().push(schema);
        }
        Ok(by_table
            .into_iter()
            .map(|(table, schemas)| (table, schema::merge_all(schemas.iter().map(|s| s.as_ref()))))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_urls_are_directories_or_s3_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let local = Archive::open(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(local.url(), format!("parquet://{}", dir.path().display()));
        let table = local.table("5ga", "nrcellcu");
        assert!(format!("{table:?}").contains("system=5ga/table=nrcellcu/"));
        let s3 = Archive::open("s3://bucket/pm/archive").unwrap();
        assert_eq!(s3.url(), "s3://bucket/pm/archive/");
        for bad in ["s3:///no-bucket", "gs://bucket/a", "parquet://relative"] {
            let error = Archive::open(bad).unwrap_err();
            assert!(matches!(error, ArchiveError::Url(_)), "{bad}: {error}");
        }
    }
}
