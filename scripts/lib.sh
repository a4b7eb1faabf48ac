# Sourced by the server scripts: installing Debian packages and waiting for servers.

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# apt_install PACKAGE...: installs the packages (after refreshing the package lists).
apt_install() {
  echo "== installing $*" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >&2
}

# wait_for WHAT LOG COMMAND...: runs COMMAND every half second until it succeeds, for
# at most a minute; fails showing the end of LOG otherwise.
wait_for() {
  local what=$1 log=$2; shift 2
  for _ in $(seq 1 120); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "$what did not start; end of $log:" >&2
  tail -20 "$log" >&2
  return 1
}
