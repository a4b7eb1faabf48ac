//! The Parquet archive: its hive layout, and reading it back.
//!
//! Layout: `system=<s>/table=<t>/date=<YYYY-MM-DD>/<file_id>.parquet` (a large file
//! delivered in parts adds `<file_id>-<part>.parquet` for parts past the first). Files are
//! self-describing; a table's schema is the merge of its files' schemas (new counters
//! appended, types widened), computed from the Parquet footers. The archive sink
//! writes through [`Archive::put`]; `query` and `replay` read through
//! [`Archive::register_tables`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use bytes::Bytes;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt, stream};
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};

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
    /// DataFusion refused a table definition.
    #[error("archive table {table}: {source}")]
    DataFusion {
        table: String,
        source: DataFusionError,
    },
    /// The archive URL is not one pmflow can open.
    #[error("archive URL {0:?}: only local directories (a path or parquet:///path) are supported")]
    Url(String),
}

/// Partition column added to every archive table by the hive layout.
pub const DATE_PARTITION: &str = "date";

/// A handle on one archive root.
#[derive(Debug, Clone)]
pub struct Archive {
    root: PathBuf,
    store: Arc<dyn ObjectStore>,
}

/// One Parquet file of the archive, located in the layout.
#[derive(Debug, Clone)]
pub struct ArchiveFile {
    /// The `system=` partition.
    pub system: String,
    /// The `table=` partition.
    pub table: String,
    /// The object's metadata.
    pub meta: ObjectMeta,
}

impl Archive {
    /// Opens (creating when needed) the archive at a directory path or `parquet://` URL.
    pub fn open(url: &str) -> Result<Self, ArchiveError> {
        let path = match url.split_once("://") {
            None => url,
            Some(("parquet" | "file", path)) if path.starts_with('/') => path,
            Some(_) => return Err(ArchiveError::Url(url.to_string())),
        };
        let root = std::path::absolute(path).map_err(|_| ArchiveError::Url(url.to_string()))?;
        std::fs::create_dir_all(&root).map_err(|e| ArchiveError::Store {
            root: root.display().to_string(),
            source: object_store::Error::Generic {
                store: "local",
                source: Box::new(e),
            },
        })?;
        let store =
            LocalFileSystem::new_with_prefix(&root).map_err(|source| ArchiveError::Store {
                root: root.display().to_string(),
                source,
            })?;
        Ok(Self {
            root,
            store: Arc::new(store),
        })
    }

    /// The archive's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of a file in the layout: part `part` of source file `file_id`.
    pub fn file_path(system: &str, table: &str, date: &str, file_id: &str, part: u32) -> StorePath {
        let name = match part {
            0 => file_id.to_string(),
            part => format!("{file_id}-{part}"),
        };
        StorePath::from(format!(
            "system={system}/table={table}/date={date}/{name}.parquet"
        ))
    }

    fn store_err(&self, source: object_store::Error) -> ArchiveError {
        ArchiveError::Store {
            root: self.root.display().to_string(),
            source,
        }
    }

    /// Writes one object. The local store writes to a staging file and renames it into
    /// place, so readers never see a partial file and a rewrite replaces atomically.
    pub async fn put(&self, path: &StorePath, bytes: Bytes) -> Result<(), ArchiveError> {
        self.store
            .put(path, PutPayload::from_bytes(bytes))
            .await
            .map(|_| ())
            .map_err(|e| self.store_err(e))
    }

    /// Every Parquet file of the archive, optionally of one system only.
    pub async fn files(&self, system: Option<&str>) -> Result<Vec<ArchiveFile>, ArchiveError> {
        let prefix = system.map(|s| StorePath::from(format!("system={s}")));
        let metas: Vec<ObjectMeta> = self
            .store
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(|e| self.store_err(e))?;
        Ok(metas
            .into_iter()
            .filter_map(|meta| {
                let parts: Vec<_> = meta.location.parts().collect();
                let value = |i: usize, key: &str| {
                    parts.get(i)?.as_ref().strip_prefix(key).map(str::to_string)
                };
                let system = value(0, "system=")?;
                let table = value(1, "table=")?;
                let is_parquet = parts.len() == 4 && meta.location.as_ref().ends_with(".parquet");
                is_parquet.then_some(ArchiveFile {
                    system,
                    table,
                    meta,
                })
            })
            .collect())
    }

    /// The merged schema of every table, from the footers of its files.
    pub async fn table_schemas(
        &self,
        system: Option<&str>,
    ) -> Result<HashMap<String, SchemaRef>, ArchiveError> {
        let files = self.files(system).await?;
        let state = SessionContext::new().state();
        let format = ParquetFormat::default();
        let footers = stream::iter(files)
            .map(|file| {
                let (state, format) = (&state, &format);
                async move {
                    let schema = format
                        .infer_schema(state, &self.store, std::slice::from_ref(&file.meta))
                        .await
                        .map_err(|source| ArchiveError::DataFusion {
                            table: format!("{} ({})", file.table, file.meta.location),
                            source,
                        })?;
                    Ok::<_, ArchiveError>((file.table, schema))
                }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await?;
        let mut by_table: BTreeMap<String, Vec<SchemaRef>> = BTreeMap::new();
        for (table, schema) in footers {
            by_table.entry(table).or_default().push(schema);
        }
        Ok(by_table
            .into_iter()
            .map(|(table, schemas)| (table, schema::merge_all(schemas.iter().map(|s| s.as_ref()))))
            .collect())
    }

    /// Registers every archive table in `ctx` as a SQL table over all systems, with the
    /// merged schema and the `date` partition column. Returns the table names.
    pub async fn register_tables(&self, ctx: &SessionContext) -> Result<Vec<String>, ArchiveError> {
        let schemas = self.table_schemas(None).await?;
        let files = self.files(None).await?;
        let mut systems_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for file in &files {
            let systems = systems_of.entry(file.table.as_str()).or_default();
            if !systems.contains(&file.system.as_str()) {
                systems.push(&file.system);
            }
        }
        let mut names = Vec::new();
        for (table, systems) in systems_of {
            let df_err = |source| ArchiveError::DataFusion {
                table: table.to_string(),
                source,
            };
            let urls = systems
                .iter()
                .map(|system| {
                    let dir = self.root.join(format!("system={system}/table={table}/"));
                    ListingTableUrl::parse(format!("{}/", dir.display()))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(df_err)?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet")
                .with_table_partition_cols(vec![(DATE_PARTITION.to_string(), DataType::Utf8)]);
            let config = ListingTableConfig::new_with_multi_paths(urls)
                .with_listing_options(options)
                .with_schema(schemas[table].clone());
            let listing = ListingTable::try_new(config).map_err(df_err)?;
            ctx.register_table(table, Arc::new(listing))
                .map_err(df_err)?;
            names.push(table.to_string());
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_files_later_parts_lie_beside_its_first() {
        let path = |part| Archive::file_path("5ga", "cells", "2026-01-05", "ab12", part);
        let dir = "system=5ga/table=cells/date=2026-01-05";
        assert_eq!(path(0).as_ref(), format!("{dir}/ab12.parquet"));
        assert_eq!(path(2).as_ref(), format!("{dir}/ab12-2.parquet"));
    }
}
