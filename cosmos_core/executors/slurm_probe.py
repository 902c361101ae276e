"""The Slurm part of the one probe script per login node, and the reading of its answer (pure).

One `sacct` call answers for every job (`scontrol show job` per job when
accounting is off), and one `squeue --me` gives the live state and why a job
waits (sacct's Reason column stays `None` for pending jobs). A run whose job id
was never recorded is matched to its job by the job's name `cosmos-<run_id>`
(in `squeue`, and in one more `sacct` by name). The same `squeue` lists what
runs over in the database still have alive: the script `scancel`s those jobs,
and reports as cleaned the runs it lists none for. Runs whose job has ended are
marked done for the run-directory part (`run_probe`).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from cosmos_core.executors.base import JobState, ProbeError, ProbeReport, ProbeTarget
from cosmos_core.executors.docker_cli import container_name
from cosmos_core.executors.run_probe import build_script, parse_run_lines, payload_lines
from cosmos_core.executors.slurm_cli import QUEUED_STATES, RUNNING_STATES, observed, parse_scontrol_line

SLURM_CALL_SECONDS = 10  # each Slurm command of a probe; a slower controller is reported, not waited on
NAME_LOOKBACK = "7days"  # how far back sacct looks for the jobs of runs whose job id was never recorded

_SLURM_PART = r"""T=(timeout -k 2 %(seconds)d)
declare -A run_of=(%(run_of)s)  # job id -> run id
declare -A named=(%(named)s)  # job name -> run id, for runs whose job id was never recorded
declare -A settled=(%(settled)s)  # job name -> run id, for runs that are over whose job must not live on
mark() {  # mark JOBID STATE: a job that has ended makes its run done
  case "$2" in %(live)s) ;; *) [ -n "${run_of[$1]+x}" ] && done[${run_of[$1]}]=1 ;; esac
  return 0
}
record() {  # record JOBID STATE EXITCODE REASON: one accounting row
  printf 'S\t%%s\t%%s\t%%s\t%%s\n' "$1" "$2" "$3" "$4"; mark "$1" "${2%%%% *}"
}
identify() {  # identify JOBID NAME: the job of a run whose job id was never recorded
  [ -n "${named[$2]+x}" ] && [ -z "${run_of[$1]+x}" ] || return 0
  run_of[$1]=${named[$2]}; printf 'I\t%%s\t%%s\n' "$1" "${named[$2]}"
}
printf 'P\tok\n'
if [ ${#named[@]} -gt 0 ] && out=$("${T[@]}" sacct -X -n -P -S now-%(lookback)s --name %(names)s \
    -o JobID,JobName,State,ExitCode,Reason 2>/dev/null); then
  while IFS='|' read -r id name state code reason; do
    [ -n "$id" ] && [ -n "$name" ] || continue
    identify "$id" "$name"; [ -n "${named[$name]+x}" ] && record "$id" "$state" "$code" "$reason"
  done <<<"$out"
fi
if [ -n %(jobs)s ]; then
  if out=$("${T[@]}" sacct -X -n -P -j %(jobs)s -o JobID,State,ExitCode,Reason 2>&1); then
    while IFS='|' read -r id state code reason; do
      [ -n "$id" ] && record "$id" "$state" "$code" "$reason"
    done <<<"$out"
  else
    printf 'A\t%%s\n' "$(printf '%%s' "$out" | tr '\t\n' '  ' | cut -c1-300)"
    for id in "${!run_of[@]}"; do
      line=$("${T[@]}" scontrol show job -o "$id" 2>/dev/null) || continue
      printf 'J\t%%s\n' "$line"; state=${line#*JobState=}; mark "$id" "${state%%%% *}"
    done
  fi
fi
if [ ${#run_of[@]} -gt 0 ] || [ ${#named[@]} -gt 0 ] || [ ${#settled[@]} -gt 0 ]; then
  if queue=$("${T[@]}" squeue --me -h -o '%%i|%%j|%%T|%%r' 2>&1); then
    declare -A alive=()
    stop=()
    while IFS='|' read -r id name state reason; do
      [ -n "$id" ] && [ -n "$name" ] || continue
      identify "$id" "$name"
      [ -n "${run_of[$id]+x}" ] && printf 'Q\t%%s\t%%s\t%%s\n' "$id" "$state" "$reason"
      [ -n "${settled[$name]+x}" ] && { alive[$name]=1; stop+=("$id"); }
    done <<<"$queue"
    [ ${#stop[@]} -eq 0 ] || "${T[@]}" scancel "${stop[@]}" >/dev/null 2>&1 || :  # retried until gone
    for name in "${!settled[@]}"; do [ -n "${alive[$name]+x}" ] || printf 'R\t%%s\n' "${settled[$name]}"; done
  else
    printf 'P\terror\t%%s\n' "$(printf '%%s' "$queue" | tr '\t\n' '  ' | cut -c1-300)"
  fi
fi
"""


def build_probe_script(targets: Sequence[ProbeTarget], settled: Sequence[str] = ()) -> str:
    """A bash script (fed to `bash -s`) answering for every target in one round trip: by job id where
    it is known, else by the job's name `cosmos-<run_id>`; it also cancels the jobs Slurm still lists
    for the `settled` runs (run ids; over in the database) and reports those it no longer lists."""
    q = shlex.quote
    jobs = {t.handle: t.run_id for t in targets if t.handle}
    named = {container_name(t.run_id): t.run_id for t in targets if not t.handle}
    part = _SLURM_PART % {
        "seconds": SLURM_CALL_SECONDS, "lookback": NAME_LOOKBACK,
        "run_of": _bash_map(jobs), "named": _bash_map(named),
        "settled": _bash_map({container_name(run_id): run_id for run_id in settled}),
        "jobs": q(",".join(jobs)),
        "names": q(",".join(named)),
        "live": "|".join(sorted(QUEUED_STATES | RUNNING_STATES)),
    }  # fmt: skip
    return build_script(part, targets)


def _bash_map(entries: dict[str, str]) -> str:
    """The body of a bash associative array, every key and value quoted."""
    return " ".join(f"[{shlex.quote(key)}]={shlex.quote(value)}" for key, value in entries.items())


def parse_probe_output(stdout: str, targets: Sequence[ProbeTarget]) -> ProbeReport:
    """Observations for every target: the accounting record decides an ended job; squeue the live
    state of one still queued or running; a job neither knows is gone (just submitted ones show in
    squeue at once). A run whose job id was never recorded is matched to its job by name. The report's
    `cleaned` are the settled runs whose job Slurm no longer lists as alive."""
    lines = payload_lines(stdout)
    if errors := [line.split("\t", 2)[-1] for line in lines if line.startswith("P\terror")]:
        raise ProbeError(f"Slurm is not usable on the login node: {errors[0].strip()}")
    records: dict[str, tuple[str, str, str]] = {}  # job id -> (state, exit code, reason)
    live: dict[str, tuple[str, str, str]] = {}
    found: dict[str, str] = {}  # run id -> the job id found by its name
    cleaned: list[str] = []
    for line in lines:
        kind, _, rest = line.partition("\t")
        parts = rest.split("\t")
        if kind == "S" and len(parts) == 4:
            records[parts[0]] = (parts[1], parts[2], parts[3])
        elif kind == "J" and (scontrol := parse_scontrol_line(rest)):
            records[scontrol[0]] = scontrol[1:]
        elif kind == "Q" and len(parts) == 3:
            live[parts[0]] = (parts[1], "", parts[2])
        elif kind == "I" and len(parts) == 2:
            found[parts[1]] = parts[0]
        elif kind == "R" and parts[0]:
            cleaned.append(parts[0])
    runs = parse_run_lines(lines, [t.run_id for t in targets])
    observations = {}
    for target in targets:
        job = target.handle or found.get(target.run_id)
        state = _latest(records.get(job or ""), live.get(job or ""))
        seen = observed(*state) if state else {"state": JobState.GONE, "reason": _unknown(target.run_id, job)}
        observations[target.run_id] = runs[target.run_id].observe(**seen, subject="Job", handle=job)
    return ProbeReport(observations, tuple(cleaned))


def _unknown(run_id: str, job: str | None) -> str:
    return f"Slurm has no record of job {job}" if job else f"Slurm has no job named {container_name(run_id)}"


def _latest(record: tuple[str, str, str] | None, live: tuple[str, str, str] | None) -> tuple[str, str, str] | None:
    """An ended job's record wins; else squeue's live state (with its pending reason); else the record."""
    ended = record is not None and record[0].split(" ", 1)[0] not in QUEUED_STATES | RUNNING_STATES
    return record if ended or live is None else live
