//! `pmflow run` as operators run it: real processes on real HTTP ports, a real vsftpd
//! and a real ZooKeeper. The first run after start, cron ticks that never overlap a
//! running cycle, scan requests, `/metrics` after cycles, SIGTERM in the middle of a
//! cycle, two processes electing a leader and the survivor of a `kill -9` taking over,
//! configuration errors, and passwords kept out of logs and status.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::five_ga::{archived, archived_from_local, generated, ingest_args, plan};
use common::ftp::PrivateFtp;
use common::service::{Service, run_args};
use common::zookeeper::{self, PrivateZooKeeper};
use common::{names_in, pmflow_ok, query_csv, repo, stage, stage_dataset};

/// A cron expression that does not fire during a test: once a year.
const YEARLY: &str = "0 0 0 1 1 *";

/// Files of `dir` that `paths` name, by file name.
fn names(paths: &[PathBuf]) -> Vec<String> {
    let mut names: Vec<String> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// Rows over every table of an archive's system `5ga`.
fn archive_rows(archive: &Path) -> f64 {
    names_in(&archive.join("system=5ga"))
        .iter()
        .map(|dir| {
            let table = dir.strip_prefix("table=").unwrap();
            let count = query_csv(archive, &format!("SELECT count(*) FROM \"{table}\""));
            count[0].parse::<f64>().unwrap()
        })
        .sum()
}

#[test]
fn the_first_run_follows_start_a_scan_request_runs_at_once_and_metrics_count_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    let files = generated(tmp.path(), 3, 2);
    let inbox = tmp.path().join("inbox");
    let (first, later) = files.split_at(4);
    stage(&inbox, first);
    std::fs::write(inbox.join("A_broken.xml"), "<measCollecFile").unwrap();
    let plan = plan(tmp.path(), 2);
    let archive = tmp.path().join("archive");
    let args = run_args(&plan, inbox.to_str().unwrap(), &archive, YEARLY, 0);
    let mut service = Service::start(&args, &[]);

    service.wait_for("the first run", Duration::from_secs(60), |s| {
        s.status("5ga")["cycles"] == 1
    });
    assert_eq!(names_in(&inbox), ["Done", "Failed"]);
    let status = service.status("5ga");
    let last = &status["last_cycle"];
    assert_eq!(
        (
            &last["scanned"],
            &last["done"],
            &last["failed"],
            &last["held"]
        ),
        (&5.into(), &4.into(), &1.into(), &0.into()),
        "{status}"
    );
    assert_eq!(status["leader"], true);
    assert_eq!(status["running"], false);

    stage(&inbox, later);
    assert_eq!(service.request("POST", "/api/v1/systems/5ga/scan").0, 202);
    assert_eq!(service.request("POST", "/api/v1/systems/4gb/scan").0, 404);
    service.wait_for("the requested cycle", Duration::from_secs(60), |s| {
        s.status("5ga")["cycles"] == 2
    });
    assert_eq!(names_in(&inbox.join("Done")), names(&files));

    let metrics = service.metrics();
    let metric = |name: &str| {
        *metrics
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {metrics:?}"))
    };
    let bytes: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    let broken = "<measCollecFile".len() as u64;
    assert_eq!(metric("pmflow_files_scanned_total{system=\"5ga\"}"), 7.0);
    assert_eq!(metric("pmflow_files_processed_total{system=\"5ga\"}"), 6.0);
    assert_eq!(metric("pmflow_files_failed_total{system=\"5ga\"}"), 1.0);
    assert_eq!(metric("pmflow_files_queued{system=\"5ga\"}"), 0.0);
    assert_eq!(
        metric("pmflow_bytes_total{system=\"5ga\"}"),
        (bytes + broken) as f64
    );
    assert_eq!(
        metric("pmflow_rows_total{system=\"5ga\"}"),
        archive_rows(&archive)
    );
    assert!(metric("pmflow_counter_values_total{system=\"5ga\"}") > 0.0);
    let stage_count = |stage: &str| {
        metric(&format!(
            "pmflow_stage_duration_seconds_count{{system=\"5ga\",stage=\"{stage}\"}}"
        ))
    };
    assert_eq!(
        (
            stage_count("fetch"),
            stage_count("parse"),
            stage_count("sink")
        ),
        (7.0, 6.0, 6.0)
    );
    assert_eq!(metric("pmflow_cycles_total{system=\"5ga\"}"), 2.0);
    assert_eq!(
        metric("pmflow_cycle_duration_seconds_count{system=\"5ga\"}"),
        2.0
    );
    assert_eq!(metric("pmflow_leader{system=\"5ga\"}"), 1.0);
    assert!(metrics.contains_key("pmflow_queue_depth{system=\"5ga\"}"));
    assert_eq!(service.request("GET", "/readyz"), (200, "ready\n".into()));

    let (exit, log) = service.terminate();
    assert!(exit.success(), "{exit}\n{log}");
    assert!(log.contains("cycle finished"), "{log}");
}

#[test]
fn cron_ticks_start_cycles_and_never_overlap_a_running_one() {
    // 20 KB/s and one worker: a cycle of 8 files takes several seconds, ticks every 2.
    let ftp = PrivateFtp::start(20_000);
    let tmp = tempfile::tempdir().unwrap();
    let files = generated(tmp.path(), 4, 2);
    let inbox = ftp.folder("5ga");
    stage(&inbox, &files);
    let plan = plan(tmp.path(), 1);
    let archive = tmp.path().join("archive");
    let source = ftp.url("5ga", "pool=1");
    let args = run_args(&plan, &source, &archive, "*/2 * * * * *", 3600);
    let mut service = Service::start(&args, &[]);

    service.wait_for("every file in Done/", Duration::from_secs(120), |_| {
        names_in(&inbox.join("Done")).len() == files.len()
    });
    service.wait_for("the cycle's end", Duration::from_secs(30), |s| {
        s.status("5ga")["running"] == false
    });

    assert_eq!(names_in(&inbox), ["Done"]);
    let status = service.status("5ga");
    let skipped = status["skipped_runs"].as_u64().unwrap();
    assert!(skipped >= 1, "no tick was skipped: {status}");
    let metrics = service.metrics();
    assert_eq!(
        metrics["pmflow_cycles_skipped_total{system=\"5ga\"}"],
        skipped as f64
    );
    // Overlapping cycles would have listed and downloaded the same files twice.
    assert_eq!(ftp.log().matches("OK DOWNLOAD").count(), files.len());
    assert_eq!(
        metrics["pmflow_files_scanned_total{system=\"5ga\"}"],
        files.len() as f64
    );
    let (exit, log) = service.terminate();
    assert!(exit.success(), "{exit}\n{log}");
    assert!(
        log.contains("previous cycle still running; run skipped"),
        "{log}"
    );
    assert_eq!(
        archived(&archive),
        archived_from_local(&files, tmp.path(), &plan)
    );
}

#[test]
fn sigterm_in_the_middle_of_a_cycle_leaves_each_file_in_the_inbox_or_done_with_its_rows() {
    let ftp = PrivateFtp::start(20_000);
    let tmp = tempfile::tempdir().unwrap();
    let files = generated(tmp.path(), 6, 2);
    let inbox = ftp.folder("5ga");
    stage(&inbox, &files);
    let plan = plan(tmp.path(), 2);
    let archive = tmp.path().join("archive");
    let source = ftp.url("5ga", "");
    // Commits every 200 ms at most, so files complete while the cycle runs.
    let mut args = run_args(&plan, &source, &archive, YEARLY, 0);
    let archive_arg = args.iter().position(|a| a == "--archive").unwrap() + 1;
    args[archive_arg] = format!("parquet://{}?group_wait_ms=200", archive.display());
    let mut service = Service::start(&args, &[]);
    service.wait_for("a first file in Done/", Duration::from_secs(60), |_| {
        !names_in(&inbox.join("Done")).is_empty()
    });

    let (exit, log) = service.terminate();

    assert!(exit.success(), "{exit}\n{log}");
    assert!(log.contains("stopping"), "{log}");
    let done = names_in(&inbox.join("Done"));
    let waiting: Vec<String> = names_in(&inbox)
        .into_iter()
        .filter(|n| n != "Done")
        .collect();
    assert!(!waiting.is_empty(), "the cycle finished before SIGTERM");
    let mut all: Vec<String> = done.iter().chain(&waiting).cloned().collect();
    all.sort();
    assert_eq!(all, names(&files), "every file exactly once");
    let done_files: Vec<PathBuf> = files
        .iter()
        .filter(|f| done.contains(&f.file_name().unwrap().to_str().unwrap().to_string()))
        .cloned()
        .collect();
    let expected = tmp.path().join("expected");
    std::fs::create_dir_all(&expected).unwrap();
    assert_eq!(
        archived(&archive),
        archived_from_local(&done_files, &expected, &plan),
        "the archive holds exactly the rows of the files in Done/"
    );

    pmflow_ok(&ingest_args(&source, &plan, &archive));
    assert_eq!(names_in(&inbox), ["Done"]);
    assert_eq!(
        archived(&archive),
        archived_from_local(&files, tmp.path(), &plan)
    );
}

#[test]
fn two_processes_elect_one_leader_and_the_survivor_of_kill_9_takes_over() {
    let chroot = zookeeper::chroot("election");
    let ftp = PrivateFtp::start(0);
    let tmp = tempfile::tempdir().unwrap();
    let files = generated(tmp.path(), 8, 2);
    let (first, later) = files.split_at(10);
    let inbox = ftp.folder("5ga");
    stage(&inbox, first);
    let plan = plan(tmp.path(), 2);
    let archive = tmp.path().join("archive");
    let mut args = run_args(&plan, &ftp.url("5ga", ""), &archive, "* * * * * *", 0);
    args.extend(["--zookeeper".into(), chroot]);
    // The environment names of configuration keys: [service] session_timeout_ms.
    let env = [("PMFLOW__SERVICE__SESSION_TIMEOUT_MS", "4000")];

    let mut a = Service::start(&args, &env);
    a.wait_for("A to lead", Duration::from_secs(30), |s| {
        s.status("5ga")["leader"] == true
    });
    let mut b = Service::start(&args, &env);
    b.wait_for("the first files in Done/", Duration::from_secs(60), |_| {
        names_in(&inbox.join("Done")).len() == first.len()
    });
    a.wait_for("A's cycle to end", Duration::from_secs(30), |s| {
        s.status("5ga")["running"] == false
    });
    let b_status = b.status("5ga");
    assert_eq!(
        (&b_status["leader"], &b_status["cycles"]),
        (&false.into(), &0.into()),
        "{b_status}"
    );
    assert_eq!(a.metrics()["pmflow_leader{system=\"5ga\"}"], 1.0);
    assert_eq!(b.metrics()["pmflow_leader{system=\"5ga\"}"], 0.0);
    assert_eq!(b.request("POST", "/api/v1/systems/5ga/scan").0, 409);

    a.kill();
    stage(&inbox, later);
    b.wait_for("B to lead", Duration::from_secs(30), |s| {
        s.status("5ga")["leader"] == true
    });
    b.wait_for("every file in Done/", Duration::from_secs(60), |_| {
        names_in(&inbox.join("Done")).len() == files.len()
    });

    assert_eq!(names_in(&inbox), ["Done"]);
    assert!(b.status("5ga")["cycles"].as_u64().unwrap() >= 1);
    assert_eq!(
        ftp.log().matches("OK DOWNLOAD").count(),
        files.len(),
        "each file downloaded by one process only"
    );
    let (exit, log) = b.terminate();
    assert!(exit.success(), "{exit}\n{log}");
    assert!(log.contains("leading this system"), "{log}");
    assert_eq!(
        archived(&archive),
        archived_from_local(&files, tmp.path(), &plan)
    );
}

/// `pmflow run` with a config file and environment, without waiting for it.
fn run_config(config: &Path, env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pmflow"))
        .args(["run", "--config", config.to_str().unwrap()])
        .envs(env.iter().copied())
        .current_dir(common::repo())
        .output()
        .unwrap()
}

#[test]
fn an_invalid_configuration_fails_at_start_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("pmflow.toml");
    std::fs::write(
        &config,
        "[systems.a]\nsource = \"in\"\narchive = \"arch\"\ncron = \"every minute\"\n",
    )
    .unwrap();
    let output = run_config(&config, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("systems.a.cron:"), "{stderr}");

    std::fs::write(
        &config,
        "[systems.a]\nsource = \"in\"\narchive = \"arch\"\n",
    )
    .unwrap();
    let output = run_config(&config, &[("PMFLOW__SERVICE__HTTP", "nowhere")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("service.http:"), "{stderr}");
}

#[test]
fn passwords_stay_out_of_logs_status_and_readiness() {
    let tmp = tempfile::tempdir().unwrap();
    let closed = common::free_port();
    let source = format!("ftp://pm:S3cret-Pass@127.0.0.1:{closed}/pm/5ga?retries=0");
    let archive = tmp.path().join("archive");
    let plan = plan(tmp.path(), 1);
    let mut service = Service::start(&run_args(&plan, &source, &archive, YEARLY, 0), &[]);
    service.wait_for("the failed first run", Duration::from_secs(60), |s| {
        !s.status("5ga")["last_error"].is_null()
    });

    let (_, systems) = service.request("GET", "/api/v1/systems");
    assert!(systems.contains("ftp://pm:***@127.0.0.1"), "{systems}");
    let (code, ready) = service.request("GET", "/readyz");
    assert_eq!(code, 503, "{ready}");
    assert!(ready.contains("5ga: ftp://pm:***@127.0.0.1"), "{ready}");
    let (exit, log) = service.terminate();
    assert!(exit.success(), "{exit}\n{log}");
    assert!(log.contains("cycle failed"), "{log}");
    for text in [&systems, &ready, &log] {
        assert!(!text.contains("S3cret-Pass"), "password shown:\n{text}");
    }
}

#[test]
fn a_leader_that_loses_its_session_stops_scanning_and_leads_again_when_zookeeper_returns() {
    let zk = PrivateZooKeeper::start();
    let tmp = tempfile::tempdir().unwrap();
    let files = generated(tmp.path(), 2, 2);
    let (first, later) = files.split_at(2);
    let inbox = tmp.path().join("inbox");
    stage(&inbox, first);
    let plan = plan(tmp.path(), 2);
    let archive = tmp.path().join("archive");
    let mut args = run_args(&plan, inbox.to_str().unwrap(), &archive, "* * * * * *", 0);
    args.extend(["--zookeeper".into(), zk.address()]);
    let env = [("PMFLOW__SERVICE__SESSION_TIMEOUT_MS", "4000")];
    let mut service = Service::start(&args, &env);
    service.wait_for("the first files in Done/", Duration::from_secs(60), |_| {
        names_in(&inbox.join("Done")).len() == first.len()
    });

    zk.kill();
    service.wait_for("leadership to be given up", Duration::from_secs(30), |s| {
        s.status("5ga")["leader"] == false
    });
    assert_eq!(service.metrics()["pmflow_leader{system=\"5ga\"}"], 0.0);
    let cycles = service.status("5ga")["cycles"].clone();
    stage(&inbox, later);
    // Ticks come every second; a process that still scanned would take the files.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(names_in(&inbox.join("Done")).len(), first.len());
    assert_eq!(service.status("5ga")["cycles"], cycles);

    zk.launch();
    service.wait_for("leadership again", Duration::from_secs(60), |s| {
        s.status("5ga")["leader"] == true
    });
    service.wait_for("the later files in Done/", Duration::from_secs(60), |_| {
        names_in(&inbox.join("Done")).len() == files.len()
    });
    let (exit, log) = service.terminate();
    assert!(exit.success(), "{exit}\n{log}");
    assert!(
        log.contains("ZooKeeper session lost; no longer leading"),
        "{log}"
    );
    assert_eq!(
        archived(&archive),
        archived_from_local(&files, tmp.path(), &plan)
    );
}

#[test]
fn a_config_file_runs_each_of_its_systems_with_environment_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    let (lte, core) = (tmp.path().join("in/4ga"), tmp.path().join("in/5gc"));
    stage_dataset(&lte, "4ga");
    stage_dataset(&core, "5gc");
    let config = tmp.path().join("pmflow.toml");
    let plans = repo().join("plans");
    std::fs::write(
        &config,
        format!(
            "[schedule]\ncron = \"{YEARLY}\"\ninitial_delay_s = 0\n\
             [systems.4ga]\nplan = \"{lte_plan}\"\nsource = \"in/4ga\"\narchive = \"archive\"\n\
             [systems.5gc]\nplan = \"{core_plan}\"\nsource = \"in/nowhere\"\narchive = \"archive\"\n",
            lte_plan = plans.join("4ga.toml").display(),
            core_plan = plans.join("5gc.toml").display(),
        ),
    )
    .unwrap();
    let args = ["--config".to_string(), config.display().to_string()];
    // The environment names nested keys: [systems.5gc] source.
    let core_source = core.display().to_string();
    let env = [("PMFLOW__SYSTEMS__5GC__SOURCE", core_source.as_str())];
    let mut service = Service::start(&args, &env);

    service.wait_for("a cycle of each system", Duration::from_secs(60), |s| {
        s.status("4ga")["cycles"] == 1 && s.status("5gc")["cycles"] == 1
    });

    assert_eq!(names_in(&lte), ["Done"]);
    assert_eq!(names_in(&core), ["Done"]);
    let metrics = service.metrics();
    for (system, files) in [("4ga", 5), ("5gc", 8)] {
        let processed = format!("pmflow_files_processed_total{{system=\"{system}\"}}");
        assert_eq!(metrics[&processed], files as f64, "{system}");
        assert_eq!(service.status(system)["last_cycle"]["done"], files);
    }
    assert_eq!(
        names_in(&tmp.path().join("archive")),
        ["system=4ga", "system=5gc"]
    );
    let (exit, log) = service.terminate();
    assert!(exit.success(), "{exit}\n{log}");
}

/// Operations of the commits in the log of the archive table `5ga`/`table`.
fn operations(archive: &Path, table: &str) -> Vec<String> {
    let log = archive.join(format!("system=5ga/table={table}/_delta_log"));
    names_in(&log)
        .iter()
        .filter(|name| name.ends_with(".json"))
        .filter_map(|name| {
            let text = std::fs::read_to_string(log.join(name)).ok()?;
            text.lines().find_map(|line| {
                let action: serde_json::Value = serde_json::from_str(line).ok()?;
                Some(action["commitInfo"]["operation"].as_str()?.to_string())
            })
        })
        .collect()
}

#[test]
fn the_archive_is_optimized_on_its_own_schedule_between_cycles() {
    let tmp = tempfile::tempdir().unwrap();
    let files = generated(tmp.path(), 3, 2);
    let inbox = tmp.path().join("inbox");
    let (first, later) = files.split_at(3);
    stage(&inbox, first);
    let plan = plan(tmp.path(), 2);
    let archive = tmp.path().join("archive");
    let args = run_args(&plan, inbox.to_str().unwrap(), &archive, YEARLY, 0);
    // Compaction every 3 seconds, set as operators override any key.
    let env = [("PMFLOW__SCHEDULE__OPTIMIZE_CRON", "*/3 * * * * *")];
    let mut service = Service::start(&args, &env);
    service.wait_for("the first run", Duration::from_secs(60), |s| {
        s.status("5ga")["cycles"] == 1
    });
    stage(&inbox, later);
    assert_eq!(service.request("POST", "/api/v1/systems/5ga/scan").0, 202);
    service.wait_for("the requested cycle", Duration::from_secs(60), |s| {
        s.status("5ga")["cycles"] == 2
    });
    let rows = archive_rows(&archive);
    service.wait_for("a compaction", Duration::from_secs(30), |_| {
        operations(&archive, "nrcellcu").contains(&"OPTIMIZE".to_string())
    });
    let (exit, log) = service.terminate();
    assert!(exit.success(), "{exit}\n{log}");
    assert!(log.contains("archive table optimized"), "{log}");
    assert_eq!(archive_rows(&archive), rows, "compaction keeps every row");
    assert!(rows > 0.0);
}
