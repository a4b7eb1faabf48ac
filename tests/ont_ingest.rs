//! The ONT (GPON) system end to end through `pmflow ingest --plan plans/ont.toml`: the
//! OLTs' CSV exports become one archive table per counter group with UTC times,
//! nodes from the objects and suspect rows from `Reliability`; the shipped GPON rules
//! compute; an export without rows is quarantined; ingesting the same files again adds
//! nothing.

mod common;

use common::five_ga::ingest_args;
use common::{cycle_stat, dataset, names_in, pmflow_ok, query_csv, repo, stage_dataset};

#[test]
fn ont_exports_land_in_one_table_per_counter_group_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (inbox, archive) = (tmp.path().join("inbox"), tmp.path().join("archive"));
    stage_dataset(&inbox, "ont");
    let files = names_in(&dataset("ont")).len() as u64;
    // An export of an OLT that measured nothing: a header, no rows.
    let empty = "OLT-0003_gpon_port_202601050800.csv";
    let header = "# OLT-0003\nObject Name,Result Time,Granularity Period,Reliability,Online ONTs\n";
    std::fs::write(tmp.path().join(empty), header).unwrap();
    common::stage(&inbox, &[tmp.path().join(empty)]);
    let plan = repo().join("plans/ont.toml");
    let args = ingest_args(inbox.to_str().unwrap(), &plan, &archive);
    let stats = pmflow_ok(&args);
    assert_eq!(cycle_stat(&stats, "files done"), files, "{stats}");
    assert_eq!(cycle_stat(&stats, "files failed"), 1, "{stats}");
    assert_eq!(names_in(&inbox), ["Done", "Failed"]);
    let reason = std::fs::read_to_string(inbox.join(format!("Failed/{empty}.reason"))).unwrap();
    assert_eq!(reason, format!("{empty}: no measurements\n"));

    let counts = "SELECT (SELECT count(*) FROM gpon_ont) AS onts, \
                  (SELECT count(*) FROM gpon_port) AS ports, \
                  (SELECT count(DISTINCT ne) FROM gpon_ont) AS olts";
    // 2 generated OLTs x 2 periods x 32 ONTs, and the 2 ONTs of the written fixture;
    // 2 x 2 x 4 ports.
    assert_eq!(query_csv(&archive, counts), ["130,16,3"]);
    let fixture = query_csv(
        &archive,
        "SELECT ne, period_start, granularity_s, suspect, \"Upstream Octets\", \
         \"Rx Optical Power(dBm)\", \"Note\" FROM gpon_ont \
         WHERE object LIKE 'OLT-0009/%' ORDER BY object",
    );
    assert_eq!(
        fixture,
        [
            "OLT-0009,2026-01-05T02:00:00Z,900,false,1000,-18.25,\"ok, checked\"",
            "OLT-0009,2026-01-05T02:00:00Z,900,true,,-21.5,",
        ]
    );
    // Local 08:00 and 08:15 at +08:00 are midnight UTC and a quarter past.
    let periods = query_csv(
        &archive,
        "SELECT DISTINCT period_start FROM gpon_port ORDER BY period_start",
    );
    assert_eq!(periods, ["2026-01-05T00:00:00Z", "2026-01-05T00:15:00Z"]);
    // The FEC rule: 250 corrected of 1,000,000 codewords is 250 ppm; suspect rows out.
    let fec = query_csv(
        &archive,
        "SELECT object, pre_fec_ppm, post_fec_ppm FROM gpon_ont_fec_ber \
         WHERE ne = 'OLT-0009'",
    );
    assert_eq!(fec, ["OLT-0009/Frame=0/Slot=2/Port=1/ONT=5,250.0,0.0"]);
    let traffic = query_csv(
        &archive,
        "SELECT downstream_mbps FROM gpon_ont_traffic \
         WHERE object = 'OLT-0009/Frame=0/Slot=2/Port=1/ONT=5'",
    );
    // 2,000 octets in 900 s.
    assert_eq!(traffic, [format!("{}", 8.0 * 2000.0 / 900.0 / 1e6)]);

    // The same exports again: every file completes, no row is added.
    stage_dataset(&inbox, "ont");
    let stats = pmflow_ok(&args);
    assert_eq!(cycle_stat(&stats, "files done"), files, "{stats}");
    assert_eq!(query_csv(&archive, counts), ["130,16,3"]);

    // `explain` shows how the plan reads its exports.
    let explained = pmflow_ok(&["explain", "--plan", plan.to_str().unwrap()]);
    for line in [
        "format:  csv",
        "csv:     delimiter ',', header on line 2",
        "object: column \"Object Name\"",
        "node:   ^(?P<ne>[^/]+)/ on the object, else the file name",
        "suspect: rows whose \"Reliability\" is not \"Reliable\"",
    ] {
        assert!(explained.contains(line), "{line:?} not in\n{explained}");
    }

    // Its output cut short (`| head`), a one-shot command ends quietly, not in a panic.
    use std::os::unix::process::ExitStatusExt;
    let mut query = std::process::Command::new(env!("CARGO_BIN_EXE_pmflow"))
        .args(["query", "--archive", archive.to_str().unwrap()])
        .arg("SELECT * FROM gpon_ont CROSS JOIN gpon_port")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(query.stdout.take());
    let ended = query.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&ended.stderr);
    assert_eq!(ended.status.signal(), Some(libc::SIGPIPE), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
