//! `pmflow.toml`: the systems one `pmflow run` process serves, their schedules, and
//! the service's own settings; resolved with environment variables and command-line
//! flags into one validated [`ServiceConfig`].
//!
//! ```toml
//! [service]
//! http = "127.0.0.1:9464"                  # /healthz /readyz /metrics /api/v1
//! api_token = "…"                          # Bearer token of POST/DELETE requests; needed
//!                                          # to listen on a non-loopback address
//! zookeeper = "zk1:2181,zk2:2181/pmflow"   # optional: leader election per system
//! session_timeout_ms = 10000
//! shutdown_grace_s = 30                    # SIGTERM: time for in-flight files
//!
//! [cluster]                                # optional: share each system's files
//! brokers = "kafka://k1:9092,k2:9092"      # among every process with this section
//! partitions = 12                          # of a task topic pmflow creates
//! task_timeout_s = 600                     # a file still listed is published again
//! max_attempts = 5                         # tries of a transiently failing file
//! retry_backoff_ms = 5000                  # before the first retry, then doubled
//! [cluster.kafka]                          # further librdkafka options
//! "security.protocol" = "SASL_SSL"
//!
//! [schedule]                               # defaults of every system
//! cron = "50 */5 * * * *"                  # sec min hour day month weekday (UTC)
//! initial_delay_s = 10                     # one run this long after start
//! optimize_cron = "0 30 3 * * *"           # archive compaction ("off": never)
//!
//! [systems.4ga]
//! plan = "plans/4ga.toml"                  # relative to this file
//!
//! [systems.5ga]
//! plan = "plans/5ga.toml"
//! source = "ftp://pm@ftp1/pm/5ga"          # overrides the plan's source
//! cron = "0 */15 * * * *"
//! ```
//!
//! Every value can be set by an environment variable named `PMFLOW__` followed by
//! its key path in upper case, with `__` between the parts: `PMFLOW__SERVICE__HTTP`,
//! `PMFLOW__SCHEDULE__CRON`, `PMFLOW__SYSTEMS__5GA__SOURCE`. The environment wins
//! over the file; command-line flags win over both.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use super::leader::ZooKeeperSettings;
use super::schedule::{DEFAULT_CRON, DEFAULT_INITIAL_DELAY, DEFAULT_OPTIMIZE_CRON, OFF, Schedule};
use crate::cluster::ClusterSettings;
use crate::config::{ConfigError, Overrides, SystemPlan, valid_system_name};
use crate::secret::Secret;

/// Prefix of the environment variables that override configuration values.
pub const ENV_PREFIX: &str = "PMFLOW__";

/// Configuration used by `pmflow run` without a config file or system flags: the
/// embedded default, a local inbox into a Parquet archive, both under the working
/// directory (see [`EMBEDDED_INBOX`]).
pub const EMBEDDED_DEFAULT: &str = r#"
[systems.pm]
source = "inbox"
archive = "archive"
"#;

/// The embedded default's inbox, created at start so that `pmflow run` starts in any
/// directory.
pub const EMBEDDED_INBOX: &str = "inbox";

/// Default address of the HTTP endpoints.
pub const DEFAULT_HTTP: &str = "127.0.0.1:9464";

/// The configuration is invalid; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ServiceConfigError {
    /// The file or an environment variable could not be read as configuration.
    #[error("{0}")]
    Load(Box<figment::Error>),
    /// A value is invalid.
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    /// A system's plan is invalid.
    #[error("systems.{system}: {source}")]
    Plan {
        system: String,
        source: Box<ConfigError>,
    },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ServiceConfigError {
    ServiceConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// A config file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    #[serde(default)]
    service: ServiceSection,
    #[serde(default)]
    schedule: ScheduleSection,
    #[serde(default)]
    cluster: ClusterSection,
    #[serde(default)]
    systems: BTreeMap<String, SystemSection>,
}

/// `[cluster]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterSection {
    brokers: Option<String>,
    partitions: Option<i32>,
    task_timeout_s: Option<u64>,
    max_attempts: Option<u32>,
    retry_backoff_ms: Option<u64>,
    #[serde(default)]
    kafka: BTreeMap<String, String>,
}

impl ClusterSection {
    /// The cluster's settings, `brokers` (the flag's URL) winning over the file's;
    /// `None` without brokers.
    fn resolve(
        self,
        brokers: Option<String>,
    ) -> Result<Option<ClusterSettings>, ServiceConfigError> {
        let Some(url) = brokers.or(self.brokers) else {
            return Ok(None);
        };
        let mut settings =
            ClusterSettings::from_url(&url).map_err(|e| invalid("cluster.brokers", e))?;
        if let Some(partitions) = self.partitions {
            if partitions < 1 {
                return Err(invalid("cluster.partitions", "expected a positive number"));
            }
            settings.partitions = partitions;
        }
        if let Some(attempts) = self.max_attempts {
            if attempts < 1 {
                return Err(invalid("cluster.max_attempts", "expected at least 1"));
            }
            settings.max_attempts = attempts;
        }
        if let Some(seconds) = self.task_timeout_s {
            settings.task_timeout = Duration::from_secs(seconds);
        }
        if let Some(ms) = self.retry_backoff_ms {
            settings.retry_backoff = Duration::from_millis(ms);
        }
        settings.options = self.kafka;
        Ok(Some(settings))
    }
}

/// `[service]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceSection {
    http: Option<String>,
    api_token: Option<String>,
    zookeeper: Option<String>,
    session_timeout_ms: Option<u64>,
    shutdown_grace_s: Option<u64>,
}

/// `[schedule]`, and the schedule keys of a system.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleSection {
    cron: Option<String>,
    initial_delay_s: Option<u64>,
    optimize_cron: Option<String>,
}

/// `[systems.<name>]`: a plan, or a source and sinks given directly, or both (the
/// direct values override the plan's).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemSection {
    plan: Option<PathBuf>,
    source: Option<String>,
    archive: Option<String>,
    #[serde(default)]
    sinks: Vec<String>,
    cron: Option<String>,
    initial_delay_s: Option<u64>,
    optimize_cron: Option<String>,
}

/// What the command line says; each value wins over the file and the environment.
#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--system`: with a config, run only this system; with system flags, its name.
    pub system: Option<String>,
    /// `--plan FILE`: a single system from this plan.
    pub plan: Option<PathBuf>,
    /// `--source URL`: a single system reading this inbox.
    pub source: Option<String>,
    /// `--archive DIR`: a single system with this archive.
    pub archive: Option<String>,
    /// `--sink URL`, repeatable: a single system with these sinks.
    pub sinks: Vec<String>,
    /// `--cron EXPR` for every system.
    pub cron: Option<String>,
    /// `--initial-delay SECONDS` for every system.
    pub initial_delay_s: Option<u64>,
    /// `--zookeeper HOST:PORT[/chroot]`.
    pub zookeeper: Option<String>,
    /// `--cluster kafka://HOST:PORT[,…]`.
    pub cluster: Option<String>,
    /// `--http ADDR`.
    pub http: Option<String>,
    /// `--no-settle`: every system takes listed files at once.
    pub no_settle: bool,
}

impl RunOptions {
    /// Whether the flags describe a system themselves (rather than naming one of a
    /// config file).
    fn define_system(&self) -> bool {
        self.plan.is_some()
            || self.source.is_some()
            || self.archive.is_some()
            || !self.sinks.is_empty()
    }

    /// Whether these options select the embedded default (no config, no system
    /// flags).
    pub fn use_embedded_default(&self) -> bool {
        self.config.is_none() && !self.define_system()
    }
}

/// One system as the service runs it.
#[derive(Debug, Clone)]
pub struct SystemConfig {
    /// The resolved plan.
    pub plan: SystemPlan,
    /// When its cycles run.
    pub schedule: Schedule,
    /// When its archive tables are compacted (`None`: never).
    pub optimize: Option<Schedule>,
}

/// The validated configuration of `pmflow run`.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Address of the HTTP endpoints.
    pub http: SocketAddr,
    /// The token every request that changes something must bear; without one such
    /// requests are open, which only a loopback address allows.
    pub api_token: Option<Secret>,
    /// Leader election, when configured.
    pub zookeeper: Option<ZooKeeperSettings>,
    /// Cluster mode, when configured: every process with the same brokers shares
    /// each system's files.
    pub cluster: Option<ClusterSettings>,
    /// How long SIGTERM waits for in-flight files before abandoning them.
    pub shutdown_grace: Duration,
    /// The systems, by name.
    pub systems: Vec<SystemConfig>,
}

impl ServiceConfig {
    /// Reads the config file (or the embedded default), applies the environment and
    /// the flags, and validates every system's plan and schedule.
    pub fn load(options: &RunOptions) -> Result<Self, ServiceConfigError> {
        let figment = match &options.config {
            Some(path) => {
                if !path.is_file() {
                    return Err(invalid(
                        "--config",
                        format!("{} is not a readable file", path.display()),
                    ));
                }
                Figment::from(Toml::file(path))
            }
            None if options.use_embedded_default() => Figment::from(Toml::string(EMBEDDED_DEFAULT)),
            None => Figment::new(),
        };
        let mut file: ServiceFile = figment
            .merge(Env::prefixed(ENV_PREFIX).split("__"))
            .extract()
            .map_err(|e| ServiceConfigError::Load(Box::new(e)))?;
        let base = options
            .config
            .as_deref()
            .and_then(Path::parent)
            .unwrap_or(Path::new(""));
        if options.define_system() {
            file.systems = BTreeMap::from([(
                options.system.clone().unwrap_or_default(),
                SystemSection {
                    plan: options.plan.clone(),
                    source: options.source.clone(),
                    archive: options.archive.clone(),
                    sinks: options.sinks.clone(),
                    ..SystemSection::default()
                },
            )]);
        } else if let Some(only) = &options.system {
            let known: Vec<String> = file.systems.keys().cloned().collect();
            let section = file.systems.remove(only).ok_or_else(|| {
                invalid(
                    "--system",
                    format!("no system {only:?} in the configuration (known: {known:?})"),
                )
            })?;
            file.systems = BTreeMap::from([(only.clone(), section)]);
        }
        if file.systems.is_empty() {
            return Err(invalid("systems", "no system configured"));
        }
        let defaults = ScheduleSection {
            cron: options.cron.clone().or(file.schedule.cron),
            initial_delay_s: options.initial_delay_s.or(file.schedule.initial_delay_s),
            optimize_cron: file.schedule.optimize_cron,
        };
        let systems = file
            .systems
            .into_iter()
            .map(|(name, section)| {
                let in_file = |p: &str| relative_to(base, p);
                resolve_system(&name, section, &defaults, options, in_file)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let service = file.service;
        let http = options
            .http
            .clone()
            .or(service.http)
            .unwrap_or_else(|| DEFAULT_HTTP.to_string());
        let http: SocketAddr = http.parse().map_err(|e| {
            invalid(
                "service.http",
                format!("{http:?} is not an address like 127.0.0.1:9464: {e}"),
            )
        })?;
        let api_token = match service.api_token {
            Some(token) if token.trim().is_empty() => {
                return Err(invalid("service.api_token", "empty token"));
            }
            token => token.map(Secret::new),
        };
        if api_token.is_none() && !http.ip().is_loopback() {
            return Err(invalid(
                "service.http",
                format!(
                    "{http} is not a loopback address: set service.api_token (or \
                     PMFLOW__SERVICE__API_TOKEN) so that requests that change anything need it"
                ),
            ));
        }
        let session_timeout = Duration::from_millis(service.session_timeout_ms.unwrap_or(10_000));
        let zookeeper = match options.zookeeper.clone().or(service.zookeeper) {
            Some(connect) if connect.trim().is_empty() => {
                return Err(invalid("service.zookeeper", "empty connect string"));
            }
            Some(connect) => Some(ZooKeeperSettings {
                connect,
                session_timeout,
            }),
            None => None,
        };
        let cluster = file.cluster.resolve(options.cluster.clone())?;
        if cluster.is_some() && zookeeper.is_none() {
            return Err(invalid(
                "cluster.brokers",
                "cluster mode needs service.zookeeper (--zookeeper): the leader it elects is \
                 the one process that publishes each system's files",
            ));
        }
        Ok(Self {
            http,
            api_token,
            zookeeper,
            cluster,
            shutdown_grace: Duration::from_secs(service.shutdown_grace_s.unwrap_or(30)),
            systems,
        })
    }
}

/// A local path from the config file, relative to the file's directory; URLs as they
/// are.
fn relative_to(base: &Path, value: &str) -> String {
    if value.contains("://") || Path::new(value).is_absolute() {
        value.to_string()
    } else {
        base.join(value).display().to_string()
    }
}

/// Resolves one `[systems.<name>]` (an empty name: the system the flags define).
fn resolve_system(
    name: &str,
    section: SystemSection,
    defaults: &ScheduleSection,
    options: &RunOptions,
    in_file: impl Fn(&str) -> String,
) -> Result<SystemConfig, ServiceConfigError> {
    let from_flags = options.define_system();
    if !from_flags && !valid_system_name(name) {
        return Err(invalid(
            format!("systems.{name}"),
            "a system name must match [a-z0-9][a-z0-9_-]*, at most 32 characters",
        ));
    }
    let local = |value: Option<String>| match from_flags {
        true => value,
        false => value.map(|v| in_file(&v)),
    };
    let plan_path = match from_flags {
        true => section.plan,
        false => section
            .plan
            .map(|p| PathBuf::from(in_file(&p.to_string_lossy()))),
    };
    let overrides = Overrides {
        system: Some(name.to_string()).filter(|n| !n.is_empty()),
        source: local(section.source),
        archive: local(section.archive),
        sinks: section.sinks,
        no_settle: options.no_settle,
    };
    let plan = SystemPlan::resolve(plan_path.as_deref(), overrides)
        .and_then(|plan| plan.require_runnable().map(|_| ()).map(|()| plan))
        .map_err(|source| ServiceConfigError::Plan {
            system: name.to_string(),
            source: Box::new(source),
        })?;
    let key = |field: &str| match from_flags {
        true => format!("--{field}"),
        false => format!("systems.{name}.{field}"),
    };
    let cron = options
        .cron
        .clone()
        .or(section.cron)
        .or(defaults.cron.clone())
        .unwrap_or_else(|| DEFAULT_CRON.to_string());
    let delay = options
        .initial_delay_s
        .or(section.initial_delay_s)
        .or(defaults.initial_delay_s)
        .map_or(DEFAULT_INITIAL_DELAY, Duration::from_secs);
    let schedule = Schedule::new(&cron, delay).map_err(|message| invalid(key("cron"), message))?;
    let optimize_cron = section
        .optimize_cron
        .or(defaults.optimize_cron.clone())
        .unwrap_or_else(|| DEFAULT_OPTIMIZE_CRON.to_string());
    let optimize = match optimize_cron.trim() {
        OFF => None,
        cron => Some(
            Schedule::new(cron, Duration::ZERO)
                .map_err(|message| invalid(format!("systems.{name}.optimize_cron"), message))?,
        ),
    };
    Ok(SystemConfig {
        plan,
        schedule,
        optimize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_config(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("pmflow.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn embedded_default_is_a_local_inbox_into_an_archive() {
        let config = ServiceConfig::load(&RunOptions::default()).unwrap();
        assert_eq!(config.systems.len(), 1);
        let system = &config.systems[0];
        assert_eq!(system.plan.system, "pm");
        assert_eq!(system.plan.source.as_ref().unwrap().to_string(), "inbox");
        assert_eq!(system.plan.archive_url(), Some("archive"));
        assert_eq!(system.schedule.expression(), DEFAULT_CRON);
        let optimize = system.optimize.as_ref().expect("compaction on by default");
        assert_eq!(optimize.expression(), DEFAULT_OPTIMIZE_CRON);
        assert_eq!(config.http.to_string(), DEFAULT_HTTP);
        assert!(config.zookeeper.is_none());
    }

    #[test]
    fn systems_of_a_file_resolve_relative_to_it_with_their_schedules() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(
            dir.path(),
            r#"
            [service]
            zookeeper = "127.0.0.1:2181/pm"
            [schedule]
            cron = "0 * * * * *"
            initial_delay_s = 3
            [systems.a]
            source = "in/a"
            archive = "arch"
            [systems.b]
            source = "ftp://pm:secret@ftp.example/pm/b"
            sinks = ["parquet:///srv/archive"]
            cron = "*/7 * * * * *"
            "#,
        );
        let options = RunOptions {
            config: Some(path),
            ..RunOptions::default()
        };
        let config = ServiceConfig::load(&options).unwrap();
        let [a, b] = &config.systems[..] else {
            panic!("two systems expected")
        };
        let in_dir = |p: &str| dir.path().join(p).display().to_string();
        assert_eq!(a.plan.source.as_ref().unwrap().to_string(), in_dir("in/a"));
        assert_eq!(a.plan.archive_url(), Some(in_dir("arch").as_str()));
        assert_eq!(a.schedule.expression(), "0 * * * * *");
        assert_eq!(a.schedule.initial_delay(), Duration::from_secs(3));
        assert_eq!(b.schedule.expression(), "*/7 * * * * *");
        assert_eq!(
            b.plan.source.as_ref().unwrap().to_string(),
            "ftp://pm:***@ftp.example/pm/b"
        );
        let zk = config.zookeeper.unwrap();
        assert_eq!(zk.connect, "127.0.0.1:2181/pm");
        assert_eq!(zk.session_timeout, Duration::from_secs(10));
    }

    #[test]
    fn a_cluster_section_needs_zookeeper_and_the_flag_wins_over_its_brokers() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"
            [cluster]
            brokers = "kafka://k1:9092"
            partitions = 6
            task_timeout_s = 120
            max_attempts = 3
            retry_backoff_ms = 250
            [cluster.kafka]
            "security.protocol" = "SSL"
            [systems.a]
            source = "in/a"
            archive = "arch"
            "#;
        let options = RunOptions {
            config: Some(write_config(dir.path(), text)),
            ..RunOptions::default()
        };
        let error = ServiceConfig::load(&options).unwrap_err().to_string();
        assert!(
            error.starts_with("cluster.brokers: cluster mode needs service.zookeeper"),
            "{error}"
        );
        let options = RunOptions {
            zookeeper: Some("127.0.0.1:2181".into()),
            ..options
        };
        let cluster = ServiceConfig::load(&options).unwrap().cluster.unwrap();
        assert_eq!(cluster.brokers, "k1:9092");
        assert_eq!(cluster.partitions, 6);
        assert_eq!(cluster.task_timeout, Duration::from_secs(120));
        assert_eq!(cluster.max_attempts, 3);
        assert_eq!(cluster.retry_backoff, Duration::from_millis(250));
        assert_eq!(cluster.options["security.protocol"], "SSL");
        let flagged = RunOptions {
            cluster: Some("kafka://k2:9092,k3:9092".into()),
            ..options.clone()
        };
        let cluster = ServiceConfig::load(&flagged).unwrap().cluster.unwrap();
        assert_eq!(cluster.brokers, "k2:9092,k3:9092");
        let bad = RunOptions {
            cluster: Some("k2:9092".into()),
            ..options
        };
        let error = ServiceConfig::load(&bad).unwrap_err().to_string();
        assert!(error.starts_with("cluster.brokers: "), "{error}");
        assert!(
            ServiceConfig::load(&RunOptions::default())
                .unwrap()
                .cluster
                .is_none()
        );
    }

    #[test]
    fn flags_win_and_select_or_define_systems() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(
            dir.path(),
            "[systems.a]\nsource = \"a\"\narchive = \"x\"\n[systems.b]\nsource = \"b\"\narchive = \"x\"\n",
        );
        let only_b = RunOptions {
            config: Some(path.clone()),
            system: Some("b".into()),
            cron: Some("*/3 * * * * *".into()),
            http: Some("127.0.0.1:0".into()),
            ..RunOptions::default()
        };
        let config = ServiceConfig::load(&only_b).unwrap();
        assert_eq!(config.systems.len(), 1);
        assert_eq!(config.systems[0].plan.system, "b");
        assert_eq!(config.systems[0].schedule.expression(), "*/3 * * * * *");
        assert_eq!(config.http.port(), 0);
        let unknown = RunOptions {
            system: Some("c".into()),
            ..only_b
        };
        let err = ServiceConfig::load(&unknown).unwrap_err().to_string();
        assert!(err.starts_with("--system:"), "{err}");
        let flags = RunOptions {
            source: Some("/data/inbox/ONT".into()),
            archive: Some("/data/archive".into()),
            ..RunOptions::default()
        };
        let config = ServiceConfig::load(&flags).unwrap();
        assert_eq!(config.systems[0].plan.system, "ont");
    }

    #[test]
    fn compaction_can_be_turned_off_for_all_systems_or_scheduled_per_system() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(
            dir.path(),
            r#"
            [schedule]
            optimize_cron = "off"
            [systems.a]
            source = "in/a"
            archive = "arch"
            [systems.b]
            source = "in/b"
            archive = "arch"
            optimize_cron = "0 0 2 * * *"
            "#,
        );
        let options = RunOptions {
            config: Some(path),
            ..RunOptions::default()
        };
        let config = ServiceConfig::load(&options).unwrap();
        assert!(config.systems[0].optimize.is_none());
        let b = config.systems[1].optimize.as_ref().unwrap();
        assert_eq!(b.expression(), "0 0 2 * * *");
    }

    #[test]
    fn invalid_values_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let load = |text: &str| {
            let options = RunOptions {
                config: Some(write_config(dir.path(), text)),
                ..RunOptions::default()
            };
            ServiceConfig::load(&options).unwrap_err().to_string()
        };
        let base = "[systems.a]\nsource = \"a\"\narchive = \"x\"\n";
        let err = load(&format!("{base}cron = \"every minute\"\n"));
        assert!(err.starts_with("systems.a.cron:"), "{err}");
        let err = load(&format!("{base}optimize_cron = \"nightly\"\n"));
        assert!(err.starts_with("systems.a.optimize_cron:"), "{err}");
        let err = load(&format!("[service]\nhttp = \"localhost\"\n{base}"));
        assert!(err.starts_with("service.http:"), "{err}");
        let err = load(&format!("{base}sourc = \"x\"\n"));
        assert!(err.contains("sourc") && err.contains("systems.a"), "{err}");
        let err = load("[systems.a]\nsource = \"a\"\n");
        assert!(err.starts_with("systems.a: sink:"), "{err}");
        let err = load("[systems.\"A/..\"]\nsource = \"a\"\narchive = \"x\"\n");
        assert!(err.starts_with("systems.A/..:"), "{err}");
        let err = load("[schedule]\ninitial_delay_s = \"soon\"\n");
        assert!(err.contains("initial_delay_s"), "{err}");
    }
}
