"""The Docker part of the one probe script per host, and the reading of its answer (pure).

It lists the containers this product started (`ps -a` by label), inspects those
of the runs asked about, marks every run whose container has stopped or is gone
as done for the run-directory part (`run_probe`), and can remove the containers
of settled runs, all in the same round trip. Every docker call has a timeout, so
a wedged docker daemon cannot hold the probe (and the refresh) for long.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from cosmos_core.executors import docker_cli
from cosmos_core.executors.base import JobState, ProbeError, ProbeReport, ProbeTarget
from cosmos_core.executors.run_probe import build_script, parse_run_lines, payload_lines

DOCKER_CALL_SECONDS = 10  # each docker call of a probe; a daemon slower than this is reported, not waited on

_DOCKER_PART = r"""D=(timeout -k 2 %(seconds)d %(docker)s)
declare -A state
if names=$("${D[@]}" %(list)s 2>&1); then
  printf 'P\tok\n'
  while IFS= read -r n; do [ -n "$n" ] && state[$n]=unknown; done <<<"$names"
else
  printf 'P\terror\t%%s\n' "$(printf '%%s' "$names" | tr '\t\n' '  ' | cut -c1-300)"
fi
inspect() {  # inspect ID...: C lines for the containers that exist; done[ID] for those not running
  local have=() id n line
  for id in "$@"; do [ -n "${state[%(prefix)s$id]+x}" ] && have+=("%(prefix)s$id"); done
  if [ ${#have[@]} -gt 0 ]; then
    while IFS= read -r line; do
      printf 'C\t%%s\n' "$line"
      n=${line%%%%$'\t'*}; n=${n#/}; line=${line#*$'\t'}; state[$n]=${line%%%%$'\t'*}
    done < <("${D[@]}" inspect --format %(format)s "${have[@]}" 2>/dev/null)
  fi
  for id in "$@"; do
    case "${state[%(prefix)s$id]:-gone}" in exited|dead|stopped|gone) done[$id]=1 ;; esac
  done
}
remove() {  # remove ID...: R<tab>ID for every run whose container is gone afterwards
  local have=() id
  for id in "$@"; do
    if [ -n "${state[%(prefix)s$id]+x}" ]; then have+=("%(prefix)s$id"); else printf 'R\t%%s\n' "$id"; fi
  done
  [ ${#have[@]} -gt 0 ] || return 0
  "${D[@]}" rm -f "${have[@]}" >/dev/null 2>&1 && printf 'R\t%%s\n' "${have[@]#%(prefix)s}"
}
"""

NEVER_STARTED = "created"  # `docker run -d` starts what it creates: a container left here failed to start


def build_probe_script(docker_prefix: Sequence[str], targets: Sequence[ProbeTarget],
                       remove: Sequence[str] = (), queue: str = "") -> str:
    """A bash script (fed to `bash -s`) answering for every target in one round trip, with the
    places in the host's GPU queue directory `queue`; it also removes the containers of the runs
    in `remove`."""
    q = shlex.quote
    part = _DOCKER_PART % {
        "seconds": DOCKER_CALL_SECONDS, "docker": " ".join(q(p) for p in docker_prefix),
        "list": docker_cli.list_command(()), "format": q(docker_cli.INSPECT_FORMAT),
        "prefix": docker_cli.NAME_PREFIX,
    }  # fmt: skip
    if targets:
        part += shlex.join(["inspect", *(t.run_id for t in targets)])
    after = shlex.join(["remove", *remove]) if remove else ""
    return build_script(part, targets, after, queue)


def parse_probe_output(stdout: str, targets: Sequence[ProbeTarget]) -> ProbeReport:
    """Observations for every target, from the payload `build_probe_script` printed. Every Docker and
    local host has a GPU queue, so a running container waits until its script says it holds GPUs."""
    lines = payload_lines(stdout)
    if "P\tok" not in lines:
        docker_error = next((line.split("\t", 2)[-1] for line in lines if line.startswith("P\terror")), "no answer")
        raise ProbeError(f"docker is not usable on the host: {docker_error.strip()}")
    containers: dict[str, docker_cli.ContainerState] = {}
    removed: list[str] = []
    for line in lines:
        kind, _, rest = line.partition("\t")
        if kind == "C" and (container := docker_cli.parse_inspect_line(rest)):
            containers[container.name] = container
        elif kind == "R":
            removed.append(rest)
    runs = parse_run_lines(lines, [t.run_id for t in targets])
    observations = {}
    for target in targets:
        name = docker_cli.container_name(target.run_id)
        observations[target.run_id] = runs[target.run_id].observe(**observed(containers.get(name), name),
                                                                  queued=True)
    return ProbeReport(observations, tuple(removed))


def observed(container: docker_cli.ContainerState | None, name: str) -> dict:
    """What a container's state says, in the executor-neutral words of `Observation`."""
    if container is None:
        return {"state": JobState.GONE, "reason": "Container is gone"}
    if container.status == NEVER_STARTED:
        return {"state": JobState.GONE, "reason": "Container was created but never started", "handle": name}
    if not container.stopped:
        return {"state": JobState.RUNNING, "handle": name}
    reason = "out of memory (OOMKilled)" if container.oom_killed else ""
    return {"state": JobState.FINISHED, "exit_code": container.exit_code, "reason": reason, "handle": name}


