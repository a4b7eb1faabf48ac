//! Plan files (`plans/<system>.toml`) and the command-line flags that override them,
//! resolved into one validated [`SystemPlan`].
//!
//! ```toml
//! system = "5ga"
//! format = "auto"              # or a format's name: 3gpp-xml, omes, mdc, csv (the
//!                              # last with a [csv] section: format::csv::layout)
//! max_file_bytes = 1073741824  # larger files (decompressed) are quarantined
//! read_whole_max_bytes = 67108864  # larger files (decompressed) are read in parts of
//!                              # a 64th of this many counter values
//! allow_empty = false          # a file without any measurement is quarantined
//! rules = "../sql/5ga"         # relative to this file; default: sql/<system>
//! [completeness]               # what the service's completeness expects
//! late_after = "30m"           # a node's first file this long after the ROP's first is late
//! lookback = "1d"              # nodes seen this long before a ROP are expected in it
//! nodes_file = "nodes.txt"     # or: these nodes, one per line (relative to this file)
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
//! memory_mb = 512              # what the files in flight may hold, estimated
//! [[sink]]
//! url = "parquet:///var/lib/pmflow/archive"
//! required = true
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::completeness::{Expectations, read_nodes};
use crate::format::csv::layout::CsvSection;
use crate::format::{FormatChoice, FormatOptions, PartLimits};
use crate::plan::{Rule, RuleError, rules};
use crate::sink::SinkConfig;
use crate::sink::archive::config::ArchiveConfig;
use crate::sink::registry::{kind_of, redacted, sink_table, url_table};
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
    /// Files larger than this, decompressed, are read in parts of a 64th of this
    /// many counter values (default 64 MiB: parts of 1 Mi values).
    pub read_whole_max_bytes: Option<u64>,
    /// Whether a file without any measurement completes (default: quarantined).
    pub allow_empty: Option<bool>,
    /// How the columns of CSV files map onto rows (`format = "csv"`).
    pub csv: Option<CsvSection>,
    /// Which nodes are expected in every ROP, and when a file is late.
    pub completeness: Option<CompletenessSection>,
    /// Directory of the SQL rules.
    pub rules: Option<PathBuf>,
    /// Where files come from.
    pub source: Option<SourceSection>,
    /// Where rows go: one table per sink, with its `url`, `required` and the keys of
    /// its kind (see `sink::registry`).
    #[serde(default)]
    pub sink: Vec<toml::Table>,
    /// Concurrency and queue sizes.
    #[serde(default)]
    pub workers: WorkersSection,
}

/// `[completeness]` of a plan file: what the service's completeness metrics and API
/// expect of the system.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletenessSection {
    /// A node whose first file for a ROP came this long after the ROP's first file is
    /// late (`15m`; default 30 minutes).
    pub late_after: Option<String>,
    /// Nodes seen this long before a ROP are expected in it (`7d`; default a day in
    /// the service's metrics, 7 days in its API).
    pub lookback: Option<String>,
    /// A file naming the nodes expected in every ROP, one per line (relative to the
    /// plan); default: the nodes seen within the look-back.
    pub nodes_file: Option<PathBuf>,
}

impl CompletenessSection {
    /// The expectations this section sets, its node file read; errors name the key.
    fn expectations(
        &self,
        in_plan: impl Fn(&Path) -> PathBuf,
    ) -> Result<Expectations, ConfigError> {
        let duration = |key, text: &Option<String>| {
            text.as_deref()
                .map(|text| {
                    humantime::parse_duration(text)
                        .map(|d| d.as_micros().min(i64::MAX as u128) as i64)
                        .map_err(|e| invalid(key, format!("{text:?}: {e}")))
                })
                .transpose()
        };
        let nodes = match &self.nodes_file {
            Some(path) => {
                let path = in_plan(path);
                let nodes = read_nodes(&path).map_err(|e| {
                    invalid(
                        "completeness.nodes_file",
                        format!("{}: {e}", path.display()),
                    )
                })?;
                Some(nodes)
            }
            None => None,
        };
        Ok(Expectations {
            late_after: duration("completeness.late_after", &self.late_after)?,
            lookback: duration("completeness.lookback", &self.lookback)?,
            nodes,
        })
    }
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
    /// What the files in flight may hold at once, estimated, in MiB.
    pub memory_mb: Option<u64>,
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

/// A sink as configured: its kind's typed configuration, and whether its failures
/// hold files back.
#[derive(Debug, Clone)]
pub struct SinkSpec {
    /// The kind's name (its first URL scheme: `parquet`, `mysql`, …), by which
    /// requests choose among a system's sinks.
    pub kind: &'static str,
    /// What the sink is built from.
    pub config: Arc<dyn SinkConfig>,
    /// Whether a failure of this sink holds files back.
    pub required: bool,
}

impl SinkSpec {
    /// The configuration if it is of kind `T`, for commands that read one kind's
    /// settings.
    pub fn config_of<T: 'static>(&self) -> Option<&T> {
        let config: &dyn std::any::Any = &*self.config;
        config.downcast_ref()
    }
}

impl std::fmt::Display for SinkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.required {
            "required"
        } else {
            "optional"
        };
        write!(f, "{} ({kind})", self.config)
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
    /// Bytes the files in flight may hold at once, estimated (see
    /// `pipeline::memory`).
    pub memory: u64,
}

/// Default of `workers.memory_mb`.
pub const DEFAULT_MEMORY_MB: u64 = 512;

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
    /// Which files are read in parts (`read_whole_max_bytes`), and how large parts
    /// are.
    pub part_limits: PartLimits,
    /// Whether a file without any measurement completes instead of being quarantined.
    pub allow_empty: bool,
    /// What completeness expects of the system.
    pub completeness: Expectations,
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

/// Reads a sink's table (a plan's `[[sink]]`, or a URL given alone): its kind from
/// the URL's scheme, `required` (else the kind's default), then the kind's own keys.
pub fn parse_sink(table: toml::Table) -> Result<SinkSpec, ConfigError> {
    let mut table = sink_table(table).map_err(|m| invalid("sink", m))?;
    let url = redacted(table["url"].as_str().unwrap_or_default());
    let kind = kind_of(&url).map_err(|m| invalid("sink", m))?;
    let required = match table.remove("required") {
        None => kind.required_by_default,
        Some(toml::Value::Boolean(required)) => required,
        Some(other) => {
            let message = format!("{url}: required: expected true or false, got {other}");
            return Err(invalid("sink", message));
        }
    };
    let config = (kind.configure)(table).map_err(|m| invalid("sink", format!("{url}: {m}")))?;
    Ok(SinkSpec {
        kind: kind.schemes[0],
        config,
        required,
    })
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
        let csv = file.csv.as_ref().map(CsvSection::layout).transpose();
        let options = FormatOptions {
            csv: csv.map_err(|(key, message)| invalid(key, message))?,
        };
        let format = FormatChoice::by_name(file.format.as_deref().unwrap_or("auto"), &options)
            .map_err(|m| invalid("format", m))?;
        let max_file_bytes = file.max_file_bytes.unwrap_or(DEFAULT_MAX_FILE_BYTES);
        if max_file_bytes == 0 {
            return Err(invalid("max_file_bytes", "must be at least 1"));
        }
        let mut part_limits = PartLimits::default();
        if let Some(bytes) = file.read_whole_max_bytes {
            part_limits.in_memory = usize::try_from(bytes)
                .map_err(|_| invalid("read_whole_max_bytes", "too large for this machine"))?;
            part_limits.part_values = (bytes / 64).max(1);
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
            let urls = overrides.archive.iter().chain(&overrides.sinks);
            urls.map(|url| parse_sink(url_table(url).map_err(|m| invalid("sink", m))?))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            file.sink
                .into_iter()
                .map(|mut table| {
                    // A path in a plan is relative to the plan.
                    if let Some(toml::Value::String(url)) = table.get_mut("url") {
                        if !url.contains("://") {
                            *url = in_plan(Path::new(url.as_str())).display().to_string();
                        }
                    }
                    parse_sink(table)
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        let completeness = match &file.completeness {
            Some(section) => section.expectations(in_plan)?,
            None => Expectations::default(),
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let parse = file.workers.parse.filter(|n| *n > 0).unwrap_or(cores);
        let workers = Workers {
            parse,
            deliver: file.workers.deliver.filter(|n| *n > 0).unwrap_or(4),
            queue: file.workers.queue.filter(|n| *n > 0).unwrap_or(2 * parse),
            memory: file
                .workers
                .memory_mb
                .filter(|n| *n > 0)
                .unwrap_or(DEFAULT_MEMORY_MB)
                .saturating_mul(1 << 20),
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
            part_limits,
            allow_empty: file.allow_empty.unwrap_or(false),
            completeness,
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
        self.sinks
            .iter()
            .find_map(|sink| sink.config_of::<ArchiveConfig>())
            .map(|archive| archive.url.as_str())
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
        o.sinks = vec!["gs://bucket/archive".into()];
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
        let sinks: Vec<String> = resolved.sinks.iter().map(|s| s.to_string()).collect();
        let archive = dir.path().join("arch");
        assert_eq!(sinks, [format!("archive {} (optional)", archive.display())]);
        std::fs::write(&plan, "sytem = \"x\"\n").unwrap();
        assert!(SystemPlan::resolve(Some(&plan), Overrides::default()).is_err());
    }

    #[test]
    fn the_completeness_section_sets_expectations_and_names_a_bad_key() {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("p.toml");
        std::fs::write(dir.path().join("nodes.txt"), "# ours\nn1\n\n n2 \n").unwrap();
        std::fs::write(
            &plan,
            "[completeness]\nlate_after = \"15m\"\nlookback = \"2d\"\nnodes_file = \"nodes.txt\"\n",
        )
        .unwrap();
        let resolved = SystemPlan::resolve(Some(&plan), Overrides::default()).unwrap();
        let expectations = resolved.completeness;
        assert_eq!(expectations.late_after, Some(15 * 60_000_000));
        assert_eq!(expectations.lookback, Some(2 * 86_400_000_000));
        let nodes: Vec<&str> = expectations
            .nodes
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        assert_eq!(nodes, ["n1", "n2"]);
        let rules = expectations.rules(crate::completeness::Rules::with_defaults(0, 1));
        assert_eq!(
            (rules.late_after, rules.from, rules.to),
            (15 * 60_000_000, 0, 1)
        );
        let error = |section: &str| {
            std::fs::write(&plan, format!("[completeness]\n{section}\n")).unwrap();
            SystemPlan::resolve(Some(&plan), Overrides::default())
                .unwrap_err()
                .to_string()
        };
        assert!(
            error("late_after = \"soon\"").starts_with("completeness.late_after: \"soon\""),
            "{}",
            error("late_after = \"soon\"")
        );
        assert!(error("nodes_file = \"none.txt\"").starts_with("completeness.nodes_file: "));
        assert!(
            SystemPlan::resolve(None, Overrides::default())
                .unwrap()
                .completeness
                .nodes
                .is_none()
        );
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

    #[test]
    fn a_sink_table_is_read_by_its_kind_and_a_url_the_same_way() {
        use crate::sink::kafka::KafkaSettings;
        use crate::sink::mysql::MySqlSettings;
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("p.toml");
        std::fs::write(
            &plan,
            "[[sink]]\nurl = \"mysql://pm:pw@db/pm?ssl-mode=disabled\"\nwriters = 8\n\
             batch_rows = 500\n[[sink]]\nurl = \"kafka://k:9092\"\nrequired = true\n\
             topic = \"pm.{table}\"\n[sink.kafka]\n\"linger.ms\" = 2\n",
        )
        .unwrap();
        let from_plan = SystemPlan::resolve(Some(&plan), Overrides::default()).unwrap();
        let flags = Overrides {
            sinks: vec![
                "mysql://pm:pw@db/pm?ssl-mode=disabled&writers=8&batch_rows=500".into(),
                "kafka://k:9092?required=true&topic=pm.{table}&linger.ms=2".into(),
            ],
            ..Default::default()
        };
        let from_flags = SystemPlan::resolve(None, flags).unwrap();
        for plan in [&from_plan, &from_flags] {
            let mysql = plan.sinks[0].config_of::<MySqlSettings>().unwrap();
            assert_eq!((mysql.writers, mysql.batch_rows), (8, 500));
            assert_eq!(
                mysql.connect_url.expose(),
                "mysql://pm:pw@db/pm?ssl-mode=disabled"
            );
            assert!(plan.sinks[0].required);
            let kafka = plan.sinks[1].config_of::<KafkaSettings>().unwrap();
            assert_eq!(kafka.topic, "pm.{table}");
            assert_eq!(kafka.producer["linger.ms"], "2");
            assert!(plan.sinks[1].required);
            assert_eq!(plan.sinks[1].to_string(), from_flags.sinks[1].to_string());
        }
        let unknown = "[[sink]]\nurl = \"clickhouse://ch/pm\"\nbatchrows = 5\n";
        std::fs::write(&plan, unknown).unwrap();
        let err = SystemPlan::resolve(Some(&plan), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("sink: clickhouse://ch/pm: batchrows: unknown field"),
            "{err}"
        );
        let optional = Overrides {
            sinks: vec![
                "kafka://k:9092".into(),
                "mysql://db/pm?required=false".into(),
            ],
            ..Default::default()
        };
        let resolved = SystemPlan::resolve(None, optional).unwrap();
        assert!(resolved.sinks.iter().all(|s| !s.required));
    }
}
