//! MariaDB for the tests: a database of its own per test on the shared server that
//! `scripts/mariadb.sh` starts, and private servers that a test may kill and restart.
//! Checks go through the `mariadb` command-line client, not through pmflow's code.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::delta::ArchiveSums;
use super::{QueryClient, same_number};

/// The shared server: `PMFLOW_TEST_MYSQL_URL` or what `scripts/mariadb.sh` sets up.
fn shared_server() -> Server {
    let url = std::env::var("PMFLOW_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://pmflow:pmflow@127.0.0.1:3306".to_string());
    let rest = url.strip_prefix("mysql://").expect("mysql:// URL");
    let (credentials, address) = rest.split_once('@').expect("user:pass@host:port");
    let (user, password) = credentials.split_once(':').expect("user:pass");
    let (host, port) = address
        .trim_end_matches('/')
        .split_once(':')
        .expect("host:port");
    Server {
        host: host.to_string(),
        port: port.parse().expect("port"),
        user: user.to_string(),
        password: password.to_string(),
    }
}

/// Where a server listens and how to log in.
#[derive(Debug, Clone)]
pub struct Server {
    host: String,
    port: u16,
    user: String,
    password: String,
}

impl Server {
    /// Runs SQL through the `mariadb` client; `None` when the server did not answer.
    fn try_sql(&self, database: Option<&str>, sql: &str) -> Result<String, String> {
        let mut command = Command::new("mariadb");
        command.args([
            "--protocol=TCP",
            "-h",
            &self.host,
            "-P",
            &self.port.to_string(),
            "-u",
            &self.user,
            "--batch",
            "--skip-column-names",
            "-e",
            sql,
        ]);
        if !self.password.is_empty() {
            command.arg(format!("-p{}", self.password));
        }
        command.args(database);
        let output = command
            .output()
            .expect("the mariadb client runs (install it with scripts/mariadb.sh)");
        if output.status.success() {
            Ok(String::from_utf8(output.stdout).expect("utf-8"))
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    fn url(&self, database: &str) -> String {
        format!(
            "mysql://{}:{}@{}:{}/{database}",
            self.user, self.password, self.host, self.port
        )
    }
}

/// A database of one test, dropped and created anew when the test starts (and left in
/// place afterwards for inspection).
pub struct TestDb {
    server: Server,
    name: String,
}

impl TestDb {
    /// A fresh database `pmflow_test_<name>` on the shared server; fails the test
    /// loudly when the server is not there.
    pub fn new(name: &str) -> Self {
        Self::on(shared_server(), name)
    }

    fn on(server: Server, name: &str) -> Self {
        let name = format!("pmflow_test_{name}");
        server
            .try_sql(
                None,
                &format!("DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}"),
            )
            .unwrap_or_else(|e| {
                panic!(
                    "MariaDB at {}:{} is needed (start it with scripts/mariadb.sh): {e}",
                    server.host, server.port
                )
            });
        Self { server, name }
    }

    /// The sink URL of this database, with extra URL parameters (`""` for none).
    pub fn url(&self, parameters: &str) -> String {
        format!("{}{parameters}", self.server.url(&self.name))
    }
}

impl QueryClient for TestDb {
    fn try_query(&self, sql: &str) -> Result<String, String> {
        self.server.try_sql(Some(&self.name), sql)
    }
}

/// A MariaDB server of one test, in a temporary data directory on a free port, that
/// the test can kill and start again.
pub struct PrivateServer {
    dir: PathBuf,
    server: Server,
    process: Option<Child>,
}

impl PrivateServer {
    /// Creates a data directory under `dir` and starts a server on it.
    pub fn start(dir: &Path) -> Self {
        let data = dir.join("data");
        let status = Command::new("mariadb-install-db")
            .args(["--no-defaults", "--auth-root-authentication-method=normal"])
            .arg(format!("--datadir={}", data.display()))
            .args(user_flag())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mariadb-install-db runs (install MariaDB with scripts/mariadb.sh)");
        assert!(status.success(), "mariadb-install-db failed");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self {
            dir: dir.to_path_buf(),
            server: Server {
                host: "127.0.0.1".into(),
                port,
                user: "root".into(),
                password: String::new(),
            },
            process: None,
        };
        server.restart();
        server
    }

    /// Starts the server (again) and waits until it answers.
    pub fn restart(&mut self) {
        let data = self.dir.join("data");
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .arg(format!("--port={}", self.server.port))
            .args(["--bind-address=127.0.0.1", "--innodb-buffer-pool-size=64M"])
            .arg(format!(
                "--log-error={}",
                self.dir.join("error.log").display()
            ))
            .args(user_flag())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd starts");
        self.process = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.server.try_sql(None, "SELECT 1").is_err() {
            assert!(
                Instant::now() < deadline,
                "private MariaDB did not start; see {}",
                self.dir.join("error.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server at once, as a crash or a power cut would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            child.kill().expect("kill mariadbd");
            child.wait().expect("reap mariadbd");
        }
    }

    /// A fresh database on this server.
    pub fn database(&self, name: &str) -> TestDb {
        TestDb::on(self.server.clone(), name)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `--user=root` when running as root (mariadbd refuses root otherwise).
fn user_flag() -> Vec<String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if root {
        vec!["--user=root".into()]
    } else {
        Vec::new()
    }
}

/// Row count and the sum of every numeric counter of `table` agree between MySQL
/// (in each part the table is split into) and the archive.
pub fn assert_table_matches_archive(db: &TestDb, archive: &ArchiveSums, table: &str) {
    for part in db.rows(&format!(
        "SELECT DISTINCT mysql_table FROM pmflow_columns WHERE table_name = '{table}'"
    )) {
        let columns: Vec<(String, String)> = db
            .rows(&format!(
                "SELECT column_name, counter FROM pmflow_columns \
                 WHERE mysql_table = '{part}' AND sql_type IN ('BIGINT', 'DOUBLE') \
                 ORDER BY column_name"
            ))
            .into_iter()
            .map(|row| {
                let (column, counter) = row.split_once('\t').unwrap();
                (column.to_string(), counter.to_string())
            })
            .collect();
        let mysql_sums: String = columns
            .iter()
            .map(|(column, _)| format!(", SUM(`{column}`)"))
            .collect();
        let in_mysql = db.value(&format!("SELECT COUNT(*){mysql_sums} FROM `{part}`"));
        let counters: Vec<String> = columns.iter().map(|(_, c)| c.clone()).collect();
        let in_archive = archive.row(table, &counters);
        let in_mysql: Vec<&str> = in_mysql.split('\t').collect();
        assert_eq!(in_mysql.len(), in_archive.len(), "{part}");
        assert_ne!(in_mysql[0], "0", "{part} is empty");
        // The table itself has every row; a part only those written since it exists.
        let skip = usize::from(part != table);
        for (i, (m, a)) in in_mysql.iter().zip(&in_archive).enumerate().skip(skip) {
            let what = if i == 0 {
                "COUNT(*)"
            } else {
                &columns[i - 1].1
            };
            assert!(
                same_number(m, a, "NULL"),
                "{part}.{what}: MySQL {m}, archive {a}"
            );
        }
    }
}
