//! One archive table: the Delta Lake table of a (system, table) pair, and how rows go
//! into it.
//!
//! Rule: a commit is the acknowledgement. The rows of many source files are written
//! as one data file per date and committed together; a source file the table already
//! holds (see `archive::ledger`) is left out before anything is written. pmflow
//! commits optimistically with no retry of delta-rs's own: when another writer
//! committed first, the ledger is brought up to date, the files it now holds are
//! left out, and the rest is written and committed again. So two processes writing
//! one table both land every row, once.
//!
//! Schema changes go in the commit that needs them: new counters as a new Delta
//! schema; a counter whose type widens (integer to decimal, number to text) is a
//! change Delta readers cannot follow in place, so the table is rewritten once with
//! the wider type (one commit replacing every data file).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMicrosecondType};
use deltalake_core::kernel::engine::arrow_conversion::TryFromArrow;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake_core::kernel::{Action, Add, MetadataExt, StructType};
use deltalake_core::operations::create::CreateBuilder;
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tokio::sync::Mutex;
use tracing::{debug, info, warn};
use url::Url;

use super::data_file::{self, DataFile, INGESTED_AT, STATS_COLUMNS};
use super::ledger::Ledger;
use super::{ArchiveError, DATE_PARTITION};
use crate::schema;

/// How many times a group is tried when other writers keep committing first.
const COMMIT_ATTEMPTS: usize = 20;

/// After the n-th lost commit a writer pauses a random time up to n times this long.
const LOST_COMMIT_PAUSE_MS: u64 = 50;

/// One (system, table) of the archive.
pub struct ArchiveTable {
    /// The table's root (`…/system=<s>/table=<t>/`).
    url: Url,
    /// `system/table`, for messages.
    name: String,
    state: Mutex<State>,
}

/// What a process knows of the table; one writer at a time per process.
#[derive(Default)]
struct State {
    /// The table at the version last seen; `None` until it exists.
    table: Option<DeltaTable>,
    ledger: Ledger,
}

/// What an append did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The version committed, if any row was new.
    pub version: Option<u64>,
    /// Source files whose rows went in.
    pub files_added: usize,
    /// Source files the table already held (copies).
    pub files_skipped: usize,
    /// Data files written.
    pub data_files: usize,
}

/// A data file written but not committed yet: a part of a large source file, which
/// is committed with the file's last part (see [`ArchiveTable::commit_staged`]).
#[derive(Debug, Clone)]
pub struct StagedFile {
    add: Add,
    date: String,
    rows: usize,
    /// The measurement schema it was written with.
    schema: SchemaRef,
}

impl std::fmt::Debug for ArchiveTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveTable")
            .field("url", &self.url.as_str())
            .finish()
    }
}

/// The source file of a batch: every row of a delivered batch carries the same one.
fn file_id_of(batch: &RecordBatch) -> Option<String> {
    let ids = batch
        .column_by_name(schema::FILE_ID)?
        .as_string_opt::<i32>()?;
    (!ids.is_empty()).then(|| ids.value(0).to_string())
}

/// The dates a batch's rows fall on.
fn dates_of(batch: &RecordBatch) -> BTreeSet<String> {
    batch
        .column_by_name(schema::PERIOD_START)
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .map(|p| data_file::dates_of(p.values()))
        .unwrap_or_default()
}

/// Whether `merged` changes the type of a column `current` already has.
fn widens_a_column(current: &Schema, merged: &Schema) -> bool {
    current.fields().iter().any(|field| {
        merged
            .field_with_name(field.name())
            .is_ok_and(|m| m.data_type() != field.data_type())
    })
}

/// The Delta schema of a table whose data files have `archive_schema`: the same
/// columns and the `date` partition column.
fn delta_schema(archive_schema: &Schema) -> Result<StructType, ArchiveError> {
    let mut fields: Vec<Field> = archive_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(DATE_PARTITION, DataType::Date32, true));
    StructType::try_from_arrow(&Schema::new(fields)).map_err(|e| ArchiveError::Delta {
        table: "schema".into(),
        message: e.to_string(),
    })
}

/// How pmflow commits: no retry of delta-rs's own (the table retries after bringing
/// its ledger up to date), a checkpoint every `delta.checkpointInterval` commits.
fn with_pmflow_rules(properties: CommitProperties) -> CommitProperties {
    properties.with_max_retries(0).with_create_checkpoint(true)
}

/// The key of the commit information where pmflow records what an append added
/// (`data_files`, `rows`, `source_files`), which `archive history` shows.
pub const LINEAGE_KEY: &str = "pmflow";

/// What a commit changes besides adding data files.
#[derive(Debug, Clone, Copy)]
struct Change {
    /// Whether the schema changes (new counters).
    schema: bool,
    /// Rows added.
    rows: usize,
    /// Source files whose rows are added.
    source_files: usize,
}

/// Whether a failed commit lost a race with another writer (and may be retried).
fn lost_a_race(error: &DeltaTableError) -> bool {
    matches!(
        error,
        DeltaTableError::Transaction {
            source: TransactionError::VersionAlreadyExists(_)
                | TransactionError::MaxCommitAttempts(_)
                | TransactionError::CommitConflict(_)
        } | DeltaTableError::VersionAlreadyExists(_)
    )
}

impl ArchiveTable {
    /// A handle on the table at `url`; nothing is read until used.
    pub fn new(url: Url, name: String) -> Self {
        Self {
            url,
            name,
            state: Mutex::new(State::default()),
        }
    }

    /// An error of this table's Delta log or store.
    pub(super) fn delta_error(&self, error: impl std::fmt::Display) -> ArchiveError {
        ArchiveError::Delta {
            table: self.name.clone(),
            message: error.to_string(),
        }
    }

    /// Brings `state.table` to the latest version (leaves it `None` while the table
    /// does not exist).
    async fn refresh(&self, state: &mut State) -> Result<(), ArchiveError> {
        if let Some(table) = &mut state.table {
            return table.update_state().await.map_err(|e| self.delta_error(e));
        }
        let mut table = self.unloaded()?;
        if self.log_exists().await {
            table.load().await.map_err(|e| self.delta_error(e))?;
            state.table = Some(table);
        }
        Ok(())
    }

    /// Whether the table has a Delta log (exists).
    async fn log_exists(&self) -> bool {
        let Ok(table) = self.unloaded() else {
            return false;
        };
        let log = StorePath::from("_delta_log");
        let listing = table.object_store().list_with_delimiter(Some(&log)).await;
        listing.is_ok_and(|l| !l.objects.is_empty())
    }

    /// A handle on the table before loading it; a local table's folder is created.
    fn unloaded(&self) -> Result<DeltaTable, ArchiveError> {
        if let Ok(dir) = self.url.to_file_path() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| self.delta_error(format!("{}: {e}", dir.display())))?;
        }
        DeltaTableBuilder::from_url(self.url.clone())
            .and_then(|b| b.build())
            .map_err(|e| self.delta_error(e))
    }

    /// The table's measurement schema (counters and keys, without `ingested_at` and
    /// `date`), from the Delta metadata; `None` while the table does not exist.
    pub async fn schema(&self) -> Result<Option<SchemaRef>, ArchiveError> {
        let mut state = self.state.lock().await;
        self.refresh(&mut state).await?;
        Ok(Self::current_schema(&state))
    }

    fn current_schema(state: &State) -> Option<SchemaRef> {
        let table = state.table.as_ref()?;
        let snapshot = table.snapshot().ok()?;
        Some(data_file::measurement_schema(
            &snapshot.snapshot().arrow_schema(),
        ))
    }

    /// The table as last loaded, for reading (`None` when it does not exist).
    pub async fn loaded(&self) -> Result<Option<DeltaTable>, ArchiveError> {
        let mut state = self.state.lock().await;
        self.refresh(&mut state).await?;
        Ok(state.table.clone())
    }

    /// Rows of the table's live data files per `date` partition (`YYYY-MM-DD`), from
    /// the Delta log's statistics: what a reader plans its reads by without touching
    /// the data.
    pub async fn rows_per_date(&self) -> Result<BTreeMap<String, u64>, ArchiveError> {
        let Some(table) = self.loaded().await? else {
            return Ok(BTreeMap::new());
        };
        let snapshot = table.snapshot().map_err(|e| self.delta_error(e))?;
        let mut rows: BTreeMap<String, u64> = BTreeMap::new();
        for file in snapshot.log_data().iter() {
            let date = file.partition_values_map().remove(DATE_PARTITION).flatten();
            if let Some(date) = date {
                *rows.entry(date).or_default() += file.num_records().unwrap_or(0) as u64;
            }
        }
        Ok(rows)
    }

    /// Appends the rows of `batches` (one batch per source file, aligned to the
    /// pipeline's schema of the table) in one commit, leaving out the source files the
    /// table already holds.
    pub async fn append(&self, batches: Vec<RecordBatch>) -> Result<Appended, ArchiveError> {
        let mut state = self.state.lock().await;
        for attempt in 1..=COMMIT_ATTEMPTS {
            self.refresh(&mut state).await?;
            let (fresh, skipped) = self.leave_out_held(&mut state, &batches).await?;
            if fresh.is_empty() {
                return Ok(Appended {
                    files_skipped: skipped,
                    ..Appended::default()
                });
            }
            let current = Self::current_schema(&state);
            let incoming = schema::merge_all(fresh.iter().map(|b| b.schema_ref().as_ref()));
            let merged = match &current {
                None => incoming,
                Some(current) => match schema::merge(current, &incoming) {
                    None => current.clone(),
                    Some(merged) if widens_a_column(current, &merged) => {
                        self.rewrite(&mut state, &Arc::new(merged)).await?;
                        continue;
                    }
                    Some(merged) => Arc::new(merged),
                },
            };
            let target = data_file::archive_schema(&merged);
            let ingested_at = chrono::Utc::now().timestamp_micros();
            let encode_target = target.clone();
            let fresh_files = fresh.len();
            let files = tokio::task::spawn_blocking(move || {
                data_file::encode(&fresh, &encode_target, ingested_at)
            })
            .await
            .map_err(|e| self.delta_error(e))?
            .map_err(|message| ArchiveError::Rows {
                table: self.name.clone(),
                message: format!("cannot encode rows: {message}"),
            })?;
            let change = Change {
                schema: current
                    .as_ref()
                    .is_none_or(|c| c.as_ref() != merged.as_ref()),
                rows: files.iter().map(|f| f.rows).sum(),
                source_files: fresh_files,
            };
            match self.commit_files(&mut state, &files, &target, change).await {
                Ok(version) => {
                    return Ok(Appended {
                        version: Some(version),
                        files_added: fresh_files,
                        files_skipped: skipped,
                        data_files: files.len(),
                    });
                }
                Err(Commit::Lost) => self.pause_after_lost_race(attempt).await,
                Err(Commit::Failed(error)) => return Err(error),
            }
        }
        Err(self.outraced())
    }

    /// Waits before trying a commit again that another writer won: a random pause
    /// growing with the attempts, so writers that lost together do not race again in
    /// step.
    async fn pause_after_lost_race(&self, attempt: usize) {
        debug!(
            table = self.name,
            attempt, "another writer committed first; trying again"
        );
        let pause = rand::random_range(0..=LOST_COMMIT_PAUSE_MS * attempt as u64);
        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
    }

    /// The error of a commit that lost every one of its [`COMMIT_ATTEMPTS`].
    fn outraced(&self) -> ArchiveError {
        self.delta_error(format!(
            "other writers committed first {COMMIT_ATTEMPTS} times in a row"
        ))
    }

    /// Splits `batches` into those of source files the table does not hold yet and
    /// the number it holds.
    async fn leave_out_held(
        &self,
        state: &mut State,
        batches: &[RecordBatch],
    ) -> Result<(Vec<RecordBatch>, usize), ArchiveError> {
        let dates: BTreeSet<String> = batches.iter().flat_map(dates_of).collect();
        for date in &dates {
            self.read_ledger(state, date).await?;
        }
        let mut fresh = Vec::new();
        let mut skipped = 0;
        let mut in_group = HashSet::new();
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            let Some(file_id) = file_id_of(batch) else {
                fresh.push(batch.clone());
                continue;
            };
            let held = dates_of(batch)
                .iter()
                .any(|d| state.ledger.holds(d, &file_id));
            if held || !in_group.insert(file_id) {
                skipped += 1;
            } else {
                fresh.push(batch.clone());
            }
        }
        Ok((fresh, skipped))
    }

    /// Reads the `file_id`s of the data files of `date` not read yet into the ledger.
    async fn read_ledger(&self, state: &mut State, date: &str) -> Result<(), ArchiveError> {
        let Some(table) = &state.table else {
            return Ok(());
        };
        let snapshot = table.snapshot().map_err(|e| self.delta_error(e))?;
        let paths: Vec<String> = snapshot
            .log_data()
            .iter()
            .filter(|file| {
                file.partition_values_map()
                    .get(DATE_PARTITION)
                    .cloned()
                    .flatten()
                    .as_deref()
                    == Some(date)
            })
            .map(|file| file.path().to_string())
            .collect();
        let store = table.object_store();
        let unread: Vec<String> = state
            .ledger
            .unread(date, &paths)
            .into_iter()
            .cloned()
            .collect();
        for path in unread {
            let ids = read_file_ids(store.clone(), &path)
                .await
                .map_err(|e| self.delta_error(format!("reading the ledger of {path}: {e}")))?;
            state
                .ledger
                .record(date, &path, ids.iter().map(String::as_str));
        }
        Ok(())
    }

    /// Writes `files` and commits them (with the new schema when `schema_change`);
    /// the version committed. Written files of a lost commit are deleted again.
    async fn commit_files(
        &self,
        state: &mut State,
        files: &[DataFile],
        target: &SchemaRef,
        change: Change,
    ) -> Result<u64, Commit> {
        let store = self.store(state).map_err(Commit::Failed)?;
        let mut adds = Vec::with_capacity(files.len());
        for file in files {
            let add = self.put(&store, file).await.map_err(Commit::Failed)?;
            adds.push(add);
        }
        let result = self.commit(state, adds.clone(), target, change).await;
        if result.is_err() {
            for add in &adds {
                let path = StorePath::from(add.path.as_str());
                if let Err(error) = store.delete(&path).await {
                    warn!(table = self.name, path = add.path, %error, "cannot delete a data file of a failed commit; vacuum removes it");
                }
            }
        }
        let version = result?;
        for (file, add) in files.iter().zip(&adds) {
            let ids = file.file_ids.iter().map(String::as_str);
            state.ledger.record(&file.date, &add.path, ids);
        }
        Ok(version)
    }

    /// The table's object store, rooted at the table (created on first use).
    fn store(&self, state: &State) -> Result<Arc<dyn ObjectStore>, ArchiveError> {
        match &state.table {
            Some(table) => Ok(table.object_store()),
            None => self.unloaded().map(|t| t.object_store()),
        }
    }

    /// Writes one data file under a fresh name; its `Add` action.
    async fn put(
        &self,
        store: &Arc<dyn ObjectStore>,
        file: &DataFile,
    ) -> Result<Add, ArchiveError> {
        let path = format!(
            "{DATE_PARTITION}={}/part-{:032x}.zstd.parquet",
            file.date,
            rand::random::<u128>()
        );
        store
            .put(
                &StorePath::from(path.as_str()),
                PutPayload::from_bytes(file.bytes.clone()),
            )
            .await
            .map_err(|e| self.delta_error(e))?;
        Ok(Add {
            path,
            partition_values: HashMap::from([(
                DATE_PARTITION.to_string(),
                Some(file.date.clone()),
            )]),
            size: file.bytes.len() as i64,
            modification_time: chrono::Utc::now().timestamp_millis(),
            data_change: true,
            stats: Some(file.stats.clone()),
            tags: None,
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
            clustering_provider: None,
        })
    }

    /// Commits `adds` (and the schema `target` when `schema_change`) as the next
    /// version, creating the table with the first commit.
    async fn commit(
        &self,
        state: &mut State,
        adds: Vec<Add>,
        target: &SchemaRef,
        change: Change,
    ) -> Result<u64, Commit> {
        let delta_schema = delta_schema(target).map_err(Commit::Failed)?;
        let lineage = CommitProperties::default().with_metadata([(
            LINEAGE_KEY.to_string(),
            serde_json::json!({
                "data_files": adds.len(),
                "rows": change.rows,
                "source_files": change.source_files,
            }),
        )]);
        let actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
        let Some(table) = &state.table else {
            let created = CreateBuilder::new()
                .with_location(self.url.as_str())
                .with_columns(delta_schema.fields().cloned())
                .with_partition_columns([DATE_PARTITION])
                .with_configuration_property(
                    deltalake_core::TableProperty::DataSkippingStatsColumns,
                    Some(STATS_COLUMNS.join(",")),
                )
                .with_save_mode(SaveMode::ErrorIfExists)
                .with_commit_properties(lineage)
                .with_actions(actions)
                .await;
            return match created {
                Ok(table) => {
                    info!(table = self.name, "created the Delta table");
                    let version = table.version().unwrap_or(0);
                    state.table = Some(table);
                    Ok(version)
                }
                Err(error) if lost_a_race(&error) => Err(Commit::Lost),
                // Another writer created the table first (delta-rs says so in a
                // generic error): append on top of it.
                Err(error) => match self.log_exists().await {
                    true => Err(Commit::Lost),
                    false => Err(Commit::Failed(self.delta_error(error))),
                },
            };
        };
        let snapshot = table
            .snapshot()
            .map_err(|e| Commit::Failed(self.delta_error(e)))?;
        let mut actions = actions;
        if change.schema {
            let metadata = snapshot
                .metadata()
                .clone()
                .with_schema(&delta_schema)
                .map_err(|e| Commit::Failed(self.delta_error(e)))?;
            actions.insert(0, Action::Metadata(metadata));
        }
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(vec![DATE_PARTITION.to_string()]),
            predicate: None,
        };
        let committed = CommitBuilder::from(with_pmflow_rules(lineage))
            .with_actions(actions)
            .build(Some(snapshot), table.log_store(), operation)
            .await;
        match committed {
            Ok(done) => Ok(done.version()),
            Err(error) if lost_a_race(&error) => Err(Commit::Lost),
            Err(error) => Err(Commit::Failed(self.delta_error(error))),
        }
    }

    /// Rewrites every data file of the table with the wider schema `merged` in one
    /// commit (see the module doc).
    async fn rewrite(&self, state: &mut State, merged: &SchemaRef) -> Result<(), ArchiveError> {
        let table = state
            .table
            .as_ref()
            .expect("a table whose column widens exists");
        let target = data_file::archive_schema(merged);
        let store = table.object_store();
        let snapshot = table.snapshot().map_err(|e| self.delta_error(e))?;
        let old: Vec<_> = snapshot.log_data().iter().collect();
        info!(
            table = self.name,
            files = old.len(),
            "a column widens: rewriting the table with the wider type"
        );
        let mut actions = Vec::new();
        let mut written = Vec::new();
        for file in &old {
            for add in self.rewrite_file(&store, &file.path(), &target).await? {
                written.push(add.path.clone());
                actions.push(Action::Add(add));
            }
            actions.push(Action::Remove(file.remove_action(true)));
        }
        let metadata = snapshot
            .metadata()
            .clone()
            .with_schema(&delta_schema(&target)?)
            .map_err(|e| self.delta_error(e))?;
        actions.insert(0, Action::Metadata(metadata));
        let operation = DeltaOperation::Write {
            mode: SaveMode::Overwrite,
            partition_by: Some(vec![DATE_PARTITION.to_string()]),
            predicate: None,
        };
        let committed = CommitBuilder::from(with_pmflow_rules(CommitProperties::default()))
            .with_actions(actions)
            .build(Some(snapshot), table.log_store(), operation)
            .await;
        if let Err(error) = committed {
            for path in written {
                store.delete(&StorePath::from(path.as_str())).await.ok();
            }
            if !lost_a_race(&error) {
                return Err(self.delta_error(error));
            }
        }
        Ok(())
    }
}

impl ArchiveTable {
    /// Writes the rows of data file `path` again with the archive schema `target`
    /// (their `ingested_at` kept); the new files' `Add` actions.
    async fn rewrite_file(
        &self,
        store: &Arc<dyn ObjectStore>,
        path: &str,
        target: &SchemaRef,
    ) -> Result<Vec<Add>, ArchiveError> {
        let batches = read_data_file(store.clone(), path)
            .await
            .map_err(|e| self.delta_error(format!("reading {path} to widen it: {e}")))?;
        let ingested = batches
            .first()
            .and_then(|b| b.column_by_name(INGESTED_AT))
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .map_or(0, |c| c.value(0));
        let encoded =
            data_file::encode(&batches, target, ingested).map_err(|e| self.delta_error(e))?;
        let mut adds = Vec::new();
        for data in &encoded {
            adds.push(self.put(store, data).await?);
        }
        Ok(adds)
    }

    /// Writes the rows of `batch` (a part of a large source file) as data files
    /// without committing them. The table is not held while they are written (the
    /// parts of other files stage at the same time): the commit brings staged files
    /// to the schema of the moment.
    pub async fn stage(&self, batch: &RecordBatch) -> Result<Vec<StagedFile>, ArchiveError> {
        let mut state = self.state.lock().await;
        self.refresh(&mut state).await?;
        let merged = match Self::current_schema(&state) {
            None => schema::merge_all([batch.schema_ref().as_ref()]),
            Some(current) => schema::merge(&current, &batch.schema()).map_or(current, Arc::new),
        };
        let target = data_file::archive_schema(&merged);
        let store = self.store(&state)?;
        drop(state);
        let ingested_at = chrono::Utc::now().timestamp_micros();
        let (rows, encode_target) = (batch.clone(), target.clone());
        let files = tokio::task::spawn_blocking(move || {
            data_file::encode(&[rows], &encode_target, ingested_at)
        })
        .await
        .map_err(|e| self.delta_error(e))?
        .map_err(|message| ArchiveError::Rows {
            table: self.name.clone(),
            message: format!("cannot encode rows: {message}"),
        })?;
        let mut staged = Vec::with_capacity(files.len());
        for file in &files {
            staged.push(StagedFile {
                add: self.put(&store, file).await?,
                date: file.date.clone(),
                rows: file.rows,
                schema: merged.clone(),
            });
        }
        Ok(staged)
    }

    /// Commits the staged data files of source file `file_id` in one commit, unless
    /// the table holds that file already (then they are deleted).
    pub async fn commit_staged(
        &self,
        file_id: &str,
        mut staged: Vec<StagedFile>,
    ) -> Result<Appended, ArchiveError> {
        let mut state = self.state.lock().await;
        let store = self.store(&state)?;
        for attempt in 1..=COMMIT_ATTEMPTS {
            self.refresh(&mut state).await?;
            let dates: BTreeSet<&str> = staged.iter().map(|f| f.date.as_str()).collect();
            for date in &dates {
                self.read_ledger(&mut state, date).await?;
            }
            if dates.iter().any(|d| state.ledger.holds(d, file_id)) {
                for file in &staged {
                    store
                        .delete(&StorePath::from(file.add.path.as_str()))
                        .await
                        .ok();
                }
                return Ok(Appended {
                    files_skipped: 1,
                    ..Appended::default()
                });
            }
            let current = Self::current_schema(&state);
            let schemas = current.iter().chain(staged.iter().map(|f| &f.schema));
            let merged = schema::merge_all(schemas.map(|s| s.as_ref()));
            if let Some(current) = &current {
                if widens_a_column(current, &merged) {
                    self.rewrite(&mut state, &merged).await?;
                    continue;
                }
            }
            let target = data_file::archive_schema(&merged);
            for file in staged.iter_mut().filter(|f| f.schema != merged) {
                let old = file.add.path.clone();
                let [add] = <[Add; 1]>::try_from(self.rewrite_file(&store, &old, &target).await?)
                    .map_err(|_| {
                    self.delta_error("a staged file of one date became several")
                })?;
                store.delete(&StorePath::from(old.as_str())).await.ok();
                *file = StagedFile {
                    add,
                    date: file.date.clone(),
                    rows: file.rows,
                    schema: merged.clone(),
                };
            }
            let change = Change {
                schema: current.as_ref() != Some(&merged),
                rows: staged.iter().map(|f| f.rows).sum(),
                source_files: 1,
            };
            let adds = staged.iter().map(|f| f.add.clone()).collect();
            match self.commit(&mut state, adds, &target, change).await {
                Ok(version) => {
                    for file in &staged {
                        state.ledger.record(&file.date, &file.add.path, [file_id]);
                    }
                    return Ok(Appended {
                        version: Some(version),
                        files_added: 1,
                        files_skipped: 0,
                        data_files: staged.len(),
                    });
                }
                Err(Commit::Lost) => self.pause_after_lost_race(attempt).await,
                Err(Commit::Failed(error)) => return Err(error),
            }
        }
        Err(self.outraced())
    }
}

/// Why a commit did not happen.
enum Commit {
    /// Another writer committed first: bring the ledger up to date and try again.
    Lost,
    /// The store or the log failed.
    Failed(ArchiveError),
}

/// The distinct `file_id`s of a data file of the table, decoding that column only.
async fn read_file_ids(
    store: Arc<dyn ObjectStore>,
    path: &str,
) -> Result<BTreeSet<String>, String> {
    let bytes = fetch(&store, path).await?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| e.to_string())?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), [schema::FILE_ID]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| e.to_string())?;
    let mut ids = BTreeSet::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        ids.extend(
            batch
                .column(0)
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_string),
        );
    }
    Ok(ids)
}

/// Every row of a data file of the table.
async fn read_data_file(
    store: Arc<dyn ObjectStore>,
    path: &str,
) -> Result<Vec<RecordBatch>, String> {
    let bytes = fetch(&store, path).await?;
    ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|builder| builder.build())
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

/// The bytes of a data file of the table.
async fn fetch(store: &Arc<dyn ObjectStore>, path: &str) -> Result<bytes::Bytes, String> {
    let object = store
        .get(&StorePath::from(path))
        .await
        .map_err(|e| e.to_string())?;
    object.bytes().await.map_err(|e| e.to_string())
}
