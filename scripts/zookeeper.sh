#!/usr/bin/env bash
# Makes sure ZooKeeper answers on 127.0.0.1:2181: Debian's zookeeper package, started
# with its own zkServer.sh (data in /tmp/zookeeper by the packaged config; nothing
# starts it automatically here). Does nothing when a server already listens. Prints
# the connect string.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ADDRESS=127.0.0.1:2181
LOG=${TMPDIR:-/tmp}/pmflow-zookeeper.log
ZKSERVER=/usr/share/zookeeper/bin/zkServer.sh

listening() { (exec 3<>"/dev/tcp/${ADDRESS%:*}/${ADDRESS#*:}") 2>/dev/null; }

# The four-letter command srvr (the only one allowed by default) answers with the
# server's mode once it serves requests.
serving() {
  exec 3<>"/dev/tcp/${ADDRESS%:*}/${ADDRESS#*:}" && printf srvr >&3 && grep -q '^Mode:' <&3
}

if ! listening; then
  [ -x "$ZKSERVER" ] || apt_install zookeeper zookeeperd
  echo "== starting ZooKeeper on $ADDRESS (log: $LOG)" >&2
  ZOO_LOG_DIR=${TMPDIR:-/tmp} setsid "$ZKSERVER" start >"$LOG" 2>&1 < /dev/null
  wait_for ZooKeeper "$LOG" serving
fi
echo "$ADDRESS"
