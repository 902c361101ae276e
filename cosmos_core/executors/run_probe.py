"""Reading many run directories on a host in one shell script (pure: build and parse).

Every engine asks the same of a run's directory: the last completion marker line
of its log (from the tail only), while it runs its latest stage and progress-bar
lines, and, once it has finished, the log lines that may say why and the size of
its files. This module writes that part of the probe script and reads its
answer; each engine adds its own part saying which runs are no longer running
(`done[RUN_ID]=1` in the script) and lines of its own. The answer is wrapped in
payload tags so that anything a login shell prints around it cannot break parsing.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

from cosmos_core.executors.base import FileFacts, JobState, Observation, ProbeError, ProbeTarget
from cosmos_core.upstream import gpu_queue
from cosmos_core.upstream.markers import EXIT_STATUS_ERE, parse_completion_marker
from cosmos_core.upstream.models import probe_patterns

OPEN_TAG = "<cosmos-payload>"
CLOSE_TAG = "</cosmos-payload>"
LOG_TAIL_BYTES = 65536
MAX_LINE_BYTES = 400  # a log line brought back is cut to this
REASON_LINES = 12  # candidate lines for why a run failed, from the end of its log
HASHED_IN_PROBE_BYTES = 1024 * 1024  # files up to this size come with their sha256 (run.log, small outputs)

# facts ID DIR FILE...: the size of each FILE (relative to DIR) that exists, and the sha256 of a small
# one, or where it points if it is a symlink (never followed: it may lead out of the run's dir). A big
# file is never hashed here: a probe must not wait on reading it (the download asks for its sha256
# while it transfers); a small one costs the host a millisecond and its download a command.
_FACTS = r"""facts() {
  local id=$1 dir=$2 f to size sum
  shift 2
  for f in "$@"; do
    if [ -L "$dir/$f" ]; then
      to=$(readlink -- "$dir/$f")
      printf 'L\t%s\t%s\t%.300s\n' "$id" "$f" "${to//[$'\t\n']/ }"
    elif [ -f "$dir/$f" ]; then
      size=$(stat -c %s -- "$dir/$f") sum=
      [ "$size" -gt SMALL_BYTES ] || read -r sum _ < <(sha256sum -- "$dir/$f")
      printf 'F\t%s\t%s\t%s\t%s\n' "$id" "$f" "$size" "$sum"
    fi
  done
  return 0
}
""".replace("SMALL_BYTES", str(HASHED_IN_PROBE_BYTES))

_LIBRARY = _FACTS.replace("%", "%%") + r"""set -u
STAGES=%(stages)s COUNTERS=%(counters)s REASONS=%(reasons_re)s SLOTS=%(slots)s
declare -A done
printf '%(open)s\n'
lines() {  # lines DIR PATTERN COUNT: the log tail's last COUNT lines matching PATTERN (a \r ends a line)
  tail -c %(tail)d "$1/run.log" 2>/dev/null | tr '\r\t' '\n ' | grep -aE -- "$2" | tail -n "$3" \
    | cut -c1-%(line)d
}
slot() {  # slot DIR: the script's latest queue line, from the log's tail, else from its head: the line
  # saying a run holds its GPUs comes before the model's, whose progress bars may push it out of the tail
  local line
  line=$(lines "$1" "$SLOTS" 1)
  [ -n "$line" ] || line=$(head -c %(tail)d "$1/run.log" 2>/dev/null | tr '\r\t' '\n ' | grep -aE -- "$SLOTS" \
    | tail -n 1 | cut -c1-%(line)d)
  printf '%%s' "$line"
}
probe_run() {  # probe_run ID DIR FILE...: after the engine's part has filled done[]
  local id=$1 dir=$2 marker line
  shift 2
  marker=$(tail -c %(tail)d "$dir/run.log" 2>/dev/null | tr -d '\r' \
    | grep -axE %(marker)s | tail -n 1)
  printf 'M\t%%s\t%%s\n' "$id" "$marker"
  if [ -z "${done[$id]:-}" ] && [ -z "$marker" ]; then
    printf 'G\t%%s\t%%s\t%%s\t%%s\n' "$id" "$(lines "$dir" "$STAGES" 1)" "$(lines "$dir" "$COUNTERS" 1)" \
      "$(slot "$dir")"
    return 0
  fi
  lines "$dir" "$REASONS" %(reasons)d | while IFS= read -r line; do printf 'X\t%%s\t%%s\n' "$id" "$line"; done
  facts "$id" "$dir" "$@"
}
queue() {  # queue DIR: the tickets (and `paused`) of a GPU queue, in one line
  printf 'O\t%%s\t%%s\n' "$1" "$(ls "$1" 2>/dev/null | tr '\n\t' '  ')"
}
"""


def build_script(engine_part: str, targets: Sequence[ProbeTarget], after: str = "", queue: str = "") -> str:
    """The whole probe (for `bash -s`): the library, the engine's part (which fills `done[]`), one
    `probe_run` per target, the tickets of the host's GPU queue directory `queue` if it has one,
    then `after` (say, removing settled jobs)."""
    q = shlex.quote
    parts = [_LIBRARY % {
        "open": OPEN_TAG,
        "tail": LOG_TAIL_BYTES,
        "marker": q(f"\\[COSMOS_COMPLETE\\] exit_code={EXIT_STATUS_ERE}[[:blank:]]*"),
        "line": MAX_LINE_BYTES,
        "reasons": REASON_LINES,
        "slots": q(f"^({re.escape(gpu_queue.WAITING_LINE)}|{re.escape(gpu_queue.GPUS_LINE)})"),
        **dict(zip(("stages", "counters", "reasons_re"), map(q, probe_patterns()), strict=True)),
    }, engine_part]  # fmt: skip
    parts += [shlex.join(["probe_run", t.run_id, t.run_dir, *t.files]) for t in targets]
    if queue:
        parts.append(shlex.join(["queue", posixpath.join(queue, gpu_queue.TICKETS)]))
    parts += [after, f"printf '{CLOSE_TAG}\\n'"]
    return "\n".join(parts) + "\n"


def payload_lines(stdout: str) -> list[str]:
    """The lines between the payload tags (only \\n splits: log text never spans lines here)."""
    start, end = stdout.find(OPEN_TAG), stdout.rfind(CLOSE_TAG)
    if start < 0 or end < start:
        raise ProbeError("the host's answer has no complete payload (is bash installed on the host?)")
    return stdout[start + len(OPEN_TAG):end].split("\n")


class EngineWords(TypedDict, total=False):
    """What an engine says of a run's job, beside its state (fields of `Observation`)."""

    exit_code: int | None
    reason: str
    subject: str
    handle: str | None


@dataclass
class RunLines:
    """What the run-directory part of a probe said of one run."""

    marker_exit: int | None = None
    files: dict[str, FileFacts] = field(default_factory=dict)
    stage_line: str = ""
    counter_line: str = ""
    reason_lines: list[str] = field(default_factory=list)
    slot_line: str = ""  # the run script's latest GPU queue line
    queue_position: int | None = None  # its place in its checkout's GPU queue, while it has a ticket
    queue_paused: bool = False

    def observe(self, state: JobState, queued: bool = False, **engine: Unpack[EngineWords]) -> Observation:
        """The observation, with what the engine says (`exit_code`, `reason`, `subject`, `handle`).
        `queued`: the run waits in the host's GPU queue until its script says it holds GPUs, so a
        running job that does not say so yet is still QUEUED."""
        waiting_for, gpus = gpu_queue.slot_state(self.slot_line)
        if state is JobState.RUNNING and queued and gpus is None:
            state = JobState.QUEUED
            engine["reason"] = "the host's queue to be resumed" if self.queue_paused else (
                waiting_for or "its job to start")
        return Observation(state=state, marker_exit=self.marker_exit, files=self.files,
                           stage_line=self.stage_line, counter_line=self.counter_line,
                           reason_lines=tuple(self.reason_lines), gpus=gpus,
                           queue_position=self.queue_position if state is JobState.QUEUED else None,
                           **engine)


def parse_run_lines(lines: Sequence[str], run_ids: Sequence[str]) -> dict[str, RunLines]:
    """The M, F, L, G and X lines of every run and the O lines of the GPU queues; other lines are the
    engine's."""
    seen = {run_id: RunLines() for run_id in run_ids}
    queues: dict[str, list[str]] = {}
    for line in lines:
        kind, _, rest = line.partition("\t")
        if kind == "O":
            directory, _, names = rest.partition("\t")
            queues[directory] = names.split()
            continue
        run_id, _, value = rest.partition("\t")
        run = seen.get(run_id)
        if run is None:
            continue
        if kind == "M":
            run.marker_exit = parse_completion_marker(value)
        elif kind in ("F", "L") and (facts := _file_facts(kind, value)):
            run.files[facts[0]] = facts[1]
        elif kind == "G":
            run.stage_line, _, counter_and_slots = value.partition("\t")
            run.counter_line, _, run.slot_line = counter_and_slots.partition("\t")
        elif kind == "X":
            run.reason_lines.append(value)
    for entries in queues.values():
        for run_id, place in gpu_queue.positions(entries).items():
            if run_id in seen:
                seen[run_id].queue_position = place
                seen[run_id].queue_paused = gpu_queue.PAUSED in entries
    return seen


def _file_facts(kind: str, value: str) -> tuple[str, FileFacts] | None:
    name, _, detail = value.partition("\t")
    if kind == "L":
        return name, FileFacts(0, symlink_to=detail)
    size, _, sha256 = detail.partition("\t")
    if not size.isdigit():
        return None  # the file vanished between the test and the stat
    return name, FileFacts(int(size), sha256 if re.fullmatch(r"[0-9a-f]{64}", sha256) else None)


def build_facts_script(run_dir: str, names: Sequence[str]) -> str:
    """A bash script (for `bash -s`) giving the size of the files among `names`."""
    call = shlex.join(["facts", "-", run_dir, *names])
    return f"{_FACTS}printf '{OPEN_TAG}\\n'\n{call}\nprintf '{CLOSE_TAG}\\n'\n"


def parse_facts_output(stdout: str) -> dict[str, FileFacts]:
    return dict(parse_run_lines(payload_lines(stdout), ["-"])["-"].files)
