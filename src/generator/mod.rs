//! Synthetic but realistic PM files for demos, tests and benchmarks.
//!
//! A node's [`report`] of a period has real counter names (see [`catalog`]), vector
//! (PDF) counters, `NIL` values, suspect rows, and a software upgrade half-way through
//! that adds counters on every other node; [`write`] puts it in a format (TS 32.435,
//! OMeS, TS 32.401 mdc, CSV), named as TS 32.432 (or as OLT exports, for CSV). Output
//! is a pure function of the options and seed, so benchmarks and tests are
//! reproducible, and the same report in two formats holds the same values.

pub mod catalog;
mod write;

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::format::csv::layout::CsvSection;
use catalog::{Counter, Group, Kind};

/// Systems the generator knows, with their node naming and counter groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GenSystem {
    /// LTE eNodeBs.
    #[value(name = "4ga")]
    Lte,
    /// NR gNodeBs.
    #[value(name = "5ga")]
    Nr,
    /// 5G core network functions.
    #[value(name = "5gc")]
    Core,
    /// GPON optical line terminals (OLTs), with their ONTs.
    #[value(name = "ont")]
    Ont,
}

/// Formats the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GenFormat {
    /// TS 32.435 `measCollecFile`, one file per node and period.
    #[value(name = "3gpp-xml")]
    ThreeGppXml,
    /// Nokia OMeS, one file per node and period.
    #[value(name = "omes")]
    Omes,
    /// TS 32.401 `mdc`, one file per node and period.
    #[value(name = "mdc")]
    Mdc,
    /// CSV exports as OLTs write them: one file per node, counter group and period,
    /// in local time (+08:00), with a title line, a byte-order mark and CRLF.
    #[value(name = "csv")]
    Csv,
}

impl GenSystem {
    fn groups(self) -> &'static [Group] {
        match self {
            GenSystem::Lte => catalog::LTE,
            GenSystem::Nr => catalog::NR,
            GenSystem::Core => catalog::CORE,
            GenSystem::Ont => catalog::ONT,
        }
    }

    /// How many counter groups (CSV files per node and period) the system has.
    pub fn groups_count(self) -> usize {
        self.groups().len()
    }

    /// The format the system's nodes write.
    pub fn default_format(self) -> GenFormat {
        match self {
            GenSystem::Ont => GenFormat::Csv,
            _ => GenFormat::ThreeGppXml,
        }
    }

    fn node_name(self, node: usize) -> String {
        match self {
            GenSystem::Lte => format!("eNB{node:04}"),
            GenSystem::Nr => format!("gNB{node:04}"),
            GenSystem::Core => format!("CORE{node:02}"),
            GenSystem::Ont => format!("OLT-{node:04}"),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Which system's files.
    pub system: GenSystem,
    /// In which format.
    pub format: GenFormat,
    /// Number of network elements.
    pub nodes: usize,
    /// Number of 15-minute reporting periods per node.
    pub rops: usize,
    /// Multiplies the objects (cells, slices) per node: 1 is a small node, 8 a large
    /// one with a hundred cells.
    pub scale: usize,
    /// Random seed.
    pub seed: u64,
    /// Write gzip files (`.gz` appended to the names).
    pub gzip: bool,
    /// Begin of the first period.
    pub start: DateTime<Utc>,
}

/// Start of the first generated period unless told otherwise: 2026-01-05 00:00 UTC.
pub fn default_start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_571_200, 0).expect("valid timestamp")
}

const ROP_MINUTES: i64 = 15;

/// One node's report of one period, before it is written in a format: what every
/// format's writer ([`write`]) turns into a file.
#[derive(Debug, Clone)]
pub struct Report {
    /// The node.
    pub ne: String,
    /// Begin of the period.
    pub begin: DateTime<Utc>,
    /// End of the period.
    pub end: DateTime<Utc>,
    /// The node's software version (counters are added by an upgrade).
    pub sw: &'static str,
    /// One entry per counter group.
    pub groups: Vec<GroupReport>,
}

/// One counter group of a report.
#[derive(Debug, Clone)]
pub struct GroupReport {
    /// The group as the catalog describes it.
    pub group: &'static Group,
    /// Its counters in this report (the upgrade's included when upgraded).
    pub counters: Vec<&'static Counter>,
    /// One entry per measured object.
    pub objects: Vec<ObjectValues>,
}

/// The values of one measured object.
#[derive(Debug, Clone)]
pub struct ObjectValues {
    /// The object's name (a DN).
    pub object: String,
    /// One value per counter, as written (`NIL`, `1,0,3`, `12.50`, …).
    pub values: Vec<String>,
    /// Whether the node marked the values suspect.
    pub suspect: bool,
}

/// A generated file.
#[derive(Debug, Clone)]
pub struct GenFile {
    /// Its name.
    pub name: String,
    /// Its content, uncompressed.
    pub content: String,
}

/// The report of one node and period.
pub fn report(options: &GenOptions, node: usize, rop: usize) -> Report {
    let mut rng = StdRng::seed_from_u64(options.seed ^ ((node as u64) << 32) ^ rop as u64);
    let ne = options.system.node_name(node);
    let begin = options.start + Duration::minutes(ROP_MINUTES * rop as i64);
    let upgraded = node % 2 == 0 && rop >= options.rops / 2;
    let groups = options.system.groups().iter().map(|group| {
        let mut counters: Vec<&Counter> = group.counters.iter().collect();
        if upgraded {
            counters.extend(group.upgrade_counters);
        }
        let objects = (1..=group.objects * options.scale.max(1))
            .map(|i| {
                let object = group
                    .object
                    .replace("{ne}", &ne)
                    .replace("{port}", &((i - 1) / 8).to_string())
                    .replace("{i}", &i.to_string());
                let values = values(&counters, &mut rng);
                let suspect = rng.random_bool(0.01);
                ObjectValues {
                    object,
                    values,
                    suspect,
                }
            })
            .collect();
        GroupReport {
            group,
            counters,
            objects,
        }
    });
    Report {
        groups: groups.collect(),
        sw: if upgraded { "R2B" } else { "R1A" },
        ne,
        begin,
        end: begin + Duration::minutes(ROP_MINUTES),
    }
}

/// The files of one node and period, in the options' format.
pub fn render(options: &GenOptions, node: usize, rop: usize) -> Vec<GenFile> {
    let report = report(options, node, rop);
    let suffix = if options.gzip { ".gz" } else { "" };
    let named = |name: String, content| GenFile {
        name: format!("{name}{suffix}"),
        content,
    };
    let element_type = format!("{:?}", options.system);
    match options.format {
        GenFormat::ThreeGppXml => vec![named(
            ts_32_432_name(&report),
            write::threegpp(&report, &element_type),
        )],
        GenFormat::Omes => vec![named(ts_32_432_name(&report), write::omes(&report))],
        GenFormat::Mdc => vec![named(
            ts_32_432_name(&report),
            write::mdc(&report, &element_type),
        )],
        GenFormat::Csv => report
            .groups
            .iter()
            .map(|group| {
                let (name, content) = write::csv(&report, group);
                named(name, content)
            })
            .collect(),
    }
}

/// The `[csv]` section that reads the generator's CSV exports of `system`: what
/// `plans/ont.toml` says for `ont`, with the node taken from the file name.
pub fn csv_section(system: GenSystem) -> CsvSection {
    let node = system.node_name(1);
    let prefix: String = node.chars().take_while(|c| !c.is_ascii_digit()).collect();
    let prefix = regex::escape(&prefix);
    CsvSection {
        header_line: Some(2),
        time_column: Some("Result Time".into()),
        time_format: Some("%Y-%m-%d %H:%M".into()),
        utc_offset: Some("+08:00".into()),
        granularity_column: Some("Granularity Period".into()),
        granularity_unit: Some("min".into()),
        object_column: Some("Object Name".into()),
        suspect_column: Some("Reliability".into()),
        reliable_value: Some("Reliable".into()),
        ne_from_file: Some(format!("^(?P<ne>{prefix}[0-9]+)_")),
        table_from_file: Some(format!(
            "^{prefix}[0-9]+_(?P<table>[A-Za-z_]+)_[0-9]{{12}}[.]csv$"
        )),
        ..CsvSection::default()
    }
}

/// The TS 32.432 name of a report's file.
fn ts_32_432_name(report: &Report) -> String {
    format!(
        "A{}+0000-{}+0000_{}.xml",
        report.begin.format("%Y%m%d.%H%M"),
        report.end.format("%H%M"),
        report.ne
    )
}

/// Random values for one object's counters; about 0.5 % are `NIL`.
fn values(counters: &[&Counter], rng: &mut StdRng) -> Vec<String> {
    let mut previous: u64 = 0;
    counters
        .iter()
        .map(|counter| {
            let value = match counter.kind {
                Kind::Count(max) => {
                    previous = rng.random_range(0..=max);
                    previous.to_string()
                }
                Kind::SuccessOfPrevious => {
                    let lost = rng.random_range(0..=previous / 50 + 1).min(previous);
                    (previous - lost).to_string()
                }
                Kind::Gauge(max) => format!("{:.2}", rng.random_range(0.0..max)),
                Kind::Level(low, high) => format!("{:.2}", rng.random_range(low..high)),
                Kind::Vector(bins) => {
                    let bins: Vec<String> = (0..bins)
                        .map(|_| rng.random_range(0..1000u32).to_string())
                        .collect();
                    bins.join(",")
                }
            };
            if rng.random_bool(0.005) {
                "NIL".to_string()
            } else {
                value
            }
        })
        .collect()
}

/// Writes every file of `options` into `out`, calling `progress` after each with the
/// bytes written. Returns the paths written.
pub fn generate(
    out: &Path,
    options: &GenOptions,
    mut progress: impl FnMut(u64),
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut written = Vec::with_capacity(options.nodes * options.rops);
    for rop in 0..options.rops {
        for node in 1..=options.nodes {
            for file in render(options, node, rop) {
                let bytes = if options.gzip {
                    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
                    encoder.write_all(file.content.as_bytes())?;
                    encoder.finish()?
                } else {
                    file.content.into_bytes()
                };
                let path = out.join(&file.name);
                // Write under a hidden name, then rename: a collector never sees half a file.
                let partial = out.join(format!(".{}.part", file.name));
                std::fs::write(&partial, &bytes)?;
                std::fs::rename(&partial, &path)?;
                progress(bytes.len() as u64);
                written.push(path);
            }
        }
    }
    Ok(written)
}
