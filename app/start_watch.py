"""The New run form's start while it goes on: each step with its time, and a Cancel that works at any step.

A start runs in its Start event's thread for as long as its upload and its host's `docker run` (or
`sbatch`) take. It writes what it hears into its browser session's StartWatch; the form's step timer
renders the watch every second, so the time of the step it waits on keeps counting while the host is
silent. Cancel marks the run cancelled in the database alone: the start notices, starts nothing, or
removes what its `docker run` started as soon as that returns (starting.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cosmos_core.api import CosmosError, StartReport, StartStep, format_seconds


@dataclass
class Step:
    step: StartStep
    words: str  # "starting the container on gpu1 (docker run)"
    began: float  # time.monotonic()
    ended: float | None = None


@dataclass
class StartWatch:
    """One start, as its session sees it."""

    began: float
    run_id: str | None = None  # known from the first step on (the run's row exists then)
    steps: list[Step] = field(default_factory=list)
    upload: str = ""  # the upload's latest figure: "inputs/video.mp4 1.2/40.0 MB"
    cancel_asked: bool = False
    cancel_sent: bool = False
    cancel_refused: str = ""  # why the cancel could not be made (the run failed first, say)
    ended: bool = False  # the start has returned (its outcome is the form's status line)

    def hear(self, report: StartReport, now: float) -> None:
        self.run_id = report.run_id
        if report.step is StartStep.UPLOADING and report.detail:
            self.upload = report.upload_words()
        words = report.step_words()
        if not self.steps or self.steps[-1].words != words:
            self.end_step(now)
            self.steps.append(Step(report.step, words, now))

    def end_step(self, now: float) -> None:
        if self.steps and self.steps[-1].ended is None:
            self.steps[-1].ended = now


def render(watch: StartWatch | None, now: float) -> str:
    """The watch as the form shows it: one line per step, in words, the current one counting (pure)."""
    if watch is None:
        return ""
    what = f"run {watch.run_id}" if watch.run_id else "the run"
    until = watch.steps[-1].ended or now if watch.ended and watch.steps else now
    lines = [f"**{'Start of' if watch.ended else 'Starting'} {what}** · {took(until - watch.began)}"]
    for step in watch.steps:
        state = "done" if step.ended is not None else "now"
        detail = f" · {watch.upload}" if step.step is StartStep.UPLOADING and watch.upload else ""
        lines.append(f"- {state}: {step.words}{detail} · {took((step.ended or now) - step.began)}")
    if watch.cancel_refused:
        lines.append(f"- cannot cancel: {watch.cancel_refused}")
    elif watch.cancel_asked and not watch.ended:
        lines.append("- cancelling: the run is cancelled; what this start began is removed as soon as the "
                     "step above returns")
    return "\n".join(lines)


def took(seconds: float) -> str:
    """A step's time: tenths under ten seconds (`0.3s`), else as long times read (`1m 05s`)."""
    return f"{max(seconds, 0):.1f}s" if seconds < 10 else format_seconds(seconds)


class StartWatches:
    """The start in flight in each browser session (keyed by Gradio's session hash)."""

    def __init__(self, cancel: Callable[[str], str], clock: Callable[[], float] = time.monotonic) -> None:
        self.cancel_run = cancel  # Handlers.cancel: cancels a starting run in the database alone
        self.clock = clock
        self._watches: dict[str, StartWatch] = {}
        self._lock = threading.Lock()  # the start's thread and the Cancel click's both write a watch

    def begin(self, session: str) -> None:
        self._watches[session] = StartWatch(self.clock())

    def listener(self, session: str, then: Callable[[StartReport], None]) -> Callable[[StartReport], None]:
        """What the start is given to hear its steps: records them, sends a Cancel asked before the run
        had an id, then passes the report on (to the upload's progress bar)."""

        def hear(report: StartReport) -> None:
            watch = self._watches.get(session)
            if watch is not None:
                with self._lock:
                    watch.hear(report, self.clock())
                self._send_cancel(watch)
            then(report)

        return hear

    def cancel(self, session: str) -> str:
        """Cancel the session's start at whatever step it is; the panel's text."""
        watch = self._watches.get(session)
        if watch is None or watch.ended:
            return render(watch, self.clock()) or "Nothing is starting."
        watch.cancel_asked = True
        self._send_cancel(watch)
        return render(watch, self.clock())

    def _send_cancel(self, watch: StartWatch) -> None:
        with self._lock:
            if not watch.cancel_asked or watch.cancel_sent or watch.run_id is None:
                return
            watch.cancel_sent = True
        try:
            self.cancel_run(watch.run_id)
        except CosmosError as exc:  # it ended (or failed to start) first: the outcome says how
            watch.cancel_refused = str(exc)

    def end(self, session: str) -> None:
        watch = self._watches.get(session)
        if watch is not None:
            watch.end_step(self.clock())
            watch.ended = True

    def view(self, session: str) -> str:
        return render(self._watches.get(session), self.clock())
