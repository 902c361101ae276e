"""Runs as the API shows them: each run's dict with its GPU time and time left, GPU time per host, a
sweep's view; and the user's marks on a run (star, note: issue 20.4), which those dicts carry. Use cases
on the store: the decisions are the pure functions of records.py, estimates.py and sweep_view.py; the
queries are store/marks.py's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from cosmos_core.config import Config
from cosmos_core.estimates import format_seconds, time_left
from cosmos_core.lifecycle import RunStatus
from cosmos_core.records import run_to_dict
from cosmos_core.store import marks
from cosmos_core.store.queries import InvalidInput, NotFound, RunStore
from cosmos_core.store.tables import Run
from cosmos_core.sweep_view import DEFAULT_SCORE, SCORES, UnknownScore, sweep_view
from cosmos_core.sweep_view import cell as sweep_cell

__all__ = ["MAX_NOTE_CHARS", "SCORES", "RunViews", "check_note", "format_seconds", "sweep_cell"]

MAX_NOTE_CHARS = 200  # the note column's length (store/tables.py)


def check_note(text: str) -> str | None:
    """A note as stored: one line, at most MAX_NOTE_CHARS, trimmed; empty clears it (None)."""
    if not isinstance(text, str):
        raise InvalidInput("a note must be text")
    note = text.strip()
    if "\n" in note or "\r" in note:
        raise InvalidInput("a note is one line: remove its line breaks")
    if any(ord(c) < 32 and c != "\t" or c == "\x7f" for c in note):
        raise InvalidInput("a note cannot contain control characters")
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidInput(f"a note is at most {MAX_NOTE_CHARS} characters; this one has {len(note)}")
    return note.replace("\t", " ") or None


class RunViews:
    def __init__(self, store: RunStore, config: Callable[[], Config], clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.config = config  # the config in use now (the API follows its file as it changes)
        self.gpu_totals = marks.GpuTotals()
        self.clock = clock
        self._history: dict[tuple[str, str, int | None, str], list[float]] = {}
        self._history_at: int | None = None  # the count of status changes when `_history` was read

    def num_gpus(self, host: str) -> int:
        """The GPUs one run of `host` takes (a host no longer configured: 1)."""
        return next((h.num_gpus for h in self.config().hosts if h.name == host), 1)

    def mark(self, run_id: str, starred: bool | None = None, note: str | None = None) -> dict:
        """Star or unstar the run, and/or set its note (checked first: nothing is written if it is refused);
        the run as it now is."""
        stored = check_note(note) if note is not None else None
        if starred is not None and not marks.set_starred(run_id, starred):
            raise NotFound(f"no run with id {run_id!r}")
        if note is not None and not marks.set_note(run_id, stored):
            raise NotFound(f"no run with id {run_id!r}")
        return self.dicts([self.store.find_run(run_id)])[0]

    def dicts(self, runs: Sequence[Run]) -> list[dict]:
        """The runs as the API gives them: `records.run_to_dict` (GPU time by the host's GPUs per run when
        a run reported none), with their time left."""
        now = self.clock()
        return self.with_time_left([run_to_dict(run, self.num_gpus(run.host), now) for run in runs])

    def one(self, run: Run) -> dict:
        return self.dicts([run])[0]

    def with_time_left(self, runs: Sequence[dict]) -> list[dict]:
        """The runs with `time_left` (seconds or None) and `time_left_text` (None unless queued or
        running). Earlier durations are read once per host, model and steps, and read again only once
        a run's status changed (a refresh of running runs repeats no history query)."""
        now = self.clock()
        shown = []
        for run in runs:
            estimate = None
            if run["status"] in (RunStatus.QUEUED.value, RunStatus.RUNNING.value):
                steps = run["params"].get("num_steps")
                history = self.history(run["host"], run["model"], steps if isinstance(steps, int) else None,
                                       run["kind"])
                estimate = time_left(run["status"], run["progress"], _epoch(run["started_at"]), history, now,
                                     run.get("queue_position"), self._parallel(run["host"]))
            shown.append(run | {"time_left": estimate.seconds if estimate else None,
                                "time_left_text": estimate.text if estimate else None})
        return shown

    def history(self, host: str, model: str, steps: int | None, kind: str = "inference") -> list[float]:
        """Durations of the latest completed runs like these (store/marks.durations), cached until a status
        changes."""
        changes = marks.status_changes()
        if changes != self._history_at:
            self._history, self._history_at = {}, changes
        key = (host, model, steps, kind)
        if key not in self._history:
            self._history[key] = marks.durations(host, model, steps, kind)
        return self._history[key]

    def _parallel(self, host: str) -> int:
        """How many runs the host runs at once: its GPU slots over the GPUs a run takes."""
        config = next((h for h in self.config().hosts if h.name == host), None)
        if config is None or config.gpus is None:
            return 1
        return max(1, config.gpus // max(1, config.num_gpus))

    def gpu_seconds_by_host(self) -> dict[str, float]:
        return self.gpu_totals.by_host({h.name: h.num_gpus for h in self.config().hosts}, self.clock())

    def sweep(self, sweep_id: str, runs: Sequence[Mapping], score: str = DEFAULT_SCORE) -> dict:
        """The sweep's view (`sweep_view.SweepView.to_dict`); NotFound when it has no runs, InvalidInput
        for an unknown score."""
        if not runs:
            raise NotFound(f"no sweep with id {sweep_id!r}")
        try:
            return sweep_view(sweep_id, runs, score).to_dict()
        except UnknownScore as exc:
            raise InvalidInput(str(exc)) from None


def _epoch(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if iso else None
