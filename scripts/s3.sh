#!/usr/bin/env bash
# Installs moto's S3-compatible server (MinIO does not install here) and starts it on
# 127.0.0.1:${PMFLOW_S3_PORT:-4566} (not moto's default 9000: ClickHouse's native
# port) unless something listens there already, with the bucket
# ${PMFLOW_S3_BUCKET:-pmflow-test}. Prints the endpoint URL; clients reach it
# with AWS_ENDPOINT_URL=<that>, AWS_ALLOW_HTTP=true and any key id, secret and region.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PORT=${PMFLOW_S3_PORT:-4566}
BUCKET=${PMFLOW_S3_BUCKET:-pmflow-test}
ENDPOINT="http://127.0.0.1:$PORT"
LOG=${TMPDIR:-/tmp}/pmflow-moto-$PORT.log

if ! command -v moto_server >/dev/null 2>&1; then
  echo "== installing moto[server]" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    "moto[server]>=5.1,<6" >&2
fi
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
if ! listening; then
  echo "== starting moto_server on 127.0.0.1:$PORT (log: $LOG)" >&2
  setsid moto_server -H 127.0.0.1 -p "$PORT" >>"$LOG" 2>&1 < /dev/null &
  wait_for moto_server "$LOG" listening
fi
# Creating a bucket that exists is harmless (moto answers 200 or 409).
curl -s -o /dev/null -X PUT "$ENDPOINT/$BUCKET" >&2 || true
curl -sf -o /dev/null "$ENDPOINT/$BUCKET" || { echo "bucket $BUCKET not readable at $ENDPOINT" >&2; exit 1; }
echo "$ENDPOINT"
