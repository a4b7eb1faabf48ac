//! SQL rules: `sql/<system>/*.sql`, each a row-wise `SELECT … FROM <table> [WHERE …]`
//! that derives KPIs, filters, renames or preprocesses one measurement table.
//!
//! A rule is compiled once per schema of its table: SQL is parsed, planned and
//! optimized by DataFusion, then lowered to physical expressions (projection and
//! filter steps). Each batch is then only evaluated, never re-planned. Rules are
//! row-wise on purpose: a file's batch is a slice of a stream, so aggregates or joins
//! would give answers that depend on how files were cut; such rules are rejected at
//! compile time with a message naming the rule.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::{AsArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::{SessionConfig, SessionContext};

/// A rule could not be loaded, compiled or run.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The rule file could not be read.
    #[error("rule {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The rule's SQL is not a single-table query, or does not plan.
    #[error("rule {rule}: {message}")]
    Invalid { rule: String, message: String },
    /// DataFusion failed while planning or evaluating the rule.
    #[error("rule {rule}: {source}")]
    DataFusion {
        rule: String,
        source: DataFusionError,
    },
}

/// One rule as loaded from its file.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Output name: the file stem (`rrc_setup_sr.sql` → `rrc_setup_sr`).
    pub name: String,
    /// The SQL text.
    pub sql: String,
    /// The one measurement table the rule reads.
    pub table: String,
}

/// A session configured the way pmflow plans SQL everywhere (rules and `query`):
/// identifiers are case-sensitive as written, because counter names are mixed-case
/// (`pmRrcConnEstabSucc`) and must not need quoting.
pub fn session_config() -> SessionConfig {
    let mut config = SessionConfig::new();
    config.options_mut().sql_parser.enable_ident_normalization = false;
    config
}

impl Rule {
    /// Parses a rule and finds the table it reads.
    pub fn new(name: &str, sql: &str) -> Result<Self, RuleError> {
        let invalid = |message: String| RuleError::Invalid {
            rule: name.to_string(),
            message,
        };
        let ctx = SessionContext::new_with_config(session_config());
        let state = ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let statement = state
            .sql_to_statement(sql, &dialect)
            .map_err(|e| invalid(e.to_string()))?;
        let tables = state
            .resolve_table_references(&statement)
            .map_err(|e| invalid(e.to_string()))?;
        let [table] = tables.as_slice() else {
            return Err(invalid(format!(
                "a rule reads exactly one measurement table, this one reads {}",
                tables.len()
            )));
        };
        Ok(Self {
            name: name.to_string(),
            sql: sql.to_string(),
            table: table.table().to_string(),
        })
    }
}

/// Loads every `*.sql` file of a directory, in name order. A missing directory means
/// no rules.
pub fn load_dir(dir: &Path) -> Result<Vec<Rule>, RuleError> {
    let read_err = |source| RuleError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_err(e)),
    };
    let mut paths = entries
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_err)?;
    paths.retain(|p| p.extension().is_some_and(|ext| ext == "sql"));
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let sql = std::fs::read_to_string(path).map_err(|source| RuleError::Read {
                path: path.clone(),
                source,
            })?;
            let name = path.file_stem().unwrap_or_default().to_string_lossy();
            Rule::new(&name, &sql)
        })
        .collect()
}

/// One step of a compiled rule, applied to the output of the previous one.
#[derive(Debug)]
enum Step {
    /// Keep these columns (projection pushed into the scan).
    Columns(Vec<usize>),
    /// Keep the rows where the predicate is true.
    Filter(Arc<dyn PhysicalExpr>),
    /// Compute the output columns.
    Project {
        exprs: Vec<Arc<dyn PhysicalExpr>>,
        schema: SchemaRef,
    },
}

/// A rule lowered to physical steps for one input schema.
#[derive(Debug)]
pub struct CompiledRule {
    /// The optimized logical plan, for `explain`.
    pub plan: LogicalPlan,
    steps: Vec<Step>,
}

impl CompiledRule {
    /// Compiles `rule` against the current schema of its table.
    pub async fn compile(rule: &Rule, input: SchemaRef) -> Result<Self, RuleError> {
        let df_err = |source| RuleError::DataFusion {
            rule: rule.name.clone(),
            source,
        };
        let ctx = SessionContext::new_with_config(session_config());
        let table = MemTable::try_new(input, vec![vec![]]).map_err(df_err)?;
        ctx.register_table(rule.table.as_str(), Arc::new(table))
            .map_err(df_err)?;
        let state = ctx.state();
        let plan = state.create_logical_plan(&rule.sql).await.map_err(df_err)?;
        let plan = state.optimize(&plan).map_err(df_err)?;
        let steps = lower(&plan, &state).map_err(|e| match e {
            Lowering::Unsupported(node) => RuleError::Invalid {
                rule: rule.name.clone(),
                message: format!(
                    "only row-wise SELECT … FROM {} [WHERE …] is supported, found {node}",
                    rule.table
                ),
            },
            Lowering::DataFusion(source) => df_err(source),
        })?;
        Ok(Self { plan, steps })
    }

    /// Runs the rule over one batch of its table.
    pub fn execute(&self, batch: &RecordBatch) -> Result<RecordBatch, DataFusionError> {
        let mut current = batch.clone();
        for step in &self.steps {
            current = match step {
                Step::Columns(indices) => current.project(indices)?,
                Step::Filter(predicate) => {
                    let mask = predicate
                        .evaluate(&current)?
                        .into_array(current.num_rows())?;
                    if mask.data_type() != &DataType::Boolean {
                        return Err(DataFusionError::Plan("filter is not boolean".into()));
                    }
                    filter_record_batch(&current, mask.as_boolean())?
                }
                Step::Project { exprs, schema } => {
                    let columns = exprs
                        .iter()
                        .map(|e| e.evaluate(&current)?.into_array(current.num_rows()))
                        .collect::<Result<Vec<_>, _>>()?;
                    RecordBatch::try_new(schema.clone(), columns)?
                }
            };
        }
        Ok(current)
    }
}

enum Lowering {
    Unsupported(String),
    DataFusion(DataFusionError),
}

impl From<DataFusionError> for Lowering {
    fn from(e: DataFusionError) -> Self {
        Lowering::DataFusion(e)
    }
}

fn lower(plan: &LogicalPlan, state: &SessionState) -> Result<Vec<Step>, Lowering> {
    let physical = |expr: &datafusion::logical_expr::Expr, schema: &DFSchema| {
        state.create_physical_expr(expr.clone(), schema)
    };
    match plan {
        LogicalPlan::TableScan(scan) if scan.fetch.is_none() => {
            let mut steps = Vec::new();
            if let Some(projection) = &scan.projection {
                steps.push(Step::Columns(projection.clone()));
            }
            for filter in &scan.filters {
                steps.push(Step::Filter(physical(filter, &scan.projected_schema)?));
            }
            Ok(steps)
        }
        LogicalPlan::Filter(filter) => {
            let mut steps = lower(&filter.input, state)?;
            steps.push(Step::Filter(physical(
                &filter.predicate,
                filter.input.schema(),
            )?));
            Ok(steps)
        }
        LogicalPlan::Projection(projection) => {
            let mut steps = lower(&projection.input, state)?;
            let exprs = projection
                .expr
                .iter()
                .map(|e| physical(e, projection.input.schema()))
                .collect::<Result<Vec<_>, _>>()?;
            let schema = Arc::new(projection.schema.as_arrow().clone());
            steps.push(Step::Project { exprs, schema });
            Ok(steps)
        }
        LogicalPlan::SubqueryAlias(alias) => lower(&alias.input, state),
        other => Err(Lowering::Unsupported(other.display().to_string())),
    }
}

/// The rules of one system, with their compiled forms cached per input schema.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    compiled: Mutex<HashMap<usize, (SchemaRef, Arc<CompiledRule>)>>,
}

impl RuleSet {
    /// A rule set over loaded rules.
    pub fn new(rules: Vec<Rule>) -> Self {
        Self {
            rules,
            compiled: Mutex::default(),
        }
    }

    /// Runs every rule that reads `table` over `batch` (already aligned to `schema`),
    /// returning `(rule name, output)` pairs. Compiles a rule only when the table's
    /// schema changed since its last compilation.
    pub async fn apply(
        &self,
        table: &str,
        batch: &RecordBatch,
    ) -> Result<Vec<(String, RecordBatch)>, RuleError> {
        let schema = batch.schema();
        let mut outputs = Vec::new();
        for (index, rule) in self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.table == table)
        {
            let cached = self
                .compiled
                .lock()
                .expect("rule cache lock")
                .get(&index)
                .filter(|(s, _)| Arc::ptr_eq(s, &schema))
                .map(|(_, c)| c.clone());
            let compiled = match cached {
                Some(compiled) => compiled,
                None => {
                    let compiled = Arc::new(CompiledRule::compile(rule, schema.clone()).await?);
                    let mut cache = self.compiled.lock().expect("rule cache lock");
                    cache.insert(index, (schema.clone(), compiled.clone()));
                    compiled
                }
            };
            let output = compiled
                .execute(batch)
                .map_err(|source| RuleError::DataFusion {
                    rule: rule.name.clone(),
                    source,
                })?;
            outputs.push((rule.name.clone(), output));
        }
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::builder::{TableBuilder, Value};
    use arrow::array::Array;
    use arrow::datatypes::Float64Type;

    /// Three cells: 90/100 attempts, 0/0 attempts, and a suspect 5/10.
    fn cells() -> RecordBatch {
        let mut builder = TableBuilder::default();
        let (att, succ) = (builder.column("Att"), builder.column("Succ"));
        for (i, (a, s)) in [(100, 90), (0, 0), (10, 5)].into_iter().enumerate() {
            let row = builder.row(0, &format!("cell={i}"), 0, 900);
            builder.set(row, att, Value::Int(a));
            builder.set(row, succ, Value::Int(s));
        }
        builder.mark_suspect(2);
        builder.finish("5ga", "f", &["ne".to_string()]).unwrap()
    }

    #[tokio::test]
    async fn kpi_and_filter_rules_compile_once_and_evaluate_per_batch() {
        let sql = "SELECT object, 100.0 * Succ / NULLIF(Att, 0) AS sr FROM cells WHERE NOT suspect";
        let rule = Rule::new("sr", sql).unwrap();
        assert_eq!(rule.table, "cells");
        let rules = RuleSet::new(vec![rule]);
        let batch = cells();
        let outputs = rules.apply("cells", &batch).await.unwrap();
        let (name, output) = &outputs[0];
        assert_eq!(name, "sr");
        assert_eq!(output.num_rows(), 2);
        let sr = output
            .column_by_name("sr")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!(sr.value(0), 90.0);
        assert!(sr.is_null(1));
        // The same schema reuses the compiled rule; other tables are untouched.
        rules.apply("cells", &batch).await.unwrap();
        assert_eq!(rules.compiled.lock().unwrap().len(), 1);
        assert!(rules.apply("other", &batch).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn aggregates_and_multi_table_rules_are_refused_by_name() {
        let batch = cells();
        let rule = Rule::new("total", "SELECT sum(Att) FROM cells").unwrap();
        let error = CompiledRule::compile(&rule, batch.schema())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("rule total: only row-wise SELECT"),
            "{error}"
        );
        let error = Rule::new("join", "SELECT * FROM a JOIN b USING (object)").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("reads exactly one measurement table, this one reads 2")
        );
    }
}
