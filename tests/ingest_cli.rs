//! `pmflow ingest` and `pmflow query` end to end, through the real binary, on real and
//! generated files: completion into Done/ and Failed/, idempotency, schema evolution,
//! SQL rules and exit codes.

mod common;

use std::path::Path;

use common::{cycle_stat, dataset, generate, names_in, pmflow, pmflow_ok, query_csv, stage};

fn ingest(inbox: &Path, archive: &Path, system: &str) -> String {
    pmflow_ok(&[
        "ingest",
        inbox.to_str().unwrap(),
        "--archive",
        archive.to_str().unwrap(),
        "--system",
        system,
    ])
}

#[test]
fn a_file_without_measurements_is_quarantined_unless_the_plan_allows_empty_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (inbox, archive) = (tmp.path().join("inbox"), tmp.path().join("archive"));
    let no_rows = "<?xml version=\"1.0\"?>\n<measCollecFile><fileHeader/><measData>\
                   <managedElement localDn=\"n1\"/></measData></measCollecFile>";
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("a.xml"), no_rows).unwrap();
    let (inbox_arg, archive_arg) = (inbox.to_str().unwrap(), archive.to_str().unwrap());
    let args = ["ingest", inbox_arg, "--archive", archive_arg, "--no-settle"];
    let stats = pmflow_ok(&args);
    assert_eq!(cycle_stat(&stats, "files failed"), 1, "{stats}");
    let reason = std::fs::read_to_string(inbox.join("Failed/a.xml.reason")).unwrap();
    assert_eq!(reason, "a.xml: no measurements\n");

    let plan = tmp.path().join("plan.toml");
    std::fs::write(&plan, "system = \"5ga\"\nallow_empty = true\n").unwrap();
    std::fs::write(inbox.join("b.xml"), no_rows).unwrap();
    let stats = pmflow_ok(&[&args[..], &["--plan", plan.to_str().unwrap()]].concat());
    assert_eq!(cycle_stat(&stats, "files done"), 1, "{stats}");
    assert_eq!(names_in(&inbox.join("Done")), ["b.xml"]);
}

#[test]
fn ingest_then_query_prints_the_files_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let (inbox, archive) = (tmp.path().join("inbox"), tmp.path().join("archive"));
    stage(
        &inbox,
        &[dataset("conformance/A20181002.0000-1000-0015-1000_5G.xml")],
    );
    let stats = ingest(&inbox, &archive, "5ga");
    assert!(stats.contains("files done"), "{stats}");
    assert_eq!(names_in(&inbox), ["Done"]);
    assert_eq!(
        names_in(&inbox.join("Done")),
        ["A20181002.0000-1000-0015-1000_5G.xml"]
    );
    let rows = query_csv(
        &archive,
        "SELECT object, \"attTCHSeizures\", \"attTCHSeizures5\", suspect, date FROM utrancell ORDER BY object",
    );
    assert_eq!(
        rows,
        [
            "\"RncFunction=RF-1,UtranCell=Gbg-997\",234,238,false,2000-03-01",
            "\"RncFunction=RF-1,UtranCell=Gbg-998\",890,898,false,2000-03-01",
            "\"RncFunction=RF-1,UtranCell=Gbg-999\",456,454,true,2000-03-01",
        ]
    );
    let json = pmflow_ok(&[
        "query",
        "--archive",
        archive.to_str().unwrap(),
        "--format",
        "json",
        "SELECT \"succTCHSeizures2\" AS v FROM enodebfunction",
    ]);
    // A vector counter is a list of numbers, in JSON an array.
    assert_eq!(json.trim(), r#"[{"v":[86,87,2,6,77,96,75,33,24]}]"#);
    // The archive layout of DESIGN.md: a Delta table per (system, table), one data
    // file per date for the files of a cycle.
    let table = archive.join("system=5ga/table=utrancell");
    assert_eq!(
        names_in(&table.join("_delta_log")),
        ["00000000000000000000.json"]
    );
    let files = names_in(&table.join("date=2000-03-01"));
    assert_eq!(files.len(), 1);
    assert!(files[0].ends_with(".zstd.parquet"), "{files:?}");
}

#[test]
fn bad_files_are_quarantined_with_reasons_and_good_files_still_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let (inbox, archive) = (tmp.path().join("inbox"), tmp.path().join("archive"));
    let good = stage(&inbox, &[dataset("conformance/C20190328.0000-0015.xml")]);
    let xml = std::fs::read_to_string(&good[0]).unwrap();
    std::fs::write(
        inbox.join("malformed.xml"),
        xml.replace("</measInfo>", "</measInf>"),
    )
    .unwrap();
    std::fs::write(inbox.join("empty.xml"), "").unwrap();
    std::fs::write(
        inbox.join("other.xml"),
        "<?xml version=\"1.0\"?><config><a/></config>",
    )
    .unwrap();
    let gz = std::fs::read(dataset(
        "conformance/A20181002.0000-1000-0015-1000_5G.xml.gz",
    ))
    .unwrap();
    std::fs::write(inbox.join("truncated.xml.gz"), &gz[..gz.len() / 2]).unwrap();

    let stats = ingest(&inbox, &archive, "5ga");
    assert!(
        stats
            .lines()
            .any(|l| l.contains("files failed") && l.contains(" 4 ")),
        "{stats}"
    );
    assert_eq!(names_in(&inbox), ["Done", "Failed"]);
    assert_eq!(names_in(&inbox.join("Done")), ["C20190328.0000-0015.xml"]);
    let failed = inbox.join("Failed");
    assert_eq!(
        names_in(&failed),
        [
            "empty.xml",
            "empty.xml.reason",
            "malformed.xml",
            "malformed.xml.reason",
            "other.xml",
            "other.xml.reason",
            "truncated.xml.gz",
            "truncated.xml.gz.reason",
        ]
    );
    let reason = |name: &str| std::fs::read_to_string(failed.join(name)).unwrap();
    assert_eq!(reason("empty.xml.reason"), "empty.xml: empty file\n");
    assert!(reason("malformed.xml.reason").contains(
        "malformed.xml, line 18: malformed XML: ill-formed document: expected `</measInfo>`"
    ));
    assert!(reason("other.xml.reason").contains("root element is <config>"));
    assert!(reason("truncated.xml.gz.reason").contains("truncated.xml.gz: cannot decompress"));
    // The quarantined files are byte-identical to what arrived.
    assert_eq!(std::fs::read(failed.join("empty.xml")).unwrap(), b"");
    assert_eq!(
        query_csv(&archive, "SELECT count(*) FROM measinfoid1"),
        ["1"]
    );

    // Done/ and Failed/ are never rescanned.
    let again = ingest(&inbox, &archive, "5ga");
    assert!(
        again
            .lines()
            .any(|l| l.contains("files scanned") && l.contains(" 0 ")),
        "{again}"
    );
}

#[test]
fn ingesting_a_copy_of_an_ingested_file_leaves_the_archive_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let (inbox, archive) = (tmp.path().join("inbox"), tmp.path().join("archive"));
    let file = dataset("5ga/A20220418.1900-1915_seliitdus00487.xml");
    stage(&inbox, std::slice::from_ref(&file));
    ingest(&inbox, &archive, "5ga");
    let count = "SELECT count(*) FROM nrcelldu_gnbdu";
    let before = query_csv(&archive, count);
    assert_ne!(before, ["0"]);
    // Same content under another name, and the same name again.
    std::fs::copy(&file, inbox.join("copy-of-the-same-file.xml")).unwrap();
    stage(&inbox, &[file]);
    ingest(&inbox, &archive, "5ga");
    assert_eq!(query_csv(&archive, count), before);
    // Both arrivals are kept in Done/, the second under a suffixed name.
    assert_eq!(
        names_in(&inbox.join("Done")),
        [
            "A20220418.1900-1915_seliitdus00487.xml",
            "A20220418.1900-1915_seliitdus00487.xml.1",
            "copy-of-the-same-file.xml",
        ]
    );
}

#[test]
fn a_new_counter_in_a_later_period_is_queryable_with_nulls_before() {
    let tmp = tempfile::tempdir().unwrap();
    let (generated, archive) = (tmp.path().join("gen"), tmp.path().join("archive"));
    // 2 nodes x 4 periods: node 2 is upgraded from period 3 on, adding RRU.MaxLayerDlMimo.
    generate(&generated, "5ga", 2, 4);
    let (early, late) = (tmp.path().join("early"), tmp.path().join("late"));
    for name in names_in(&generated) {
        let target = if name.contains("0000+0000") || name.contains("0015+0000-") {
            &early
        } else {
            &late
        };
        stage(target, &[generated.join(name)]);
    }
    ingest(&early, &archive, "5ga");
    ingest(&late, &archive, "5ga");
    let rows = query_csv(
        &archive,
        "SELECT ne, count(*), count(\"RRU.MaxLayerDlMimo\") FROM nrcelldu GROUP BY ne, period_start \
         ORDER BY ne, period_start",
    );
    assert_eq!(
        rows,
        [
            "gNB0001,12,0",
            "gNB0001,12,0",
            "gNB0001,12,0",
            "gNB0001,12,0",
            "gNB0002,12,0",
            "gNB0002,12,0",
            "gNB0002,12,12",
            "gNB0002,12,12",
        ]
    );
}

#[test]
fn rules_compute_kpis_and_are_views_over_the_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let (inbox, archive) = (tmp.path().join("inbox"), tmp.path().join("archive"));
    generate(&inbox, "5gc", 1, 1);
    let stats = ingest(&inbox, &archive, "5gc");
    // The archive keeps counters only: with no other sink the rules are not run while
    // ingesting; `query` computes them as views over the archive.
    assert_eq!(cycle_stat(&stats, "rule output rows"), 0, "{stats}");
    // Every KPI equals succ/req computed here; a NIL counter gives a NULL KPI.
    let rows = query_csv(
        &archive,
        "SELECT count(*), \
                sum(CASE WHEN abs(r.reg_init_sr_pct - 100.0 * a.\"RM.RegInitSucc\" / a.\"RM.RegInitReq\") < 1e-9 \
                         THEN 1 ELSE 0 END), \
                sum(CASE WHEN r.reg_init_sr_pct IS NULL THEN 1 ELSE 0 END), \
                sum(CASE WHEN a.\"RM.RegInitSucc\" IS NULL OR a.\"RM.RegInitReq\" IS NULL THEN 1 ELSE 0 END), \
                min(r.reg_init_sr_pct) > 90 AND max(r.reg_init_sr_pct) <= 100 \
         FROM amffunction a JOIN amf_registration_sr r USING (object, period_start)",
    );
    assert_eq!(rows, ["4,3,1,1,true"]);
}

#[test]
fn invalid_arguments_exit_2_and_a_failing_required_sink_exits_3_keeping_files() {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox");
    stage(&inbox, &[dataset("conformance/C20190328.0000-0015.xml")]);
    let inbox_arg = inbox.to_str().unwrap();
    let unused_archive = tmp.path().join("unused-archive");
    let unused_archive = unused_archive.to_str().unwrap();
    let output = pmflow(&[
        "ingest",
        inbox_arg,
        "--archive",
        unused_archive,
        "--system",
        "Bad/Name",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("system:"));
    let output = pmflow(&["ingest", inbox_arg, "--sink", "gs://bucket/archive"]);
    assert_eq!(output.status.code(), Some(2));
    let output = pmflow(&[
        "ingest",
        inbox_arg,
        "--sink",
        "mysql://u:secret@127.0.0.1:3306",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("sink: mysql://u:***@127.0.0.1:3306: url: names no database"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "{stderr}");

    let missing = tmp.path().join("missing");
    let output = pmflow(&[
        "ingest",
        missing.to_str().unwrap(),
        "--archive",
        unused_archive,
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("missing: cannot list: No such file or directory"),
        "{stderr}"
    );

    // The archive's system folder is taken by a plain file: every write fails.
    let archive = tmp.path().join("archive");
    std::fs::create_dir_all(&archive).unwrap();
    std::fs::write(archive.join("system=5ga"), "not a directory").unwrap();
    let archive_arg = archive.to_str().unwrap();
    let output = pmflow(&[
        "ingest",
        inbox_arg,
        "--archive",
        archive_arg,
        "--system",
        "5ga",
    ]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(names_in(&inbox), ["C20190328.0000-0015.xml"]);

    // Once the sink works again, the next run completes the file exactly once.
    std::fs::remove_file(archive.join("system=5ga")).unwrap();
    ingest(&inbox, &archive, "5ga");
    assert_eq!(names_in(&inbox), ["Done"]);
    assert_eq!(
        query_csv(&archive, "SELECT count(*) FROM measinfoid2"),
        ["1"]
    );
}

#[test]
fn explain_shows_rules_compiled_against_the_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let (inbox, archive) = (tmp.path().join("inbox"), tmp.path().join("archive"));
    generate(&inbox, "5ga", 1, 1);
    ingest(&inbox, &archive, "5ga");
    let out = pmflow_ok(&[
        "explain",
        "--system",
        "5ga",
        "--archive",
        archive.to_str().unwrap(),
    ]);
    assert!(
        out.contains("rule nr_dl_prb_utilisation (reads table nrcelldu)"),
        "{out}"
    );
    assert!(
        out.contains("  Filter: NOT nrcelldu.suspect AND nrcelldu.RRU.PrbTotDl > Int64(0)\n"),
        "{out}"
    );
    assert!(out.contains("TableScan: nrcelldu"), "{out}");
}

/// A one-counter file of node `ne1` for the period ending at `end` (UTC).
fn one_counter_file(end: &str, value: &str) -> String {
    format!(
        "<measCollecFile><measData><managedElement localDn=\"ne1\"/>\
         <measInfo measInfoId=\"Cells\"><granPeriod duration=\"PT900S\" endTime=\"{end}\"/>\
         <measType p=\"1\">load</measType>\
         <measValue measObjLdn=\"Cell=1\"><r p=\"1\">{value}</r></measValue>\
         </measInfo></measData></measCollecFile>"
    )
}

#[test]
fn a_counter_widening_from_integer_to_decimal_reads_as_double_across_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (inbox, archive) = (tmp.path().join("inbox"), tmp.path().join("archive"));
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(
        inbox.join("a.xml"),
        one_counter_file("2024-01-01T00:15:00Z", "9007199254740993"),
    )
    .unwrap();
    ingest(&inbox, &archive, "5ga");
    std::fs::write(
        inbox.join("b.xml"),
        one_counter_file("2024-01-01T00:30:00Z", "2.5"),
    )
    .unwrap();
    ingest(&inbox, &archive, "5ga");
    // Two Parquet files, Int64 then Float64: read back as one DOUBLE column.
    let rows = query_csv(
        &archive,
        "SELECT period_start, arrow_typeof(load), load FROM cells ORDER BY period_start",
    );
    assert_eq!(
        rows,
        [
            "2024-01-01T00:00:00Z,Float64,9007199254740992.0",
            "2024-01-01T00:15:00Z,Float64,2.5",
        ]
    );
}
