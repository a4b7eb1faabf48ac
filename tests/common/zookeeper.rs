//! ZooKeeper for the tests: the shared server `scripts/zookeeper.sh` starts, and
//! private servers a test may kill and start again.

use std::process::Command;

use tempfile::TempDir;

use super::{free_port, start_with_script};

/// The shared server: `PMFLOW_TEST_ZOOKEEPER`, else the address the script uses.
pub fn shared() -> String {
    std::env::var("PMFLOW_TEST_ZOOKEEPER").unwrap_or_else(|_| "127.0.0.1:2181".to_string())
}

/// The shared server's connect string with a chroot of this test process's own,
/// `/pmflow-test-<pid>-<name>`, created here, so that tests never see each other's
/// elections.
pub fn chroot(name: &str) -> String {
    use zookeeper_client::{Acls, Client, CreateMode};
    let zookeeper = shared();
    let path = format!("/pmflow-test-{}-{name}", std::process::id());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = Client::connect(&zookeeper)
            .await
            .unwrap_or_else(|e| panic!("ZooKeeper at {zookeeper} (scripts/zookeeper.sh): {e}"));
        let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
        client.create(&path, b"", &options).await.unwrap();
    });
    format!("{zookeeper}{path}")
}

/// A ZooKeeper of one test on a free loopback port, its data in a temporary folder.
pub struct PrivateZooKeeper {
    dir: TempDir,
    port: u16,
}

impl PrivateZooKeeper {
    /// Starts a server.
    pub fn start() -> Self {
        let server = Self {
            dir: tempfile::tempdir().expect("temporary folder"),
            port: free_port(),
        };
        server.launch();
        server
    }

    /// Its connect string.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port and data.
    pub fn launch(&self) {
        let env = [
            ("PMFLOW_ZK_PORT", self.port.to_string().into()),
            ("PMFLOW_ZK_DIR", self.dir.path().into()),
        ];
        start_with_script("zookeeper.sh", &env, "ZooKeeper");
    }

    /// Kills the server with SIGKILL, as a crash or a network cut would.
    pub fn kill(&self) {
        let pid_file = self.dir.path().join("data/zookeeper_server.pid");
        let pid = std::fs::read_to_string(pid_file).expect("pid file");
        let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

impl Drop for PrivateZooKeeper {
    fn drop(&mut self) {
        self.kill();
    }
}
