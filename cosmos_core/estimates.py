"""GPU time and time left of a run (pure: stored times and texts in, numbers and words out).

GPU time is how long a run held its GPUs times how many it held: from `started_at` (when its job got
its GPUs) to `completed_at`, or to now while it runs. Time left comes from the run's own progress (the
counters its progress text shows, e.g. "diffusion sampling · 1/2 chunks" or "chunk 2/3 · 10/35 steps")
and the durations of earlier completed runs of the same model and steps on the same host.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from cosmos_core.words import count

NO_ESTIMATE = "no estimate"
# "N/M unit" as loglines.progress_text writes a counter; "chunk N/M" is a stage (Transfer2.5's).
_COUNTER = re.compile(r"(?<![\w/])(\d+)/(\d+) (chunks|steps)\b")
_CHUNK_STAGE = re.compile(r"\bchunk (\d+)/(\d+)\b")


def held_gpus(gpus: Sequence[int] | None, num_gpus: int) -> int:
    """How many GPUs a run holds: the indices its script reported, else the host's GPUs per run."""
    return len(gpus) if gpus else max(1, num_gpus)


def gpu_seconds(started_at: float | None, completed_at: float | None, gpus: int, now: float) -> float | None:
    """Seconds holding GPUs × GPUs held; None until the run has started. A run that ended without a
    recorded end (never the case for a finished run) counts up to now, like a running one."""
    if started_at is None:
        return None
    end = completed_at if completed_at is not None else now
    return max(0.0, end - started_at) * gpus


def progress_fraction(progress: str | None) -> float | None:
    """How much of the run is done, from its progress text: None when the text has no counter.

    "1/2 chunks" is half; Transfer2.5's "chunk 2/3 · 10/35 steps" is (1 + 10/35) / 3 (the steps count
    within the current chunk); a counter with a total of 0 says nothing."""
    if not progress:
        return None
    counter = _COUNTER.search(progress)
    chunk = _CHUNK_STAGE.search(progress)
    if chunk is not None:
        current, chunks = int(chunk.group(1)), int(chunk.group(2))
        if chunks == 0 or not 1 <= current <= chunks:
            return None
        within = _ratio(counter) if counter is not None and counter.group(3) == "steps" else 0.0
        return (current - 1 + (within or 0.0)) / chunks
    return _ratio(counter) if counter is not None else None


def _ratio(counter: re.Match[str]) -> float | None:
    done, total = int(counter.group(1)), int(counter.group(2))
    return min(done, total) / total if total else None


def typical_duration(durations: Sequence[float]) -> float | None:
    """The median of earlier runs' durations (seconds, the non-negative ones); None with no history."""
    usable = [d for d in durations if d >= 0 and math.isfinite(d)]
    return statistics.median(usable) if usable else None


@dataclass(frozen=True)
class Estimate:
    seconds: float | None  # None: no estimate
    text: str


def time_left(status: str, progress: str | None, started_at: float | None, history: Sequence[float], now: float,
              queue_position: int | None = None, parallel: int = 1) -> Estimate | None:
    """The estimated time left of a queued or running run (None for any other status).

    `history`: durations (started to completed) of earlier completed runs of the same model and steps on
    the same host; none means "no estimate". Running: the typical duration × the part not done yet by
    its progress counters; before the first counter, the typical duration less the time it has run.
    Queued: the runs ahead of it (`queue_position` - 1) each take the typical duration, `parallel` at a
    time, then its own typical duration."""
    if status not in ("queued", "running"):
        return None
    typical = typical_duration(history)
    if typical is None:
        return Estimate(None, NO_ESTIMATE)
    if status == "queued":
        ahead = max(0, (queue_position or 1) - 1)
        seconds = typical * (ahead // max(1, parallel) + 1)
        return Estimate(seconds, f"about {format_seconds(seconds)} left ({ahead} ahead in the queue; "
                                 f"from {_runs(history)})")
    done = progress_fraction(progress)
    if done is not None:
        seconds = typical * (1 - done)
    else:
        seconds = max(0.0, typical - (now - started_at if started_at is not None else 0.0))
    runs = _runs(history)
    if seconds <= 0:
        return Estimate(0.0, f"any moment now (past the usual {format_seconds(typical)} of {runs})")
    return Estimate(seconds, f"about {format_seconds(seconds)} left (from {runs})")


def _runs(history: Sequence[float]) -> str:
    return count(len(history), "earlier run")


def format_seconds(seconds: float) -> str:
    """'45s', '3m 05s', '2h 07m' (whole seconds, rounded down)."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def format_gpu_seconds(seconds: float | None) -> str:
    """GPU time as a user reads it ('1h 05m GPU'); empty when there is none."""
    return "" if seconds is None else f"{format_seconds(seconds)} GPU"
