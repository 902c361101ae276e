#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian 12 machine (as root), checks lint and types,
# and runs the whole suite, printing its 15 slowest tests at the end.
# The stand-in GPU host is real: OpenSSH server, podman + runc behind a `docker` shim, ffmpeg, Chromium.
#   bash tests/ci.sh             everything (what CI runs)
#   bash tests/ci.sh --quick     while developing: the same checks, then every test that needs only this
#                                machine and the stand-in host (no browser, Slurm, PostgreSQL or fresh venv)
# Further arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# Four workers on two cores: most tests wait on a host, a container or a browser, not on the CPU
# (tests/conftest.py keeps together what must share one worker). A test marked `solo` loads the
# whole machine on purpose, so it runs alone first.
parallel=(-n 4 --dist loadgroup)
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
python3 -m pip install -q --disable-pip-version-check -r requirements-dev.txt
ruff check .
python3 -m mypy
if [ $quick = 1 ]; then
  exec python3 -m pytest "${parallel[@]}" -m "not (browser or slurm or postgres or install or solo)" "$@"
fi
status=0
python3 -m pytest -m solo "$@" || [ $? = 5 ] || status=1  # 5: none selected by the arguments
python3 -m pytest "${parallel[@]}" -m "not solo" --durations=15 "$@" || status=1
exit $status
