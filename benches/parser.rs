//! Parser throughput on generated files.
//!
//! - `5ga_bytes`/`5ga_values`: the 3GPP XML parser against a bare quick-xml pass over
//!   the same bytes that only tokenizes, the ceiling any quick-xml-based parser can
//!   reach.
//! - `formats/<format>`: every parser (3GPP XML, OMeS, TS 32.401 mdc, CSV) on the same
//!   generated reports, so each reads exactly the same counter values; the summary
//!   printed at the end gives each one's MB/s and values/s and its ratio to the 3GPP
//!   XML parser, all measured in the same run, single-threaded.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pmflow::format::{Content, Emit, FileContext, FormatChoice, FormatOptions};
use pmflow::generator::{
    GenFile, GenFormat, GenOptions, GenSystem, csv_section, default_start, render,
};
use quick_xml::Reader;
use quick_xml::events::Event;

/// 10 large gNodeBs (96 cells each, ~110 KB per file in 3GPP XML, like real ones) x 4
/// periods, in `format`.
fn corpus(format: GenFormat) -> Vec<GenFile> {
    let options = GenOptions {
        system: GenSystem::Nr,
        format,
        nodes: 10,
        rops: 4,
        scale: 8,
        seed: 1,
        gzip: false,
        start: default_start(),
    };
    (0..options.rops)
        .flat_map(|rop| (1..=options.nodes).map(move |node| (node, rop)))
        .flat_map(|(node, rop)| render(&options, node, rop))
        .collect()
}

/// The layout of the generator's CSV exports of gNodeB counter groups.
fn csv_layout() -> FormatOptions {
    let section = csv_section(GenSystem::Nr);
    FormatOptions {
        csv: Some(section.layout().expect("valid layout")),
    }
}

/// Every generated file parsed in memory by `format`; the counter values read.
fn parse_all(format: &FormatChoice, files: &[GenFile]) -> u64 {
    let file_id = || "0".to_string();
    files
        .iter()
        .map(|file| {
            let ctx = FileContext {
                system: "5ga".into(),
                file_name: file.name.clone(),
            };
            let content = file.content.as_bytes();
            format
                .format_of(content, &file.name)
                .parse(Content::Bytes(content), &ctx, &file_id, Emit::Whole)
                .expect("generated files parse")
                .counter_values
        })
        .sum()
}

fn tokenize_all(files: &[GenFile]) -> u64 {
    let mut events = 0;
    for file in files {
        let mut reader = Reader::from_reader(file.content.as_bytes());
        loop {
            match reader
                .read_event()
                .expect("generated files are well-formed")
            {
                Event::Eof => break,
                _ => events += 1,
            }
        }
    }
    events
}

/// One format's corpus and parser.
struct Case {
    name: &'static str,
    format: FormatChoice,
    files: Vec<GenFile>,
    bytes: u64,
}

fn cases() -> Vec<Case> {
    let options = csv_layout();
    [
        ("3gpp-xml", GenFormat::ThreeGppXml),
        ("omes", GenFormat::Omes),
        ("mdc", GenFormat::Mdc),
        ("csv", GenFormat::Csv),
    ]
    .into_iter()
    .map(|(name, generated)| {
        let files = corpus(generated);
        Case {
            name,
            format: FormatChoice::by_name(name, &options).expect("known format"),
            bytes: files.iter().map(|f| f.content.len() as u64).sum(),
            files,
        }
    })
    .collect()
}

fn bench(c: &mut Criterion) {
    let cases = cases();
    let xml = &cases[0];
    let values = parse_all(&xml.format, &xml.files);

    let mut group = c.benchmark_group("5ga_bytes");
    group.throughput(Throughput::Bytes(xml.bytes));
    group.bench_function("pmflow_parse", |b| {
        b.iter(|| parse_all(&xml.format, &xml.files))
    });
    group.bench_function("quick_xml_tokenize_only", |b| {
        b.iter(|| tokenize_all(&xml.files))
    });
    group.finish();

    let mut group = c.benchmark_group("formats");
    group.throughput(Throughput::Elements(values));
    for case in &cases {
        assert_eq!(
            parse_all(&case.format, &case.files),
            values,
            "{}: every format holds the same values",
            case.name
        );
        group.bench_function(case.name, |b| {
            b.iter(|| parse_all(&case.format, &case.files))
        });
    }
    group.finish();
    summary(&cases, values);
}

/// Each format's best of ten passes, as MB/s, values/s and the ratio of its values/s
/// to the 3GPP XML parser's, in one table.
fn summary(cases: &[Case], values: u64) {
    let best = |case: &Case| {
        (0..10)
            .map(|_| {
                let started = Instant::now();
                parse_all(&case.format, &case.files);
                started.elapsed()
            })
            .min()
            .unwrap_or(Duration::MAX)
    };
    let timings: Vec<Duration> = cases.iter().map(best).collect();
    let baseline = values as f64 / timings[0].as_secs_f64();
    println!("\nformat     MB    MB/s   values/s   ratio to 3gpp-xml (values/s)");
    for (case, time) in cases.iter().zip(&timings) {
        let seconds = time.as_secs_f64();
        let per_second = values as f64 / seconds;
        println!(
            "{:<9} {:>4.1} {:>7.1} {:>10.0} {:>6.2}",
            case.name,
            case.bytes as f64 / 1e6,
            case.bytes as f64 / 1e6 / seconds,
            per_second,
            per_second / baseline
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
