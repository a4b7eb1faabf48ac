#!/usr/bin/env bash
# Installs Prometheus and promtool (Debian's prometheus package) when missing, for the
# monitoring tests: they check and unit-test the rules of monitoring/prometheus with
# promtool and start private Prometheus servers that scrape a running `pmflow run`.
# The package's own service is not used (nothing starts it here). Prints promtool's
# path.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  apt_install --no-install-recommends prometheus
fi
command -v promtool
