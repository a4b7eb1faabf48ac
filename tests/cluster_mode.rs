//! Cluster mode as operators run it: `pmflow run` processes on loopback sharing one
//! system's files through a consumer group of a real tansu broker, ZooKeeper electing
//! the leader that publishes the tasks, a vsftpd that throttles downloads (the slow
//! part, as with remote sites), MariaDB and the archive. Nodes are killed with
//! SIGKILL mid-run; a poison file goes to `Failed/` and the dead-letter topic; a
//! required sink down for a while has its files retried as new tasks; `/readyz`
//! names the brokers once they stop.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::delta::ArchiveSums;
use common::five_ga::{archived, archived_from_local, generated, plan};
use common::ftp::PrivateFtp;
use common::kafka::PrivateBroker;
use common::mysql::{PrivateServer, TestDb, assert_table_matches_archive};
use common::service::Service;
use common::{free_port, names_in, query_csv, stage, zookeeper};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{ClientConfig, Message};

/// The environment of every node: a short ZooKeeper session, so a killed leader is
/// replaced within seconds, and quick retries.
const NODE_ENV: [(&str, &str); 2] = [
    ("PMFLOW__SERVICE__SESSION_TIMEOUT_MS", "4000"),
    ("PMFLOW__CLUSTER__RETRY_BACKOFF_MS", "200"),
];

/// `pmflow run` arguments of a cluster node: the leader lists every second, and the
/// archive commits what arrived within a second (rather than waiting up to 10 s for
/// the files on their way), so files complete about as they are downloaded.
fn node_args(plan: &Path, source: &str, archive: &Path, broker: u16, chroot: &str) -> Vec<String> {
    let mut args = vec![
        "--plan".to_string(),
        plan.to_str().unwrap().to_string(),
        "--source".to_string(),
        source.to_string(),
        "--sink".to_string(),
        format!("parquet://{}?group_wait_ms=1000", archive.display()),
        "--cron".to_string(),
        "* * * * * *".to_string(),
        "--initial-delay".to_string(),
        "0".to_string(),
    ];
    args.extend([
        "--zookeeper".to_string(),
        chroot.to_string(),
        "--cluster".to_string(),
        format!("kafka://127.0.0.1:{broker}"),
    ]);
    args
}

/// Files completed (moved into `Done/`) by a node, from its metrics.
fn processed(node: &Service) -> f64 {
    node.metrics()["pmflow_files_processed_total{system=\"5ga\"}"]
}

/// The members a node's status lists, with their partitions.
fn members(node: &Service) -> Vec<(String, usize)> {
    let status = node.status("5ga");
    status["cluster"]["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members in {status}"))
        .iter()
        .map(|m| {
            let partitions = m["partitions"].as_array().map_or(0, Vec::len);
            (m["node"].as_str().unwrap().to_string(), partitions)
        })
        .collect()
}

/// Waits until `dir` holds at least `count` entries.
fn wait_for_files(node: &mut Service, dir: &Path, count: usize, timeout: Duration) {
    node.wait_for(
        &format!("{count} files in {}", dir.display()),
        timeout,
        |_| names_in(dir).len() >= count,
    );
}

#[test]
fn three_nodes_share_the_files_and_the_survivor_of_a_killed_follower_and_leader_finishes_them() {
    let chroot = zookeeper::chroot("cluster");
    let broker_port = free_port();
    let _broker = PrivateBroker::start(broker_port);
    // ~14 KB files at 4 KB/s: each download takes seconds, so the nodes are
    // killed in the middle of the run.
    let ftp = PrivateFtp::start(4_000);
    let tmp = tempfile::tempdir().unwrap();
    let files = generated(tmp.path(), 8, 6);
    let inbox = ftp.folder("5ga");
    let plan = plan(tmp.path(), 2);
    let archive = tmp.path().join("archive");
    let db = TestDb::new("cluster_kill");
    let mut args = node_args(&plan, &ftp.url("5ga", ""), &archive, broker_port, &chroot);
    args.extend(["--sink".to_string(), db.url("")]);

    let mut leader = Service::start(&args, &NODE_ENV);
    leader.wait_for("the first node to lead", Duration::from_secs(30), |s| {
        s.status("5ga")["leader"] == true
    });
    let mut survivor = Service::start(&args, &NODE_ENV);
    let follower = Service::start(&args, &NODE_ENV);
    leader.wait_for(
        "three members with partitions each",
        Duration::from_secs(60),
        |s| {
            let members = members(s);
            members.len() == 3 && members.iter().all(|(_, partitions)| *partitions > 0)
        },
    );
    stage(&inbox, &files);

    let done = inbox.join("Done");
    leader.wait_for(
        "files completed by two nodes at least",
        Duration::from_secs(120),
        |leader| {
            let working = [leader, &survivor, &follower]
                .into_iter()
                .filter(|node| processed(node) > 0.0)
                .count();
            working >= 2
        },
    );
    assert!(
        names_in(&done).len() < files.len() / 2,
        "the run is still in its first half when the follower is killed: {} done, \
         per node {:?}\n{}",
        names_in(&done).len(),
        [&leader, &survivor, &follower].map(processed),
        leader.stderr()
    );
    follower.kill();
    wait_for_files(
        &mut leader,
        &done,
        files.len() / 2,
        Duration::from_secs(120),
    );
    assert!(
        names_in(&done).len() < files.len(),
        "files remain when the leader is killed"
    );
    leader.kill();
    survivor.wait_for("the survivor to lead", Duration::from_secs(30), |s| {
        s.status("5ga")["leader"] == true
    });
    wait_for_files(&mut survivor, &done, files.len(), Duration::from_secs(180));
    survivor.wait_for(
        "the survivor alone in the cluster",
        Duration::from_secs(30),
        |s| members(s).len() == 1,
    );

    let file_names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(names_in(&inbox), ["Done"], "nothing left in the inbox");
    assert_eq!(names_in(&done), file_names, "every file in Done/ once");
    let (exit, log) = survivor.terminate();
    assert!(exit.success(), "{exit}\n{log}");
    let expected = archived_from_local(&files, tmp.path(), &plan);
    assert_eq!(
        archived(&archive),
        expected,
        "the archive holds each file's rows once"
    );
    let archived = ArchiveSums::read(&archive);
    for table in ["nrcellcu", "nrcelldu"] {
        let in_archive = query_csv(&archive, &format!("SELECT count(*) FROM {table}"));
        let local = tmp.path().join("local-archive");
        let in_local = query_csv(&local, &format!("SELECT count(*) FROM {table}"));
        assert_eq!(in_archive, in_local, "{table}");
        assert_table_matches_archive(&db, &archived, table);
    }
}

/// The messages of the dead-letter topic of system 5ga: each one's task name, and its
/// `reason` and `attempts` headers.
fn dead_letters(broker: u16) -> Vec<(String, String, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", format!("127.0.0.1:{broker}"))
        .set("group.id", "pmflow-test-dead-letters")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("max.poll.interval.ms", "10000")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .create()
        .expect("consumer");
    consumer.subscribe(&["pmflow.dlq.5ga"]).expect("subscribe");
    let mut letters = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while letters.is_empty() && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("message");
        let task: serde_json::Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        let header = |name: &str| {
            let headers = message.headers().expect("headers");
            let header = headers.iter().find(|h| h.key == name).expect(name);
            String::from_utf8(header.value.unwrap().to_vec()).unwrap()
        };
        letters.push((
            task["name"].as_str().unwrap().to_string(),
            header("reason"),
            header("attempts"),
        ));
    }
    letters
}

/// A file that is not a measurement file: a cut XML document under a PM file name.
fn poison_file(dir: &Path) -> PathBuf {
    let path = dir.join("A20260105.0100+0000-0115+0000_gNB0099.xml");
    std::fs::write(&path, "<?xml version=\"1.0\"?>\n<measCollecFile><measData>").unwrap();
    path
}

#[test]
fn a_poison_file_goes_to_failed_and_the_dead_letter_topic_while_the_others_complete() {
    let chroot = zookeeper::chroot("poison");
    let broker_port = free_port();
    let broker = PrivateBroker::start(broker_port);
    let tmp = tempfile::tempdir().unwrap();
    let mut files = generated(tmp.path(), 3, 2);
    files.push(poison_file(tmp.path()));
    let inbox = tmp.path().join("inbox");
    let plan = plan(tmp.path(), 2);
    let archive = tmp.path().join("archive");
    let args = node_args(
        &plan,
        inbox.to_str().unwrap(),
        &archive,
        broker_port,
        &chroot,
    );
    std::fs::create_dir_all(&inbox).unwrap();

    let mut first = Service::start(&args, &NODE_ENV);
    let second = Service::start(&args, &NODE_ENV);
    first.wait_for("two members", Duration::from_secs(60), |s| {
        let members = members(s);
        members.len() == 2 && members.iter().all(|(_, partitions)| *partitions > 0)
    });
    stage(&inbox, &files);
    wait_for_files(
        &mut first,
        &inbox.join("Done"),
        files.len() - 1,
        Duration::from_secs(60),
    );
    let failed = inbox.join("Failed");
    wait_for_files(&mut first, &failed, 2, Duration::from_secs(30));

    let poison = "A20260105.0100+0000-0115+0000_gNB0099.xml";
    assert_eq!(
        names_in(&failed),
        [poison.to_string(), format!("{poison}.reason")]
    );
    let reason = std::fs::read_to_string(failed.join(format!("{poison}.reason"))).unwrap();
    let letters = dead_letters(broker_port);
    assert_eq!(letters.len(), 1, "{letters:?}");
    let (name, dead_reason, attempts) = &letters[0];
    assert_eq!(name, poison);
    assert_eq!(dead_reason.trim(), reason.trim());
    assert!(dead_reason.contains(poison), "{dead_reason}");
    assert_eq!(attempts, "1");
    let dead_lettered = "pmflow_cluster_tasks_total{system=\"5ga\",event=\"dead_lettered\"}";
    let published = "pmflow_cluster_tasks_total{system=\"5ga\",event=\"published\"}";
    let nodes = [&first, &second];
    let sum = |name: &str| nodes.iter().map(|n| n.metrics()[name]).sum::<f64>();
    assert_eq!(sum(dead_lettered), 1.0);
    assert_eq!(sum(published), files.len() as f64);
    // Each node reports the lag of every partition it has: nothing left to consume.
    for node in nodes {
        let partitions = node.status("5ga")["cluster"]["partitions"].clone();
        let partitions: Vec<i64> = serde_json::from_value(partitions).unwrap();
        assert!(!partitions.is_empty());
        let lag =
            |p: &i64| format!("pmflow_cluster_consumer_lag{{system=\"5ga\",partition=\"{p}\"}}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !partitions
            .iter()
            .all(|p| node.metrics().get(&lag(p)) == Some(&0.0))
        {
            assert!(
                Instant::now() < deadline,
                "lag of {partitions:?}: {:?}",
                node.metrics()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    assert_eq!(names_in(&inbox), ["Done", "Failed"]);
    let good = &files[..files.len() - 1];
    let expected = archived_from_local(good, tmp.path(), &plan);
    assert_eq!(archived(&archive), expected);
    let rows = query_csv(&archive, "SELECT count(*) FROM nrcelldu");
    assert_ne!(rows, ["0"]);

    assert_eq!(first.request("GET", "/readyz").0, 200);
    drop(broker);
    first.wait_for("not ready without brokers", Duration::from_secs(30), |s| {
        let (code, body) = s.request("GET", "/readyz");
        code == 503 && body.contains(&format!("cluster kafka://127.0.0.1:{broker_port}"))
    });
    drop(second);
    let _ = first.terminate();
}

#[test]
fn files_a_required_sink_refuses_for_a_while_are_retried_as_new_tasks_until_they_land() {
    let chroot = zookeeper::chroot("retry");
    let broker_port = free_port();
    let _broker = PrivateBroker::start(broker_port);
    let tmp = tempfile::tempdir().unwrap();
    let mut mariadb = PrivateServer::start(&tmp.path().join("mariadb"));
    let db = mariadb.database("cluster_retry");
    let files = generated(tmp.path(), 2, 2);
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let plan = plan(tmp.path(), 2);
    let archive = tmp.path().join("archive");
    let mut args = node_args(
        &plan,
        inbox.to_str().unwrap(),
        &archive,
        broker_port,
        &chroot,
    );
    args.extend([
        "--sink".to_string(),
        db.url("?retries=0&connect_timeout_ms=500"),
    ]);
    // Retries after 0.5, 1, 2, 4, … s: time enough for the server to come back and
    // for the sink's circuit breaker (open for up to 30 s) to close again.
    let env = [
        ("PMFLOW__SERVICE__SESSION_TIMEOUT_MS", "4000"),
        ("PMFLOW__CLUSTER__RETRY_BACKOFF_MS", "500"),
        ("PMFLOW__CLUSTER__MAX_ATTEMPTS", "10"),
    ];
    let mut node = Service::start(&args, &env);
    node.wait_for("one member with partitions", Duration::from_secs(60), |s| {
        members(s)
            .first()
            .is_some_and(|(_, partitions)| *partitions > 0)
    });

    mariadb.kill();
    stage(&inbox, &files);
    let retried = "pmflow_cluster_tasks_total{system=\"5ga\",event=\"retried\"}";
    node.wait_for("as many retries as files", Duration::from_secs(60), |s| {
        s.metrics()[retried] >= files.len() as f64
    });
    assert_eq!(
        names_in(&inbox).len(),
        files.len(),
        "nothing completed meanwhile"
    );
    mariadb.restart();
    wait_for_files(
        &mut node,
        &inbox.join("Done"),
        files.len(),
        Duration::from_secs(60),
    );

    assert_eq!(names_in(&inbox), ["Done"]);
    let (exit, log) = node.terminate();
    assert!(exit.success(), "{exit}\n{log}");
    assert_eq!(
        archived(&archive),
        archived_from_local(&files, tmp.path(), &plan)
    );
    assert_table_matches_archive(&db, &ArchiveSums::read(&archive), "nrcelldu");
}
