//! Private FTP servers for the tests: Debian's vsftpd, configured by `scripts/ftp.sh`
//! (which also installs it), one per test so a test can throttle it or drop its
//! connections without disturbing the others; and pyftpdlib (`scripts/pyftpd.sh`),
//! a second server for the behaviour that must hold on more than one.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::{free_port, start_with_script};

/// A vsftpd of one test, serving `root/pm` anonymously on a free loopback port.
pub struct PrivateFtp {
    root: TempDir,
    port: u16,
    listener: u32,
}

impl PrivateFtp {
    /// Starts a server whose transfers run at `max_rate` bytes/s at most (0 =
    /// unlimited).
    pub fn start(max_rate: u64) -> Self {
        Self::launch(max_rate, false)
    }

    /// Starts a server that requires explicit TLS (see [`Self::ca_file`]).
    pub fn start_tls() -> Self {
        Self::launch(0, true)
    }

    /// Starts a pyftpdlib server instead of vsftpd, serving the same way.
    pub fn start_pyftpdlib() -> Self {
        let root = tempfile::tempdir().expect("temporary root");
        let port = free_port();
        let env = [
            ("PMFLOW_FTP_PORT", port.to_string().into()),
            ("PMFLOW_FTP_ROOT", root.path().into()),
        ];
        start_with_script("pyftpd.sh", &env, "pyftpdlib");
        Self::started(root, port)
    }

    fn launch(max_rate: u64, tls: bool) -> Self {
        let root = tempfile::tempdir().expect("temporary root");
        let port = free_port();
        let env = [
            ("PMFLOW_FTP_PORT", port.to_string().into()),
            ("PMFLOW_FTP_ROOT", root.path().into()),
            ("PMFLOW_FTP_MAX_RATE", max_rate.to_string().into()),
            ("PMFLOW_FTP_TLS", if tls { "1" } else { "0" }.into()),
        ];
        start_with_script("ftp.sh", &env, "vsftpd");
        Self::started(root, port)
    }

    /// The server the start script left listening, by its pid file.
    fn started(root: TempDir, port: u16) -> Self {
        let pid = std::fs::read_to_string(state(root.path(), "pid")).expect("pid file");
        Self {
            listener: pid.trim().parse().expect("a pid"),
            root,
            port,
        }
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The served folder `pm/<name>` on disk, created writable for the server.
    pub fn folder(&self, name: &str) -> PathBuf {
        let folder = self.root.path().join("pm").join(name);
        std::fs::create_dir_all(&folder).unwrap();
        let status = Command::new("chown")
            .args(["ftp:ftp", folder.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success(), "chown ftp {}", folder.display());
        folder
    }

    /// The `ftp://` URL of the folder `pm/<name>`, with URL parameters `params`.
    pub fn url(&self, name: &str, params: &str) -> String {
        format!("ftp://anonymous@127.0.0.1:{}/pm/{name}?{params}", self.port)
    }

    /// The `ftps://` URL of the folder `pm/<name>`, with URL parameters `params`.
    pub fn ftps_url(&self, name: &str, params: &str) -> String {
        format!(
            "ftps://anonymous@127.0.0.1:{}/pm/{name}?{params}",
            self.port
        )
    }

    /// The CA that issued a TLS server's certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        state(self.root.path(), "tls").join("ca.pem")
    }

    /// The server's log (one line per connection, login, transfer and rename).
    pub fn log(&self) -> String {
        std::fs::read_to_string(state(self.root.path(), "vsftpd.log")).unwrap_or_default()
    }

    /// Kills every session process, as a server crash or a network cut would: each
    /// client's control and data connections drop mid-command. How many were killed.
    pub fn drop_sessions(&self) -> usize {
        let sessions = descendants(self.listener);
        for pid in &sessions {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        sessions.len()
    }
}

impl Drop for PrivateFtp {
    fn drop(&mut self) {
        self.drop_sessions();
        let _ = Command::new("kill")
            .args(["-9", &self.listener.to_string()])
            .status();
        for suffix in ["pid", "vsftpd.log", "vsftpd.conf", "pyftpd.log"] {
            let _ = std::fs::remove_file(state(self.root.path(), suffix));
        }
        let _ = std::fs::remove_dir_all(state(self.root.path(), "tls"));
    }
}

/// The file `ROOT.<suffix>` that `scripts/ftp.sh` keeps beside a private root.
fn state(root: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}.{suffix}", root.display()))
}

/// Every process below `pid`, from `/proc`.
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let child: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces, so split after ')'.
            let parent = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
            Some((child, parent.parse().ok()?))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found.remove(0);
    found
}
