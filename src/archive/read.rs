//! Reading the archive with DataFusion: the archive's tables as a SQL schema, each
//! table over all systems, read through the Delta log (partition pruning on `date`,
//! file pruning on the key columns' statistics).
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
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, ident, lit, when};
use datafusion::prelude::SessionContext;

use super::{Archive, ArchiveError};
use crate::schema;

/// The archive as DataFusion's default schema of a session.
struct ArchiveSchema {
    archive: Archive,
    /// The systems that have each table.
    systems_of: BTreeMap<String, Vec<String>>,
    /// The session, whose object store registry the tables' stores join.
    state: SessionState,
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
    /// The table `name` over every system that has it.
    async fn open(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
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
            return Ok(providers.pop());
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
        let plan = plan.expect("two or more systems").build()?;
        Ok(Some(Arc::new(ViewTable::new(plan, None))))
    }
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
            .chain(registered.keys())
            .cloned()
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
        self.systems_of.contains_key(name)
            || self.tables.lock().expect("tables lock").contains_key(name)
    }
}

impl Archive {
    /// Makes every archive table readable in `ctx` under its table name, over all
    /// systems (a table several systems have is the union of theirs, columns matched
    /// by name): the archive becomes the session's default schema. Returns the table
    /// names.
    pub async fn register_tables(&self, ctx: &SessionContext) -> Result<Vec<String>, ArchiveError> {
        let mut systems_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (system, table) in self.table_names(None).await? {
            systems_of.entry(table).or_default().push(system);
        }
        let names = systems_of.keys().cloned().collect();
        let schema = ArchiveSchema {
            archive: self.clone(),
            systems_of,
            state: ctx.state(),
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
