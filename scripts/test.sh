#!/usr/bin/env bash
# Every test of pmflow: formatting, lints, unit and integration tests (cargo nextest),
# and a check that the benchmarks build. Installs and starts what it needs (cargo-nextest,
# MariaDB, ClickHouse, tansu, vsftpd, pyftpdlib, ZooKeeper, moto's S3 server, Python
# deltalake) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/build-deps.sh

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "== installing cargo-nextest"
  cargo install cargo-nextest --locked
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== MariaDB for the MySQL sink tests"
export PMFLOW_TEST_MYSQL_URL="$(scripts/mariadb.sh)"
echo "== ClickHouse for the ClickHouse sink tests"
scripts/clickhouse.sh
echo "== a Kafka-protocol broker (tansu) for the Kafka sink tests"
export PMFLOW_TEST_KAFKA="$(scripts/kafka.sh)"
echo "== vsftpd and pyftpdlib for the FTP source tests (each test starts its own)"
scripts/ftp.sh
scripts/pyftpd.sh
echo "== ZooKeeper for the leader-election tests"
export PMFLOW_TEST_ZOOKEEPER="$(scripts/zookeeper.sh)"
echo "== moto's S3-compatible server for the archive-on-S3 tests"
export PMFLOW_TEST_S3="$(scripts/s3.sh)"
echo "== Prometheus and promtool for the monitoring tests (each test starts its own)"
scripts/prometheus.sh >/dev/null
echo "== Python deltalake: the archive tests' independent reader"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  "deltalake>=1.1,<2" "pyarrow>=15"
echo "== cargo nextest"
cargo nextest run --no-fail-fast
