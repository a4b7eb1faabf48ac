//! Files still being written are never taken: a file written slowly into a local inbox
//! and uploaded slowly (`STOR`) to vsftpd and to pyftpdlib while `pmflow run` scans
//! every second ends in `Done/` whole; temporary names are never taken; a truncated
//! file that stopped growing is still quarantined; one `pmflow ingest` takes every
//! freshly copied file and leaves one that keeps changing; a file that changed after
//! it was fetched is not moved.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::five_ga::{archived, archived_from_local, generated, plan};
use common::ftp::PrivateFtp;
use common::service::{Service, run_args};
use common::{cycle_stat, dataset, ingest_into, names_in, pmflow, pmflow_ok, stage};
use pmflow::source::{
    Completion, DEFAULT_TEMPORARY_NAMES, FtpSource, LocalDirSource, NameFilter, Source, scan_paths,
};

/// How a test writes its slow file: 8 pieces over 6 s.
const PIECES: usize = 8;
const WRITE_TIME: Duration = Duration::from_secs(6);

/// Writes `bytes` to `path` in [`PIECES`] pieces over [`WRITE_TIME`], under the final
/// name, as a network element writing its file does.
fn write_slowly(path: &Path, bytes: &[u8]) {
    let mut file = std::fs::File::create(path).unwrap();
    for piece in bytes.chunks(bytes.len().div_ceil(PIECES)) {
        file.write_all(piece).unwrap();
        file.flush().unwrap();
        std::thread::sleep(WRITE_TIME / PIECES as u32);
    }
}

/// Copies `files` into `dir` (created) as a writer that just finished them would
/// leave them: modified now.
fn copy_fresh(dir: &Path, files: &[PathBuf]) {
    std::fs::create_dir_all(dir).unwrap();
    for file in files {
        std::fs::copy(file, dir.join(file.file_name().unwrap())).unwrap();
    }
}

/// Uploads `local` to `remote` on the FTP server at `port` with one `STOR`, in
/// [`PIECES`] pieces over [`WRITE_TIME`] (Python's ftplib, a client of its own).
fn upload_slowly(port: u16, remote: &str, local: &Path) {
    let script = "import ftplib, sys, time\n\
        port, remote, local, pieces, seconds = sys.argv[1:6]\n\
        data = open(local, 'rb').read()\n\
        size = -(-len(data) // int(pieces))\n\
        ftp = ftplib.FTP()\n\
        ftp.connect('127.0.0.1', int(port))\n\
        ftp.login()\n\
        with open(local, 'rb') as f:\n\
        \x20   ftp.storbinary('STOR ' + remote, f, size,\n\
        \x20       lambda block: time.sleep(float(seconds) / int(pieces)))\n\
        ftp.quit()\n";
    let output = Command::new("python3")
        .args(["-c", script, &port.to_string(), remote])
        .arg(local)
        .args([PIECES.to_string(), WRITE_TIME.as_secs_f64().to_string()])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "upload failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `pmflow run` scanning `source` every second while `write_slow` writes the first of
/// some generated files slowly into it and `stage_rest` puts the others there whole:
/// every file ends in `Done/` (`done` lists it), none in `Failed/`, and the archive
/// holds exactly what a local ingest of the same files holds.
fn a_slow_write_is_taken_whole(
    tmp: &Path,
    source: &str,
    done: &dyn Fn() -> Vec<String>,
    failed: &dyn Fn() -> Vec<String>,
    stage_rest: &dyn Fn(&[PathBuf]),
    write_slow: &dyn Fn(&Path),
) {
    let files = generated(tmp, 2, 3);
    let plan = plan(tmp, 2);
    let archive = tmp.join("archive");
    let args = run_args(&plan, source, &archive, "* * * * * *", 0);
    let mut service = Service::start(&args, &[]);
    let (slow, rest) = files.split_first().unwrap();
    stage_rest(rest);
    write_slow(slow);
    let mut expected: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    expected.sort();
    service.wait_for("every file in Done/", Duration::from_secs(90), |_| {
        done() == expected
    });
    let (exit, log) = service.terminate();
    assert!(exit.success(), "{exit}\n{log}");
    assert_eq!(failed(), Vec::<String>::new(), "{log}");
    assert_eq!(
        archived(&archive),
        archived_from_local(&files, tmp, &plan),
        "the archive holds every file whole"
    );
}

#[test]
fn a_file_written_slowly_into_a_local_inbox_is_taken_once_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    a_slow_write_is_taken_whole(
        tmp.path(),
        inbox.to_str().unwrap(),
        &|| names_in(&inbox.join("Done")),
        &|| names_in(&inbox.join("Failed")),
        &|rest| copy_fresh(&inbox, rest),
        &|slow| {
            write_slowly(
                &inbox.join(slow.file_name().unwrap()),
                &std::fs::read(slow).unwrap(),
            )
        },
    );
}

/// [`a_slow_write_is_taken_whole`] on an FTP server: the slow file is uploaded with
/// one `STOR` while `pmflow run` scans the folder.
fn a_slow_upload_is_taken_whole(ftp: PrivateFtp) {
    let tmp = tempfile::tempdir().unwrap();
    let folder = ftp.folder("5ga");
    a_slow_write_is_taken_whole(
        tmp.path(),
        &ftp.url("5ga", "pool=2"),
        &|| names_in(&folder.join("Done")),
        &|| names_in(&folder.join("Failed")),
        &|rest| copy_fresh(&folder, rest),
        &|slow| {
            let name = slow.file_name().unwrap().to_str().unwrap();
            upload_slowly(ftp.port(), &format!("/pm/5ga/{name}"), slow)
        },
    );
}

#[test]
fn a_file_uploaded_slowly_to_vsftpd_is_taken_once_complete() {
    a_slow_upload_is_taken_whole(PrivateFtp::start(0));
}

#[test]
fn a_file_uploaded_slowly_to_pyftpdlib_is_taken_once_complete() {
    a_slow_upload_is_taken_whole(PrivateFtp::start_pyftpdlib());
}

/// The 5ga dataset file every ingest test below uses, and its bytes.
fn sample() -> (PathBuf, Vec<u8>) {
    let path = dataset("5ga/A20260105.0000+0000-0015+0000_gNB0001.xml");
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

#[test]
fn temporary_names_are_never_taken_and_a_file_renamed_into_place_is() {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox");
    let (_, bytes) = sample();
    std::fs::create_dir_all(&inbox).unwrap();
    let temporary = [
        "a.xml.part",
        ".a.xml",
        "a.xml.tmp",
        "a.xml.filepart",
        "A.XML.PART",
    ];
    for name in temporary {
        std::fs::write(inbox.join(name), &bytes).unwrap();
    }
    let archive = tmp.path().join("archive");
    let ingest = || ingest_into(&inbox, "5ga", archive.to_str().unwrap(), None);
    let stats = ingest();
    assert_eq!(cycle_stat(&stats, "files scanned"), 0, "{stats}");
    let mut left = temporary.map(String::from).to_vec();
    left.sort();
    assert_eq!(names_in(&inbox), left);

    std::fs::rename(inbox.join("a.xml.part"), inbox.join("a.xml")).unwrap();
    ingest();
    assert_eq!(names_in(&inbox.join("Done")), ["a.xml"]);
    assert!(!inbox.join("Failed").exists());
}

#[test]
fn a_truncated_file_that_stopped_growing_is_quarantined_with_its_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let (_, bytes) = sample();
    std::fs::write(inbox.join("A_cut.xml"), &bytes[..bytes.len() / 2]).unwrap();
    let archive = tmp.path().join("archive");
    ingest_into(&inbox, "5ga", archive.to_str().unwrap(), None);
    assert_eq!(
        names_in(&inbox.join("Failed")),
        ["A_cut.xml", "A_cut.xml.reason"]
    );
    let reason = std::fs::read_to_string(inbox.join("Failed/A_cut.xml.reason")).unwrap();
    assert!(reason.starts_with("A_cut.xml"), "{reason}");
    assert!(reason.contains("truncated"), "{reason}");
}

#[test]
fn one_ingest_takes_every_freshly_copied_file_and_leaves_one_still_changing() {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox");
    let files: Vec<PathBuf> = names_in(&dataset("5ga"))
        .iter()
        .map(|n| dataset("5ga").join(n))
        .collect();
    copy_fresh(&inbox, &files);
    let (_, bytes) = sample();
    let growing = inbox.join("A_growing.xml");
    std::fs::write(&growing, &bytes[..100]).unwrap();
    // Appends a byte every 200 ms for 5 s: longer than the cycle waits (3 s).
    let writer = {
        let (growing, bytes) = (growing.clone(), bytes.clone());
        std::thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&growing)
                .unwrap();
            for byte in &bytes[100..125] {
                std::thread::sleep(Duration::from_millis(200));
                file.write_all(&[*byte]).unwrap();
            }
        })
    };
    let archive = tmp.path().join("archive");
    let source = format!("file://{}?settle_s=1&settle_max_s=3", inbox.display());
    let args = [
        "ingest",
        &source,
        "--system",
        "5ga",
        "--archive",
        archive.to_str().unwrap(),
    ];
    let stats = pmflow_ok(&args);
    writer.join().unwrap();
    let mut expected: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert_eq!(names_in(&inbox.join("Done")), expected, "{stats}");
    assert_eq!(cycle_stat(&stats, "files not yet settled"), 1, "{stats}");
    assert_eq!(cycle_stat(&stats, "files held"), 0, "{stats}");
    assert!(growing.exists(), "the growing file stays in the inbox");
    assert!(!inbox.join("Failed").exists());

    std::fs::write(&growing, &bytes).unwrap();
    let stats = pmflow_ok(&args);
    assert_eq!(cycle_stat(&stats, "files done"), 1, "{stats}");
    assert!(inbox.join("Done/A_growing.xml").exists());
}

#[test]
fn no_settle_takes_files_as_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let (_, bytes) = sample();
    std::fs::write(inbox.join("A_cut.xml"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(inbox.join("A_cut.xml.part"), &bytes).unwrap();
    let output = pmflow(&[
        "ingest",
        inbox.to_str().unwrap(),
        "--no-settle",
        "--system",
        "5ga",
        "--archive",
        tmp.path().join("archive").to_str().unwrap(),
    ]);
    assert!(output.status.success());
    // Taken at once, so quarantined as it is; the temporary name is still skipped.
    assert_eq!(names_in(&inbox), ["A_cut.xml.part", "Failed"]);
}

/// Lists `source`, fetches its only file, appends to it, and tries to complete it:
/// refused, the file stays; fetched again as it now is, it completes.
async fn a_file_changed_after_fetch_is_not_moved(source: &dyn Source, path: &Path) {
    let files = source.list().await.unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    let mut file = files[0].clone();
    file.size = source.fetch(&file).await.unwrap().len() as u64;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(b"<!-- more -->")
        .unwrap();
    let error = source
        .complete(&file, &Completion::Done)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("changed after it was read"), "{error}");
    assert!(path.exists());
    let mut file = source.list().await.unwrap().remove(0);
    file.size = source.fetch(&file).await.unwrap().len() as u64;
    source.complete(&file, &Completion::Done).await.unwrap();
    assert!(!path.exists());
}

fn filter() -> NameFilter {
    NameFilter::new(&[], &DEFAULT_TEMPORARY_NAMES).unwrap()
}

#[tokio::test]
async fn a_local_file_changed_after_fetch_is_not_moved() {
    let tmp = tempfile::tempdir().unwrap();
    let path = stage(tmp.path(), &[sample().0]).remove(0);
    let source = LocalDirSource::new(tmp.path(), filter(), scan_paths::DEFAULT_TTL).unwrap();
    a_file_changed_after_fetch_is_not_moved(&source, &path).await;
}

#[tokio::test]
async fn an_ftp_file_changed_after_fetch_is_not_moved() {
    let ftp = PrivateFtp::start(0);
    let path = stage(&ftp.folder("5ga"), &[sample().0]).remove(0);
    let settings = pmflow::source::ftp::FtpSettings::from_url(&ftp.url("5ga", "")).unwrap();
    let source = FtpSource::new(settings, filter(), scan_paths::DEFAULT_TTL).unwrap();
    a_file_changed_after_fetch_is_not_moved(&source, &path).await;
}
