//! `pmflow replay` end to end, through the real binary: files ingested into the
//! archive only, then delivered again from it into a real MariaDB, compared with the
//! same files ingested directly and with values MariaDB computes itself.

mod common;

use std::path::{Path, PathBuf};

use common::history::{corrected, ingest_5ga, moment_between_commits};
use common::mysql::TestDb;
use common::{QueryClient, generate, names_in, pmflow, pmflow_ok, repo, stage};

/// The measurement tables and rule outputs of system 5ga, as MariaDB holds them.
const TABLES: [&str; 4] = [
    "nrcellcu",
    "nrcelldu",
    "nr_rrc_setup_sr",
    "nr_dl_prb_utilisation",
];

/// `nodes` x `rops` periods from 2026-01-05 00:00 generated into `tmp/gen` and
/// ingested into the archive `tmp/archive` only.
fn archived_network(tmp: &Path, nodes: u32, rops: u32) -> (PathBuf, PathBuf) {
    let (generated, archive) = (tmp.join("gen"), tmp.join("archive"));
    generate(&generated, "5ga", nodes, rops);
    let inbox = tmp.join("inbox");
    let files: Vec<PathBuf> = names_in(&generated)
        .iter()
        .map(|n| generated.join(n))
        .collect();
    stage(&inbox, &files);
    ingest_5ga(&inbox, &archive);
    (generated, archive)
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

    // The same periods' files ingested straight into another database.
    let inbox = tmp.path().join("direct");
    for name in names_in(&generated) {
        if name.contains(".0015+0000-") || name.contains(".0030+0000-") {
            stage(&inbox, &[generated.join(name)]);
        }
    }
    common::ingest_into(&inbox, "5ga", &direct.url(""), None);

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

#[test]
fn a_rule_changed_after_ingest_is_rewritten_by_a_replay_with_the_new_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDb::new("replay_rule");
    let (generated, archive) = (tmp.path().join("gen"), tmp.path().join("archive"));
    generate(&generated, "5ga", 2, 2);
    let rules = tmp.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    for rule in ["nr_rrc_setup_sr.sql", "nr_dl_prb_utilisation.sql"] {
        std::fs::copy(repo().join("sql/5ga").join(rule), rules.join(rule)).unwrap();
    }
    let plan = tmp.path().join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            "system = \"5ga\"\nrules = \"rules\"\n\
             [[sink]]\nurl = \"{}\"\n[[sink]]\nurl = \"{}\"\n",
            archive.display(),
            db.url("")
        ),
    )
    .unwrap();
    pmflow_ok(&[
        "ingest",
        generated.to_str().unwrap(),
        "--plan",
        plan.to_str().unwrap(),
        "--no-settle",
    ]);
    let rate_is = |scale: &str| {
        db.value(&format!(
            "SELECT COUNT(*) FROM nr_rrc_setup_sr r JOIN nrcellcu c USING (ne, object, period_start) \
             WHERE ABS(r.rrc_setup_sr_pct - {scale} * c.RRC_ConnEstabSucc / c.RRC_ConnEstabAtt) < 1e-9 \
             OR (r.rrc_setup_sr_pct IS NULL AND NULLIF(c.RRC_ConnEstabAtt, 0) IS NULL)"
        ))
    };
    assert_eq!(rate_is("100.0"), "48");
    let measurements = |db: &TestDb| dump(db).into_iter().take(2).collect::<Vec<_>>();
    let before = measurements(&db);

    // The formula changes: per mille instead of per cent.
    let rule = rules.join("nr_rrc_setup_sr.sql");
    let text = std::fs::read_to_string(&rule).unwrap();
    std::fs::write(&rule, text.replace("100.0 *", "1000.0 *")).unwrap();
    let stats = replay(
        &archive,
        &[
            "--plan",
            plan.to_str().unwrap(),
            "--from",
            "2026-01-05T00:00:00Z",
            "--to",
            "2026-01-06T00:00:00Z",
        ],
    );
    assert_eq!(common::cycle_stat(&stats, "files done"), 4, "{stats}");
    assert_eq!(rate_is("1000.0"), "48");
    assert_eq!(db.value("SELECT COUNT(*) FROM nr_rrc_setup_sr"), "48");
    assert_eq!(measurements(&db), before, "measurements changed");
    // The plan's archive sink was not written again: still one version per row.
    assert_eq!(
        common::query_csv(&archive, "SELECT COUNT(*) FROM nrcellcu_history"),
        ["48"]
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
