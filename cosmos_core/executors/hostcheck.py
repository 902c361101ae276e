"""`hosts check`: is a GPU host ready to run Cosmos? One round trip answers it all."""

from __future__ import annotations

import shlex

from ..config import HostConfig
from ..remote import RemoteError
from ..transfer_models import model
from . import docker_cli
from .shell import Shell

# Each check prints one line: NAME<tab>ok|fail|absent<tab>detail.
_DOCKER_AND_GPUS = r"""
D=(%(docker)s)
if out=$("${D[@]}" version --format '{{.Server.Version}}' 2>&1); then
  printf 'docker\tok\t%%s\n' "$(printf '%%s' "$out" | head -n 1)"
else
  printf 'docker\tfail\t%%s\n' "$(printf '%%s' "$out" | tr '\n' ' ' | cut -c1-200)"
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  printf 'gpus\tok\t%%s\n' "$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>&1 | paste -sd ';' -)"
else
  printf 'gpus\tabsent\tnvidia-smi not found\n'
fi
"""
# One pair of lines per model the host serves.
_MODEL = r"""
if "${D[@]}" %(image_args)s >/dev/null 2>&1; then
  printf 'image\tok\t%%s\n' %(image)s
else
  printf 'image\tfail\t%%s not found (docker pull or build it)\n' %(image)s
fi
if [ -e %(marker)s ]; then
  printf 'remote_dir\tok\t%%s\n' %(remote_dir)s
else
  printf 'remote_dir\tfail\t%%s has no %%s\n' %(remote_dir)s %(marker_name)s
fi
"""
ITEMS = ("docker", "image", "remote_dir", "gpus")


def check_script(c: HostConfig) -> str:
    q = shlex.quote
    parts = [_DOCKER_AND_GPUS % {"docker": " ".join(q(p) for p in c.docker)}]
    for name in c.models:
        setup, marker = c.setup(name), model(name).checkout_marker
        parts.append(_MODEL % {
            "image_args": docker_cli.image_exists_command((), setup.image), "image": q(setup.image),
            "marker": q(f"{setup.remote_dir}/{marker}"), "marker_name": q(marker), "remote_dir": q(setup.remote_dir),
        })  # fmt: skip
    return "".join(parts)


def parse_checks(stdout: str) -> dict[str, dict[str, str]]:
    """Each item's status and detail; an item checked once per model is ok only if every model's is."""
    checks: dict[str, dict[str, str]] = {}
    for line in stdout.splitlines():
        parts = line.split("\t", 2)
        if len(parts) != 3 or parts[0] not in ITEMS:
            continue
        item, status, detail = parts[0], parts[1], parts[2].strip()
        if item in checks:
            earlier = checks[item]
            status = earlier["status"] if earlier["status"] != "ok" else status
            detail = f"{earlier['detail']}; {detail}"
        checks[item] = {"status": status, "detail": detail}
    return checks


def check_host(shell: Shell, config: HostConfig) -> dict:
    """{"name", "ok", "ssh": {...}, "docker": {...}, "image": {...}, "remote_dir": {...}, "gpus": {...}}"""
    report: dict = {"name": config.name}
    try:
        result = shell.run("bash -s", stdin=check_script(config))
    except RemoteError as exc:
        report.update(ok=False, ssh={"status": "fail", "detail": str(exc)})
        return report
    report["ssh"] = {"status": "ok", "detail": shell.label}
    report.update(parse_checks(result.stdout))
    report["ok"] = all(report.get(k, {}).get("status") == "ok" for k in ("docker", "image", "remote_dir"))
    return report
