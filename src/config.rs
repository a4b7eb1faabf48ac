//! Plan files (`plans/<system>.toml`) and the command-line flags that override them,
//! resolved into one validated [`SystemPlan`].
//!
//! ```toml
//! system = "5ga"
//! format = "auto"              # or a format's name: 3gpp-xml
//! max_file_bytes = 1073741824  # larger files (decompressed) are quarantined
//! rules = "../sql/5ga"         # relative to this file; default: sql/<system>
//! [source]
//! url = "inbox/5ga"            # local directory, or ftp(s)://user:pass@host:21/folder;
//!                              # glob segments allowed: ftp://host/pm/*/5ga
//! include = ["*.xml", "*.xml.gz"]
//! temporary_names = ["*.tmp", "*.part", "*.filepart", ".*"]   # never taken
//! settle_s = 3                 # taken once size and time are unchanged this long…
//! min_age_s = 60               # …or once modified longer ago than this
//! settle_max_s = 30            # how long a cycle waits for files still changing
//! scan_ttl_s = 3600            # how long a folder pattern's folders are cached
//! [workers]
//! parse = 0                    # 0 = one per core
//! deliver = 4                  # files delivered to sinks at once
//! queue = 8                    # parsed files waiting for delivery
//! [[sink]]
//! url = "parquet:///var/lib/pmflow/archive"
//! required = true
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::format::FormatChoice;
use crate::plan::{Rule, RuleError, rules};
use crate::sink::clickhouse::ClickHouseSettings;
use crate::sink::kafka::KafkaSettings;
use crate::sink::mysql::MySqlSettings;
use crate::source::ftp::FtpSettings;
use crate::source::{DEFAULT_TEMPORARY_NAMES, NameFilter, SettleRules, scan_paths};

/// A plan or its overrides are invalid; the message names the key or flag.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The plan file could not be read.
    #[error("plan {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The plan file is not valid TOML for a plan.
    #[error("plan {path}: {source}")]
    Toml {
        path: PathBuf,
        source: toml::de::Error,
    },
    /// A value is invalid.
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
    /// A rule could not be loaded.
    #[error(transparent)]
    Rule(#[from] RuleError),
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// Contents of a plan file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// System name, e.g. `5ga`.
    pub system: Option<String>,
    /// Input format: `auto` (default) or a format's name.
    pub format: Option<String>,
    /// Files larger than this, decompressed, are quarantined (default 1 GiB).
    pub max_file_bytes: Option<u64>,
    /// Directory of the SQL rules.
    pub rules: Option<PathBuf>,
    /// Where files come from.
    pub source: Option<SourceSection>,
    /// Where rows go.
    #[serde(default)]
    pub sink: Vec<SinkSection>,
    /// Concurrency and queue sizes.
    #[serde(default)]
    pub workers: WorkersSection,
}

/// `[source]` of a plan file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    /// Local directory (path or `file://` URL) or `ftp://` URL.
    pub url: Option<String>,
    /// Glob patterns of file names to collect; empty = every visible file.
    #[serde(default)]
    pub include: Vec<String>,
    /// Seconds a folder pattern's resolved folders are used before the tree is
    /// listed again (default 3600).
    pub scan_ttl_s: Option<u64>,
    /// Glob patterns of names of files still being written, never taken (matched
    /// ignoring case); default [`DEFAULT_TEMPORARY_NAMES`].
    pub temporary_names: Option<Vec<String>>,
    /// Seconds a file's size and time must stay unchanged before it is taken
    /// (default 3; 0 takes every file as listed).
    pub settle_s: Option<u64>,
    /// Seconds since its last change after which a file is taken at once (default 60).
    pub min_age_s: Option<u64>,
    /// Seconds a cycle keeps listing files not yet settled (default 30).
    pub settle_max_s: Option<u64>,
}

impl SourceSection {
    /// The settle rules the section sets, on top of the defaults.
    fn settle_rules(&self) -> SettleRules {
        let mut rules = SettleRules::default();
        let keys = [
            (&mut rules.settle, self.settle_s),
            (&mut rules.min_age, self.min_age_s),
            (&mut rules.settle_max, self.settle_max_s),
        ];
        for (rule, seconds) in keys {
            if let Some(seconds) = seconds {
                *rule = Duration::from_secs(seconds);
            }
        }
        rules
    }
}

/// `[[sink]]` of a plan file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSection {
    /// Sink URL, e.g. `parquet:///data/archive`.
    pub url: String,
    /// Whether a failure holds files back (default true).
    pub required: Option<bool>,
    /// MySQL: whether new counters become new columns (default true).
    pub auto_add_columns: Option<bool>,
    /// MySQL: connections writing at once (default 4).
    pub writers: Option<usize>,
    /// MySQL: rows per statement at most (default 1000).
    pub batch_rows: Option<usize>,
    /// Kafka: librdkafka producer options (`[sink.kafka]`), e.g.
    /// `"queue.buffering.max.ms" = 5`.
    #[serde(default)]
    pub kafka: std::collections::BTreeMap<String, toml::Value>,
}

impl SinkSection {
    /// The URL with the section's sink options appended as URL parameters, the form
    /// `--sink` takes them in on the command line.
    fn url_with_options(&self) -> String {
        let options = [
            (
                "auto_add_columns",
                self.auto_add_columns.map(|v| v.to_string()),
            ),
            ("writers", self.writers.map(|v| v.to_string())),
            ("batch_rows", self.batch_rows.map(|v| v.to_string())),
        ];
        let kafka = self.kafka.iter().map(|(key, value)| {
            let text = match value {
                toml::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (key.as_str(), Some(text))
        });
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in options.iter().map(|(k, v)| (*k, v.clone())).chain(kafka) {
            if let Some(value) = value {
                query.append_pair(key, &value);
            }
        }
        let query = query.finish();
        match (query.is_empty(), self.url.contains('?')) {
            (true, _) => self.url.clone(),
            (false, true) => format!("{}&{query}", self.url),
            (false, false) => format!("{}?{query}", self.url),
        }
    }
}

/// `[workers]` of a plan file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersSection {
    /// Files parsed at once; 0 or absent = one per core.
    pub parse: Option<usize>,
    /// Files delivered to sinks at once.
    pub deliver: Option<usize>,
    /// Parsed files waiting for delivery (the memory bound between the stages).
    pub queue: Option<usize>,
}

impl PlanFile {
    /// Reads a plan file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Toml {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Values given on the command line, which win over the plan file's.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--system`.
    pub system: Option<String>,
    /// The source argument (inbox directory or `ftp://` URL).
    pub source: Option<String>,
    /// `--archive DIR`: a required Parquet archive sink.
    pub archive: Option<String>,
    /// `--sink URL`, repeatable.
    pub sinks: Vec<String>,
    /// `--no-settle`: take every listed file at once.
    pub no_settle: bool,
}

/// A sink as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    /// The Parquet archive at a local directory.
    Archive { url: String, required: bool },
    /// A MySQL database.
    MySql {
        settings: MySqlSettings,
        required: bool,
    },
    /// A ClickHouse database.
    ClickHouse {
        settings: ClickHouseSettings,
        required: bool,
    },
    /// Kafka topics.
    Kafka {
        settings: KafkaSettings,
        required: bool,
    },
}

impl SinkSpec {
    /// Whether a failure of this sink holds files back.
    pub fn required(&self) -> bool {
        match self {
            SinkSpec::Archive { required, .. }
            | SinkSpec::MySql { required, .. }
            | SinkSpec::ClickHouse { required, .. }
            | SinkSpec::Kafka { required, .. } => *required,
        }
    }
}

impl std::fmt::Display for SinkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.required() {
            "required"
        } else {
            "optional"
        };
        match self {
            SinkSpec::Archive { url, .. } => write!(f, "parquet archive {url} ({kind})"),
            SinkSpec::MySql { settings, .. } => write!(f, "mysql {} ({kind})", settings.redacted),
            SinkSpec::ClickHouse { settings, .. } => {
                write!(f, "clickhouse {} ({kind})", settings.redacted)
            }
            SinkSpec::Kafka { settings, .. } => write!(f, "kafka {} ({kind})", settings.redacted),
        }
    }
}

/// A source as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A local inbox directory.
    Local(PathBuf),
    /// A folder on an FTP server.
    Ftp(Box<FtpSettings>),
}

impl SourceSpec {
    /// The source's last folder name, from which a system name may be inferred.
    fn folder_name(&self) -> Option<String> {
        match self {
            SourceSpec::Local(dir) => dir.file_name().map(|n| n.to_string_lossy().into_owned()),
            SourceSpec::Ftp(settings) => settings
                .folder
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .map(str::to_string),
        }
    }
}

impl std::fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceSpec::Local(dir) => write!(f, "{}", dir.display()),
            SourceSpec::Ftp(settings) => write!(f, "{}", settings.redacted),
        }
    }
}

/// Concurrency of a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workers {
    /// Files fetched and parsed at once (CPU-bound: one per core by default).
    pub parse: usize,
    /// Files planned and delivered to the sinks at once.
    pub deliver: usize,
    /// Parsed files buffered between the two stages.
    pub queue: usize,
}

/// A fully resolved, validated plan for one system.
#[derive(Debug, Clone)]
pub struct SystemPlan {
    /// System name (safe for paths: `[a-z0-9][a-z0-9_-]*`).
    pub system: String,
    /// Where files come from (absent in plans used only to `explain`).
    pub source: Option<SourceSpec>,
    /// File-name filter.
    pub include: NameFilter,
    /// How long a folder pattern's resolved folders are used.
    pub scan_ttl: Duration,
    /// The format files are read in.
    pub format: FormatChoice,
    /// Files larger than this, decompressed, are quarantined.
    pub max_file_bytes: u64,
    /// When a listed file is complete enough to take.
    pub settle: SettleRules,
    /// Where the rules were loaded from, if anywhere.
    pub rules_dir: Option<PathBuf>,
    /// The SQL rules.
    pub rules: Vec<Rule>,
    /// Sinks, in configuration order.
    pub sinks: Vec<SinkSpec>,
    /// Concurrency.
    pub workers: Workers,
}

/// Default of `max_file_bytes`: 1 GiB decompressed.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 30;

/// System name used when neither a flag, a plan nor the inbox's folder name gives one.
pub const DEFAULT_SYSTEM: &str = "pm";

/// Whether a system name is safe as a path component and a SQL identifier part.
pub fn valid_system_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && name.len() <= 32
}

/// Parses a source: an `ftp://` URL, else a local directory (`file://` URL or path,
/// made absolute by `local`). The settle parameters of a URL's query (`settle_s`, …)
/// are taken into `settle`.
fn parse_source(
    text: &str,
    settle: &mut SettleRules,
    local: impl Fn(&Path) -> PathBuf,
) -> Result<SourceSpec, ConfigError> {
    let scheme = text.split_once("://").map(|(scheme, _)| scheme);
    let text = match scheme {
        Some(_) => take_settle_parameters(text, settle).map_err(|m| invalid("source", m))?,
        None => text.to_string(),
    };
    match scheme {
        Some(scheme @ ("ftp" | "ftps")) => FtpSettings::from_url(&text)
            .map(|settings| SourceSpec::Ftp(Box::new(settings)))
            .map_err(|message| invalid("source", format!("{scheme}:// URL: {message}"))),
        None => Ok(SourceSpec::Local(local(Path::new(&text)))),
        Some("file") => Ok(SourceSpec::Local(local(Path::new(
            &text["file://".len()..],
        )))),
        Some(scheme) => Err(invalid(
            "source",
            format!("unknown source scheme {scheme:?} in {text:?} (known: ftp, ftps, file)"),
        )),
    }
}

/// A source URL without the query parameters that `settle` takes, which it sets.
fn take_settle_parameters(url: &str, settle: &mut SettleRules) -> Result<String, String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok(url.to_string());
    };
    let mut rest = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if !settle.set_parameter(&key, &value)? {
            rest.append_pair(&key, &value);
        }
    }
    Ok(match rest.finish() {
        rest if rest.is_empty() => base.to_string(),
        rest => format!("{base}?{rest}"),
    })
}

/// Parses a sink URL. `required` is what the plan says, if anything; otherwise Kafka
/// is optional (its `required=` URL parameter aside) and every other sink required.
pub fn parse_sink(url: &str, required: Option<bool>) -> Result<SinkSpec, ConfigError> {
    let required_by_default = required.unwrap_or(true);
    match url.split_once("://").map(|(scheme, _)| scheme) {
        None | Some("parquet" | "file") => Ok(SinkSpec::Archive {
            url: url.to_string(),
            required: required_by_default,
        }),
        Some("mysql") => Ok(SinkSpec::MySql {
            settings: MySqlSettings::from_url(url)
                .map_err(|message| invalid("sink", format!("mysql:// URL: {message}")))?,
            required: required_by_default,
        }),
        Some("clickhouse") => Ok(SinkSpec::ClickHouse {
            settings: ClickHouseSettings::from_url(url)
                .map_err(|message| invalid("sink", format!("clickhouse:// URL: {message}")))?,
            required: required_by_default,
        }),
        Some("kafka") => {
            let settings = KafkaSettings::from_url(url)
                .map_err(|message| invalid("sink", format!("kafka:// URL: {message}")))?;
            let required = settings.required.or(required).unwrap_or(false);
            Ok(SinkSpec::Kafka { settings, required })
        }
        Some(scheme @ "s3") => Err(invalid(
            "sink",
            format!("{scheme}:// sinks are not available in this version of pmflow"),
        )),
        Some(scheme) => Err(invalid(
            "sink",
            format!("unknown sink scheme {scheme:?} in {url:?}"),
        )),
    }
}

impl SystemPlan {
    /// Resolves a plan file (if any) with command-line overrides. Relative paths in the
    /// plan file are relative to the plan file's directory; those on the command line
    /// to the working directory.
    pub fn resolve(plan_path: Option<&Path>, overrides: Overrides) -> Result<Self, ConfigError> {
        let file = plan_path
            .map(PlanFile::load)
            .transpose()?
            .unwrap_or_default();
        let base = plan_path.and_then(Path::parent).unwrap_or(Path::new(""));
        let in_plan = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let format = match &file.format {
            Some(name) => FormatChoice::by_name(name).map_err(|m| invalid("format", m))?,
            None => FormatChoice::Auto,
        };
        let max_file_bytes = file.max_file_bytes.unwrap_or(DEFAULT_MAX_FILE_BYTES);
        if max_file_bytes == 0 {
            return Err(invalid("max_file_bytes", "must be at least 1"));
        }
        let source_section = file.source.unwrap_or_default();
        let mut settle = source_section.settle_rules();
        let source = match (&overrides.source, &source_section.url) {
            (Some(flag), _) => Some(parse_source(flag, &mut settle, |p| p.to_path_buf())?),
            (None, Some(url)) => Some(parse_source(url, &mut settle, in_plan)?),
            (None, None) => None,
        };
        if overrides.no_settle {
            settle = SettleRules::NONE;
        }
        let inferred = source
            .as_ref()
            .and_then(SourceSpec::folder_name)
            .map(|n| n.to_lowercase())
            .filter(|n| valid_system_name(n));
        let system = overrides
            .system
            .or(file.system)
            .or(inferred)
            .unwrap_or_else(|| DEFAULT_SYSTEM.to_string());
        if !valid_system_name(&system) {
            return Err(invalid(
                "system",
                format!("{system:?} must match [a-z0-9][a-z0-9_-]*, at most 32 characters"),
            ));
        }
        let temporary = match &source_section.temporary_names {
            Some(names) => names.iter().map(String::as_str).collect(),
            None => DEFAULT_TEMPORARY_NAMES.to_vec(),
        };
        let include = NameFilter::new(&source_section.include, &temporary)
            .map_err(|e| invalid("source.include", e.to_string()))?;
        let rules_dir = match &file.rules {
            Some(dir) => Some(in_plan(dir)),
            None => Some(PathBuf::from("sql").join(&system)).filter(|d| d.is_dir()),
        };
        let rules = match &rules_dir {
            Some(dir) => rules::load_dir(dir)?,
            None => Vec::new(),
        };
        let sinks = if overrides.archive.is_some() || !overrides.sinks.is_empty() {
            let archive = overrides.archive.iter().map(|dir| parse_sink(dir, None));
            let flags = overrides.sinks.iter().map(|url| parse_sink(url, None));
            archive.chain(flags).collect::<Result<Vec<_>, _>>()?
        } else {
            file.sink
                .iter()
                .map(|s| {
                    let url = match s.url.split_once("://") {
                        None => in_plan(Path::new(&s.url)).display().to_string(),
                        Some(_) => s.url_with_options(),
                    };
                    parse_sink(&url, s.required)
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let parse = file.workers.parse.filter(|n| *n > 0).unwrap_or(cores);
        let workers = Workers {
            parse,
            deliver: file.workers.deliver.filter(|n| *n > 0).unwrap_or(4),
            queue: file.workers.queue.filter(|n| *n > 0).unwrap_or(2 * parse),
        };
        Ok(Self {
            system,
            source,
            include,
            scan_ttl: source_section
                .scan_ttl_s
                .map_or(scan_paths::DEFAULT_TTL, Duration::from_secs),
            settle,
            format,
            max_file_bytes,
            rules_dir,
            rules,
            sinks,
            workers,
        })
    }

    /// Checks that the plan can run a cycle: it has a source and at least one sink.
    pub fn require_runnable(&self) -> Result<&SourceSpec, ConfigError> {
        if self.sinks.is_empty() {
            return Err(invalid(
                "sink",
                "no sink: give --archive DIR or a [[sink]] in the plan",
            ));
        }
        self.source.as_ref().ok_or_else(|| {
            invalid(
                "source",
                "no source: give an inbox directory or [source] url",
            )
        })
    }

    /// The first archive sink's URL, where `query` and `explain` find table schemas.
    pub fn archive_url(&self) -> Option<&str> {
        self.sinks.iter().find_map(|sink| match sink {
            SinkSpec::Archive { url, .. } => Some(url.as_str()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(source: &str) -> Overrides {
        Overrides {
            source: Some(source.into()),
            archive: Some("/tmp/a".into()),
            ..Default::default()
        }
    }

    #[test]
    fn system_is_inferred_from_the_inbox_folder() {
        let plan = SystemPlan::resolve(None, overrides("/data/inbox/5GA")).unwrap();
        assert_eq!(plan.system, "5ga");
        let plan = SystemPlan::resolve(None, overrides("/data/in box")).unwrap();
        assert_eq!(plan.system, DEFAULT_SYSTEM);
        let plan = SystemPlan::resolve(None, overrides("ftp://h/pm/ONT/")).unwrap();
        assert_eq!(plan.system, "ont");
    }

    #[test]
    fn invalid_values_name_their_key() {
        let mut o = overrides("/x");
        o.system = Some("../etc".into());
        let err = SystemPlan::resolve(None, o).unwrap_err().to_string();
        assert!(err.starts_with("system:"), "{err}");
        let mut o = overrides("/x");
        o.sinks = vec!["s3://bucket/archive".into()];
        let err = SystemPlan::resolve(None, o).unwrap_err().to_string();
        assert!(err.starts_with("sink:"), "{err}");
        let err = SystemPlan::resolve(None, overrides("sftp://h/x"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("source:"), "{err}");
    }

    #[test]
    fn plan_file_paths_are_relative_to_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("p.toml");
        std::fs::write(
            &plan,
            "system = \"4ga\"\n[source]\nurl = \"in\"\n[[sink]]\nurl = \"arch\"\nrequired = false\n",
        )
        .unwrap();
        let resolved = SystemPlan::resolve(Some(&plan), Overrides::default()).unwrap();
        assert_eq!(
            resolved.source,
            Some(SourceSpec::Local(dir.path().join("in")))
        );
        assert_eq!(
            resolved.sinks,
            [SinkSpec::Archive {
                url: dir.path().join("arch").display().to_string(),
                required: false
            }]
        );
        std::fs::write(&plan, "sytem = \"x\"\n").unwrap();
        assert!(SystemPlan::resolve(Some(&plan), Overrides::default()).is_err());
    }

    #[test]
    fn settle_rules_come_from_the_plan_then_the_url_then_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("p.toml");
        std::fs::write(
            &plan,
            "[source]\nurl = \"ftp://h/pm?pool=2&settle_s=9\"\nsettle_s = 5\nmin_age_s = 7\n\
             temporary_names = [\"*.uploading\"]\n[[sink]]\nurl = \"arch\"\n",
        )
        .unwrap();
        let resolved = SystemPlan::resolve(Some(&plan), Overrides::default()).unwrap();
        let expected = SettleRules {
            settle: Duration::from_secs(9),
            min_age: Duration::from_secs(7),
            ..SettleRules::default()
        };
        assert_eq!(resolved.settle, expected);
        match resolved.source {
            Some(SourceSpec::Ftp(settings)) => assert_eq!(settings.pool, 2),
            other => panic!("{other:?}"),
        }
        assert!(!resolved.include.matches("a.xml.uploading"));
        assert!(resolved.include.matches("a.xml.part"));

        let mut flags = overrides("file:///data/in?settle_max_s=4");
        let resolved = SystemPlan::resolve(None, flags.clone()).unwrap();
        assert_eq!(resolved.source, Some(SourceSpec::Local("/data/in".into())));
        assert_eq!(resolved.settle.settle_max, Duration::from_secs(4));
        assert!(!resolved.include.matches(".hidden.xml"));
        flags.no_settle = true;
        let resolved = SystemPlan::resolve(None, flags).unwrap();
        assert_eq!(resolved.settle, SettleRules::NONE);
        let err = SystemPlan::resolve(None, overrides("ftp://h/pm?settle_s=soon"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("source: settle_s=soon"), "{err}");
    }
}
