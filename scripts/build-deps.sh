#!/usr/bin/env bash
# Installs the system packages pmflow's build needs beyond the Rust toolchain: cmake
# and a C++ compiler (librdkafka is built from source by the rdkafka crate), OpenSSL
# and zlib headers (Kafka over TLS, compression), pkg-config. Does nothing when they
# are there.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v c++ >/dev/null || missing+=(g++)
command -v pkg-config >/dev/null || missing+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || missing+=(zlib1g-dev)
dpkg -s libcurl4-openssl-dev >/dev/null 2>&1 || missing+=(libcurl4-openssl-dev)
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
fi
