#!/usr/bin/env bash
# Makes sure a MariaDB server answers on 127.0.0.1:3306 with the account the tests and
# benchmarks use (pmflow/pmflow, allowed to create databases). Installs the Debian
# package and starts the server when needed; does nothing when it already runs.
# Prints the URL to use.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

HOST=127.0.0.1 PORT=3306 USER=pmflow PASS=pmflow
LOG=${TMPDIR:-/tmp}/pmflow-mariadb.log

answers() { mariadb -h"$HOST" -P"$PORT" -u"$USER" -p"$PASS" -e 'SELECT 1' >/dev/null 2>&1; }

if command -v mariadb >/dev/null && answers; then
  echo "mysql://$USER:$PASS@$HOST:$PORT"; exit 0
fi
command -v mariadbd >/dev/null || apt_install mariadb-server mariadb-client
if ! $SUDO mariadb -e 'SELECT 1' >/dev/null 2>&1; then
  echo "== starting mariadbd on $HOST:$PORT (log: $LOG)" >&2
  $SUDO mkdir -p /run/mysqld
  $SUDO chown mysql:mysql /run/mysqld
  $SUDO setsid mariadbd --user=mysql --bind-address="$HOST" --port="$PORT" \
    --local-infile=1 --max-connections=1000 >"$LOG" 2>&1 < /dev/null &
  wait_for mariadbd "$LOG" $SUDO mariadb -e 'SELECT 1'

fi
$SUDO mariadb <<SQL
CREATE USER IF NOT EXISTS '$USER'@'127.0.0.1' IDENTIFIED BY '$PASS';
CREATE USER IF NOT EXISTS '$USER'@'localhost' IDENTIFIED BY '$PASS';
GRANT ALL PRIVILEGES ON *.* TO '$USER'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$USER'@'localhost' WITH GRANT OPTION;
SET GLOBAL local_infile = 1;
SQL
answers || { echo "cannot log in to MariaDB at $HOST:$PORT as $USER" >&2; exit 1; }
echo "mysql://$USER:$PASS@$HOST:$PORT"
