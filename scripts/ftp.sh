#!/usr/bin/env bash
# Makes sure an FTP server answers on 127.0.0.1:2121: Debian's vsftpd (what operators
# run), anonymous with write access to the folder /pm (uploads, mkdir, rename), passive
# ports 30000-30099 on 127.0.0.1. Does nothing when a server already listens. Prints
# the URL of the folder.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PORT=2121
ROOT=/srv/pmflow-ftp
CONF=${TMPDIR:-/tmp}/pmflow-vsftpd.conf
LOG=${TMPDIR:-/tmp}/pmflow-vsftpd.log

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

if ! listening; then
  command -v vsftpd >/dev/null || [ -x /usr/sbin/vsftpd ] || apt_install vsftpd
  # vsftpd refuses a writable anonymous root: the root is root's, the folder ftp's.
  $SUDO mkdir -p "$ROOT/pm" /var/run/vsftpd/empty
  $SUDO chown root:root "$ROOT" && $SUDO chmod 755 "$ROOT"
  $SUDO chown ftp:ftp "$ROOT/pm" && $SUDO chmod 755 "$ROOT/pm"
  cat >"$CONF" <<CONF
listen=YES
listen_address=127.0.0.1
listen_port=$PORT
background=NO
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root=$ROOT
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=YES
anon_other_write_enable=YES
anon_umask=022
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=30000
pasv_max_port=30099
seccomp_sandbox=NO
max_clients=200
max_per_ip=200
xferlog_enable=YES
vsftpd_log_file=$LOG
CONF
  echo "== starting vsftpd on 127.0.0.1:$PORT (log: $LOG)" >&2
  setsid /usr/sbin/vsftpd "$CONF" >>"$LOG" 2>&1 < /dev/null &
  wait_for vsftpd "$LOG" listening
fi
echo "ftp://anonymous@127.0.0.1:$PORT/pm"
