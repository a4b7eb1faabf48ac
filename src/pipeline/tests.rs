//! The pipeline's delivery semantics with in-memory sources and sinks: what each sink
//! answer does to a file (required or optional × stored, transient, rejected,
//! panicking), completion only after every required acknowledgement, cancellation in
//! the middle of a cycle, memory bounded under a slow sink, and outcomes reaching the
//! statistics and the metrics; files handed over one by one (a cluster's tasks), one
//! of them already gone.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::read::parse_inline;
use super::{CycleStats, FileOutcome, Parts, Pipeline, Progress};
use crate::config::Workers;
use crate::format::{FormatChoice, PartLimits};
use crate::plan::rules::Rule;
use crate::sink::Sink;
use crate::source::{SettleRules, Source, SourceFile};
use crate::test_util::mock::{Behaviour, Journal, MemorySink, MemorySource, pm_file};

/// `count` files `f00.xml`, `f01.xml`, … of nodes `ne00`, `ne01`, ….
fn files(count: usize) -> Vec<(String, bytes::Bytes)> {
    (0..count)
        .map(|i| (format!("f{i:02}.xml"), pm_file(&format!("ne{i:02}"), 1)))
        .collect()
}

/// A pipeline of system `t` over `source` into `sinks`, taking files as listed.
fn pipeline(
    source: Arc<MemorySource>,
    sinks: Vec<(Arc<dyn Sink>, bool)>,
    workers: Workers,
) -> Pipeline {
    pipeline_of_parts(source, sinks, workers, PartLimits::default())
}

/// [`pipeline`], reading files in parts as `part_limits` say.
fn pipeline_of_parts(
    source: Arc<MemorySource>,
    sinks: Vec<(Arc<dyn Sink>, bool)>,
    workers: Workers,
    part_limits: PartLimits,
) -> Pipeline {
    pipeline_with_rules(source, sinks, workers, part_limits, Vec::new())
}

/// [`pipeline_of_parts`], with `rules`.
fn pipeline_with_rules(
    source: Arc<MemorySource>,
    sinks: Vec<(Arc<dyn Sink>, bool)>,
    workers: Workers,
    part_limits: PartLimits,
    rules: Vec<Rule>,
) -> Pipeline {
    Pipeline::new(Parts {
        system: "t".into(),
        source,
        settle: SettleRules::NONE,
        format: FormatChoice::default(),
        max_file_bytes: 1 << 20,
        allow_empty: false,
        part_limits,
        sinks,
        schemas: Default::default(),
        rules,
        workers,
    })
}

const WORKERS: Workers = Workers {
    parse: 2,
    deliver: 2,
    queue: 2,
    memory: 1 << 30,
};

fn sink(name: &str, behaviour: Behaviour, journal: &Arc<Journal>) -> Arc<dyn Sink> {
    Arc::new(MemorySink::new(
        name,
        behaviour,
        Duration::ZERO,
        journal.clone(),
    ))
}

async fn cycle(pipeline: &Pipeline) -> CycleStats {
    pipeline
        .run_cycle(&|_| {}, &CancellationToken::new())
        .await
        .expect("an in-memory source lists")
}

/// One file through a required archive that stores it and a second sink answering
/// with `behaviour`, required or not: the cycle's counts (done, failed, held,
/// warnings), where the file went, and its reason when quarantined.
async fn one_file(
    behaviour: Behaviour,
    required: bool,
) -> ((u64, u64, u64, u64), Vec<String>, Option<String>) {
    let journal = Arc::new(Journal::default());
    let source = Arc::new(MemorySource::new(files(1), journal.clone()));
    let sinks = vec![
        (sink("archive", Behaviour::Store, &journal), true),
        (sink("db", behaviour, &journal), required),
    ];
    let stats = cycle(&pipeline(source.clone(), sinks, WORKERS)).await;
    let counts = (stats.done, stats.failed, stats.held, stats.totals.warnings);
    let went = journal
        .events()
        .into_iter()
        .filter(|e| !e.starts_with("stored"))
        .collect();
    (counts, went, source.reason("f00.xml"))
}

/// A file of three rows read in parts of one row each, into a required archive that
/// stores everything and a required database answering with `behaviour`: the
/// journal, the rows of the parts read, and the file's reason if quarantined.
async fn three_parts(behaviour: Behaviour) -> (Vec<String>, u64, Option<String>) {
    let journal = Arc::new(Journal::default());
    let file = ("big.xml".to_string(), pm_file("ne", 3));
    let source = Arc::new(MemorySource::new(vec![file], journal.clone()));
    let sinks = vec![
        (sink("archive", Behaviour::Store, &journal), true),
        (sink("db", behaviour, &journal), true),
    ];
    let one_row_each = PartLimits {
        in_memory: 10,
        part_values: 1,
        ..PartLimits::default()
    };
    let pipeline = pipeline_of_parts(source.clone(), sinks, WORKERS, one_row_each);
    let stats = cycle(&pipeline).await;
    let mut events = journal.events();
    // The two sinks store a part at the same time, in either order.
    for pair in events.chunks_mut(2) {
        if pair.iter().all(|event| event.starts_with("stored")) {
            pair.sort();
        }
    }
    (events, stats.totals.rows, source.reason("big.xml"))
}

#[tokio::test]
async fn a_large_file_goes_part_by_part_and_completes_after_its_last_part() {
    let (events, rows, _) = three_parts(Behaviour::Store).await;
    assert_eq!(rows, 3);
    assert_eq!(
        events,
        [
            "stored archive big.xml",
            "stored db big.xml",
            "stored archive big.xml#1",
            "stored db big.xml#1",
            "stored archive big.xml#2",
            "stored db big.xml#2",
            "done big.xml",
        ]
    );
    // A part refused for good: no later part is written, the file is quarantined.
    let (events, rows, reason) = three_parts(Behaviour::RejectPart(1)).await;
    assert_eq!(rows, 2, "the third part is never delivered");
    assert_eq!(
        events,
        [
            "stored archive big.xml",
            "stored db big.xml",
            "stored archive big.xml#1",
            "failed big.xml",
        ]
    );
    let reason = reason.unwrap();
    assert!(
        reason.starts_with("rejected by sink db: file big.xml"),
        "{reason}"
    );
}

/// A file of three rows whose third row is cut off.
fn broken_file() -> bytes::Bytes {
    let whole = pm_file("ne", 3);
    whole.slice(..whole.len() - 60)
}

/// A broken large file ([`broken_file`]) and one whose row key comes back in a
/// later part, each read in parts of one row into `sinks`: the journal, the rows
/// counted, and each file's reason if quarantined.
async fn large_files_into(
    sinks: Vec<(Arc<dyn Sink>, bool)>,
    journal: Arc<Journal>,
) -> (Vec<String>, u64, Vec<Option<String>>) {
    let cell = |counter: &str, objects: &[u32]| {
        let values: String = objects
            .iter()
            .map(|i| format!("<measValue measObjLdn=\"Cell={i}\"><r p=\"1\">{i}</r></measValue>"))
            .collect();
        format!(
            "<measInfo measInfoId=\"Cells\"><granPeriod duration=\"PT900S\" \
             endTime=\"2026-01-05T00:15:00Z\"/><measType p=\"1\">{counter}</measType>\
             {values}</measInfo>"
        )
    };
    let repeated = format!(
        "<measCollecFile><measData><managedElement localDn=\"ne\"/>{}{}</measData>\
         </measCollecFile>",
        cell("pmFoo", &[1, 2]),
        cell("pmBar", &[1]),
    );
    let files = vec![
        ("broken.xml".to_string(), broken_file()),
        ("repeated.xml".to_string(), bytes::Bytes::from(repeated)),
    ];
    let source = Arc::new(MemorySource::new(files, journal.clone()));
    let one_row_each = PartLimits {
        in_memory: 10,
        part_values: 1,
        ..PartLimits::default()
    };
    let one_at_a_time = Workers {
        parse: 1,
        deliver: 1,
        queue: 1,
        ..WORKERS
    };
    let pipeline = pipeline_of_parts(source.clone(), sinks, one_at_a_time, one_row_each);
    let stats = cycle(&pipeline).await;
    let reasons = ["broken.xml", "repeated.xml"].map(|name| source.reason(name));
    (journal.events(), stats.totals.rows, reasons.to_vec())
}

#[tokio::test]
async fn into_sinks_that_all_stage_parts_a_large_file_is_read_once_and_its_parts_go_out_unchecked()
{
    let journal = Arc::new(Journal::default());
    let archive = MemorySink::new("archive", Behaviour::Store, Duration::ZERO, journal.clone());
    let sinks: Vec<(Arc<dyn Sink>, bool)> = vec![(Arc::new(archive.staging_parts()), true)];
    let (events, rows, reasons) = large_files_into(sinks, journal).await;
    let broken_id = crate::format::file_id(&broken_file());
    assert_eq!(
        events,
        [
            // Its first row's part is staged before the cut is found; then it is
            // forgotten and the file quarantined.
            "stored archive broken.xml".to_string(),
            format!("dropped archive {broken_id}"),
            "failed broken.xml".into(),
            // Cell=1 comes back in the third part: the whole file follows its parts.
            "stored archive repeated.xml".into(),
            "stored archive repeated.xml#1".into(),
            "stored archive repeated.xml#2".into(),
            "stored archive repeated.xml".into(),
            "done repeated.xml".into(),
        ]
    );
    // The broken file's first part, and the repeated file's two rows (its whole,
    // not its parts' three).
    assert_eq!(rows, 1 + 2);
    let reason = reasons[0].clone().unwrap();
    assert!(reason.starts_with("broken.xml, line 1: "), "{reason}");
    assert_eq!(reasons[1], None);

    // A sink that writes parts as they come: the file is checked first, so no part
    // of the broken file reaches any sink, and the other is read whole at once.
    let journal = Arc::new(Journal::default());
    let archive = MemorySink::new("archive", Behaviour::Store, Duration::ZERO, journal.clone());
    let sinks = vec![
        (Arc::new(archive.staging_parts()) as Arc<dyn Sink>, true),
        (sink("db", Behaviour::Store, &journal), true),
    ];
    let (events, rows, reasons) = large_files_into(sinks, journal).await;
    assert_eq!(
        events,
        [
            "failed broken.xml",
            "stored archive repeated.xml",
            "stored db repeated.xml",
            "done repeated.xml",
        ]
    );
    assert_eq!(rows, 2);
    assert!(
        reasons[0]
            .clone()
            .unwrap()
            .starts_with("broken.xml, line 1: ")
    );
}

#[tokio::test]
async fn each_answer_of_a_required_sink_decides_the_file() {
    let (counts, went, _) = one_file(Behaviour::Store, true).await;
    assert_eq!((counts, went), ((1, 0, 0, 0), vec!["done f00.xml".into()]));

    let (counts, went, _) = one_file(Behaviour::Transient, true).await;
    assert_eq!(
        (counts, went),
        ((0, 0, 1, 0), vec![]),
        "held for the next cycle"
    );

    let (counts, went, reason) = one_file(Behaviour::Reject, true).await;
    assert_eq!(
        (counts, went),
        ((0, 1, 0, 0), vec!["failed f00.xml".into()])
    );
    assert_eq!(
        reason.as_deref(),
        Some("rejected by sink db: file f00.xml: table Cells: no; already stored by: archive")
    );

    let (counts, went, _) = one_file(Behaviour::Panic, true).await;
    assert_eq!(
        (counts, went),
        ((0, 0, 1, 0), vec![]),
        "a panicking sink holds the file"
    );
}

#[tokio::test]
async fn an_optional_sink_never_holds_or_fails_a_file() {
    for behaviour in [Behaviour::Transient, Behaviour::Reject, Behaviour::Panic] {
        let (counts, went, _) = one_file(behaviour, false).await;
        assert_eq!(
            (counts, went),
            ((1, 0, 0, 1), vec!["done f00.xml".into()]),
            "{behaviour:?}"
        );
    }
}

#[tokio::test]
async fn a_file_completes_only_after_every_required_sink_stored_it() {
    let journal = Arc::new(Journal::default());
    let source = Arc::new(MemorySource::new(files(6), journal.clone()));
    let slow = MemorySink::new(
        "slow",
        Behaviour::Store,
        Duration::from_millis(30),
        journal.clone(),
    );
    let sinks: Vec<(Arc<dyn Sink>, bool)> = vec![
        (sink("fast", Behaviour::Store, &journal), true),
        (Arc::new(slow), true),
    ];
    let stats = cycle(&pipeline(source.clone(), sinks, WORKERS)).await;
    assert_eq!(stats.done, 6);
    for (name, _) in files(6) {
        let done = journal.position(&format!("done {name}")).expect("done");
        for sink in ["fast", "slow"] {
            let stored = journal
                .position(&format!("stored {sink} {name}"))
                .expect("stored");
            assert!(stored < done, "{name} completed before {sink} stored it");
        }
    }
    assert!(source.inbox().is_empty());
}

#[tokio::test]
async fn a_cycle_stopped_midway_completes_what_it_fetched_and_leaves_the_rest() {
    let journal = Arc::new(Journal::default());
    let source = Arc::new(MemorySource::new(files(20), journal.clone()));
    let slow = MemorySink::new(
        "db",
        Behaviour::Store,
        Duration::from_millis(20),
        journal.clone(),
    );
    let pipeline = pipeline(source.clone(), vec![(Arc::new(slow), true)], WORKERS);
    let stop = CancellationToken::new();
    let progress = |event: Progress<'_>| {
        if let Progress::Finished(_) = event {
            stop.cancel();
        }
    };
    let stats = pipeline.run_cycle(&progress, &stop).await.unwrap();
    let done: Vec<String> = journal
        .events()
        .iter()
        .filter_map(|e| e.strip_prefix("done ").map(str::to_string))
        .collect();
    assert!(!done.is_empty() && done.len() < 20, "{done:?}");
    assert_eq!(
        (stats.done, stats.held),
        (done.len() as u64, 20 - done.len() as u64)
    );
    // Nothing lost: every file is either done or still in the inbox, never both.
    let mut all = done.clone();
    all.extend(source.inbox());
    all.sort();
    assert_eq!(
        all,
        files(20).into_iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_slow_sink_bounds_the_files_in_memory() {
    let journal = Arc::new(Journal::default());
    let source = Arc::new(MemorySource::new(files(30), journal.clone()));
    let slow = MemorySink::new(
        "db",
        Behaviour::Store,
        Duration::from_millis(10),
        journal.clone(),
    );
    let stats = cycle(&pipeline(
        source.clone(),
        vec![(Arc::new(slow), true)],
        WORKERS,
    ))
    .await;
    assert_eq!(stats.done, 30);
    // Reserved queue places, files being planned, files at the sinks.
    let bound = WORKERS.queue + WORKERS.deliver + WORKERS.deliver;
    let most = source.most_in_memory();
    assert!(
        most <= bound,
        "{most} files in memory at once, bound {bound}"
    );
    assert!(most >= 2, "the stages overlapped: {most}");
}

#[tokio::test]
async fn the_memory_budget_bounds_the_files_in_flight_and_a_larger_file_runs_alone() {
    // Files of ~300 bytes are estimated at 1 KiB each: a 2 KiB budget holds two.
    let journal = Arc::new(Journal::default());
    let mut inbox = files(10);
    inbox.push(("large.xml".into(), pm_file("large", 100)));
    let source = Arc::new(MemorySource::new(inbox, journal.clone()));
    let slow = MemorySink::new("db", Behaviour::Store, Duration::from_millis(5), journal);
    let workers = Workers {
        memory: 2048,
        ..WORKERS
    };
    let stats = cycle(&pipeline(
        source.clone(),
        vec![(Arc::new(slow), true)],
        workers,
    ))
    .await;
    assert_eq!(stats.done, 11);
    assert_eq!(source.most_in_memory(), 2);

    let journal = Arc::new(Journal::default());
    let source = Arc::new(MemorySource::new(
        vec![("large.xml".into(), pm_file("large", 100))],
        journal.clone(),
    ));
    let workers = Workers {
        memory: 1024,
        ..WORKERS
    };
    let stats = cycle(&pipeline(
        source,
        vec![(sink("db", Behaviour::Store, &journal), true)],
        workers,
    ))
    .await;
    assert_eq!(
        stats.done, 1,
        "a file above the whole budget takes all of it"
    );
}

#[test]
fn outcomes_reach_the_metrics() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let journal = Arc::new(Journal::default());
            let source = Arc::new(MemorySource::new(files(1), journal.clone()));
            let sinks = vec![
                (sink("db", Behaviour::Reject, &journal), true),
                (sink("kafka", Behaviour::Transient, &journal), false),
            ];
            cycle(&pipeline(source, sinks, WORKERS)).await;
        })
    });
    let text = handle.render();
    for line in [
        "pmflow_files_failed_total{system=\"t\"} 1",
        "pmflow_sink_errors_total{system=\"t\",sink=\"memory\",required=\"true\",outcome=\"rejected\"} 1",
        "pmflow_sink_errors_total{system=\"t\",sink=\"memory\",required=\"false\",outcome=\"transient\"} 1",
        "pmflow_oldest_held_file_age_seconds{system=\"t\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
}

/// Three files of two rows each through `sinks` with one rule (a row per input row).
async fn with_a_rule(sinks: Vec<(Arc<dyn Sink>, bool)>) -> CycleStats {
    let files = (0..3)
        .map(|i| (format!("f{i}.xml"), pm_file(&format!("ne{i}"), 2)))
        .collect();
    let source = Arc::new(MemorySource::new(files, Arc::new(Journal::default())));
    let rule = Rule {
        name: "foo_doubled".into(),
        sql: "SELECT ne, object, period_start, \"pmFoo\" * 2 AS foo2 FROM cells".into(),
        table: "cells".into(),
    };
    let pipeline = pipeline_with_rules(source, sinks, WORKERS, PartLimits::default(), vec![rule]);
    cycle(&pipeline).await
}

#[tokio::test]
async fn rules_run_only_when_a_sink_stores_their_outputs() {
    let journal = Arc::new(Journal::default());
    let raw_only = |name: &str| -> Arc<dyn Sink> {
        Arc::new(
            MemorySink::new(name, Behaviour::Store, Duration::ZERO, journal.clone())
                .without_rule_outputs(),
        )
    };
    let stats = with_a_rule(vec![(raw_only("archive"), true)]).await;
    assert_eq!((stats.done, stats.totals.derived_rows), (3, 0));
    assert!(journal.events().iter().all(|e| !e.contains("derived")));

    let stats = with_a_rule(vec![
        (raw_only("archive"), true),
        (sink("db", Behaviour::Store, &journal), true),
    ])
    .await;
    assert_eq!((stats.done, stats.totals.derived_rows), (3, 6));
    let db: Vec<String> = journal
        .events()
        .into_iter()
        .filter(|e| e.starts_with("stored db"))
        .collect();
    assert_eq!(db.len(), 3);
    assert!(db.iter().all(|e| e.ends_with("+2 derived")), "{db:?}");
}

#[tokio::test]
async fn files_handed_over_are_processed_each_with_its_outcome_and_reason() {
    let journal = Arc::new(Journal::default());
    let mut inbox = files(2);
    inbox.push((
        "bad.xml".into(),
        bytes::Bytes::from_static(b"<measCollecFile>"),
    ));
    let source = Arc::new(MemorySource::new(inbox, journal.clone()));
    let sinks = vec![(sink("archive", Behaviour::Store, &journal), true)];
    let pipeline = pipeline(source.clone(), sinks, WORKERS);
    let mut handed = source.list().await.unwrap();
    // A task for a file another process completed meanwhile.
    handed.push(SourceFile {
        folder: "memory".into(),
        name: "gone.xml".into(),
        size: 10,
        modified: None,
    });
    pipeline.announce(handed.len() as isize);
    let mut reports = Vec::new();
    let left = pipeline
        .process(
            futures::stream::iter(handed),
            &CancellationToken::new(),
            |report| reports.push(report),
        )
        .await;
    assert!(left.is_empty());
    reports.sort_by(|a, b| a.file.cmp(&b.file));
    let outcomes: Vec<(&str, FileOutcome)> = reports
        .iter()
        .map(|r| (r.file.as_str(), r.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("memory/bad.xml", FileOutcome::Failed),
            ("memory/f00.xml", FileOutcome::Done),
            ("memory/f01.xml", FileOutcome::Done),
            ("memory/gone.xml", FileOutcome::Gone),
        ]
    );
    let reason = reports[0].reason.as_deref().unwrap();
    assert!(reason.starts_with("bad.xml"), "{reason}");
    assert_eq!(source.reason("bad.xml").as_deref(), Some(reason));
    assert!(reports[1..].iter().all(|r| r.reason.is_none()));
    assert!(source.inbox().is_empty());
}

#[test]
fn only_small_uncompressed_files_are_parsed_in_place() {
    assert!(parse_inline(&pm_file("ne", 1)));
    assert!(!parse_inline(&vec![b' '; 65 << 10]));
    let mut gzip = vec![0x1f, 0x8b];
    gzip.extend_from_slice(&[0; 100]);
    assert!(
        !parse_inline(&gzip),
        "a small gzip file may inflate to anything"
    );
}
