//! The ClickHouse sink end to end, through the real binary, against the real server
//! that `scripts/clickhouse.sh` starts (one database per test).

mod common;

use common::clickhouse::TestDb;
use common::delta::ArchiveSums;
use common::{
    HOSTILE_COUNTER_NAMES, NEW_COUNTER_ROWS, QueryClient, RULE_OUTPUTS, early_and_late_files,
    inbox_with_counters, ingest_into, stage_dataset,
};

#[test]
fn datasets_land_in_clickhouse_with_the_archives_sums_and_resending_adds_nothing_final() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::new("ch_datasets");
    let archive = tmp.path().join("archive");
    for system in ["4ga", "5ga", "5gc"] {
        stage_dataset(&tmp.path().join(system), system);
        ingest_into(&tmp.path().join(system), system, &db.url(), Some(&archive));
    }
    let tables: Vec<String> = db
        .rows("SHOW TABLES")
        .into_iter()
        .filter(|t| !RULE_OUTPUTS.contains(&t.as_str()))
        .collect();
    assert!(tables.len() >= 30, "{tables:?}");
    let archived = ArchiveSums::read(&archive);
    let mut before = Vec::new();
    for table in &tables {
        for (counters, sums) in db.assert_final_sums_are_the_archives(table, &archived) {
            before.push((table.clone(), counters, sums));
        }
    }
    // A value above 2^32 stays exact; the period is UTC.
    assert_eq!(
        db.value(
            "SELECT pmMacRBSymAvailDl, granularity_s, toString(period_start, 'UTC'), system \
             FROM nrcelldu_gnbdu FINAL \
             WHERE object = 'ManagedElement=seliitdus00487,GNBDUFunction=1,NRCellDU=31'"
        ),
        "5110563822\t900\t2022-04-18 19:00:00\t5ga"
    );
    for system in ["4ga", "5ga", "5gc"] {
        let again = tmp.path().join(format!("{system}-again"));
        stage_dataset(&again, system);
        ingest_into(&again, system, &db.url(), None);
    }
    for (table, counters, sums) in before {
        assert_eq!(db.final_sums(&table, &counters), sums, "{table}");
    }
}

#[test]
fn a_new_counter_in_a_later_period_adds_a_nullable_column() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::new("ch_new_counter");
    let (early, late) = early_and_late_files(tmp.path());
    ingest_into(&early, "5ga", &db.url(), None);
    let column = "SELECT type FROM system.columns WHERE database = currentDatabase() \
                  AND table = 'nrcelldu' AND name = 'RRU.MaxLayerDlMimo'";
    assert!(db.rows(column).is_empty());
    ingest_into(&late, "5ga", &db.url(), None);
    assert_eq!(db.value(column), "Nullable(Int64)");
    assert_eq!(
        db.rows(
            "SELECT ne, count(), count(`RRU.MaxLayerDlMimo`) FROM nrcelldu FINAL \
             GROUP BY ne, period_start ORDER BY ne, period_start"
        ),
        NEW_COUNTER_ROWS
    );
    let engine = db.value(
        "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = 'nrcelldu'",
    );
    assert_eq!(engine, "ReplacingMergeTree");
}

#[test]
fn hostile_counter_names_are_columns_named_exactly_so_and_alter_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::new("ch_hostile");
    db.rows("CREATE TABLE canary (x Int32) ENGINE = Memory");
    let names: Vec<&str> = HOSTILE_COUNTER_NAMES
        .into_iter()
        .chain(["back\\slash", "what?"])
        .collect();
    let inbox = inbox_with_counters(tmp.path(), &names);
    ingest_into(&inbox, "5ga", &db.url(), None);
    assert_eq!(db.rows("SHOW TABLES"), ["canary", "cells"]);
    for (i, name) in names.iter().enumerate() {
        let quoted = format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"));
        assert_eq!(
            db.value(&format!("SELECT {quoted} FROM cells")),
            (i + 1).to_string(),
            "{name}"
        );
    }
}
