//! The FTP source against a real vsftpd (Debian's, what operators run), one private
//! server per test: a cycle archives what a local cycle archives and moves files into
//! `Done/` and `Failed/` on the server; a small connection pool serves many workers;
//! connections dropped in the middle of transfers lose no file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::five_ga::{archived, archived_from_local, generated, ingest_args, plan};
use common::ftp::PrivateFtp;
use common::{names_in, pmflow, pmflow_ok, stage};

#[test]
fn an_ftp_cycle_archives_what_a_local_cycle_does_and_moves_files_on_the_server() {
    let ftp = PrivateFtp::start(0);
    let tmp = tempfile::tempdir().unwrap();
    let files = generated(tmp.path(), 3, 2);
    let inbox = ftp.folder("5ga");
    stage(&inbox, &files);
    std::fs::write(inbox.join("A_broken.xml"), "<measCollecFile").unwrap();
    std::fs::write(inbox.join("other-system.csv"), "not ours").unwrap();
    // A file of the same name completed earlier: kept, the new one goes beside it.
    let first = files[0].file_name().unwrap().to_str().unwrap().to_string();
    std::fs::write(ftp.folder("5ga/Done").join(&first), "earlier").unwrap();
    let plan = plan(tmp.path(), 2);
    let archive = tmp.path().join("archive");

    let stats = pmflow_ok(&ingest_args(&ftp.url("5ga", ""), &plan, &archive));

    assert!(stats.contains("files done"), "{stats}");
    assert_eq!(names_in(&inbox), ["Done", "Failed", "other-system.csv"]);
    let mut done: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    done.push(format!("{first}.1"));
    done.sort();
    assert_eq!(names_in(&inbox.join("Done")), done);
    assert_eq!(
        std::fs::read_to_string(inbox.join("Done").join(&first)).unwrap(),
        "earlier"
    );
    assert_eq!(
        std::fs::read(inbox.join("Done").join(format!("{first}.1"))).unwrap(),
        std::fs::read(&files[0]).unwrap()
    );
    assert_eq!(
        names_in(&inbox.join("Failed")),
        ["A_broken.xml", "A_broken.xml.reason"]
    );
    let reason = std::fs::read_to_string(inbox.join("Failed/A_broken.xml.reason")).unwrap();
    assert!(reason.starts_with("A_broken.xml"), "{reason}");
    let expected = archived_from_local(&files, tmp.path(), &plan);
    assert_eq!(expected.0.len(), 12, "{:?}", expected.0);
    assert_eq!(archived(&archive), expected);
}

#[test]
fn sixty_files_through_a_pool_of_four_connections_with_eight_workers() {
    let ftp = PrivateFtp::start(0);
    let tmp = tempfile::tempdir().unwrap();
    let files = generated(tmp.path(), 30, 2);
    assert_eq!(files.len(), 60);
    let inbox = ftp.folder("5ga");
    stage(&inbox, &files);
    let plan = plan(tmp.path(), 8);
    let archive = tmp.path().join("archive");

    pmflow_ok(&ingest_args(&ftp.url("5ga", "pool=4"), &plan, &archive));

    assert_eq!(names_in(&inbox), ["Done"]);
    assert_eq!(names_in(&inbox.join("Done")).len(), 60);
    let log = ftp.log();
    // Logins, not connections: the start script's readiness probe connects too.
    let sessions = log.matches("OK LOGIN").count();
    assert!((1..=4).contains(&sessions), "{sessions} sessions:\n{log}");
    assert_eq!(log.matches("OK DOWNLOAD").count(), 60, "{log}");
    assert_eq!(
        archived(&archive),
        archived_from_local(&files, tmp.path(), &plan)
    );
}

#[test]
fn connections_dropped_in_the_middle_of_transfers_lose_no_file() {
    // 20 KB/s per transfer: each ~14 KB file takes most of a second to download.
    let ftp = PrivateFtp::start(20_000);
    let tmp = tempfile::tempdir().unwrap();
    let files = generated(tmp.path(), 6, 2);
    let inbox = ftp.folder("5ga");
    stage(&inbox, &files);
    let plan = plan(tmp.path(), 4);
    let archive = tmp.path().join("archive");
    let args = ingest_args(&ftp.url("5ga", "retry_base_ms=100"), &plan, &archive);

    let cycle = Command::new(env!("CARGO_BIN_EXE_pmflow"))
        .args(&args)
        .current_dir(common::repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut dropped = 0;
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(400));
        dropped += ftp.drop_sessions();
    }
    let first = cycle.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(dropped > 0, "no session was dropped");
    assert!(
        stderr.contains("transient failure; retrying"),
        "no retry after {dropped} dropped sessions:\n{stderr}"
    );
    // Files whose retries ran out stay in the inbox (exit 3); the next cycle takes them.
    assert!(
        matches!(first.status.code(), Some(0 | 3)),
        "{}\n{stderr}",
        first.status
    );
    let second = pmflow(&args);
    assert!(second.status.success(), "{second:?}");

    assert_all_done_and_archived(&inbox, &files, tmp.path(), &plan, &archive);
}

#[test]
fn ftps_encrypts_the_session_and_trusts_only_the_given_ca() {
    let ftp = PrivateFtp::start_tls();
    let tmp = tempfile::tempdir().unwrap();
    let files = generated(tmp.path(), 2, 2);
    let inbox = ftp.folder("5ga");
    stage(&inbox, &files);
    let plan = plan(tmp.path(), 2);
    let archive = tmp.path().join("archive");

    // Mozilla's roots do not know the server's CA: nothing is read, nothing moves.
    let untrusted = pmflow(&ingest_args(
        &ftp.ftps_url("5ga", "retries=0"),
        &plan,
        &archive,
    ));
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(!untrusted.status.success(), "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    assert_eq!(names_in(&inbox).len(), files.len());
    // Plain FTP is refused by a server that requires TLS.
    let plain = pmflow(&ingest_args(&ftp.url("5ga", "retries=0"), &plan, &archive));
    assert!(!plain.status.success());

    let ca = ftp.ca_file();
    let trusted = ftp.ftps_url("5ga", &format!("ca={}", ca.display()));
    pmflow_ok(&ingest_args(&trusted, &plan, &archive));

    assert_all_done_and_archived(&inbox, &files, tmp.path(), &plan, &archive);
}

#[test]
fn a_folder_pattern_collects_every_matching_folder_and_completes_files_beside_them() {
    let ftp = PrivateFtp::start(0);
    let tmp = tempfile::tempdir().unwrap();
    let files = generated(tmp.path(), 4, 1);
    let (gnb1, gnb2) = (ftp.folder("gnb1/5ga"), ftp.folder("gnb2/5ga"));
    stage(&gnb1, &files[..2]);
    stage(&gnb2, &files[2..]);
    let elsewhere = ftp.folder("gnb1/tmp");
    stage(&elsewhere, &files[..1]);
    let plan = plan(tmp.path(), 2);
    let archive = tmp.path().join("archive");

    pmflow_ok(&ingest_args(&ftp.url("*/5ga", ""), &plan, &archive));

    for (folder, staged) in [(&gnb1, &files[..2]), (&gnb2, &files[2..])] {
        assert_eq!(names_in(folder), ["Done"]);
        assert_eq!(names_in(&folder.join("Done")).len(), staged.len());
    }
    assert_eq!(
        names_in(&elsewhere).len(),
        1,
        "a folder not matched is left alone"
    );
    assert_eq!(
        archived(&archive),
        archived_from_local(&files, tmp.path(), &plan)
    );
}

/// Asserts that every one of `files` left `inbox` for its `Done/` and that the archive
/// holds what a local cycle of the same files (in `scratch`) archives.
fn assert_all_done_and_archived(
    inbox: &Path,
    files: &[PathBuf],
    scratch: &Path,
    plan: &Path,
    archive: &Path,
) {
    assert_eq!(names_in(inbox), ["Done"]);
    assert_eq!(names_in(&inbox.join("Done")).len(), files.len());
    assert_eq!(archived(archive), archived_from_local(files, scratch, plan));
}
