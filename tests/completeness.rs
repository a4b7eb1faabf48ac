//! `pmflow completeness` end to end: files ingested into an archive with one node's
//! file missing, then arriving late, then corrected; the ledger read as JSON and CSV.

mod common;

use std::path::Path;

use common::history::{corrected, ingest_5ga};
use common::service::{Service, idle_5ga_service, run_args};
use common::{generate, names_in, pmflow_ok, stage};
use serde_json::Value;
use std::time::Duration;

/// `pmflow completeness` of system 5ga from `archive` between the times of the
/// generated day `from` and `to` (`hh:mm`) with `extra` arguments; stdout.
fn completeness(archive: &Path, from: &str, to: &str, extra: &[&str]) -> String {
    let (from, to) = (
        format!("2026-01-05T{from}:00Z"),
        format!("2026-01-05T{to}:00Z"),
    );
    let mut args = vec![
        "completeness",
        "--archive",
        archive.to_str().unwrap(),
        "--system",
        "5ga",
        "--from",
        &from,
        "--to",
        &to,
    ];
    args.extend_from_slice(extra);
    pmflow_ok(&args)
}

/// The ledger of system 5ga from 00:00 to 00:45 of the generated day, as JSON.
fn ledger(archive: &Path, extra: &[&str]) -> Vec<Value> {
    let args = [&["--format", "json"], extra].concat();
    serde_json::from_str(&completeness(archive, "00:00", "00:45", &args)).unwrap()
}

/// Of each ROP: its start, expected and received nodes, missing, late and partial
/// ones.
fn summary(ledger: &[Value]) -> Vec<String> {
    ledger
        .iter()
        .map(|rop| {
            format!(
                "{} {}/{} missing {} late {} partial {}",
                rop["period_start"].as_str().unwrap(),
                rop["received"],
                rop["expected"],
                rop["missing"],
                rop["late_nodes"],
                rop["partial"],
            )
        })
        .collect()
}

#[test]
fn a_node_whose_second_file_never_came_is_missing_there_only_until_it_arrives_late() {
    let tmp = tempfile::tempdir().unwrap();
    let (generated, archive) = (tmp.path().join("gen"), tmp.path().join("archive"));
    generate(&generated, "5ga", 6, 3);
    let absent = "A20260105.0015+0000-0030+0000_gNB0004.xml";
    let inbox = tmp.path().join("inbox");
    for name in names_in(&generated).iter().filter(|n| *n != absent) {
        stage(&inbox, &[generated.join(name)]);
    }
    ingest_5ga(&inbox, &archive);

    assert_eq!(
        summary(&ledger(&archive, &[])),
        [
            "2026-01-05T00:00:00Z 6/6 missing [] late [] partial 0",
            "2026-01-05T00:15:00Z 5/6 missing [\"gNB0004\"] late [] partial 0",
            "2026-01-05T00:30:00Z 6/6 missing [] late [] partial 0",
        ]
    );

    std::thread::sleep(std::time::Duration::from_millis(1500));
    let late = tmp.path().join("late");
    stage(&late, &[generated.join(absent)]);
    ingest_5ga(&late, &archive);
    let complete = [
        "2026-01-05T00:00:00Z 6/6 missing [] late [] partial 0",
        "2026-01-05T00:15:00Z 6/6 missing [] late [] partial 0",
        "2026-01-05T00:30:00Z 6/6 missing [] late [] partial 0",
    ];
    assert_eq!(summary(&ledger(&archive, &[])), complete);
    let strict = ledger(&archive, &["--late-after", "1s"]);
    assert_eq!(
        summary(&strict)[1],
        "2026-01-05T00:15:00Z 6/6 missing [] late [\"gNB0004\"] partial 0"
    );
    assert_eq!(strict[1]["late"], 1);

    // A corrected file counts its node once, and its first arrival was in time.
    let again = tmp.path().join("again");
    corrected(
        &generated.join("A20260105.0000+0000-0015+0000_gNB0001.xml"),
        7,
        &again,
    );
    ingest_5ga(&again, &archive);
    assert_eq!(
        summary(&ledger(&archive, &["--late-after", "1s"]))[0],
        complete[0]
    );

    let nodes = write_nodes(tmp.path(), &["gNB0001", "gNB0009"]);
    let nodes = ["--format", "csv", "--nodes", nodes.to_str().unwrap()];
    let csv = completeness(&archive, "00:15", "00:30", &nodes);
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        [
            "period_start,granularity_s,expected,received,missing,late,late_nodes,partial,partial_nodes",
            "2026-01-05T00:15:00Z,900,2,6,gNB0009,0,,0,",
        ]
    );
}

/// A node list file naming `nodes`.
fn write_nodes(dir: &Path, nodes: &[&str]) -> std::path::PathBuf {
    let path = dir.join("nodes.txt");
    std::fs::write(&path, format!("# expected nodes\n{}\n", nodes.join("\n"))).unwrap();
    path
}

#[test]
fn the_service_answers_completeness_as_the_command_does() {
    let tmp = tempfile::tempdir().unwrap();
    let (generated, archive) = (tmp.path().join("gen"), tmp.path().join("archive"));
    generate(&generated, "5ga", 3, 3);
    let inbox = tmp.path().join("inbox");
    for name in names_in(&generated)
        .iter()
        .filter(|n| !n.contains("0015+0000-0030+0000_gNB0002"))
    {
        stage(&inbox, &[generated.join(name)]);
    }
    ingest_5ga(&inbox, &archive);
    let service = idle_5ga_service(tmp.path(), &archive, &[], &[]);
    let path = "/api/v1/systems/5ga/completeness?from=2026-01-05T00:00:00Z&to=2026-01-05T00:45:00Z";
    let (code, body) = service.request("GET", path);
    assert_eq!(code, 200, "{body}");
    let answered: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(answered, ledger(&archive, &[]));
    assert_eq!(answered[1]["missing"], serde_json::json!(["gNB0002"]));
    let backwards =
        "/api/v1/systems/5ga/completeness?from=2026-01-05T01:00:00Z&to=2026-01-05T00:00:00Z";
    assert_eq!(service.request("GET", backwards).0, 400);
    assert_eq!(service.request("GET", &path.replace("5ga", "4ga")).0, 404);
}

#[test]
fn the_plans_completeness_section_sets_what_the_service_expects() {
    let tmp = tempfile::tempdir().unwrap();
    let (generated, archive) = (tmp.path().join("gen"), tmp.path().join("archive"));
    generate(&generated, "5ga", 2, 2);
    ingest_5ga(&generated, &archive);
    // The plan expects a node that never reported.
    let nodes = write_nodes(tmp.path(), &["gNB0001", "gNB0002", "gNB0009"]);
    let plan = common::five_ga::plan(tmp.path(), 1);
    let section = format!(
        "[completeness]\nnodes_file = \"{}\"\nlate_after = \"1h\"\n",
        nodes.file_name().unwrap().to_str().unwrap()
    );
    let mut text = std::fs::read_to_string(&plan).unwrap();
    text.push_str(&section);
    std::fs::write(&plan, text).unwrap();
    let inbox = tmp.path().join("empty-inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let args = run_args(
        &plan,
        inbox.to_str().unwrap(),
        &archive,
        "0 0 0 1 1 *",
        3600,
    );
    let service = Service::start(&args, &[]);
    let path = "/api/v1/systems/5ga/completeness?from=2026-01-05T00:00:00Z&to=2026-01-05T00:45:00Z";
    let (code, body) = service.request("GET", path);
    assert_eq!(code, 200, "{body}");
    let answered: Vec<Value> = serde_json::from_str(&body).unwrap();
    let listed = ["--nodes", nodes.to_str().unwrap(), "--late-after", "1h"];
    assert_eq!(answered, ledger(&archive, &listed));
    // The command reads the same section from the plan.
    assert_eq!(
        answered,
        ledger(&archive, &["--plan", plan.to_str().unwrap()])
    );
    // The two ROPs the nodes sent.
    for rop in &answered[..2] {
        assert_eq!(rop["expected"], 3);
        assert_eq!(rop["missing"], serde_json::json!(["gNB0009"]));
    }
}

#[test]
fn the_service_exports_the_missing_nodes_of_the_last_closed_rop_and_the_silent_ones() {
    let tmp = tempfile::tempdir().unwrap();
    const ROP: i64 = 900;
    // The last closed ROP ends 30 minutes (late_after) or more before now.
    let now = chrono::Utc::now().timestamp();
    let closed = (now - 1800 - ROP).div_euclid(ROP) * ROP;
    let at = |seconds: i64| chrono::DateTime::from_timestamp(seconds, 0).unwrap();
    let generated = tmp.path().join("gen");
    let start = at(closed - 5 * ROP).to_rfc3339();
    pmflow_ok(&[
        "gen",
        "--out",
        generated.to_str().unwrap(),
        "--system",
        "5ga",
        "--nodes",
        "3",
        "--rops",
        "7",
        "--start",
        &start,
    ]);
    // gNB0002 misses the ROP `closed`; gNB0003 sends its first ROP only, then falls
    // silent.
    let absent = format!("A{}+0000-", at(closed).format("%Y%m%d.%H%M"));
    let first = format!("A{}+0000-", at(closed - 5 * ROP).format("%Y%m%d.%H%M"));
    let inbox = tmp.path().join("inbox");
    for name in names_in(&generated) {
        let missed = name.starts_with(&absent) && name.contains("gNB0002");
        let silent = !name.starts_with(&first) && name.contains("gNB0003");
        if !missed && !silent {
            stage(&inbox, &[generated.join(name)]);
        }
    }
    assert_eq!(names_in(&inbox).len(), 14);
    let archive = tmp.path().join("archive");
    let plan = common::five_ga::plan(tmp.path(), 1);
    let args = run_args(&plan, inbox.to_str().unwrap(), &archive, "0 0 0 1 1 *", 0);
    let mut service = Service::start(&args, &[]);
    let start_metric = "pmflow_last_rop_period_start_seconds{system=\"5ga\"}";
    service.wait_for("the last ROP measured", Duration::from_secs(60), |s| {
        s.metrics()[start_metric] > 0.0
    });
    let metrics = service.metrics();
    let nodes = |state: &str| {
        metrics[&format!("pmflow_last_rop_nodes{{system=\"5ga\",state=\"{state}\"}}")]
    };
    let measured = metrics[start_metric] as i64;
    // A quarter-hour may have passed since `closed` was computed: then the next ROP,
    // which every node sent, is the last closed one.
    let expected_missing = match measured - closed {
        0 => 2.0,
        ROP => 1.0,
        other => panic!("last closed ROP {measured}, computed {closed} ({other} s apart)"),
    };
    assert_eq!(nodes("expected"), 3.0);
    assert_eq!(nodes("missing"), expected_missing);
    assert_eq!(nodes("received"), 3.0 - expected_missing);
    // gNB0003 is missing in each of the last four closed ROPs.
    assert_eq!(metrics["pmflow_silent_nodes{system=\"5ga\"}"], 1.0);
}
