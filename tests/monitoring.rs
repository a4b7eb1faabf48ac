//! The monitoring pack of `monitoring/`: its Prometheus rules checked and unit-tested
//! with promtool, and a real Prometheus scraping a running `pmflow run` that evaluates
//! every rule and every dashboard expression without error, every `pmflow_*` metric
//! they name being served from the first scrape.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::service::{http_request, idle_5ga_service};
use common::{free_port, repo};
use serde_json::Value;

fn pack(path: &str) -> PathBuf {
    repo().join("monitoring").join(path)
}

/// Runs promtool with `args`, failing the test with its output unless it succeeds.
fn promtool(args: &[&str]) {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(pack("prometheus"))
        .output()
        .expect("promtool runs (install it with scripts/prometheus.sh)");
    assert!(
        output.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn promtool_checks_the_rules_and_their_unit_tests_pass() {
    promtool(&["check", "rules", "pmflow.rules.yml"]);
    promtool(&["test", "rules", "pmflow.rules.test.yml"]);
}

/// A private Prometheus scraping `target` every second with the pack's rules.
struct Prometheus {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: pmflow\n    static_configs:\n      - targets: ['{target}']\n",
                pack("prometheus/pmflow.rules.yml").display()
            ),
        )
        .unwrap();
        let address = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus runs (install it with scripts/prometheus.sh)");
        Self {
            child,
            address,
            _dir: dir,
        }
    }

    /// `GET /api/v1/<path>` as JSON (`Null` while it does not answer).
    fn api(&self, path: &str) -> Value {
        let path = format!("/api/v1/{path}");
        http_request(&self.address, "GET", &path, None, "")
            .ok()
            .and_then(|(_, body)| serde_json::from_str(&body).ok())
            .unwrap_or(Value::Null)
    }

    /// Evaluates `expr` now: the API's answer.
    fn query(&self, expr: &str) -> Value {
        let encoded: String =
            percent_encoding::utf8_percent_encode(expr, percent_encoding::NON_ALPHANUMERIC)
                .collect();
        self.api(&format!("query?query={encoded}"))
    }

    /// Polls until `done` holds, for at most `timeout`.
    fn wait_for(&self, what: &str, timeout: Duration, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every expression of the rules file and of the dashboard.
fn expressions() -> Vec<String> {
    let rules = std::fs::read_to_string(pack("prometheus/pmflow.rules.yml")).unwrap();
    let mut expressions = Vec::new();
    let mut lines = rules.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let mut expr = rest.trim().trim_start_matches('>').trim().to_string();
        let indent = line.len() - line.trim_start().len();
        while let Some(next) = lines.peek() {
            let deeper = next.len() - next.trim_start().len() > indent && !next.trim().is_empty();
            if !deeper {
                break;
            }
            expr.push(' ');
            expr.push_str(lines.next().unwrap().trim());
        }
        expressions.push(expr.trim().to_string());
    }
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(pack("grafana/pmflow-dashboard.json")).unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            expressions.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    expressions
}

/// The `pmflow_*` metric names `text` mentions (histogram series as their family).
fn metric_names(text: &str) -> BTreeSet<String> {
    // Not the `pmflow_…` inside a recording rule's name (`system:pmflow_rows:rate5m`).
    let name = regex::Regex::new(r"(?:^|[^:a-z_])(pmflow_[a-z_]+)").unwrap();
    name.captures_iter(text)
        .map(|c| {
            let found = c.get(1).expect("the name").as_str();
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| found.strip_suffix(suffix))
                .unwrap_or(found)
                .to_string()
        })
        .collect()
}

#[test]
fn prometheus_scraping_pmflow_evaluates_every_rule_and_dashboard_expression() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let mut service = idle_5ga_service(tmp.path(), &archive, &[], &[]);
    let prometheus = Prometheus::start(&service.http);
    prometheus.wait_for(
        "Prometheus to scrape pmflow",
        Duration::from_secs(60),
        |p| p.query("up{job=\"pmflow\"}")["data"]["result"][0]["value"][1] == "1",
    );

    let expressions = expressions();
    assert!(expressions.len() >= 20, "{expressions:?}");
    for expr in &expressions {
        let answer = prometheus.query(expr);
        assert_eq!(answer["status"], "success", "{expr}: {answer}");
    }
    let rules_file = std::fs::read_to_string(pack("prometheus/pmflow.rules.yml")).unwrap();
    let rule_count = rules_file
        .lines()
        .filter(|l| {
            ["- alert:", "- record:"]
                .iter()
                .any(|k| l.trim_start().starts_with(k))
        })
        .count();
    assert_eq!(rule_count, 11);
    prometheus.wait_for("every rule evaluated", Duration::from_secs(30), |p| {
        let groups = p.api("rules");
        let rules: Vec<&Value> = groups["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().unwrap())
            .collect();
        rules.len() == rule_count && rules.iter().all(|r| r["health"] == "ok")
    });

    // Every family is served from the first scrape, histograms included (empty).
    let used = metric_names(&expressions.join("\n"));
    let served =
        |service: &common::service::Service| metric_names(&service.request("GET", "/metrics").1);
    let first_scrape = served(&service);
    let missing: Vec<&String> = used.difference(&first_scrape).collect();
    assert!(
        missing.is_empty(),
        "used but not served from the first scrape: {missing:?}"
    );
    // The families are there before anything happened, at zero.
    assert_eq!(
        prometheus.query("pmflow_files_failed_total{system=\"5ga\"}")["data"]["result"][0]["value"]
            [1],
        "0"
    );
    let count = "pmflow_stage_duration_seconds_count{system=\"5ga\",stage=\"parse\"}";
    assert_eq!(
        prometheus.query(count)["data"]["result"][0]["value"][1],
        "0"
    );

    let generated = tmp.path().join("gen");
    common::generate(&generated, "5ga", 1, 1);
    let files: Vec<PathBuf> = common::names_in(&generated)
        .iter()
        .map(|n| generated.join(n))
        .collect();
    common::stage(&tmp.path().join("empty-inbox"), &files);
    assert_eq!(service.request("POST", "/api/v1/systems/5ga/scan").0, 202);
    service.wait_for("a cycle", Duration::from_secs(60), |s| {
        s.status("5ga")["cycles"] == 1
    });
    let after_a_cycle = served(&service);
    let missing: Vec<&String> = used.difference(&after_a_cycle).collect();
    assert!(
        missing.is_empty(),
        "used but not served after a cycle: {missing:?}"
    );
}
