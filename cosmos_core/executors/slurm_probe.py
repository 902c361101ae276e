"""The Slurm part of the one probe script per login node, and the reading of its answer (pure).

One `sacct` call answers for every job (`scontrol show job` per job when
accounting is off), and one `squeue --me` gives the live state and why a job
waits (sacct's Reason column stays `None` for pending jobs). Runs whose job has
ended are marked done for the run-directory part (`run_probe`).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from cosmos_core.executors.base import JobState, ProbeError, ProbeReport, ProbeTarget
from cosmos_core.executors.run_probe import build_script, parse_run_lines, payload_lines
from cosmos_core.executors.slurm_cli import QUEUED_STATES, RUNNING_STATES, observed, parse_scontrol_line

SLURM_CALL_SECONDS = 10  # each Slurm command of a probe; a slower controller is reported, not waited on

_SLURM_PART = r"""T=(timeout -k 2 %(seconds)d)
declare -A run_of=(%(run_of)s)
mark() {  # mark JOBID STATE: a job that has ended makes its run done
  case "$2" in %(live)s) ;; *) [ -n "${run_of[$1]+x}" ] && done[${run_of[$1]}]=1 ;; esac
  return 0
}
printf 'P\tok\n'
if [ ${#run_of[@]} -gt 0 ]; then
  if out=$("${T[@]}" sacct -X -n -P -j %(jobs)s -o JobID,State,ExitCode,Reason 2>&1); then
    while IFS='|' read -r id state code reason; do
      [ -n "$id" ] || continue
      printf 'S\t%%s\t%%s\t%%s\t%%s\n' "$id" "$state" "$code" "$reason"; mark "$id" "${state%%%% *}"
    done <<<"$out"
  else
    printf 'A\t%%s\n' "$(printf '%%s' "$out" | tr '\t\n' '  ' | cut -c1-300)"
    for id in "${!run_of[@]}"; do
      line=$("${T[@]}" scontrol show job -o "$id" 2>/dev/null) || continue
      printf 'J\t%%s\n' "$line"; state=${line#*JobState=}; mark "$id" "${state%%%% *}"
    done
  fi
  if queue=$("${T[@]}" squeue --me -h -o '%%i|%%T|%%r' 2>&1); then
    while IFS='|' read -r id state reason; do
      [ -n "${run_of[$id]+x}" ] && printf 'Q\t%%s\t%%s\t%%s\n' "$id" "$state" "$reason"
    done <<<"$queue"
  else
    printf 'P\terror\t%%s\n' "$(printf '%%s' "$queue" | tr '\t\n' '  ' | cut -c1-300)"
  fi
fi
"""


def build_probe_script(targets: Sequence[ProbeTarget]) -> str:
    """A bash script (fed to `bash -s`) answering for every target in one round trip."""
    jobs = {t.handle: t.run_id for t in targets if t.handle}
    part = _SLURM_PART % {
        "seconds": SLURM_CALL_SECONDS,
        "run_of": " ".join(f"[{shlex.quote(job)}]={shlex.quote(run)}" for job, run in jobs.items()),
        "jobs": shlex.quote(",".join(jobs)) if jobs else "''",
        "live": "|".join(sorted(QUEUED_STATES | RUNNING_STATES)),
    }  # fmt: skip
    return build_script(part, targets)


def parse_probe_output(stdout: str, targets: Sequence[ProbeTarget]) -> ProbeReport:
    """Observations for every target: the accounting record decides an ended job; squeue the live
    state of one still queued or running; a job neither knows is gone (just submitted ones show in
    squeue at once)."""
    lines = payload_lines(stdout)
    if errors := [line.split("\t", 2)[-1] for line in lines if line.startswith("P\terror")]:
        raise ProbeError(f"Slurm is not usable on the login node: {errors[0].strip()}")
    records: dict[str, tuple[str, str, str]] = {}  # job id -> (state, exit code, reason)
    live: dict[str, tuple[str, str, str]] = {}
    for line in lines:
        kind, _, rest = line.partition("\t")
        parts = rest.split("\t")
        if kind == "S" and len(parts) == 4:
            records[parts[0]] = (parts[1], parts[2], parts[3])
        elif kind == "J" and (scontrol := parse_scontrol_line(rest)):
            records[scontrol[0]] = scontrol[1:]
        elif kind == "Q" and len(parts) == 3:
            live[parts[0]] = (parts[1], "", parts[2])
    runs = parse_run_lines(lines, [t.run_id for t in targets])
    observations = {}
    for target in targets:
        job = target.handle
        state = _latest(records.get(job or ""), live.get(job or ""))
        seen = observed(*state) if state else {"state": JobState.GONE, "reason": f"Slurm has no record of job {job}"}
        observations[target.run_id] = runs[target.run_id].observe(**seen, subject="Job", handle=job)
    return ProbeReport(observations, ())


def _latest(record: tuple[str, str, str] | None, live: tuple[str, str, str] | None) -> tuple[str, str, str] | None:
    """An ended job's record wins; else squeue's live state (with its pending reason); else the record."""
    ended = record is not None and record[0].split(" ", 1)[0] not in QUEUED_STATES | RUNNING_STATES
    return record if ended or live is None else live
