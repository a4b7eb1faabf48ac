//! `pmflow replay` end to end, through the real binary: files ingested into the
//! archive only, then delivered again from it into a real MariaDB, compared with the
//! same files ingested directly and with values MariaDB computes itself.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::clickhouse;
use common::history::{corrected, first_and_late, ingest_5ga, moment_between_commits, stage_all};
use common::mysql::TestDb;
use common::service::{Service, idle_5ga_service};
use common::{QueryClient, generate, names_in, pmflow, pmflow_ok, repo, stage};

/// The measurement tables and rule outputs of system 5ga, as MariaDB holds them.
const TABLES: [&str; 4] = [
    "nrcellcu",
    "nrcelldu",
    "nr_rrc_setup_sr",
    "nr_dl_prb_utilisation",
];

/// The day of the generated files, as `replay` arguments.
const DAY: [&str; 4] = [
    "--from",
    "2026-01-05T00:00:00Z",
    "--to",
    "2026-01-06T00:00:00Z",
];

/// `nodes` x `rops` periods from 2026-01-05 00:00 generated into `tmp/gen` and
/// ingested into the archive `tmp/archive` only.
fn archived_network(tmp: &Path, nodes: u32, rops: u32) -> (PathBuf, PathBuf) {
    let (generated, archive) = (tmp.join("gen"), tmp.join("archive"));
    generate(&generated, "5ga", nodes, rops);
    let inbox = tmp.join("inbox");
    stage_all(&generated, &inbox);
    ingest_5ga(&inbox, &archive);
    (generated, archive)
}

/// The files of periods 00:15 and 00:30 of `generated` ingested straight into `db`.
fn ingest_range_directly(generated: &Path, tmp: &Path, db: &TestDb) {
    let inbox = tmp.join("direct");
    for name in names_in(generated) {
        if name.contains(".0015+0000-") || name.contains(".0030+0000-") {
            stage(&inbox, &[generated.join(name)]);
        }
    }
    common::ingest_into(&inbox, "5ga", &db.url(""), None);
}

/// `pmflow replay` of system 5ga from `archive` with `args`; stdout.
fn replay(archive: &Path, args: &[&str]) -> String {
    let mut all = vec![
        "replay",
        "--archive",
        archive.to_str().unwrap(),
        "--system",
        "5ga",
    ];
    all.extend_from_slice(args);
    pmflow_ok(&all)
}

/// Every row of every table of `db`, ordered by the row key (absent tables empty).
fn dump(db: &TestDb) -> Vec<(String, Vec<String>)> {
    TABLES
        .iter()
        .map(|table| {
            let rows = db
                .try_query(&format!(
                    "SELECT * FROM `{table}` ORDER BY ne, object, period_start"
                ))
                .map(|out| out.lines().map(str::to_string).collect())
                .unwrap_or_default();
            (table.to_string(), rows)
        })
        .collect()
}

#[test]
fn a_replayed_range_lands_in_mariadb_as_its_files_would_and_a_second_replay_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (generated, archive) = archived_network(tmp.path(), 3, 4);
    let (replayed, direct) = (TestDb::new("replay_range"), TestDb::new("replay_direct"));

    let sink = replayed.url("");
    let range = [
        "--from",
        "2026-01-05T00:15:00Z",
        "--to",
        "2026-01-05T00:45:00+00:00",
    ];
    let stats = replay(&archive, &[&range[..], &["--sink", &sink]].concat());
    assert_eq!(common::cycle_stat(&stats, "files done"), 6, "{stats}");
    assert_eq!(common::cycle_stat(&stats, "rows"), 144, "{stats}");

    ingest_range_directly(&generated, tmp.path(), &direct);

    let after_once = dump(&replayed);
    assert_eq!(after_once, dump(&direct));
    for (table, rows) in &after_once {
        assert_eq!(rows.len(), 72, "{table}: 3 nodes x 2 periods x 12 cells");
    }
    assert_eq!(
        replayed.rows("SELECT MIN(period_start), MAX(period_start) FROM nrcelldu"),
        ["2026-01-05 00:15:00\t2026-01-05 00:30:00"]
    );

    replay(&archive, &[&range[..], &["--sink", &sink]].concat());
    assert_eq!(
        dump(&replayed),
        after_once,
        "a second replay changed the store"
    );
}

/// A plan of system 5ga writing to `archive` and `sink` with its own copy of the
/// shipped rules (in `tmp/rules`, for a test to change).
fn plan_with_rules(tmp: &Path, archive: &Path, sink: &str) -> PathBuf {
    let rules = tmp.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    for rule in ["nr_rrc_setup_sr.sql", "nr_dl_prb_utilisation.sql"] {
        std::fs::copy(repo().join("sql/5ga").join(rule), rules.join(rule)).unwrap();
    }
    let plan = tmp.join("plan.toml");
    let text = format!(
        "system = \"5ga\"\nrules = \"rules\"\n[[sink]]\nurl = \"{}\"\n[[sink]]\nurl = \"{sink}\"\n",
        archive.display()
    );
    std::fs::write(&plan, text).unwrap();
    plan
}

/// The RRC setup success rate of the plan's rules changes from per cent to per mille.
fn rate_becomes_per_mille(plan: &Path) {
    let rule = plan.with_file_name("rules").join("nr_rrc_setup_sr.sql");
    let text = std::fs::read_to_string(&rule).unwrap();
    std::fs::write(&rule, text.replace("100.0 *", "1000.0 *")).unwrap();
}

/// `pmflow ingest` of every file in `inbox` with `plan`.
fn ingest_with(plan: &Path, inbox: &Path) {
    pmflow_ok(&[
        "ingest",
        inbox.to_str().unwrap(),
        "--plan",
        plan.to_str().unwrap(),
        "--no-settle",
    ]);
}

/// How many rates of `db` (`rates`: ne, object, period, rate) are `scale` times the
/// RRC setup successes over attempts of their cell (`cells`: ne, object, period,
/// successes, attempts), null where the attempts are null or zero.
fn rates_following(db: &dyn QueryClient, cells: &str, rates: &str, scale: f64) -> usize {
    let number = |text: &str| text.parse::<f64>().ok();
    let cells: HashMap<String, (Option<f64>, Option<f64>)> = db
        .rows(cells)
        .iter()
        .map(|row| {
            let fields: Vec<&str> = row.split('\t').collect();
            (
                fields[..3].join("|"),
                (number(fields[3]), number(fields[4])),
            )
        })
        .collect();
    db.rows(rates)
        .iter()
        .filter(|row| {
            let fields: Vec<&str> = row.split('\t').collect();
            let expected = match cells[&fields[..3].join("|")] {
                (Some(successes), Some(attempts)) if attempts != 0.0 => {
                    Some(scale * successes / attempts)
                }
                _ => None,
            };
            match (expected, number(fields[3])) {
                (None, None) => true,
                (Some(e), Some(got)) => (e - got).abs() <= 1e-9 * e.abs().max(1.0),
                _ => false,
            }
        })
        .count()
}

#[test]
fn a_rule_changed_after_ingest_is_rewritten_by_a_replay_with_the_new_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::new("replay_rule");
    let (generated, archive) = (tmp.path().join("gen"), tmp.path().join("archive"));
    generate(&generated, "5ga", 2, 2);
    let plan = plan_with_rules(tmp.path(), &archive, &db.url(""));
    ingest_with(&plan, &generated);
    let cells =
        "SELECT ne, object, period_start, RRC_ConnEstabSucc, RRC_ConnEstabAtt FROM nrcellcu";
    let rates = "SELECT ne, object, period_start, rrc_setup_sr_pct FROM nr_rrc_setup_sr";
    assert_eq!(rates_following(&db, cells, rates, 100.0), 48);
    let measurements = |db: &TestDb| dump(db).into_iter().take(2).collect::<Vec<_>>();
    let before = measurements(&db);

    rate_becomes_per_mille(&plan);
    let plan_arg = plan.to_str().unwrap();
    let stats = replay(&archive, &[&DAY[..], &["--plan", plan_arg]].concat());
    assert_eq!(common::cycle_stat(&stats, "files done"), 4, "{stats}");
    assert_eq!(rates_following(&db, cells, rates, 1000.0), 48);
    assert_eq!(db.value("SELECT COUNT(*) FROM nr_rrc_setup_sr"), "48");
    assert_eq!(measurements(&db), before, "measurements changed");
    // The plan's archive sink was not written again: still one version per row.
    assert_eq!(
        common::query_csv(&archive, "SELECT COUNT(*) FROM nrcellcu_history"),
        ["48"]
    );
}

#[test]
fn a_changed_rule_and_a_correction_replayed_into_clickhouse_hold_under_final() {
    let tmp = tempfile::tempdir().unwrap();
    let db = clickhouse::TestDb::new("replay_rule");
    let (generated, archive) = (tmp.path().join("gen"), tmp.path().join("archive"));
    generate(&generated, "5ga", 2, 2);
    let plan = plan_with_rules(tmp.path(), &archive, &db.url());
    let inbox = tmp.path().join("inbox");
    stage_all(&generated, &inbox);
    ingest_with(&plan, &inbox);
    let again = tmp.path().join("again");
    corrected(
        &generated.join("A20260105.0000+0000-0015+0000_gNB0001.xml"),
        7,
        &again,
    );
    ingest_with(&plan, &again);

    rate_becomes_per_mille(&plan);
    let plan_arg = plan.to_str().unwrap();
    replay(&archive, &[&DAY[..], &["--plan", plan_arg]].concat());
    replay(&archive, &[&DAY[..], &["--plan", plan_arg]].concat());

    let cells = "SELECT ne, object, toString(period_start), `RRC.ConnEstabSucc`, \
                 `RRC.ConnEstabAtt` FROM nrcellcu FINAL";
    let rates =
        "SELECT ne, object, toString(period_start), rrc_setup_sr_pct FROM nr_rrc_setup_sr FINAL";
    assert_eq!(rates_following(&db, cells, rates, 1000.0), 48);
    assert_eq!(db.value("SELECT count() FROM nr_rrc_setup_sr FINAL"), "48");
    assert_eq!(
        db.rows(
            "SELECT ne, toString(period_start), count(), sum(`RRC.ConnEstabAtt`) FROM nrcellcu FINAL \
             WHERE ne = 'gNB0001' GROUP BY ne, period_start ORDER BY period_start"
        )[0],
        "gNB0001\t2026-01-05 00:00:00\t12\t84",
        "the corrected values, once per cell"
    );
}

#[test]
fn rules_only_tables_and_ne_narrow_what_is_delivered() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, archive) = archived_network(tmp.path(), 3, 4);
    let db = TestDb::new("replay_narrow");
    replay(
        &archive,
        &[
            "--from",
            "2026-01-05T00:00:00Z",
            "--to",
            "2026-01-05T01:00:00Z",
            "--sink",
            &db.url(""),
            "--tables",
            "nrcellcu",
            "--ne",
            "gNB000[13]",
            "--rules-only",
        ],
    );
    assert_eq!(
        db.rows("SHOW TABLES"),
        ["nr_rrc_setup_sr", "pmflow_columns"],
        "only the rule over nrcellcu"
    );
    assert_eq!(
        db.rows("SELECT ne, COUNT(*) FROM nr_rrc_setup_sr GROUP BY ne ORDER BY ne"),
        ["gNB0001\t48", "gNB0003\t48"]
    );
}

#[test]
fn replay_as_of_a_moment_delivers_what_the_archive_held_then_and_later_the_correction() {
    let tmp = tempfile::tempdir().unwrap();
    let (generated, archive) = archived_network(tmp.path(), 2, 1);
    let before_correction = moment_between_commits();
    let again = tmp.path().join("again");
    corrected(
        &generated.join("A20260105.0000+0000-0015+0000_gNB0001.xml"),
        7,
        &again,
    );
    ingest_5ga(&again, &archive);
    let first_sums = common::history::query_as_of(
        &archive,
        &before_correction,
        "SELECT ne, count(*), sum(\"RRC.ConnEstabAtt\") FROM nrcellcu GROUP BY ne ORDER BY ne",
    );
    assert_eq!(first_sums.len(), 2);
    assert_ne!(first_sums[0], "gNB0001,12,84");

    let db = TestDb::new("replay_as_of");
    let per_node =
        "SELECT ne, COUNT(*), SUM(RRC_ConnEstabAtt) FROM nrcellcu GROUP BY ne ORDER BY ne";
    let range = [
        "--from",
        "2026-01-05T00:00:00Z",
        "--to",
        "2026-01-05T00:15:00Z",
    ];
    replay(
        &archive,
        &[
            &range[..],
            &["--sink", &db.url(""), "--as-of", &before_correction],
        ]
        .concat(),
    );
    let as_csv: Vec<String> = db
        .rows(per_node)
        .iter()
        .map(|r| r.replace('\t', ","))
        .collect();
    assert_eq!(as_csv, first_sums);

    replay(&archive, &[&range[..], &["--sink", &db.url("")]].concat());
    let rows = db.rows(per_node);
    assert_eq!(
        rows[0], "gNB0001\t12\t84",
        "the corrected values, once per cell"
    );
    assert_eq!(rows[1].replace('\t', ","), first_sums[1]);
}

#[test]
fn dry_run_counts_files_and_rows_per_day_and_bad_requests_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, archive) = archived_network(tmp.path(), 3, 4);
    let out = replay(
        &archive,
        &[
            "--from",
            "2026-01-04T23:00:00Z",
            "--to",
            "2026-01-05T00:30:00Z",
            "--dry-run",
        ],
    );
    let line = |table: &str| -> Vec<String> {
        let line = out
            .lines()
            .find(|l| l.contains(&format!(" {table} ")))
            .unwrap_or_else(|| panic!("no {table} in {out}"));
        line.split(['│', '┆'])
            .map(|cell| cell.trim().to_string())
            .filter(|cell| !cell.is_empty())
            .collect()
    };
    assert_eq!(line("nrcellcu"), ["2026-01-05", "nrcellcu", "6", "72"]);
    assert_eq!(line("nrcelldu"), ["2026-01-05", "nrcelldu", "6", "72"]);
    assert!(
        !out.contains("2026-01-04 "),
        "an empty day is not listed: {out}"
    );

    let archive = archive.to_str().unwrap();
    let range = [
        "--from",
        "2026-01-05T00:00:00Z",
        "--to",
        "2026-01-05T01:00:00Z",
    ];
    let usage = |extra: &[&str], says: &str| {
        let mut args = vec!["replay", "--archive", archive, "--system", "5ga"];
        args.extend_from_slice(extra);
        let output = pmflow(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    };
    usage(
        &[&range[..], &["--tables", "nosuch", "--dry-run"]].concat(),
        "has no archived table \"nosuch\"",
    );
    usage(
        &[
            "--from",
            "2026-01-05T01:00:00Z",
            "--to",
            "2026-01-05T00:00:00Z",
        ],
        "--from must be before --to",
    );
    usage(&range, "no sink to replay into");
    usage(
        &[&range[..], &["--sink", "/tmp/another-archive"]].concat(),
        "replay does not write archives",
    );
    usage(
        &[&range[..], &["--speed", "fast"]].concat(),
        "is not a speed",
    );
}

#[test]
fn replay_as_of_a_moment_between_cycles_delivers_exactly_the_first_cycles_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let (generated, archive) = (tmp.path().join("gen"), tmp.path().join("archive"));
    generate(&generated, "5ga", 3, 2);
    let (first, late) = first_and_late(&generated, tmp.path());
    ingest_5ga(&first, &archive);
    let between = moment_between_commits();
    ingest_5ga(&late, &archive);

    let (replayed, direct) = (TestDb::new("replay_between"), TestDb::new("replay_first"));
    let range = [
        "--from",
        "2026-01-05T00:00:00Z",
        "--to",
        "2026-01-05T01:00:00Z",
    ];
    replay(
        &archive,
        &[
            &range[..],
            &["--sink", &replayed.url(""), "--as-of", &between],
        ]
        .concat(),
    );
    let (first_cycle, _) = first_and_late(&generated, &tmp.path().join("again"));
    common::ingest_into(&first_cycle, "5ga", &direct.url(""), None);
    let held_then = dump(&replayed);
    assert_eq!(held_then, dump(&direct));
    assert_eq!(
        replayed.rows("SELECT ne, COUNT(*) FROM nrcelldu GROUP BY ne ORDER BY ne"),
        ["gNB0001\t24", "gNB0002\t24"]
    );
}

#[test]
fn a_replay_asked_over_http_with_the_token_reaches_done_and_the_store_is_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let (generated, archive) = archived_network(tmp.path(), 3, 4);
    let (replayed, direct) = (
        TestDb::new("replay_http"),
        TestDb::new("replay_http_direct"),
    );
    let token = "t0ken-S3cret";
    let env = [("PMFLOW__SERVICE__API_TOKEN", token)];
    let mut service = idle_5ga_service(tmp.path(), &archive, &[replayed.url("")], &env);

    let body = r#"{"system": "5ga", "from": "2026-01-05T00:15:00Z", "to": "2026-01-05T00:45:00Z"}"#;
    let post = |token: Option<&str>, body: &str| {
        service.request_with("POST", "/api/v1/replays", token, body)
    };
    assert_eq!(post(None, body).0, 401);
    assert_eq!(post(Some("wrong-token!"), body).0, 401);
    assert_eq!(
        service.request("POST", "/api/v1/systems/5ga/scan").0,
        401,
        "every mutating endpoint needs the token"
    );
    let backwards =
        r#"{"system": "5ga", "from": "2026-01-05T01:00:00Z", "to": "2026-01-05T00:00:00Z"}"#;
    let (code, message) = post(Some(token), backwards);
    assert_eq!((code, message.trim()), (400, "from must be before to"));
    let (code, message) = post(Some(token), &body.replace("5ga", "4ga"));
    assert_eq!(code, 404, "{message}");
    let (code, accepted) = post(Some(token), body);
    assert_eq!(code, 202, "{accepted}");
    let id = serde_json::from_str::<serde_json::Value>(&accepted).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let path = format!("/api/v1/replays/{id}");
    let status = |service: &Service| -> serde_json::Value {
        serde_json::from_str(&service.request("GET", &path).1).unwrap()
    };
    service.wait_for("the replay to end", Duration::from_secs(60), |s| {
        ["done", "failed"].contains(&status(s)["state"].as_str().unwrap())
    });
    let ended = status(&service);
    assert_eq!(ended["state"], "done", "{ended}");
    assert_eq!(
        (
            ended["system"].as_str(),
            ended["files"].as_u64(),
            ended["rows"].as_u64()
        ),
        (Some("5ga"), Some(6), Some(144))
    );
    ingest_range_directly(&generated, tmp.path(), &direct);
    assert_eq!(dump(&replayed), dump(&direct));
    let (_, listed) = service.request("GET", "/api/v1/replays");
    assert!(listed.contains(&id), "{listed}");
    assert_eq!(service.request("GET", "/api/v1/replays/nosuch").0, 404);
    assert_eq!(service.request_with("DELETE", &path, None, "").0, 401);
    let (code, cancelled) = service.request_with("DELETE", &path, Some(token), "");
    assert!(
        code == 200 && cancelled.contains("\"done\""),
        "an ended replay stays as it ended: {cancelled}"
    );
    let metrics = service.metrics();
    assert_eq!(metrics["pmflow_replay_rows_total{system=\"5ga\"}"], 144.0);
    assert_eq!(
        metrics["pmflow_replays_total{system=\"5ga\",state=\"done\"}"],
        1.0
    );

    let (_, systems) = service.request("GET", "/api/v1/systems");
    let (exit, log) = service.terminate();
    assert!(exit.success(), "{exit}\n{log}");
    for text in [&systems, &listed, &log] {
        assert!(!text.contains(token), "token shown:\n{text}");
    }
}

#[test]
fn a_service_on_a_non_loopback_address_without_a_token_refuses_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let http = format!("0.0.0.0:{}", common::free_port());
    let inbox = tmp.path().join("inbox");
    let archive = tmp.path().join("archive");
    let output = pmflow(&[
        "run",
        "--source",
        inbox.to_str().unwrap(),
        "--archive",
        archive.to_str().unwrap(),
        "--http",
        &http,
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not a loopback address") && stderr.contains("api_token"),
        "{stderr}"
    );
}

#[test]
fn a_second_replay_of_a_system_waits_queued_and_delete_cancels_a_running_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, archive) = archived_network(tmp.path(), 2, 4);
    let db = TestDb::new("replay_cancel");
    let mut service = idle_5ga_service(tmp.path(), &archive, &[db.url("")], &[]);

    // At 1x the first period's files go at once and the next ones 15 minutes later.
    let slow = r#"{"system": "5ga", "from": "2026-01-05T00:00:00Z", "to": "2026-01-05T01:00:00Z",
                   "speed": "1x", "sinks": ["mysql"]}"#;
    let start = |service: &Service| -> String {
        let (code, body) = service.request_with("POST", "/api/v1/replays", None, slow);
        assert_eq!(code, 202, "{body}");
        let accepted: serde_json::Value = serde_json::from_str(&body).unwrap();
        accepted["id"].as_str().unwrap().to_string()
    };
    let (first, second) = (start(&service), start(&service));
    let state = |service: &Service, id: &str| -> serde_json::Value {
        serde_json::from_str(&service.request("GET", &format!("/api/v1/replays/{id}")).1).unwrap()
    };
    service.wait_for("the first period delivered", Duration::from_secs(60), |s| {
        state(s, &first)["files"] == 2
    });
    assert_eq!(state(&service, &first)["state"], "running");
    assert_eq!(state(&service, &second)["state"], "queued");

    let (code, _) = service.request_with("DELETE", &format!("/api/v1/replays/{first}"), None, "");
    assert_eq!(code, 200);
    service.wait_for("the first replay cancelled", Duration::from_secs(30), |s| {
        state(s, &first)["state"] == "cancelled"
    });
    assert_eq!(state(&service, &first)["files"], 2, "stopped between files");
    service.wait_for("the second replay running", Duration::from_secs(30), |s| {
        state(s, &second)["state"] == "running"
    });
    service.request_with("DELETE", &format!("/api/v1/replays/{second}"), None, "");
    service.wait_for(
        "the second replay cancelled",
        Duration::from_secs(30),
        |s| state(s, &second)["state"] == "cancelled",
    );
    assert_eq!(
        db.rows(
            "SELECT ne, period_start, COUNT(*) FROM nrcelldu GROUP BY ne, period_start ORDER BY ne"
        ),
        [
            "gNB0001\t2026-01-05 00:00:00\t12",
            "gNB0002\t2026-01-05 00:00:00\t12"
        ],
        "only the first period was delivered"
    );
    let metrics = service.metrics();
    assert_eq!(
        metrics["pmflow_replays_total{system=\"5ga\",state=\"cancelled\"}"],
        2.0
    );
}
