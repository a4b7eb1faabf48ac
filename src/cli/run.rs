//! `pmflow run`: the long-running collector (see [`pmflow::service`]).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use pmflow::pipeline::BuildError;
use pmflow::service::config::{EMBEDDED_INBOX, RunOptions, ServiceConfig};
use pmflow::service::{self, ServiceError};

use super::Failure;

/// Arguments of `pmflow run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Service configuration (TOML, see README "Service mode"); without it and
    /// without system flags, the embedded default: ./inbox into ./archive.
    #[arg(long, env = "PMFLOW_CONFIG")]
    config: Option<PathBuf>,
    /// With --config: run only this system. With system flags: its name.
    #[arg(long)]
    system: Option<String>,
    /// Run a single system from this plan file.
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Run a single system reading this inbox (directory or ftp:// URL).
    #[arg(long)]
    source: Option<String>,
    /// Parquet archive directory of the single system.
    #[arg(long)]
    archive: Option<String>,
    /// Sink URL of the single system, repeatable.
    #[arg(long = "sink", value_name = "URL")]
    sinks: Vec<String>,
    /// Cron expression with seconds for every system (default "50 */5 * * * *").
    #[arg(long)]
    cron: Option<String>,
    /// Seconds from start to the first run (default 10).
    #[arg(long, value_name = "SECONDS")]
    initial_delay: Option<u64>,
    /// ZooKeeper connect string (host:port[,host:port][/chroot]) for leader election.
    #[arg(long)]
    zookeeper: Option<String>,
    /// Cluster mode: share each system's files among every process started with
    /// these Kafka brokers (kafka://host:9092[,host:9092]); see README "Cluster mode".
    #[arg(long, value_name = "URL")]
    cluster: Option<String>,
    /// Address of the HTTP endpoints (default 127.0.0.1:9464).
    #[arg(long)]
    http: Option<String>,
    /// Take every listed file at once, without waiting for files still being written
    /// to settle (for folders nothing writes into).
    #[arg(long)]
    no_settle: bool,
}

/// Runs the command.
pub async fn run(args: RunArgs) -> Result<(), Failure> {
    let options = RunOptions {
        config: args.config,
        system: args.system,
        plan: args.plan,
        source: args.source,
        archive: args.archive,
        sinks: args.sinks,
        cron: args.cron,
        initial_delay_s: args.initial_delay,
        zookeeper: args.zookeeper,
        cluster: args.cluster,
        http: args.http,
        no_settle: args.no_settle,
    };
    let config = ServiceConfig::load(&options).map_err(|e| Failure::Usage(e.into()))?;
    if options.use_embedded_default() {
        std::fs::create_dir_all(EMBEDDED_INBOX)
            .with_context(|| format!("cannot create the inbox {EMBEDDED_INBOX}"))?;
    }
    service::run(config).await.map_err(|e| match e {
        ServiceError::Build {
            source: BuildError::Config(_) | BuildError::Source { .. },
            ..
        } => Failure::Usage(e.into()),
        other => Failure::Runtime(other.into()),
    })
}
