//! Synthetic but realistic PM files for demos, tests and benchmarks.
//!
//! Files follow TS 32.435 and TS 32.432 naming, with real counter names (see
//! [`catalog`]), vector (PDF) counters, `NIL` values, suspect rows, and a software
//! upgrade half-way through that adds counters on every other node. Output is a pure
//! function of the options and seed, so benchmarks and tests are reproducible.

pub mod catalog;

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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
}

impl GenSystem {
    fn groups(self) -> &'static [Group] {
        match self {
            GenSystem::Lte => catalog::LTE,
            GenSystem::Nr => catalog::NR,
            GenSystem::Core => catalog::CORE,
        }
    }

    fn node_name(self, node: usize) -> String {
        match self {
            GenSystem::Lte => format!("eNB{node:04}"),
            GenSystem::Nr => format!("gNB{node:04}"),
            GenSystem::Core => format!("CORE{node:02}"),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Which system's files.
    pub system: GenSystem,
    /// Number of network elements.
    pub nodes: usize,
    /// Number of 15-minute reporting periods per node.
    pub rops: usize,
    /// Multiplies the objects (cells, slices) per node: 1 is a small node, 8 a large
    /// one with a hundred cells.
    pub scale: usize,
    /// Random seed.
    pub seed: u64,
    /// Write `.xml.gz` instead of `.xml`.
    pub gzip: bool,
    /// Begin of the first period.
    pub start: DateTime<Utc>,
}

/// Start of the first generated period unless told otherwise: 2026-01-05 00:00 UTC.
pub fn default_start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_571_200, 0).expect("valid timestamp")
}

const ROP_MINUTES: i64 = 15;

/// Name of the file of one node and period (TS 32.432).
pub fn file_name(options: &GenOptions, node: usize, rop: usize) -> String {
    let begin = options.start + Duration::minutes(ROP_MINUTES * rop as i64);
    let end = begin + Duration::minutes(ROP_MINUTES);
    let suffix = if options.gzip { ".xml.gz" } else { ".xml" };
    format!(
        "A{}+0000-{}+0000_{}{suffix}",
        begin.format("%Y%m%d.%H%M"),
        end.format("%H%M"),
        options.system.node_name(node)
    )
}

/// The XML of one node and period.
pub fn render(options: &GenOptions, node: usize, rop: usize) -> String {
    let mut rng = StdRng::seed_from_u64(options.seed ^ ((node as u64) << 32) ^ rop as u64);
    let ne = options.system.node_name(node);
    let begin = options.start + Duration::minutes(ROP_MINUTES * rop as i64);
    let end = begin + Duration::minutes(ROP_MINUTES);
    let upgraded = node % 2 == 0 && rop >= options.rops / 2;
    let sw = if upgraded { "R2B" } else { "R1A" };
    let time = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    let mut xml = String::with_capacity(64 * 1024);
    let _ = write!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <?xml-stylesheet type=\"text/xsl\" href=\"MeasDataCollection.xsl\"?>\n\
         <measCollecFile xmlns=\"http://www.3gpp.org/ftp/specs/archive/32_series/32.435#measCollec\">\n\
         <fileHeader fileFormatVersion=\"32.435 V10.0\" vendorName=\"pmflow-gen\" dnPrefix=\"SubNetwork=1\">\n\
         <fileSender localDn=\"{ne}\" elementType=\"{:?}\"/>\n<measCollec beginTime=\"{}\"/>\n</fileHeader>\n\
         <measData>\n<managedElement localDn=\"{ne}\" swVersion=\"{sw}\"/>\n",
        options.system,
        time(begin)
    );
    for group in options.system.groups() {
        let mut counters: Vec<&Counter> = group.counters.iter().collect();
        if upgraded {
            counters.extend(group.upgrade_counters);
        }
        let _ = write!(
            xml,
            "<measInfo measInfoId=\"{}\">\n<job jobId=\"pmflow\"/>\n\
             <granPeriod duration=\"PT900S\" endTime=\"{}\"/>\n<repPeriod duration=\"PT900S\"/>\n",
            group.meas_info_id,
            time(end)
        );
        if group.list_form {
            let names: Vec<&str> = counters.iter().map(|c| c.name).collect();
            let _ = writeln!(xml, "<measTypes>{}</measTypes>", names.join(" "));
        } else {
            for (p, counter) in counters.iter().enumerate() {
                let _ = writeln!(xml, "<measType p=\"{}\">{}</measType>", p + 1, counter.name);
            }
        }
        for i in 1..=group.objects * options.scale.max(1) {
            let object = group
                .object
                .replace("{ne}", &ne)
                .replace("{i}", &i.to_string());
            let values = values(&counters, &mut rng);
            let _ = writeln!(xml, "<measValue measObjLdn=\"{object}\">");
            if group.list_form {
                let _ = writeln!(xml, "<measResults>{}</measResults>", values.join(" "));
            } else {
                for (p, value) in values.iter().enumerate() {
                    let _ = writeln!(xml, "<r p=\"{}\">{value}</r>", p + 1);
                }
            }
            let suspect = rng.random_bool(0.01);
            let _ = writeln!(xml, "<suspect>{suspect}</suspect>\n</measValue>");
        }
        xml.push_str("</measInfo>\n");
    }
    let _ = write!(
        xml,
        "</measData>\n<fileFooter>\n<measCollec endTime=\"{}\"/>\n</fileFooter>\n</measCollecFile>\n",
        time(end)
    );
    xml
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
            let xml = render(options, node, rop);
            let bytes = if options.gzip {
                let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
                encoder.write_all(xml.as_bytes())?;
                encoder.finish()?
            } else {
                xml.into_bytes()
            };
            let path = out.join(file_name(options, node, rop));
            // Write under a hidden name, then rename: a collector never sees half a file.
            let partial = out.join(format!(".{}.part", file_name(options, node, rop)));
            std::fs::write(&partial, &bytes)?;
            std::fs::rename(&partial, &path)?;
            progress(bytes.len() as u64);
            written.push(path);
        }
    }
    Ok(written)
}
