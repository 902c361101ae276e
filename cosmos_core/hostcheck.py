"""`hosts check`: is a GPU host ready to run Cosmos? One round trip answers it all."""

from __future__ import annotations

import shlex

from . import docker
from .remote import Host, RemoteError

# Each check prints one line: NAME<tab>ok|fail|absent<tab>detail.
_CHECKS = r"""
D=(%(docker)s)
if out=$("${D[@]}" version --format '{{.Server.Version}}' 2>&1); then
  printf 'docker\tok\t%%s\n' "$(printf '%%s' "$out" | head -n 1)"
else
  printf 'docker\tfail\t%%s\n' "$(printf '%%s' "$out" | tr '\n' ' ' | cut -c1-200)"
fi
if "${D[@]}" %(image_args)s >/dev/null 2>&1; then
  printf 'image\tok\t%%s\n' %(image)s
else
  printf 'image\tfail\t%%s not found (docker pull or build it)\n' %(image)s
fi
if [ -d %(checkpoints)s ]; then
  printf 'remote_dir\tok\t%%s\n' %(remote_dir)s
else
  printf 'remote_dir\tfail\t%%s has no checkpoints/ directory\n' %(remote_dir)s
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  printf 'gpus\tok\t%%s\n' "$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>&1 | paste -sd ';' -)"
else
  printf 'gpus\tabsent\tnvidia-smi not found\n'
fi
"""


def check_script(host: Host) -> str:
    c = host.config
    q = shlex.quote
    image_args = docker.image_exists_command((), c.image)
    return _CHECKS % {
        "docker": " ".join(q(p) for p in c.docker), "image_args": image_args, "image": q(c.image),
        "checkpoints": q(f"{c.remote_dir}/checkpoints"), "remote_dir": q(c.remote_dir),
    }  # fmt: skip


def parse_checks(stdout: str) -> dict[str, dict[str, str]]:
    checks = {}
    for line in stdout.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[0] in ("docker", "image", "remote_dir", "gpus"):
            checks[parts[0]] = {"status": parts[1], "detail": parts[2].strip()}
    return checks


def check_host(host: Host) -> dict:
    """{"name", "ok", "ssh": {...}, "docker": {...}, "image": {...}, "remote_dir": {...}, "gpus": {...}}"""
    report: dict = {"name": host.config.name}
    try:
        result = host.run("bash -s", stdin=check_script(host))
    except RemoteError as exc:
        report.update(ok=False, ssh={"status": "fail", "detail": str(exc)})
        return report
    report["ssh"] = {"status": "ok", "detail": host.label}
    report.update(parse_checks(result.stdout))
    report["ok"] = all(report.get(k, {}).get("status") == "ok" for k in ("docker", "image", "remote_dir"))
    return report
