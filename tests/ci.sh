#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian 12 machine (as root), checks lint and types,
# and runs the whole suite, printing its 15 slowest tests at the end.
# The stand-in GPU host is real: OpenSSH server, podman + runc behind a `docker` shim, ffmpeg, Chromium.
#   bash tests/ci.sh             everything (what CI runs)
#   bash tests/ci.sh --quick     while developing: the same checks, then every test that needs only this
#                                machine and the stand-in host (no browser, Slurm, PostgreSQL or fresh venv),
#                                except the fault injections marked slow (they run in the full suite)
# Further arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# Most tests wait on a host or a container, not on the CPU, so they run on pytest-xdist workers
# (tests/conftest.py keeps together what must share one worker). The browser tests share one
# dashboard and load the machine themselves (twenty tabs for a minute), so they run alone first.
quick=0
if [ "${1:-}" = "--quick" ]; then
  shift
  quick=1
fi
packages=(openssh-server podman runc busybox-static ffmpeg chromium jq iproute2 slurmctld slurmd slurm-client slurmdbd munge mariadb-server postgresql-15 zsh)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The quick tier runs from the checkout and needs only the pins (tests/pins_met.py checks them in a second).
if [ $quick = 0 ] || ! python3 tests/pins_met.py requirements-dev.txt; then
  python3 -m pip install -q --disable-pip-version-check -r requirements-dev.txt
fi
ruff check .
python3 -m mypy
# This machine kind sets PYTHONDONTWRITEBYTECODE=1: every process of the suite (each pytest worker, each
# CLI and dashboard it starts) would compile the product's modules again, and pytest would rewrite every
# test module's asserts again in each worker (about 5 CPU-seconds a worker). The suite keeps its bytecode.
unset PYTHONDONTWRITEBYTECODE
if [ $quick = 1 ]; then
  exec python3 -m pytest -n 4 --dist loadgroup --ignore=tests/e2e -m "not (browser or slurm or postgres or install or slow)" "$@"
fi
status=0
python3 -m pytest -m browser --durations=5 "$@" || [ $? = 5 ] || status=1  # 5: none selected by the arguments
python3 -m pytest -n 3 --dist loadgroup -m "not browser" --durations=15 "$@" || status=1
exit $status
