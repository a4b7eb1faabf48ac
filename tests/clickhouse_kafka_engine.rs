//! The DDL of ClickHouse's Kafka path (`pmflow ddl clickhouse`) runs as printed on the
//! real server, its queue tables parse what the Kafka sink publishes, and it follows
//! new counters.
//!
//! ClickHouse 18.16's Kafka engine cannot read from tansu (its librdkafka is too old
//! for the broker), so the messages are consumed with rdkafka here and inserted as
//! `JSONEachRow` into a `Memory` copy of each queue table, then moved into the target
//! by the view's own `SELECT *`: every step but the engine's polling.

mod common;

use std::collections::BTreeMap;

use common::clickhouse::TestDb;
use common::delta::ArchiveSums;
use common::kafka::{consume, shared_broker};
use common::{
    QueryClient, RULE_OUTPUTS, dataset, early_and_late_files, ingest_into, pmflow_ok, stage,
};

/// `pmflow ddl clickhouse` for system 5ga of `archive` into `db`, and `extra` args.
fn ddl(archive: &std::path::Path, db: &TestDb, extra: &[&str]) -> String {
    let mut args = vec![
        "ddl",
        "clickhouse",
        "--archive",
        archive.to_str().unwrap(),
        "--system",
        "5ga",
        "--database",
        db.name(),
    ];
    args.extend(extra);
    pmflow_ok(&args)
}

#[test]
fn the_kafka_engine_ddl_runs_as_printed_and_its_queues_take_the_kafka_sinks_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::new("ch_kafka_ddl");
    let (inbox, archive) = (tmp.path().join("inbox"), tmp.path().join("archive"));
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let template = format!("ddl{run}.{{system}}.{{table}}");
    // A real Ericsson file (24 tables, one counter above 2^32) and a generated one
    // that the shipped rules read.
    stage(
        &inbox,
        &[
            "A20220418.1900-1915_seliitdus00487.xml",
            "A20260105.0000+0000-0015+0000_gNB0001.xml",
        ]
        .map(|name| dataset("5ga").join(name)),
    );
    let url = format!("kafka://{}?topic={template}&required=true", shared_broker());
    ingest_into(&inbox, "5ga", &url, Some(&archive));

    let script = ddl(
        &archive,
        &db,
        &["--kafka", &shared_broker(), "--topic", &template],
    );
    db.try_script(&script)
        .unwrap_or_else(|e| panic!("the printed DDL fails: {e}\n{script}"));

    let mut by_table: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, payloads) in consume(&shared_broker(), &format!("ddl{run}.5ga.")) {
        let table = key.split('|').next().unwrap().to_string();
        by_table.entry(table).or_default().extend(payloads);
    }
    let queues = db.rows(
        "SELECT name FROM system.tables WHERE database = currentDatabase() \
         AND engine = 'Kafka' ORDER BY name",
    );
    let published: Vec<String> = by_table.keys().map(|t| format!("{t}__queue")).collect();
    assert_eq!(queues, published, "one queue per published table");
    assert!(by_table.contains_key("nr_rrc_setup_sr"), "rule outputs too");
    let topics = db.value(&format!(
        "SELECT engine_full LIKE '%''ddl{run}.5ga.nrcelldu_gnbdu''%' FROM system.tables \
         WHERE database = currentDatabase() AND name = 'nrcelldu_gnbdu__queue'"
    ));
    assert_eq!(topics, "1", "the queue reads the sink's topic");

    let archived = ArchiveSums::read(&archive);
    for (table, payloads) in &by_table {
        db.rows(&format!(
            "CREATE TABLE `{table}__check` AS `{table}__queue` ENGINE = Memory"
        ));
        db.insert(
            &format!("INSERT INTO `{table}__check` FORMAT JSONEachRow"),
            &payloads.join("\n"),
        );
        // What the view does with each block the engine reads.
        db.rows(&format!(
            "INSERT INTO `{table}` SELECT * FROM `{table}__check`"
        ));
        let rows: usize = db
            .value(&format!("SELECT count() FROM `{table}` FINAL"))
            .parse()
            .unwrap();
        assert_eq!(rows, payloads.len(), "{table}");
        if !RULE_OUTPUTS.contains(&table.as_str()) {
            db.assert_final_sums_are_the_archives(table, &archived);
        }
    }
    assert_eq!(
        db.value(
            "SELECT pmMacRBSymAvailDl, granularity_s, toString(period_start, 'UTC') \
             FROM nrcelldu_gnbdu FINAL \
             WHERE object = 'ManagedElement=seliitdus00487,GNBDUFunction=1,NRCellDU=31'"
        ),
        "5110563822\t900\t2022-04-18 19:00:00"
    );
    db.drop_database();
}

#[test]
fn against_a_server_the_ddl_adds_new_counters_and_then_has_nothing_to_change() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::new("ch_kafka_ddl_evolve");
    let archive = tmp.path().join("archive");
    let (early, late) = early_and_late_files(tmp.path());
    let archive_only = |inbox: &std::path::Path| {
        pmflow_ok(&[
            "ingest",
            inbox.to_str().unwrap(),
            "--system",
            "5ga",
            "--archive",
            archive.to_str().unwrap(),
        ])
    };
    archive_only(&early);
    let against = ["--against", &db.url()];
    let first = ddl(&archive, &db, &against);
    assert!(!first.contains("ALTER TABLE"), "{first}");
    db.try_script(&first).unwrap();

    archive_only(&late);
    let evolve = ddl(&archive, &db, &against);
    let statements: Vec<&str> = evolve.lines().filter(|l| !l.starts_with("--")).collect();
    let name = db.name();
    assert_eq!(
        statements,
        [
            format!("CREATE DATABASE IF NOT EXISTS `{name}`;"),
            format!("DROP TABLE IF EXISTS `{name}`.`nrcelldu__mv`;"),
            format!("DROP TABLE IF EXISTS `{name}`.`nrcelldu__queue`;"),
            statements[3].to_string(),
            format!(
                "ALTER TABLE `{name}`.`nrcelldu` ADD COLUMN `RRU.MaxLayerDlMimo` Nullable(Int64);"
            ),
            statements[5].to_string(),
            format!(
                "CREATE MATERIALIZED VIEW `{name}`.`nrcelldu__mv` TO `{name}`.`nrcelldu` \
                 AS SELECT * FROM `{name}`.`nrcelldu__queue`;"
            ),
        ],
        "only nrcelldu changes"
    );
    assert!(statements[3].starts_with("CREATE TABLE IF NOT EXISTS"));
    assert!(statements[5].contains("`RRU.MaxLayerDlMimo` Nullable(Int64)"));
    db.try_script(&evolve).unwrap();
    for table in ["nrcelldu", "nrcelldu__queue"] {
        assert_eq!(
            db.value(&format!(
                "SELECT type FROM system.columns WHERE database = currentDatabase() \
                 AND table = '{table}' AND name = 'RRU.MaxLayerDlMimo'"
            )),
            "Nullable(Int64)",
            "{table}"
        );
    }
    let after = ddl(&archive, &db, &against);
    assert!(after.ends_with("-- nothing to change\n"), "{after}");
    db.drop_database();
}
