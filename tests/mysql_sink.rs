//! The MySQL sink end to end, through the real binary, against real MariaDB servers:
//! the shared one of `scripts/mariadb.sh` (one database per test) and private ones a
//! test kills and restarts.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::delta::ArchiveSums;
use common::mysql::{PrivateServer, TestDb, assert_table_matches_archive};
use common::{
    HOSTILE_COUNTER_NAMES, NEW_COUNTER_ROWS, QueryClient, RULE_OUTPUTS, cycle_stat,
    early_and_late_files, file_with_counters, generate, inbox_with_counters, ingest_args,
    ingest_into, names_in, pmflow, query_csv, stage, stage_dataset,
};

/// `CHECKSUM TABLE` of every table: equal checksums mean equal contents.
fn checksums(db: &TestDb) -> Vec<String> {
    let tables = db.rows("SHOW TABLES");
    db.rows(&format!(
        "CHECKSUM TABLE {}",
        tables
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[test]
fn datasets_land_in_mysql_with_the_sums_of_the_archive_and_reingest_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::new("datasets");
    let archive = tmp.path().join("archive");
    let url = db.url("");
    for system in ["4ga", "5ga", "5gc"] {
        stage_dataset(&tmp.path().join(system), system);
        ingest_into(&tmp.path().join(system), system, &url, Some(&archive));
    }
    let tables: Vec<String> = db
        .rows("SELECT DISTINCT table_name FROM pmflow_columns ORDER BY table_name")
        .into_iter()
        .filter(|t| !RULE_OUTPUTS.contains(&t.as_str()))
        .collect();
    assert!(tables.len() >= 30, "{tables:?}");
    // EUtranCellFDD has 1,368 counters in the Ericsson file and 362 more in the
    // generated ones: more than one InnoDB table can hold.
    assert_eq!(
        db.rows(
            "SELECT mysql_table, COUNT(*) FROM pmflow_columns \
             WHERE table_name = 'eutrancellfdd' GROUP BY mysql_table ORDER BY 1"
        ),
        [
            "eutrancellfdd\t500",
            "eutrancellfdd_p2\t500",
            "eutrancellfdd_p3\t500",
            "eutrancellfdd_p4\t230",
        ]
    );
    let archived = ArchiveSums::read(&archive);
    for table in &tables {
        assert_table_matches_archive(&db, &archived, table);
    }
    // One exact cell of a real Ericsson gNodeB file: a value above 2^32 stays exact.
    assert_eq!(
        db.value(
            "SELECT pmMacRBSymAvailDl, granularity_s, period_start, system FROM nrcelldu_gnbdu \
             WHERE object = 'ManagedElement=seliitdus00487,GNBDUFunction=1,NRCellDU=31'"
        ),
        "5110563822\t900\t2022-04-18 19:00:00\t5ga"
    );
    // Rule outputs are tables too: one row per input row of their system.
    assert_eq!(
        db.value("SELECT COUNT(*) FROM lte_rrc_setup_sr"),
        db.value("SELECT COUNT(*) FROM eutrancellfdd WHERE system = '4ga'")
    );
    assert_eq!(
        db.value(
            "SELECT COUNT(*) FROM lte_rrc_setup_sr r JOIN eutrancellfdd c USING (ne, object, period_start) \
             WHERE ABS(r.rrc_setup_sr_pct - 100.0 * c.pmRrcConnEstabSucc / c.pmRrcConnEstabAtt) > 1e-9"
        ),
        "0"
    );
    let before = checksums(&db);
    for system in ["4ga", "5ga", "5gc"] {
        let again = tmp.path().join(format!("{system}-again"));
        stage_dataset(&again, system);
        ingest_into(&again, system, &url, None);
    }
    assert_eq!(checksums(&db), before);
}

#[test]
fn a_new_counter_in_a_later_period_adds_a_column_with_nulls_before() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::new("new_counter");
    let (early, late) = early_and_late_files(tmp.path());
    ingest_into(&early, "5ga", &db.url(""), None);
    let column = "SELECT COUNT(*) FROM information_schema.COLUMNS \
                  WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME = 'RRU_MaxLayerDlMimo'";
    assert_eq!(db.value(column), "0");
    ingest_into(&late, "5ga", &db.url(""), None);
    assert_eq!(db.value(column), "1");
    assert_eq!(
        db.rows(
            "SELECT ne, COUNT(*), COUNT(RRU_MaxLayerDlMimo) FROM nrcelldu \
             GROUP BY ne, period_start ORDER BY ne, period_start"
        ),
        NEW_COUNTER_ROWS
    );
    let mapping = db.value(
        "SELECT column_name, mysql_table, sql_type, first_file FROM pmflow_columns \
         WHERE counter = 'RRU.MaxLayerDlMimo'",
    );
    let (columns, first_file) = mapping.rsplit_once('\t').unwrap();
    assert_eq!(columns, "RRU_MaxLayerDlMimo\tnrcelldu\tBIGINT");
    // The first file written after the counter appeared: one of the late periods'.
    assert!(
        names_in(&late.join("Done")).contains(&first_file.to_string()),
        "{first_file}"
    );
}

#[test]
fn with_auto_add_columns_off_new_counters_are_dropped_and_files_still_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::new("no_auto_add");
    let (early, late) = early_and_late_files(tmp.path());
    let url = db.url("?auto_add_columns=false");
    ingest_into(&early, "5ga", &url, None);
    let out = ingest_into(&late, "5ga", &url, None);
    assert!(out.contains("files done"), "{out}");
    assert_eq!(names_in(&late.join("Done")).len(), 4);
    assert_eq!(
        db.value(
            "SELECT COUNT(*) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME = 'RRU_MaxLayerDlMimo'"
        ),
        "0"
    );
    assert_eq!(db.value("SELECT COUNT(*) FROM nrcelldu"), "96");
}

#[test]
fn a_table_made_by_a_dba_keeps_its_columns_and_gets_no_new_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::new("dba_table");
    db.rows(
        "CREATE TABLE cells (system VARCHAR(32), ne VARCHAR(64), object VARCHAR(255), \
         period_start DATETIME, granularity_s INT, suspect BOOLEAN, file_id CHAR(16), \
         `RRC_ConnEstabAtt` BIGINT, PRIMARY KEY (ne, object, period_start))",
    );
    let inbox = inbox_with_counters(tmp.path(), &["RRC.ConnEstabAtt", "RRC.ConnEstabSucc"]);
    ingest_into(&inbox, "5ga", &db.url("?auto_add_columns=false"), None);
    assert_eq!(
        db.rows("SELECT ne, object, period_start, RRC_ConnEstabAtt FROM cells"),
        ["ne1\tCell=1\t2026-01-05 00:00:00\t1"]
    );
    assert_eq!(
        db.rows("SELECT counter, column_name FROM pmflow_columns"),
        ["RRC.ConnEstabAtt\tRRC_ConnEstabAtt"]
    );
    assert_eq!(
        db.value(
            "SELECT COUNT(*) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'cells'"
        ),
        "8"
    );
}

#[test]
fn hostile_counter_names_are_stored_as_data_and_never_alter_a_statement() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::new("hostile");
    db.rows("CREATE TABLE canary (x INT)");
    let long = "pm".to_string() + &"VeryLongCounterName".repeat(5);
    let names: Vec<&str> = HOSTILE_COUNTER_NAMES
        .into_iter()
        .chain(["ne", long.as_str()])
        .collect();
    let inbox = inbox_with_counters(tmp.path(), &names);
    ingest_into(&inbox, "5ga", &db.url(""), None);
    assert_eq!(
        db.rows("SHOW TABLES"),
        ["canary", "cells", "pmflow_columns"]
    );
    let mapped = db.rows("SELECT counter, column_name FROM pmflow_columns ORDER BY counter");
    assert_eq!(mapped.len(), names.len(), "{mapped:?}");
    // Each counter's value (its position in the file) is found through the mapping.
    for (i, name) in names.iter().enumerate() {
        let stored = if *name == "ne" { "ne_counter" } else { name };
        let row = mapped
            .iter()
            .find(|m| m.split_once('\t').unwrap().0 == stored)
            .unwrap_or_else(|| panic!("{stored} not in {mapped:?}"));
        let column = row.split_once('\t').unwrap().1;
        assert!(column.len() <= 64 && !column.contains('`'), "{column}");
        assert_eq!(
            db.value(&format!("SELECT `{column}` FROM cells")),
            (i + 1).to_string(),
            "{name}"
        );
    }
    let columns: Vec<String> = mapped
        .iter()
        .map(|m| m.split_once('\t').unwrap().1.to_lowercase())
        .collect();
    let mut distinct = columns.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), columns.len(), "{columns:?}");
}

#[test]
fn two_processes_meeting_the_same_new_counters_at_once_both_succeed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::new("two_processes");
    let generated = tmp.path().join("gen");
    generate(&generated, "5ga", 4, 2);
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    for name in names_in(&generated) {
        let target = if name.contains("gNB0001") || name.contains("gNB0002") {
            &first
        } else {
            &second
        };
        stage(target, &[generated.join(name)]);
    }
    let url = db.url("");
    let spawn = |inbox: &Path| {
        Command::new(env!("CARGO_BIN_EXE_pmflow"))
            .args(ingest_args(inbox, "5ga", &url, None))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(&first), spawn(&second));
    for process in [a, b] {
        let output = process.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(db.value("SELECT COUNT(*) FROM nrcelldu"), "96");
    assert_eq!(
        db.value(
            "SELECT COUNT(*) - COUNT(DISTINCT table_name, LOWER(column_name)) FROM pmflow_columns"
        ),
        "0"
    );
}

/// File ids of the files in a directory (not its subdirectories), as pmflow computes
/// them.
fn file_ids_in(dir: &Path) -> Vec<String> {
    names_in(dir)
        .iter()
        .filter(|name| dir.join(name).is_file())
        .map(|name| {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let ctx = pmflow::format::FileContext {
                system: "5ga".into(),
                file_name: name.clone(),
            };
            let bytes = bytes::Bytes::from(bytes);
            let read = pmflow::format::FormatChoice::default().read(&bytes, &ctx, u64::MAX);
            read.unwrap().file_id
        })
        .collect()
}

#[test]
fn mysql_killed_mid_run_holds_unwritten_files_and_the_next_run_completes_them_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = PrivateServer::start(&tmp.path().join("mysql"));
    let db = server.database("crash");
    let (inbox, archive) = (tmp.path().join("inbox"), tmp.path().join("archive"));
    generate(&inbox, "5ga", 20, 15);
    let total = names_in(&inbox).len();
    let url = db.url("?retries=1&retry_base_ms=50&connect_timeout_ms=500");
    let run = Command::new(env!("CARGO_BIN_EXE_pmflow"))
        .args(ingest_args(&inbox, "5ga", &url, Some(&archive)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the server once some files are completed.
    let deadline = Instant::now() + Duration::from_secs(120);
    while names_in(&inbox.join("Done")).len() < 10 {
        assert!(Instant::now() < deadline, "no file completed");
        std::thread::sleep(Duration::from_millis(10));
    }
    server.kill();
    let output = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    let (done, held) = (names_in(&inbox.join("Done")), file_ids_in(&inbox).len());
    assert!(
        held > 0 && !done.is_empty(),
        "done {}, held {held}",
        done.len()
    );
    assert_eq!(done.len() + held, total);

    // Every file moved to Done has its rows in MySQL.
    server.restart();
    let in_mysql = db.rows("SELECT DISTINCT file_id FROM nrcelldu");
    for id in file_ids_in(&inbox.join("Done")) {
        assert!(
            in_mysql.contains(&id),
            "file {id} is in Done but not in MySQL"
        );
    }

    ingest_into(&inbox, "5ga", &db.url(""), Some(&archive));
    assert_eq!(names_in(&inbox.join("Done")).len(), total);
    assert_eq!(file_ids_in(&inbox).len(), 0);
    assert_eq!(
        db.value("SELECT COUNT(*) FROM nrcelldu"),
        (total * 12).to_string()
    );
    assert_table_matches_archive(&db, &ArchiveSums::read(&archive), "nrcelldu");
}

#[test]
fn pmflow_killed_at_random_moments_then_a_full_run_leaves_every_file_done_once_and_both_stores_exact()
 {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::new("kill_9");
    let (inbox, archive) = (tmp.path().join("inbox"), tmp.path().join("archive"));
    let generated = tmp.path().join("generated");
    generate(&generated, "5ga", 20, 15);
    let names = names_in(&generated);
    let files: Vec<_> = names.iter().map(|n| generated.join(n)).collect();
    stage(&inbox, &files);
    let mut args = ingest_args(&inbox, "5ga", &db.url(""), Some(&archive));
    // Archive commits of 16 files, so that kills fall between and during commits.
    let archive_arg = args.len() - 1;
    args[archive_arg] = format!("parquet://{}?files_at_once=16", archive.display());
    // Moments from a fixed seed (xorshift), 100 ms to 1.1 s after start: during start
    // up, parsing, writes to both stores, and moves into Done/.
    let mut seed: u64 = 0x5eed_cafe;
    for _ in 0..6 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut run = Command::new(env!("CARGO_BIN_EXE_pmflow"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100 + seed % 1000));
        run.kill().unwrap(); // SIGKILL
        run.wait().unwrap();
    }
    let done = names_in(&inbox.join("Done")).len();
    assert!(
        done > 0 && done < files.len(),
        "the kills fell mid-run: {done} of {} done",
        files.len()
    );
    ingest_into(&inbox, "5ga", &db.url(""), Some(&archive));

    assert_eq!(names_in(&inbox), ["Done"]);
    assert_eq!(
        names_in(&inbox.join("Done")),
        names,
        "each file in Done/ once"
    );
    let rows = (files.len() * 12).to_string();
    assert_eq!(db.value("SELECT COUNT(*) FROM nrcelldu"), rows);
    assert_eq!(query_csv(&archive, "SELECT count(*) FROM nrcelldu"), [rows]);
    assert_table_matches_archive(&db, &ArchiveSums::read(&archive), "nrcelldu");
}

#[test]
fn data_mysql_refuses_quarantines_the_file_at_once_with_the_servers_message() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::new("bad_data");
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    // An object name longer than the 600 characters `object` holds.
    let xml =
        file_with_counters(&["pmFoo"]).replace("Cell=1", &format!("Cell={}", "9".repeat(700)));
    let name = "A20260105.0000+0000-0015+0000_ne1.xml";
    std::fs::write(inbox.join(name), xml).unwrap();
    let archive = tmp.path().join("archive");
    let output = pmflow(&ingest_args(&inbox, "5ga", &db.url(""), Some(&archive)));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("retrying"),
        "bad data is not retried: {stderr}"
    );
    assert_eq!(names_in(&inbox), ["Failed"]);
    let reason = std::fs::read_to_string(inbox.join("Failed").join(format!("{name}.reason")))
        .expect("the reason beside the file");
    assert!(reason.starts_with("rejected by sink mysql://"), "{reason}");
    assert!(
        reason.contains(":***@")
            && reason.contains(&format!("/pmflow_test_bad_data: file {name}: ")),
        "{reason}"
    );
    assert!(
        reason.contains("table cells: ") && reason.contains("Data too long for column 'object'"),
        "{reason}"
    );
    assert!(
        reason.trim_end().ends_with(&format!(
            "already stored by: parquet://{}",
            archive.display()
        )),
        "{reason}"
    );
    // Quarantined once: a second run has nothing to do.
    let again = ingest_into(&inbox, "5ga", &db.url(""), Some(&archive));
    assert_eq!(cycle_stat(&again, "files scanned"), 0, "{again}");
}
