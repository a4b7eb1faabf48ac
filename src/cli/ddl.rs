//! `pmflow ddl clickhouse`: the ClickHouse DDL of the Kafka path for the tables of an
//! archive (and the keyed outputs of a plan's rules), printed for operators to run
//! with `clickhouse-client --multiquery`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use arrow::datatypes::SchemaRef;
use clap::{Args, Subcommand};
use pmflow::archive::Archive;
use pmflow::config::{Overrides, SystemPlan};
use pmflow::plan::rules::CompiledRule;
use pmflow::schema;
use pmflow::sink::clickhouse::kafka_engine::{Deployed, KafkaEngine};
use pmflow::sink::clickhouse::{ClickHouseSettings, connect};
use pmflow::sink::kafka::KafkaSettings;
use tracing::warn;

use super::Failure;

/// Arguments of `pmflow ddl`.
#[derive(Debug, Args)]
pub struct DdlArgs {
    #[command(subcommand)]
    target: DdlTarget,
}

#[derive(Debug, Subcommand)]
enum DdlTarget {
    /// ClickHouse's Kafka path, per table: a `Kafka` engine queue on the Kafka sink's
    /// topics, the `ReplacingMergeTree` target and the materialized view between them.
    Clickhouse(ClickHouseArgs),
}

/// Arguments of `pmflow ddl clickhouse`.
#[derive(Debug, Args)]
struct ClickHouseArgs {
    /// Plan file: its system, archive, rules and Kafka sink (brokers, topic template).
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Archive whose tables are described (default: the plan's).
    #[arg(long)]
    archive: Option<String>,
    /// Only this system (default: the plan's; without a plan, every system archived).
    #[arg(long)]
    system: Option<String>,
    /// Brokers the Kafka engine reads from (default: the plan's Kafka sink's, else
    /// 127.0.0.1:9092).
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT]")]
    kafka: Option<String>,
    /// Topic template with {system} and {table} (default: the plan's Kafka sink's,
    /// else pm.{system}.{table}).
    #[arg(long)]
    topic: Option<String>,
    /// Database of the tables (default: --against's, else the plan's ClickHouse
    /// sink's, else `default`).
    #[arg(long)]
    database: Option<String>,
    /// A ClickHouse server to compare with (clickhouse://…): print only what it lacks,
    /// including `ALTER TABLE … ADD COLUMN` for counters that appeared since.
    #[arg(long, value_name = "URL")]
    against: Option<String>,
}

/// One ClickHouse table: the topics it is published on and its schemas there.
#[derive(Default)]
struct Described {
    topics: Vec<String>,
    schemas: Vec<SchemaRef>,
}

/// Runs the command.
pub async fn run(args: DdlArgs) -> Result<(), Failure> {
    let DdlTarget::Clickhouse(args) = args.target;
    let usage = |e: anyhow::Error| Failure::Usage(e);
    let one_system = args.plan.is_some() || args.system.is_some();
    let plan = SystemPlan::resolve(
        args.plan.as_deref(),
        Overrides {
            system: args.system,
            archive: args.archive,
            ..Overrides::default()
        },
    )
    .map_err(|e| usage(e.into()))?;
    let archive_url = plan
        .archive_url()
        .context("name the tables' archive: --archive DIR, or a plan with an archive sink")
        .map_err(usage)?;
    let archive = Archive::open(archive_url).map_err(|e| usage(e.into()))?;
    let mut kafka = plan
        .sinks
        .iter()
        .find_map(|sink| sink.config_of::<KafkaSettings>().cloned())
        .unwrap_or_else(|| KafkaSettings::from_url("kafka://127.0.0.1:9092").expect("valid"));
    if let Some(topic) = args.topic {
        kafka.topic = topic;
    }
    let against = args
        .against
        .map(|url| ClickHouseSettings::from_url(&url))
        .transpose()
        .map_err(|e| usage(anyhow::anyhow!("--against: {e}")))?;
    let planned_database = plan.sinks.iter().find_map(|sink| {
        let settings = sink.config_of::<ClickHouseSettings>()?;
        Some(settings.database.clone())
    });
    let engine = KafkaEngine {
        database: args
            .database
            .or_else(|| against.as_ref().map(|s| s.database.clone()))
            .or(planned_database)
            .unwrap_or_else(|| "default".into()),
        brokers: args.kafka.unwrap_or_else(|| kafka.brokers.clone()),
    };

    let systems = if one_system {
        vec![plan.system.clone()]
    } else {
        let mut systems: Vec<String> = (archive.table_names(None).await)
            .context("cannot list the archive")?
            .into_iter()
            .map(|(system, _)| system)
            .collect();
        systems.sort();
        systems.dedup();
        systems
    };
    let mut tables: BTreeMap<String, Described> = BTreeMap::new();
    for system in &systems {
        let schemas = archive
            .table_schemas(Some(system))
            .await
            .context("cannot read the archive")?;
        for rule in &plan.rules {
            let Some(input) = schemas.get(&rule.table) else {
                continue;
            };
            match CompiledRule::compile(rule, input.clone()).await {
                Ok(compiled) => {
                    let output = SchemaRef::new(compiled.plan.schema().as_arrow().clone());
                    if schema::ROW_KEY.iter().all(|k| output.index_of(k).is_ok()) {
                        let table = tables.entry(rule.name.clone()).or_default();
                        table.topics.push(kafka.topic_for(system, &rule.name));
                        table.schemas.push(output);
                    }
                }
                Err(error) => warn!(rule = rule.name, %error, "rule does not compile; skipped"),
            }
        }
        for (name, schema) in schemas {
            let table = tables.entry(name.clone()).or_default();
            table.topics.push(kafka.topic_for(system, &name));
            table.schemas.push(schema);
        }
    }

    let client = against.as_ref().map(connect);
    let mut statements = Vec::new();
    for (name, table) in &tables {
        let schema = schema::merge_all(table.schemas.iter().map(|s| s.as_ref()));
        let deployed = match &client {
            Some(client) => Some(
                Deployed::read(client, &engine.database, name)
                    .await
                    .with_context(|| format!("cannot read table {name} from ClickHouse"))?,
            ),
            None => None,
        };
        statements.extend(engine.statements(name, &table.topics, &schema, deployed.as_ref()));
    }
    println!(
        "-- pmflow ddl clickhouse: {} table(s), Kafka at {}; run with clickhouse-client --multiquery",
        tables.len(),
        engine.brokers
    );
    if statements.is_empty() && client.is_some() {
        println!("-- nothing to change");
        return Ok(());
    }
    println!("{};", engine.create_database());
    for statement in statements {
        println!("{statement};");
    }
    Ok(())
}
