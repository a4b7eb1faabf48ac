//! `pmflow run` processes for the tests: started on a free HTTP port, talked to over
//! real HTTP, stopped with SIGTERM or killed with SIGKILL.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{free_port, repo};

/// `pmflow run` arguments of one system from `plan` reading `source` into `archive`.
pub fn run_args(plan: &Path, source: &str, archive: &Path, cron: &str, delay: u64) -> Vec<String> {
    let delay = delay.to_string();
    [
        "--plan",
        plan.to_str().unwrap(),
        "--source",
        source,
        "--archive",
        archive.to_str().unwrap(),
        "--cron",
        cron,
        "--initial-delay",
        &delay,
    ]
    .map(String::from)
    .into()
}

/// `pmflow run` of system 5ga over an empty inbox into `archive` and `sinks`, its
/// schedule a year away: a service for the tests of what it answers over HTTP.
pub fn idle_5ga_service(
    tmp: &Path,
    archive: &Path,
    sinks: &[String],
    env: &[(&str, &str)],
) -> Service {
    let inbox = tmp.join("empty-inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let plan = super::five_ga::plan(tmp, 1);
    let mut args = run_args(&plan, inbox.to_str().unwrap(), archive, "0 0 0 1 1 *", 3600);
    for sink in sinks {
        args.extend(["--sink".to_string(), sink.clone()]);
    }
    Service::start(&args, env)
}

/// A running `pmflow run`.
pub struct Service {
    child: Option<Child>,
    /// `127.0.0.1:port` of its HTTP endpoints.
    pub http: String,
    logs: TempDir,
}

impl Service {
    /// Starts `pmflow run ARGS --http 127.0.0.1:<free port>` with extra environment
    /// variables, and waits until `/healthz` answers.
    pub fn start(args: &[String], env: &[(&str, &str)]) -> Self {
        let http = format!("127.0.0.1:{}", free_port());
        let logs = tempfile::tempdir().unwrap();
        let stderr = std::fs::File::create(logs.path().join("stderr")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pmflow"))
            .arg("run")
            .args(args)
            .args(["--http", &http])
            .envs(env.iter().copied())
            .env("PMFLOW_LOG", "info,pmflow=debug")
            .current_dir(repo())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("pmflow run starts");
        let mut service = Self {
            child: Some(child),
            http,
            logs,
        };
        service.wait_for("/healthz to answer", Duration::from_secs(60), |s| {
            s.request("GET", "/healthz").0 == 200
        });
        service
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// What the process logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    fn stderr_path(&self) -> PathBuf {
        self.logs.path().join("stderr")
    }

    /// Sends an HTTP request; the status code (0 when nothing answers) and body.
    pub fn request(&self, method: &str, path: &str) -> (u16, String) {
        self.request_with(method, path, None, "")
    }

    /// Sends an HTTP request with a bearer `token` and a JSON `body`; the status code
    /// (0 when nothing answers) and body.
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (u16, String) {
        http_request(&self.http, method, path, token, body).unwrap_or((0, String::new()))
    }

    /// `GET /api/v1/systems`, the status of `system`.
    pub fn status(&self, system: &str) -> serde_json::Value {
        let (code, body) = self.request("GET", "/api/v1/systems");
        assert_eq!(code, 200, "{body}");
        let systems: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        systems
            .into_iter()
            .find(|s| s["system"] == system)
            .unwrap_or_else(|| panic!("no system {system} in {body}"))
    }

    /// `GET /metrics`, parsed: `name{labels}` → value.
    pub fn metrics(&self) -> HashMap<String, f64> {
        let (code, body) = self.request("GET", "/metrics");
        assert_eq!(code, 200, "{body}");
        body.lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (name, value) = line.rsplit_once(' ').expect("name value");
                (name.to_string(), value.parse().expect("a number"))
            })
            .collect()
    }

    /// Polls `done` until it holds, failing the test with the log after `timeout`.
    pub fn wait_for(&mut self, what: &str, timeout: Duration, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!(
                    "pmflow run exited ({status}) waiting for {what}:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGTERM and waits for the exit; its status and log.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        signal(child.id(), "-TERM");
        let status = child.wait().unwrap();
        (status, self.stderr())
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill(mut self) {
        let mut child = self.child.take().expect("running");
        signal(child.id(), "-KILL");
        child.wait().unwrap();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// A minimal HTTP/1.1 client: one request, `Connection: close`, body read to the end.
pub fn http_request(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n{authorization}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Ok((
        code,
        if chunked {
            dechunked(body)
        } else {
            body.to_string()
        },
    ))
}

/// The body of a chunked response: each chunk's size line and data, then `0`.
fn dechunked(mut body: &str) -> String {
    let mut data = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        data.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    data
}
