//! A private vsftpd for the benchmarks (`scripts/ftp.sh`, which also installs it),
//! serving `root/pm` anonymously on a free loopback port.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running vsftpd; killed when dropped.
pub struct FtpServer {
    root: tempfile::TempDir,
    /// The port it listens on.
    pub port: u16,
}

impl FtpServer {
    /// Starts a server whose sessions transfer at `max_rate` bytes/s at most (0 =
    /// unlimited).
    pub fn start(max_rate: u64) -> Self {
        let root = tempfile::tempdir().expect("temporary root");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let status = Command::new("scripts/ftp.sh")
            .env("PMFLOW_FTP_PORT", port.to_string())
            .env("PMFLOW_FTP_ROOT", root.path())
            .env("PMFLOW_FTP_MAX_RATE", max_rate.to_string())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("scripts/ftp.sh runs");
        assert!(status.success(), "vsftpd did not start");
        Self { root, port }
    }

    /// The served folder `pm/<name>` on disk, created writable for the server.
    pub fn folder(&self, name: &str) -> PathBuf {
        let folder = self.root.path().join("pm").join(name);
        std::fs::create_dir_all(&folder).expect("folder");
        chown(&folder);
        folder
    }

    /// A served folder `pm/<name>` holding copies of `files`.
    pub fn stage(&self, name: &str, files: &[PathBuf]) {
        let folder = self.folder(name);
        for file in files {
            std::fs::copy(file, folder.join(file.file_name().expect("a name"))).expect("copy");
        }
        chown(&folder);
    }

    /// Files in `pm/<name>/Done`.
    pub fn done(&self, name: &str) -> usize {
        std::fs::read_dir(self.root.path().join("pm").join(name).join("Done"))
            .map(|entries| entries.count())
            .unwrap_or(0)
    }
}

/// Gives `path` and what it holds to the server's user.
fn chown(path: &Path) {
    let status = Command::new("chown")
        .args(["-R", "ftp:ftp", path.to_str().expect("utf-8")])
        .status()
        .expect("chown runs");
    assert!(status.success(), "chown {}", path.display());
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        // The start script keeps its state beside the root.
        let state = |suffix: &str| format!("{}.{suffix}", self.root.path().display());
        if let Ok(pid) = std::fs::read_to_string(state("pid")) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
        for suffix in ["pid", "vsftpd.log", "vsftpd.conf"] {
            let _ = std::fs::remove_file(state(suffix));
        }
    }
}
