"""The Docker part of the one probe script per host, and the reading of its answer (pure).

It lists the containers this product started (`ps -a` by label), inspects those
of the runs asked about, marks every run whose container has stopped or is gone
as done for the run-directory part (`run_probe`), and can remove the containers
of settled runs, all in the same round trip. The docker calls of one probe share
one budget below the probe timeout, so a slow daemon is answered as slow, in time,
rather than timed out as a host that does not answer; a container that was listed
but not inspected within it is unknown, never gone.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from cosmos_core.executors import docker_cli
from cosmos_core.executors.base import JobState, ProbeError, ProbeReport, ProbeTarget
from cosmos_core.executors.run_probe import build_script, parse_run_lines, payload_lines

# What the docker calls of one probe may take together, as a share of the probe timeout, and how long
# the call that overran may take to die after its TERM before it is killed; the rest is for SSH and
# the run directories.
DOCKER_BUDGET_SHARE = 0.6
KILL_GRACE_SHARE = 0.1
LISTED = "listed"  # a listed container's state until inspected: no runtime has a state of that name

_DOCKER_PART = r"""START=$(date +%%s%%N)
dock() {  # dock ARGS...: one docker call within what is left of the probe's docker budget (124: none left)
  local ms=$(( %(budget_ms)d - ($(date +%%s%%N) - START) / 1000000 ))
  [ "$ms" -gt 0 ] || return 124
  timeout -k %(grace)s "$((ms / 1000)).$(printf '%%03d' $((ms %% 1000)))" %(docker)s "$@"
}
late() {  # late CALL STATUS: whether that docker call ran out of the budget (then an S line says so)
  case "$2" in 124|137) printf 'S\t%%s\t%%s\n' "$1" %(budget)s ;; *) return 1 ;; esac
}
declare -A state
listed=
if names=$(dock %(list)s 2>&1); then
  printf 'P\tok\n'
  listed=1
  while IFS= read -r n; do [ -n "$n" ] && state[$n]=%(listed)s; done <<<"$names"
elif ! late ps $?; then
  printf 'P\terror\t%%s\n' "$(printf '%%s' "$names" | tr '\t\n' '  ' | cut -c1-300)"
fi
inspect() {  # inspect ID...: C lines for the containers inspected, U for those not inspected in time,
  local have=() id n line out  # and done[ID] for those not running
  [ -n "$listed" ] || { printf 'U\t%%s\n' "$@"; return 0; }
  for id in "$@"; do [ -n "${state[%(prefix)s$id]+x}" ] && have+=("%(prefix)s$id"); done
  if [ ${#have[@]} -gt 0 ]; then
    out=$(dock inspect --format %(format)s "${have[@]}" 2>/dev/null) || late inspect $? || :
    while IFS= read -r line; do
      [ -n "$line" ] || continue
      printf 'C\t%%s\n' "$line"
      n=${line%%%%$'\t'*}; n=${n#/}; line=${line#*$'\t'}; state[$n]=${line%%%%$'\t'*}
    done <<<"$out"
  fi
  for id in "$@"; do
    case "${state[%(prefix)s$id]:-gone}" in
      exited|dead|stopped|gone) done[$id]=1 ;;
      %(listed)s) printf 'U\t%%s\n' "$id" ;;
    esac
  done
}
remove() {  # remove ID...: R<tab>ID for every run whose container is gone afterwards
  local have=() id
  [ -n "$listed" ] || return 0
  for id in "$@"; do
    if [ -n "${state[%(prefix)s$id]+x}" ]; then have+=("%(prefix)s$id"); else printf 'R\t%%s\n' "$id"; fi
  done
  [ ${#have[@]} -gt 0 ] || return 0
  if dock rm -f "${have[@]}" >/dev/null 2>&1; then printf 'R\t%%s\n' "${have[@]#%(prefix)s}"; else late rm $? || :; fi
}
"""

NEVER_STARTED = "created"  # `docker run -d` starts what it creates: a container left here failed to start
NOT_ANSWERED: dict = {"state": JobState.UNKNOWN, "reason": "docker did not answer about its container in time"}


def docker_budget(probe_timeout: float) -> float:
    """Seconds that the docker calls of one probe share, given the probe timeout."""
    return probe_timeout * DOCKER_BUDGET_SHARE


def build_probe_script(docker_prefix: Sequence[str], targets: Sequence[ProbeTarget], remove: Sequence[str] = (),
                       queue: str = "", *, probe_timeout: float) -> str:
    """A bash script (fed to `bash -s`) answering for every target in one round trip, with the
    places in the host's GPU queue directory `queue`; it also removes the containers of the runs
    in `remove`. Its docker calls together take at most `docker_budget(probe_timeout)` seconds, and
    the one that overran its TERM at most `KILL_GRACE_SHARE` of the probe timeout more."""
    q = shlex.quote
    part = _DOCKER_PART % {
        "budget_ms": round(docker_budget(probe_timeout) * 1000), "budget": q(f"{docker_budget(probe_timeout):g}"),
        "grace": f"{probe_timeout * KILL_GRACE_SHARE:.3f}",
        "docker": " ".join(q(p) for p in docker_prefix), "list": docker_cli.list_command(()),
        "format": q(docker_cli.INSPECT_FORMAT), "prefix": docker_cli.NAME_PREFIX, "listed": LISTED,
    }  # fmt: skip
    if targets:
        part += shlex.join(["inspect", *(t.run_id for t in targets)])
    after = shlex.join(["remove", *remove]) if remove else ""
    return build_script(part, targets, after, queue)


def parse_probe_output(stdout: str, targets: Sequence[ProbeTarget]) -> ProbeReport:
    """Observations for every target, from the payload `build_probe_script` printed. Every Docker and
    local host has a GPU queue, so a running container waits until its script says it holds GPUs. A
    container docker did not answer for in time is UNKNOWN, and the report says which call was slow."""
    lines = payload_lines(stdout)
    records = [line.partition("\t")[::2] for line in lines]
    late = dict(rest.partition("\t")[::2] for kind, rest in records if kind == "S")
    if "P\tok" not in lines and "ps" not in late:
        docker_error = next((line.split("\t", 2)[-1] for line in lines if line.startswith("P\terror")), "no answer")
        raise ProbeError(f"docker is not usable on the host: {docker_error.strip()}")
    containers: dict[str, docker_cli.ContainerState] = {}
    for kind, rest in records:
        if kind == "C" and (container := docker_cli.parse_inspect_line(rest)):
            containers[container.name] = container
    unknown = {rest for kind, rest in records if kind == "U"}
    runs = parse_run_lines(lines, [t.run_id for t in targets])
    observations = {}
    for target in targets:
        name = docker_cli.container_name(target.run_id)
        seen = NOT_ANSWERED if target.run_id in unknown else observed(containers.get(name), name)
        observations[target.run_id] = runs[target.run_id].observe(**seen, queued=True)
    removed = tuple(rest for kind, rest in records if kind == "R")
    return ProbeReport(observations, removed, slow_text(late))


def slow_text(late: dict[str, str]) -> str:
    """What the user reads of the docker calls that ran out of the probe's budget ("" when none did)."""
    calls = ", ".join(f"`docker {call}`" for call in late)
    seconds = next(iter(late.values()), "")
    return f"docker is slow: {calls} did not answer within {seconds} s" if late else ""


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


