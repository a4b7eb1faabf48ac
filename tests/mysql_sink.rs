//! The MySQL sink end to end, through the real binary, against real MariaDB servers:
//! the shared one of `scripts/mariadb.sh` (one database per test) and private ones a
//! test kills and restarts.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::mysql::{PrivateServer, TestDb};
use common::{dataset, generate, names_in, pmflow, pmflow_ok, query_csv, stage};

/// `pmflow ingest` of `inbox` into MySQL (and the archive when given), checked to
/// succeed.
fn ingest(inbox: &Path, system: &str, mysql: &str, archive: Option<&Path>) -> String {
    let mut args = vec!["ingest", inbox.to_str().unwrap(), "--system", system];
    args.extend(["--sink", mysql]);
    if let Some(archive) = archive {
        args.extend(["--archive", archive.to_str().unwrap()]);
    }
    pmflow_ok(&args)
}

/// Two numbers printed by MariaDB and by DataFusion are the same value: integers
/// exactly, floating-point sums to 1e-9 relative (the summation order differs).
fn same_number(mysql: &str, archive: &str) -> bool {
    match (mysql, archive) {
        ("NULL", "") => true,
        _ if mysql == archive => true,
        _ => match (mysql.parse::<f64>(), archive.parse::<f64>()) {
            (Ok(a), Ok(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
            _ => false,
        },
    }
}

/// Row count and the sum of every numeric counter of `table` agree between MySQL
/// (in each part the table is split into) and the archive.
fn assert_table_matches_archive(db: &TestDb, archive: &Path, table: &str) {
    for part in db.rows(&format!(
        "SELECT DISTINCT mysql_table FROM pmflow_columns WHERE table_name = '{table}'"
    )) {
        let columns: Vec<(String, String)> = db
            .rows(&format!(
                "SELECT column_name, counter FROM pmflow_columns \
                 WHERE mysql_table = '{part}' AND sql_type IN ('BIGINT', 'DOUBLE') \
                 ORDER BY column_name"
            ))
            .into_iter()
            .map(|row| {
                let (column, counter) = row.split_once('\t').unwrap();
                (column.to_string(), counter.to_string())
            })
            .collect();
        let mysql_sums: String = columns
            .iter()
            .map(|(column, _)| format!(", SUM(`{column}`)"))
            .collect();
        let archive_sums: String = columns
            .iter()
            .map(|(_, counter)| format!(", SUM(\"{}\")", counter.replace('"', "\"\"")))
            .collect();
        let in_mysql = db.value(&format!("SELECT COUNT(*){mysql_sums} FROM `{part}`"));
        let in_archive = query_csv(
            archive,
            &format!("SELECT COUNT(*){archive_sums} FROM {table}"),
        );
        let (in_mysql, in_archive): (Vec<&str>, Vec<&str>) = (
            in_mysql.split('\t').collect(),
            in_archive[0].split(',').collect(),
        );
        assert_eq!(in_mysql.len(), in_archive.len(), "{part}");
        assert_ne!(in_mysql[0], "0", "{part} is empty");
        // The table itself has every row; a part only those written since it exists.
        let skip = usize::from(part != table);
        for (i, (m, a)) in in_mysql.iter().zip(&in_archive).enumerate().skip(skip) {
            let what = if i == 0 {
                "COUNT(*)"
            } else {
                &columns[i - 1].1
            };
            assert!(same_number(m, a), "{part}.{what}: MySQL {m}, archive {a}");
        }
    }
}

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
        let files: Vec<_> = names_in(&dataset(system))
            .iter()
            .map(|n| dataset(system).join(n))
            .collect();
        stage(&tmp.path().join(system), &files);
        ingest(&tmp.path().join(system), system, &url, Some(&archive));
    }
    let rules = [
        "lte_rrc_setup_sr",
        "nr_rrc_setup_sr",
        "nr_dl_prb_utilisation",
        "amf_registration_sr",
        "smf_pdu_session_sr",
    ];
    let tables: Vec<String> = db
        .rows("SELECT DISTINCT table_name FROM pmflow_columns ORDER BY table_name")
        .into_iter()
        .filter(|t| !rules.contains(&t.as_str()))
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
    for table in &tables {
        assert_table_matches_archive(&db, &archive, table);
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
        let files: Vec<_> = names_in(&dataset(system))
            .iter()
            .map(|n| dataset(system).join(n))
            .collect();
        stage(&again, &files);
        ingest(&again, system, &url, None);
    }
    assert_eq!(checksums(&db), before);
}
