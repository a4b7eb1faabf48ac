#!/usr/bin/env bash
# Makes sure a ClickHouse server answers HTTP on 127.0.0.1:8123 (user `default`, no
# password: loopback only). Installs Debian's clickhouse-server (18.16, the release
# that installs here) and starts it when needed; does nothing when it already runs.
# Prints the URL to use.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

URL=http://127.0.0.1:8123
LOG=${TMPDIR:-/tmp}/pmflow-clickhouse.log

command -v curl >/dev/null || apt_install curl
answers() { [ "$(curl -fsS "$URL/?query=SELECT%201" 2>/dev/null)" = 1 ]; }

if ! answers; then
  command -v clickhouse-server >/dev/null || apt_install clickhouse-server clickhouse-client
  # Each background merge of a wide table opens several files per column; with the
  # default 16 merges at once the tests' wide tables exhausted the open-file limit
  # (20,000 here, which cannot be raised) and the server hung. Fewer merges at once.
  limits=/etc/clickhouse-server/users.d/pmflow-merges.xml
  if [ ! -f "$limits" ]; then
    $SUDO mkdir -p "$(dirname "$limits")"
    echo '<yandex><profiles><default><background_pool_size>4</background_pool_size></default></profiles></yandex>' \
      | $SUDO tee "$limits" >/dev/null
  fi
  echo "== starting clickhouse-server on 127.0.0.1:8123 (log: $LOG)" >&2
  # An insert into a wide table opens 3 files per column: raise the open-file limit
  # as the packaged service would.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  $SUDO setsid clickhouse-server --config-file=/etc/clickhouse-server/config.xml \
    >"$LOG" 2>&1 < /dev/null &
  wait_for clickhouse-server "$LOG" answers
fi
echo "clickhouse://default@127.0.0.1:8123"
