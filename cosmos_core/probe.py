"""The batched remote question: one shell script per host per sync (pure).

`build_probe_script` asks, for every active run at once, for its container's
state, the last completion marker line of its log (from the tail only), while
it runs its latest stage and progress-bar lines, and, once it has finished, the
log lines that may say why and the size and sha256 of its files; it can also
remove containers whose runs are settled. The answer is wrapped in payload tags so
that anything a login shell prints around it cannot break `parse_probe_output`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from . import docker
from .markers import EXIT_STATUS_ERE, parse_completion_marker
from .transfer_models import probe_patterns

OPEN_TAG = "<cosmos-payload>"
CLOSE_TAG = "</cosmos-payload>"
LOG_TAIL_BYTES = 65536
MAX_LINE_BYTES = 400  # a log line brought back is cut to this
REASON_LINES = 12  # candidate lines for why a run failed, from the end of its log


class ProbeError(Exception):
    """The host answered, but not with a usable payload (docker unusable, say)."""


@dataclass(frozen=True)
class ProbeTarget:
    run_id: str
    run_dir: str  # absolute on the host
    files: tuple[str, ...]  # relative to run_dir: stat and hash them once the run has finished


@dataclass(frozen=True)
class FileFacts:
    size: int
    sha256: str | None = None  # None: not asked yet (the download hashes on the host alongside the transfer)
    symlink_to: str | None = None  # the file is a symlink to this: never followed, never downloaded

    def stored(self) -> list:
        """As the database keeps it (JSON)."""
        return [self.size, self.sha256, self.symlink_to]

    def refusal(self, name: str) -> str | None:
        """Why this file cannot be downloaded, if it cannot."""
        if self.symlink_to is None:
            return None
        return f"{name} is a symlink to {self.symlink_to}, not a file the run wrote"


@dataclass(frozen=True)
class Observation:
    """What one probe saw of one run."""

    container: docker.ContainerState | None  # None: no such container
    marker_exit: int | None
    files: Mapping[str, FileFacts] = field(default_factory=dict)
    stage_line: str = ""  # while running: the latest log line naming a stage
    counter_line: str = ""  # while running: the latest progress-bar line
    reason_lines: tuple[str, ...] = ()  # once finished: lines that may say why it failed


@dataclass(frozen=True)
class ProbeReport:
    observations: Mapping[str, Observation]
    removed: tuple[str, ...]  # container names removed on request


# facts ID DIR FILE...: the size of each FILE (relative to DIR) that exists, or where it points if it
# is a symlink (never followed: it may lead out of the run's dir). Never a hash: a probe must not wait
# on reading a big file (the download asks for the sha256 while it transfers).
_FACTS = r"""facts() {
  local id=$1 dir=$2 f to
  shift 2
  for f in "$@"; do
    if [ -L "$dir/$f" ]; then
      to=$(readlink -- "$dir/$f")
      printf 'L\t%s\t%s\t%.300s\n' "$id" "$f" "${to//[$'\t\n']/ }"
    elif [ -f "$dir/$f" ]; then
      printf 'F\t%s\t%s\t%s\n' "$id" "$f" "$(stat -c %s -- "$dir/$f")"
    fi
  done
  return 0
}
"""

_SCRIPT_HEAD = _FACTS.replace("%", "%%") + r"""set -u
D=(%(docker)s)
STAGES=%(stages)s COUNTERS=%(counters)s REASONS=%(reasons_re)s
printf '%(open)s\n'
declare -A state
if names=$("${D[@]}" %(list)s 2>&1); then
  printf 'P\tok\n'
  while IFS= read -r n; do [ -n "$n" ] && state[$n]=unknown; done <<<"$names"
else
  printf 'P\terror\t%%s\n' "$(printf '%%s' "$names" | tr '\t\n' '  ' | cut -c1-300)"
fi
inspect() {
  local have=() n line
  for n in "$@"; do [ -n "${state[$n]+x}" ] && have+=("$n"); done
  [ ${#have[@]} -gt 0 ] || return 0
  while IFS= read -r line; do
    printf 'C\t%%s\n' "$line"
    n=${line%%%%$'\t'*}; n=${n#/}; line=${line#*$'\t'}; state[$n]=${line%%%%$'\t'*}
  done < <("${D[@]}" inspect --format %(format)s "${have[@]}" 2>/dev/null)
}
remove() {  # prints R<tab>name for every container that is gone afterwards
  local have=() n
  for n in "$@"; do
    if [ -n "${state[$n]+x}" ]; then have+=("$n"); else printf 'R\t%%s\n' "$n"; fi
  done
  [ ${#have[@]} -gt 0 ] || return 0
  "${D[@]}" rm -f "${have[@]}" >/dev/null 2>&1 && printf 'R\t%%s\n' "${have[@]}"
}
lines() {  # lines DIR PATTERN COUNT: the log tail's last COUNT lines matching PATTERN (a \r ends a line)
  tail -c %(tail)d "$1/run.log" 2>/dev/null | tr '\r\t' '\n ' | grep -aE -- "$2" | tail -n "$3" \
    | cut -c1-%(line)d
}
probe_run() {
  local id=$1 name=$2 dir=$3 marker f line
  shift 3
  marker=$(tail -c %(tail)d "$dir/run.log" 2>/dev/null | tr -d '\r' \
    | grep -axE %(marker)s | tail -n 1)
  printf 'M\t%%s\t%%s\n' "$id" "$marker"
  case "${state[$name]:-gone}" in
    exited|dead|stopped|gone) ;;
    *) if [ -z "$marker" ]; then
         printf 'G\t%%s\t%%s\t%%s\n' "$id" "$(lines "$dir" "$STAGES" 1)" "$(lines "$dir" "$COUNTERS" 1)"
         return 0
       fi ;;
  esac
  lines "$dir" "$REASONS" %(reasons)d | while IFS= read -r line; do printf 'X\t%%s\t%%s\n' "$id" "$line"; done
  facts "$id" "$dir" "$@"
}
"""


def build_probe_script(docker_prefix: Sequence[str], targets: Sequence[ProbeTarget],
                       remove: Sequence[str] = ()) -> str:
    """A bash script (fed to `bash -s`) answering for every target in one round trip."""
    q = shlex.quote
    list_args = docker.list_command(())
    lines = [_SCRIPT_HEAD % {
        "docker": " ".join(q(p) for p in docker_prefix),
        "open": OPEN_TAG,
        "list": list_args,
        "format": q(docker.INSPECT_FORMAT),
        "tail": LOG_TAIL_BYTES,
        "marker": q(f"\\[COSMOS_COMPLETE\\] exit_code={EXIT_STATUS_ERE}[[:blank:]]*"),
        "line": MAX_LINE_BYTES,
        "reasons": REASON_LINES,
        **dict(zip(("stages", "counters", "reasons_re"), map(q, probe_patterns()), strict=True)),
    }]  # fmt: skip
    names = [docker.container_name(t.run_id) for t in targets]
    if names:
        lines.append("inspect " + " ".join(q(n) for n in names))
    for target, name in zip(targets, names, strict=False):
        lines.append(shlex.join(["probe_run", target.run_id, name, target.run_dir, *target.files]))
    if remove:
        lines.append("remove " + " ".join(q(n) for n in remove))
    lines.append(f"printf '{CLOSE_TAG}\\n'")
    return "\n".join(lines) + "\n"


def parse_probe_output(stdout: str, targets: Sequence[ProbeTarget]) -> ProbeReport:
    """Observations for every target, from the payload `build_probe_script` printed."""
    start, end = stdout.find(OPEN_TAG), stdout.rfind(CLOSE_TAG)
    if start < 0 or end < start:
        raise ProbeError("the host's answer has no complete payload (is bash installed on the host?)")
    lines = stdout[start + len(OPEN_TAG):end].split("\n")  # only \n: log text never spans lines here
    if "P\tok" not in lines:
        docker_error = next((line.split("\t", 2)[-1] for line in lines if line.startswith("P\terror")), "no answer")
        raise ProbeError(f"docker is not usable on the host: {docker_error.strip()}")
    containers: dict[str, docker.ContainerState] = {}
    markers: dict[str, int | None] = {}
    files: dict[str, dict[str, FileFacts]] = {}
    progress: dict[str, tuple[str, str]] = {}
    reasons: dict[str, list[str]] = {}
    removed: list[str] = []
    for line in lines:
        kind, _, rest = line.partition("\t")
        if kind == "C" and (state := docker.parse_inspect_line(rest)):
            containers[state.name] = state
        elif kind == "M":
            run_id, _, marker = rest.partition("\t")
            markers[run_id] = parse_completion_marker(marker)
        elif kind in ("F", "L") and (file_line := _parse_file_line(kind, rest)):
            run_id, name, facts = file_line
            files.setdefault(run_id, {})[name] = facts
        elif kind == "G":
            run_id, _, stage_and_counter = rest.partition("\t")
            stage, _, counter = stage_and_counter.partition("\t")
            progress[run_id] = (stage, counter)
        elif kind == "X":
            run_id, _, reason = rest.partition("\t")
            reasons.setdefault(run_id, []).append(reason)
        elif kind == "R":
            removed.append(rest)
    observations = {
        t.run_id: Observation(
            container=containers.get(docker.container_name(t.run_id)),
            marker_exit=markers.get(t.run_id),
            files=files.get(t.run_id, {}),
            stage_line=progress.get(t.run_id, ("", ""))[0],
            counter_line=progress.get(t.run_id, ("", ""))[1],
            reason_lines=tuple(reasons.get(t.run_id, ())),
        )
        for t in targets
    }
    return ProbeReport(observations, tuple(removed))


def _parse_file_line(kind: str, rest: str) -> tuple[str, str, FileFacts] | None:
    parts = rest.split("\t")
    if len(parts) != 3:
        return None
    run_id, name, value = parts
    if kind == "L":
        return run_id, name, FileFacts(0, symlink_to=value)
    if not value.isdigit():
        return None  # the file vanished between the test and the stat
    return run_id, name, FileFacts(int(value))


def build_facts_script(run_dir: str, names: Sequence[str]) -> str:
    """A bash script (for `bash -s`) giving the size of the files among `names`."""
    call = shlex.join(["facts", "-", run_dir, *names])
    return f"{_FACTS}printf '{OPEN_TAG}\\n'\n{call}\nprintf '{CLOSE_TAG}\\n'\n"


def parse_facts_output(stdout: str) -> dict[str, FileFacts]:
    start, end = stdout.find(OPEN_TAG), stdout.rfind(CLOSE_TAG)
    if start < 0 or end < start:
        raise ProbeError("the host's answer has no complete payload (is bash installed on the host?)")
    found = {}
    for line in stdout[start + len(OPEN_TAG):end].split("\n"):
        kind, _, rest = line.partition("\t")
        if kind in ("F", "L") and (file_line := _parse_file_line(kind, rest)):
            found[file_line[1]] = file_line[2]
    return found
