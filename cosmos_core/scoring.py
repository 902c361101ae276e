"""Scoring finished runs: one frame of the output as a thumbnail, and the control-fidelity scores of
each completed inference run (Blur SSIM, Canny-F1: cosmos_core/metrics/), once its output is verified.

A use case beside the downloads, run by the same lazy sync: `score_due` works in turns bounded by the
caller's deadline (a dashboard tick: what is left of its download budget), keeping the totals in the
database between turns and at least every SAVE_EVERY_SECONDS, so a process killed midway loses at
most that much work and the next turn, in any process, goes on from there. A bad video (unreadable,
no frames) ends the scoring with a one-line error in the run's `metrics`; neither the run's status
nor its download ever changes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from cosmos_core.lifecycle import DownloadStatus, RunStatus
from cosmos_core.metrics.compare import plan_videos, scored_frames
from cosmos_core.metrics.plan import SCORED_KINDS, Plan, PlanError, not_computed
from cosmos_core.metrics.scores import FrameScores, Tally, library_errors
from cosmos_core.metrics.video import VideoError, write_thumbnail
from cosmos_core.store import metric_rows
from cosmos_core.store.metric_rows import DONE, FAILED, NONE, PENDING
from cosmos_core.store.queries import RunStore
from cosmos_core.store.tables import Prompt, Run

SAVE_EVERY_SECONDS = 1.0
# Its own lock file: a scoring never holds the run's download lock (a sync of the same install that
# finds that lock taken leaves the download, and the lease it has just taken, alone until it expires).
LOCK_NAME = ".scoring.lock"
SCORE_KEYS = ("blur_ssim", "canny_f1", "canny_precision", "canny_recall")


class ScoringError(Exception):
    """The run cannot be scored here; the message is one line."""


def refusal(kind: str, status: str, download_status: str, output_here: bool) -> str | None:
    """Why `cosmos metrics` cannot score a run (None: it can), pure."""
    if kind not in SCORED_KINDS or status != RunStatus.COMPLETED.value:
        return f"it is a {status} {kind} run; only a completed inference run has scores"
    if download_status != DownloadStatus.DONE.value:
        return f"its output is not downloaded yet (download {download_status})"
    if not output_here:
        return "its output is not on this machine (downloaded by another, or deleted)"
    return None


def score_due(store: RunStore, deadline: float | None) -> int:
    """Advance the scorings due until `deadline` (time.monotonic; None: to the end); how many ended.
    Runs whose output is not on this machine (downloaded by another on a shared database) are left
    to the machine that has it."""
    ended = 0
    due = metric_rows.due()
    for run_id in set(_OPEN) - {run.id for run in due}:  # ended or deleted meanwhile, by another process
        _OPEN.pop(run_id).close()
    for run in due:
        if deadline is not None and time.monotonic() >= deadline:
            break
        if not output_here(run.output_path):
            continue
        with store.run_lock(run.id, name=LOCK_NAME) as owned:  # among this install's processes; CAS beyond
            if owned and turn(run.id, deadline):
                ended += 1
    return ended


def rescore(store: RunStore, run: Run) -> Run:
    """Score `run` again from the start, to the end; the run as stored after. ScoringError when it
    cannot be scored here; a bad video is not an error here (its `metrics` say what went wrong)."""
    reason = refusal(run.kind, run.status, run.download_status, output_here(run.output_path))
    if reason:
        raise ScoringError(f"run {run.id} cannot be scored: {reason}")
    with store.run_lock(run.id, wait=True, name=LOCK_NAME):
        metric_rows.request(run.id)
        turn(run.id, None)
    return store.stored_run(run.id)


def output_here(output_path: str | None) -> bool:
    """Whether a run's output (its `output_path`, None until downloaded) is a file on this machine: it may
    have been moved or deleted since, or be another machine's (a shared database)."""
    return bool(output_path) and Path(str(output_path)).is_file()


def turn(run_id: str, deadline: float | None) -> bool:
    """One turn of the run's scoring; whether it ended (done or failed)."""
    run = metric_rows.find(run_id)
    if run is None or run.metrics_status != PENDING or not run.output_path:
        return False
    output = Path(run.output_path)
    if run.thumbnail is None:
        try:
            metric_rows.set_thumbnail(run.id, str(write_thumbnail(output).resolve()))
        except (VideoError, OSError):
            pass  # an unreadable output: the scoring below says why
    if run.kind not in SCORED_KINDS:
        return metric_rows.save(run.id, run.metrics_state, metrics_status=NONE)
    return _Turn(run, output, deadline).run()


class _Turn:
    """One turn of one run's scoring; `stored` is the totals as this turn last stored them (every
    write compares them first)."""

    def __init__(self, run: Run, output: Path, deadline: float | None) -> None:
        self.run_id = run.id
        self.prompt_id = run.prompt_id
        self.output = output
        self.deadline = deadline
        self.stored: str | None = run.metrics_state
        self.prompt = metric_rows.prompt_of(run)
        self.skipped = _not_computed(run, self.prompt)

    def run(self) -> bool:
        try:
            if self.prompt is None:
                raise VideoError(f"its prompt {self.prompt_id} is gone")
            source = Path(self.prompt.video_path)
            if self.stored is None:
                the_plan, tally = plan_videos(source, self.output), Tally()
                if not self._save(_state(the_plan, tally)):
                    return False
            else:
                the_plan, tally = _load(self.stored)
            done = self._score(source, the_plan, tally)
            if done is None:
                return False  # the deadline came, or another process stored a turn meanwhile
            result = {**done.scores(), "of_frames": the_plan.aligned, "label": the_plan.label,
                      "size": "{}x{}".format(*the_plan.size), "not_computed": self.skipped, "error": None}
            return metric_rows.save(self.run_id, self.stored, metrics_status=DONE, metrics=json.dumps(result),
                                    metrics_state=None)
        except Exception as exc:
            if not isinstance(exc, (VideoError, PlanError, *library_errors())):
                raise  # a bug of ours, not a bad video
            error = " ".join(str(exc).split()) or type(exc).__name__  # one line, whatever the library said
            failed = {**dict.fromkeys(SCORE_KEYS), "frames": 0, "not_computed": self.skipped, "error": error}
            return metric_rows.save(self.run_id, self.stored, metrics_status=FAILED, metrics=json.dumps(failed),
                                    metrics_state=None)

    def _save(self, state: str) -> bool:
        if not metric_rows.save(self.run_id, self.stored, metrics_state=state):
            return False
        self.stored = state
        return True

    def _score(self, source: Path, the_plan: Plan, tally: Tally) -> Tally | None:
        """Score the frames left; the totals once all are, None when the turn stops before (the
        totals so far stored, the videos left open for this process's next turn) or another process
        stored a turn meanwhile."""
        decoding = _OPEN.pop(self.run_id, None)
        if decoding is not None and decoding.stored != self.stored:  # another process went on meanwhile
            decoding.close()
            decoding = None
        if decoding is None:
            closer = ExitStack()
            frames = closer.enter_context(scored_frames(source, self.output, the_plan, tally.frames))
            decoding = _Decoding(self.stored or "", frames, closer)
        try:
            saved_at = time.monotonic()
            for scores in decoding.frames:
                tally = tally.add(scores)
                if tally.frames == len(the_plan.indices):
                    return tally
                now = time.monotonic()
                over = self.deadline is not None and now >= self.deadline
                if over or now - saved_at >= SAVE_EVERY_SECONDS:
                    if not self._save(_state(the_plan, tally)):
                        return None
                    decoding.stored, saved_at = self.stored or "", now
                    if over:
                        _OPEN[self.run_id], decoding = decoding, None  # kept open for the next turn here
                        return None
            raise VideoError(f"{self.output.name} or {source.name} ended before frame {the_plan.indices[-1]}")
        finally:
            if decoding is not None:
                decoding.close()


@dataclass
class _Decoding:
    """A scoring's two videos left open in this process between its turns, decoded as far as the
    totals `stored` stand: the next turn here goes on from there instead of decoding again from the
    first frame (a turn in another process, or after this one died, starts from the database's totals)."""

    stored: str
    frames: Iterator[FrameScores]
    closer: ExitStack

    def close(self) -> None:
        self.closer.close()


_OPEN: dict[str, _Decoding] = {}  # run id -> its scoring's open videos, in this process


def _state(the_plan: Plan, tally: Tally) -> str:
    return json.dumps({"plan": {"indices": list(the_plan.indices), "aligned": the_plan.aligned,
                                "input_frames": the_plan.input_frames, "output_frames": the_plan.output_frames,
                                "size": list(the_plan.size)},
                       "tally": tally.to_dict()})


def _load(stored: str) -> tuple[Plan, Tally]:
    data = json.loads(stored)
    p = data["plan"]
    the_plan = Plan(tuple(p["indices"]), p["aligned"], p["input_frames"], p["output_frames"], tuple(p["size"]))
    return the_plan, Tally.from_dict(data["tally"])


def _not_computed(run: Run, prompt: Prompt | None) -> dict[str, str]:
    weights = json.loads(run.params).get("weights")
    given = {"depth": bool(prompt and prompt.depth_path), "seg": bool(prompt and prompt.seg_path)}
    return not_computed(weights if isinstance(weights, list) else None, given)
