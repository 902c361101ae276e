"""`hosts check`: is a GPU host ready to run Cosmos? One round trip answers it all."""

from __future__ import annotations

import shlex

from cosmos_core.config import HostConfig
from cosmos_core.executors import docker_cli
from cosmos_core.executors.base import Shell
from cosmos_core.executors.queue_check import QUEUE_SCRIPT, queue_item
from cosmos_core.ssh.host import RemoteError
from cosmos_core.upstream import gpu_queue
from cosmos_core.upstream.models import model

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
# Per model the host serves: its image (on Docker hosts) and its checkout.
_IMAGE = r"""
if "${D[@]}" %(image_args)s >/dev/null 2>&1; then
  printf 'image\tok\t%%s\n' %(image)s
else
  printf 'image\tfail\t%%s not found (docker pull or build it)\n' %(image)s
fi
# The image started as a run's is (the host's run_args, bash), removed after; the GPU queue needs its flock.
out=$(timeout 120 "${D[@]}" run --rm %(run_args)s %(image)s bash -c 'command -v flock' 2>&1)
case $? in
  0) printf 'start\tok\t%%s starts with the run_args and has %%s\n' %(image)s "$out" ;;
  1) printf 'start\tfail\t%%s has no flock (util-linux): its runs would fail at once\n' %(image)s ;;
  124) printf 'start\tfail\tdocker run %%s did not start within 120 s\n' %(image)s ;;
  *) printf 'start\tfail\tdocker run %%s with the run_args failed: %%s\n' %(image)s \
       "$(printf '%%s' "$out" | tail -n 1 | cut -c1-200)" ;;
esac
"""
_CHECKOUT = r"""
if [ -e %(marker)s ]; then
  printf 'remote_dir\tok\t%%s\n' %(remote_dir)s
else
  printf 'remote_dir\tfail\t%%s has no %%s\n' %(remote_dir)s %(marker_name)s
fi
"""
# A Slurm login node: the client commands and the partition, instead of docker (the image runs on the
# compute nodes, which the login node cannot check).
_SLURM = r"""
if command -v sbatch >/dev/null 2>&1 && out=$(timeout 10 sinfo -h %(partition)s -o '%%P %%a %%D nodes %%G' 2>&1); then
  printf 'slurm\tok\t%%s\n' "$(printf '%%s' "$out" | paste -sd ';' - | cut -c1-200)"
else
  printf 'slurm\tfail\t%%s\n' "$(printf '%%s' "${out:-sbatch not found}" | tr '\n' ' ' | cut -c1-200)"
fi
"""
ITEMS = ("slurm", "docker", "image", "start", "remote_dir", "gpus")  # what the script's lines may name
CHECK_ITEMS = ("ssh", *ITEMS, "queue")  # every item of a report, in the order it is shown


def check_script(c: HostConfig) -> str:
    q = shlex.quote
    if c.slurm is not None:
        parts = [_SLURM % {"partition": f"-p {q(c.slurm.partition)}" if c.slurm.partition else ""}]
    else:
        parts = [_DOCKER_AND_GPUS % {"docker": " ".join(q(p) for p in c.docker)},
                 QUEUE_SCRIPT % {"queue": q(c.queue_dir), "make": gpu_queue.make_command(c.queue_dir)}]
    for name in c.models:
        setup, marker = c.setup(name), model(name).checkout_marker
        if c.slurm is None:
            parts.append(_IMAGE % {"image_args": docker_cli.image_exists_command((), setup.image),
                                   "image": q(setup.image), "run_args": shlex.join(setup.run_args)})
        parts.append(_CHECKOUT % {"marker": q(f"{setup.remote_dir}/{marker}"), "marker_name": q(marker),
                                  "remote_dir": q(setup.remote_dir)})
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
    if config.slurm is None:
        report["queue"] = queue_item(config, result.stdout)
    needed = ("slurm", "remote_dir") if config.slurm is not None else ("docker", "image", "start", "remote_dir")
    report["ok"] = all(report.get(k, {}).get("status") == "ok" for k in needed)
    return report
