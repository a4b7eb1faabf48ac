//! The S3-compatible server for the tests (moto, started by `scripts/s3.sh`): a prefix
//! of its own per test in the shared bucket, and the `AWS_*` environment through which
//! pmflow and the independent readers reach it.

use std::ffi::OsStr;
use std::process::Command;

/// The bucket `scripts/s3.sh` creates.
pub const BUCKET: &str = "pmflow-test";

/// The server's endpoint; the test fails when it is not given.
fn endpoint() -> String {
    std::env::var("PMFLOW_TEST_S3").expect(
        "PMFLOW_TEST_S3 is not set: run the tests through scripts/test.sh, or export PMFLOW_TEST_S3=\"$(scripts/s3.sh)\"",
    )
}

/// The `AWS_*` variables that point `object_store`, Python `deltalake` and boto3 at
/// the server.
pub fn env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint()),
        ("AWS_ACCESS_KEY_ID", "pmflow".into()),
        ("AWS_SECRET_ACCESS_KEY", "pmflow".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ]
}

/// An archive URL no other test or run uses.
pub fn archive_url(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("s3://{BUCKET}/{test}-{}-{nanos}", std::process::id())
}

/// The `pmflow` binary with `args` and the server's environment.
pub fn pmflow<S: AsRef<OsStr>>(args: &[S]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pmflow"));
    command.args(args).envs(env()).current_dir(super::repo());
    command
}

/// Runs `pmflow` against the server and returns its stdout, failing the test with
/// stderr on error.
pub fn pmflow_ok<S: AsRef<OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    super::stdout_of_success(args, pmflow(args).output().expect("pmflow runs"))
}
