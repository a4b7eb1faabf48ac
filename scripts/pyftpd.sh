#!/usr/bin/env bash
# Installs pyftpdlib (a second FTP server, beside vsftpd, for the tests that must hold
# on more than one server), and with PMFLOW_FTP_PORT and PMFLOW_FTP_ROOT set starts a
# private one serving ROOT anonymously (scripts/pyftpd.py), writing the listener's pid
# to ROOT.pid and its log to ROOT.pyftpd.log. Prints the URL of ROOT's folder pm/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if ! python3 -c "import pyftpdlib" 2>/dev/null; then
  echo "== installing pyftpdlib" >&2
  python3 -m pip install --quiet "pyftpdlib==2.2.0" >&2
fi
[ -n "${PMFLOW_FTP_PORT:-}" ] || exit 0

PORT=$PMFLOW_FTP_PORT
ROOT=$PMFLOW_FTP_ROOT
LOG=$ROOT.pyftpd.log
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

mkdir -p "$ROOT/pm"
echo "== starting pyftpdlib on 127.0.0.1:$PORT (log: $LOG)" >&2
setsid python3 "$(dirname "$0")/pyftpd.py" "$PORT" "$ROOT" >>"$LOG" 2>&1 < /dev/null &
echo $! >"$ROOT.pid"
wait_for pyftpdlib "$LOG" listening
echo "ftp://anonymous@127.0.0.1:$PORT/pm"
