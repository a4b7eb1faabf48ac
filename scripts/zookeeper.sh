#!/usr/bin/env bash
# Makes sure ZooKeeper answers on 127.0.0.1:2181: Debian's zookeeper package, started
# with its own zkServer.sh (data in /tmp/zookeeper by the packaged config; nothing
# starts it automatically here). Does nothing when a server already listens. Prints
# the connect string.
#
# Tests start private servers through the environment: PMFLOW_ZK_PORT and
# PMFLOW_ZK_DIR (its zoo.cfg, data and log; the server's pid is in
# DIR/data/zookeeper_server.pid). Starting again with the same DIR keeps the data.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PORT=${PMFLOW_ZK_PORT:-2181}
ADDRESS=127.0.0.1:$PORT
ZKSERVER=/usr/share/zookeeper/bin/zkServer.sh
CONFIG=()
LOG_DIR=${TMPDIR:-/tmp}
if [ -n "${PMFLOW_ZK_DIR:-}" ]; then
  LOG_DIR=$PMFLOW_ZK_DIR
  mkdir -p "$PMFLOW_ZK_DIR/data"
  cat >"$PMFLOW_ZK_DIR/zoo.cfg" <<CONF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$PMFLOW_ZK_DIR/data
clientPort=$PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
CONF
  CONFIG=("$PMFLOW_ZK_DIR/zoo.cfg")
fi
LOG=$LOG_DIR/pmflow-zookeeper.log

listening() { (exec 3<>"/dev/tcp/${ADDRESS%:*}/${ADDRESS#*:}") 2>/dev/null; }

# The four-letter command srvr (the only one allowed by default) answers with the
# server's mode once it serves requests.
serving() {
  exec 3<>"/dev/tcp/${ADDRESS%:*}/${ADDRESS#*:}" && printf srvr >&3 && grep -q '^Mode:' <&3
}

if ! listening; then
  [ -x "$ZKSERVER" ] || apt_install zookeeper zookeeperd
  echo "== starting ZooKeeper on $ADDRESS (log: $LOG)" >&2
  ZOO_LOG_DIR=$LOG_DIR setsid "$ZKSERVER" start "${CONFIG[@]}" >"$LOG" 2>&1 < /dev/null
  wait_for ZooKeeper "$LOG" serving
fi
echo "$ADDRESS"
