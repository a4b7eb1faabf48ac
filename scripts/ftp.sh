#!/usr/bin/env bash
# Makes sure an FTP server answers on 127.0.0.1:2121: Debian's vsftpd (what operators
# run), anonymous with write access to the folder /pm (uploads, mkdir, rename), passive
# ports 30000-30099 on 127.0.0.1. Does nothing when a server already listens. Prints
# the URL of the folder.
#
# Tests start private servers with the same configuration through the environment:
# PMFLOW_FTP_PORT; PMFLOW_FTP_ROOT (its pm/ folder is served; the listener's pid is
# written to ROOT.pid, its log to ROOT.vsftpd.log); PMFLOW_FTP_MAX_RATE (bytes/s per
# transfer, 0 = unlimited); PMFLOW_FTP_TLS=1 (explicit TLS required on control and
# data connections, with a certificate for 127.0.0.1/localhost issued by a CA made
# for the server, ROOT.tls/ca.pem).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PORT=${PMFLOW_FTP_PORT:-2121}
ROOT=${PMFLOW_FTP_ROOT:-/srv/pmflow-ftp}
# Beside a private root, or in the temporary directory for the shared server.
STATE=${PMFLOW_FTP_ROOT:-${TMPDIR:-/tmp}/pmflow-ftp}
CONF=$STATE.vsftpd.conf
LOG=$STATE.vsftpd.log

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

if ! listening; then
  command -v vsftpd >/dev/null || [ -x /usr/sbin/vsftpd ] || apt_install vsftpd
  # vsftpd refuses a writable anonymous root: the root is root's, the folder ftp's.
  $SUDO mkdir -p "$ROOT/pm" /var/run/vsftpd/empty
  $SUDO chown root:root "$ROOT" && $SUDO chmod 755 "$ROOT"
  $SUDO chown ftp:ftp "$ROOT/pm" && $SUDO chmod 755 "$ROOT/pm"
  TLS_CONF="ssl_enable=NO"
  if [ "${PMFLOW_FTP_TLS:-0}" = 1 ]; then
    TLS=$STATE.tls
    mkdir -p "$TLS"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=pmflow-test-ca \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -keyout "$TLS/ca.key" -out "$TLS/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
      -keyout "$TLS/server.key" -out "$TLS/server.csr" 2>/dev/null
    printf '%s\n' subjectAltName=IP:127.0.0.1,DNS:localhost basicConstraints=CA:FALSE \
      keyUsage=digitalSignature,keyEncipherment extendedKeyUsage=serverAuth >"$TLS/server.ext"
    openssl x509 -req -days 30 -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" \
      -CAcreateserial -extfile "$TLS/server.ext" -out "$TLS/server.pem" 2>/dev/null
    # suppaftp does not resume the control connection's TLS session on data
    # connections, so vsftpd must not require it.
    TLS_CONF="ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=YES
force_anon_data_ssl=YES
require_ssl_reuse=NO
ssl_ciphers=HIGH
rsa_cert_file=$TLS/server.pem
rsa_private_key_file=$TLS/server.key"
  fi
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
anon_max_rate=${PMFLOW_FTP_MAX_RATE:-0}
xferlog_enable=YES
vsftpd_log_file=$LOG
$TLS_CONF
CONF
  echo "== starting vsftpd on 127.0.0.1:$PORT (log: $LOG)" >&2
  setsid /usr/sbin/vsftpd "$CONF" >>"$LOG" 2>&1 < /dev/null &
  echo $! >"$STATE.pid"
  wait_for vsftpd "$LOG" listening
fi
echo "ftp://anonymous@127.0.0.1:$PORT/pm"
