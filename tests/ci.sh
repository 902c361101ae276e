#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian 12 machine (as root) and runs the whole suite.
# The stand-in GPU host is real: OpenSSH server, podman + runc behind a `docker` shim, ffmpeg, Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(openssh-server podman runc busybox-static ffmpeg chromium jq iproute2 slurmctld slurmd slurm-client slurmdbd munge mariadb-server postgresql-15 zsh)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -r requirements-dev.txt
ruff check .
exec python3 -m pytest "$@"
