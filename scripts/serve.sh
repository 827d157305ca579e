#!/usr/bin/env bash
# The main job on a fresh Debian machine: installs oneDNN, builds catmark and serves the shipped
# model with its web page at http://127.0.0.1:8080/ (pass --addr HOST:PORT and other serve flags).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
if ! dpkg -s libdnnl-dev >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends libdnnl-dev gcc libc6-dev >/dev/null
fi
export PATH=/usr/local/go/bin:$PATH
mkdir -p bin
go build -o bin/catmark ./cmd/catmark
exec bin/catmark serve "$@"
