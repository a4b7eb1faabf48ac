//! Parser throughput on generated 5ga files, against a bare quick-xml pass over the
//! same bytes that only tokenizes: the ceiling any quick-xml-based parser can reach.
//! Both run single-threaded in the same process, so their ratio is what to read.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pmflow::format::threegpp::ThreeGppXml;
use pmflow::format::{Content, Emit, FileContext, Format};
use pmflow::generator::{GenOptions, GenSystem, default_start, render};
use quick_xml::Reader;
use quick_xml::events::Event;

/// 10 large gNodeBs (96 cells each, ~110 KB per file, like real ones) x 4 periods of
/// generated 5ga XML: about 4.5 MB.
fn corpus() -> Vec<String> {
    let options = GenOptions {
        system: GenSystem::Nr,
        nodes: 10,
        rops: 4,
        scale: 8,
        seed: 1,
        gzip: false,
        start: default_start(),
    };
    (0..options.rops)
        .flat_map(|rop| (1..=options.nodes).map(move |node| (node, rop)))
        .map(|(node, rop)| render(&options, node, rop))
        .collect()
}

fn parse_all(files: &[String]) -> u64 {
    let ctx = FileContext {
        system: "5ga".into(),
        file_name: "bench.xml".into(),
    };
    let file_id = || "0".to_string();
    files
        .iter()
        .map(|xml| {
            ThreeGppXml
                .parse(Content::Bytes(xml.as_bytes()), &ctx, &file_id, Emit::Whole)
                .expect("generated files parse")
                .counter_values
        })
        .sum()
}

fn tokenize_all(files: &[String]) -> u64 {
    let mut events = 0;
    for xml in files {
        let mut reader = Reader::from_reader(xml.as_bytes());
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

fn bench(c: &mut Criterion) {
    let files = corpus();
    let bytes: usize = files.iter().map(String::len).sum();
    let values = parse_all(&files);

    let mut group = c.benchmark_group("5ga_bytes");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("pmflow_parse", |b| b.iter(|| parse_all(&files)));
    group.bench_function("quick_xml_tokenize_only", |b| {
        b.iter(|| tokenize_all(&files))
    });
    group.finish();

    let mut group = c.benchmark_group("5ga_values");
    group.throughput(Throughput::Elements(values));
    group.bench_function("pmflow_parse", |b| b.iter(|| parse_all(&files)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
