//! Reading the archive with DataFusion: the archive's tables as a SQL schema, each
//! table over all systems, read through the Delta log (partition pruning on `date`,
//! file pruning on the key columns' statistics).
//!
//! The rule of reading: a table shows **one row per row key** (`system`, `ne`,
//! `object`, `period_start`) — the version ingested last, as a database sink's upsert
//! keeps it — while `<table>_history` shows every version with its `file_id` and
//! `ingested_at`. Read "as of" a moment, both show only rows ingested at or before it,
//! so a corrected file's earlier values come back when reading before the correction.
//!
//! Tables are opened when a query names them, not before: an archive of hundreds of
//! tables answers a query about one as fast as an archive of one.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::catalog::SchemaProvider;
use datafusion::common::ScalarValue;
use datafusion::datasource::{TableProvider, ViewTable, provider_as_source};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, cast, ident, lit, when,
};
use datafusion::prelude::SessionContext;

use super::data_file::INGESTED_AT;
use super::{Archive, ArchiveError, DATE_PARTITION};
use crate::schema;

/// Suffix of the view showing every version of a table's rows.
pub const HISTORY_SUFFIX: &str = "_history";

/// Column numbering the versions of a row key, newest first (never shown).
const VERSION: &str = "__pmflow_version";

/// How the archive is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read the archive as it was at this moment (microseconds since the epoch,
    /// UTC): only rows ingested at or before it. `None`: everything.
    pub as_of: Option<i64>,
    /// Read only this system's tables (replay reads one system). `None`: all, a
    /// table several systems have being the union of theirs.
    pub system: Option<String>,
}

/// What a table name of the archive schema stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// The latest version of each row key.
    Latest,
    /// Every version.
    History,
}

/// The archive as DataFusion's default schema of a session.
struct ArchiveSchema {
    archive: Archive,
    /// The systems that have each table.
    systems_of: BTreeMap<String, Vec<String>>,
    /// The session, whose object store registry the tables' stores join.
    state: SessionState,
    /// How tables are read.
    options: ReadOptions,
    /// Tables opened, and tables (views) registered by the session.
    tables: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
}

impl std::fmt::Debug for ArchiveSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveSchema")
            .field("archive", &self.archive.location())
            .finish()
    }
}

impl ArchiveSchema {
    /// The archive table a name of the schema shows, and how.
    fn resolve<'n>(&self, name: &'n str) -> Option<(&'n str, View)> {
        if self.systems_of.contains_key(name) {
            return Some((name, View::Latest));
        }
        name.strip_suffix(HISTORY_SUFFIX)
            .filter(|table| self.systems_of.contains_key(*table))
            .map(|table| (table, View::History))
    }

    /// The table (or history view) `name` over every system that has it.
    async fn open(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some((table, view)) = self.resolve(name) else {
            return Ok(None);
        };
        let Some(stored) = self.stored(table).await? else {
            return Ok(None);
        };
        let plan = read_view(stored, view, self.options.as_of)?;
        Ok(Some(Arc::new(ViewTable::new(plan, None))))
    }

    /// Every row stored of table `name`, over every system that has it.
    async fn stored(&self, name: &str) -> Result<Option<LogicalPlanBuilder>> {
        let Some(systems) = self.systems_of.get(name) else {
            return Ok(None);
        };
        let external = |e: ArchiveError| DataFusionError::External(Box::new(e));
        let mut providers: Vec<Arc<dyn TableProvider>> = Vec::new();
        for system in systems {
            let Some(delta) = self
                .archive
                .table(system, name)
                .loaded()
                .await
                .map_err(external)?
            else {
                continue;
            };
            delta
                .update_datafusion_session(&self.state)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            providers.push(Arc::new(delta.table_provider().build().await?));
        }
        if providers.len() <= 1 {
            return providers
                .pop()
                .map(|only| LogicalPlanBuilder::scan(name, provider_as_source(only), None))
                .transpose();
        }
        let mut merged = providers[0].schema().as_ref().clone();
        for provider in &providers[1..] {
            if let Some(wider) = schema::merge(&merged, &provider.schema()) {
                merged = wider;
            }
        }
        let mut plan: Option<LogicalPlanBuilder> = None;
        for provider in providers {
            let columns = conform(&provider.schema(), &merged);
            let scan = LogicalPlanBuilder::scan(name, provider_as_source(provider), None)?
                .project(columns)?;
            plan = Some(match plan {
                None => scan,
                Some(plan) => plan.union(scan.build()?)?,
            });
        }
        Ok(plan)
    }
}

/// The rows of `stored` a view shows: those ingested by the `as_of` moment, and of
/// those, for [`View::Latest`], the last ingested of each row key (ties, rows of one
/// commit, broken by `file_id` so every reading agrees).
fn read_view(stored: LogicalPlanBuilder, view: View, as_of: Option<i64>) -> Result<LogicalPlan> {
    let known = match as_of {
        Some(moment) => {
            let moment = ScalarValue::TimestampMicrosecond(Some(moment), Some("UTC".into()));
            stored.filter(ident(INGESTED_AT).lt_eq(lit(moment)))?
        }
        None => stored,
    };
    if view == View::History {
        return known.build();
    }
    let columns: Vec<Expr> = known
        .schema()
        .fields()
        .iter()
        .map(|field| ident(field.name()))
        .collect();
    // `date` follows from `period_start`; partitioning by it too lets a filter on
    // the partition column pass the window and prune files.
    let row_key = [
        schema::SYSTEM,
        schema::NE,
        schema::OBJECT,
        schema::PERIOD_START,
    ];
    let newest_first = row_number()
        .partition_by(
            row_key
                .into_iter()
                .chain([DATE_PARTITION])
                .map(ident)
                .collect(),
        )
        .order_by(vec![
            ident(INGESTED_AT).sort(false, false),
            ident(schema::FILE_ID).sort(false, false),
        ])
        .build()?
        .alias(VERSION);
    known
        .window(vec![newest_first])?
        .filter(ident(VERSION).eq(lit(1u64)))?
        .project(columns)?
        .build()
}

/// The columns of a table with schema `own` as the table over all systems has them
/// (`merged`): missing counters null, narrower ones widened (a single value to a
/// one-element vector, as everywhere in pmflow).
fn conform(own: &Schema, merged: &Schema) -> Vec<Expr> {
    merged
        .fields()
        .iter()
        .map(|field| {
            let target = field.data_type();
            let value = match own.field_with_name(field.name()) {
                Ok(mine) if mine.data_type() == target => ident(field.name()),
                Ok(_) => when(ident(field.name()).is_null(), null_of(target))
                    .otherwise(cast(ident(field.name()), target.clone()))
                    .expect("a CASE with one branch"),
                Err(_) => null_of(target),
            };
            value.alias(field.name())
        })
        .collect()
}

/// A typed null.
fn null_of(data_type: &DataType) -> Expr {
    cast(lit(ScalarValue::Null), data_type.clone())
}

#[async_trait]
impl SchemaProvider for ArchiveSchema {
    fn table_names(&self) -> Vec<String> {
        let registered = self.tables.lock().expect("tables lock");
        let mut names: Vec<String> = self
            .systems_of
            .keys()
            .flat_map(|table| [table.clone(), format!("{table}{HISTORY_SUFFIX}")])
            .chain(registered.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.tables.lock().expect("tables lock").get(name) {
            return Ok(Some(table.clone()));
        }
        let opened = self.open(name).await?;
        if let Some(table) = &opened {
            let mut tables = self.tables.lock().expect("tables lock");
            tables.insert(name.to_string(), table.clone());
        }
        Ok(opened)
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(self.tables.lock().expect("tables lock").insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(self.tables.lock().expect("tables lock").remove(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.resolve(name).is_some() || self.tables.lock().expect("tables lock").contains_key(name)
    }
}

impl Archive {
    /// Makes every archive table readable in `ctx` under its table name, over all
    /// systems (a table several systems have is the union of theirs, columns matched
    /// by name), with its `<table>_history` beside it, read as `options` say: the
    /// archive becomes the session's default schema. Returns the table names.
    pub async fn register_tables(
        &self,
        ctx: &SessionContext,
        options: ReadOptions,
    ) -> Result<Vec<String>, ArchiveError> {
        let mut systems_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (system, table) in self.table_names(options.system.as_deref()).await? {
            systems_of.entry(table).or_default().push(system);
        }
        let names = systems_of.keys().cloned().collect();
        let schema = ArchiveSchema {
            archive: self.clone(),
            systems_of,
            state: ctx.state(),
            options,
            tables: Mutex::default(),
        };
        let options = ctx.state().config_options().catalog.clone();
        let catalog = ctx
            .catalog(&options.default_catalog)
            .expect("the default catalog exists");
        catalog
            .register_schema(&options.default_schema, Arc::new(schema))
            .map_err(|e| ArchiveError::Delta {
                table: "(schema)".into(),
                message: e.to_string(),
            })?;
        Ok(names)
    }
}
