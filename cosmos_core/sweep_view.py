"""A sweep's view (pure): its runs with the parameters that vary across it and their scores, sorted by
a chosen score, the best marked; and its total GPU time.

Runs come in `records.run_to_dict` form (with `gpu_seconds`); scores are the run's `metrics` keys of
SPEC.md (`blur_ssim`, `canny_f1`), higher is better, a missing score is blank and sorts last.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cosmos_core.estimates import format_seconds

SCORES = ("blur_ssim", "canny_f1")  # what a sweep is sorted by; higher is better
DEFAULT_SCORE = SCORES[0]
# Run fields that may vary across a sweep besides its parameters (a sweep may span prompts).
_RUN_KEYS = ("prompt_id", "model")
_RENAMED = {"num_steps": "steps"}  # as the command line spells it


class UnknownScore(ValueError):
    pass


def check_score(score: str) -> str:
    if score not in SCORES:
        raise UnknownScore(f"unknown score {score!r}; sort by one of {', '.join(SCORES)}")
    return score


def varying(runs: Sequence[Mapping]) -> list[str]:
    """The parameters (and prompt or model) whose values differ between the runs, in first-seen order;
    a parameter one run lacks differs from one it has. One run alone varies nothing."""
    rows = [_knobs(run) for run in runs]
    keys = dict.fromkeys(k for row in rows for k in row)
    return [k for k in keys if len({repr(row.get(k)) for row in rows}) > 1]


def _knobs(run: Mapping) -> dict[str, object]:
    return {**{k: run.get(k) for k in _RUN_KEYS}, **(run.get("params") or {})}


def score_of(run: Mapping, score: str) -> float | None:
    """The run's score, None when not computed (or not a finite number)."""
    value = (run.get("metrics") or {}).get(score)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def ranked(runs: Sequence[Mapping], score: str) -> list[Mapping]:
    """Best first by `score`; runs without it last, among themselves in the order given (stable)."""
    check_score(score)
    scored = sorted((r for r in runs if score_of(r, score) is not None), key=lambda r: -(score_of(r, score) or 0))
    return scored + [r for r in runs if score_of(r, score) is None]


def best_ids(runs: Sequence[Mapping], score: str) -> set[str]:
    """The runs with the highest `score` (every one tied for it); none when no run has it."""
    values = {r["id"]: score_of(r, score) for r in runs}
    top = max((v for v in values.values() if v is not None), default=None)
    return set() if top is None else {run_id for run_id, v in values.items() if v == top}


def total_gpu_seconds(runs: Sequence[Mapping]) -> float:
    return sum(r.get("gpu_seconds") or 0.0 for r in runs)


@dataclass(frozen=True)
class SweepView:
    sweep_id: str
    score: str  # what the rows are sorted by
    columns: list[str]  # id, status, the varying parameters, the scores, GPU time, star, note
    rows: list[dict[str, object]]  # one per run, best first; "best" True on the best by `score`
    gpu_seconds: float
    counts: dict[str, int]  # runs per status

    def to_dict(self) -> dict:
        return {"sweep_id": self.sweep_id, "sort_by": self.score, "columns": self.columns, "runs": self.rows,
                "gpu_seconds": self.gpu_seconds, "counts": self.counts}


def sweep_view(sweep_id: str, runs: Sequence[Mapping], score: str = DEFAULT_SCORE) -> SweepView:
    """The sweep's runs best first by `score` with the parameters that vary across them and both scores."""
    keys = varying(runs)
    best = best_ids(runs, score)
    rows = []
    for run in ranked(runs, score):
        knobs = _knobs(run)
        rows.append({
            "id": run["id"], "best": run["id"] in best, "status": run["status"],
            **{_RENAMED.get(k, k): knobs.get(k) for k in keys},
            **{s: score_of(run, s) for s in SCORES},
            "gpu_seconds": run.get("gpu_seconds"), "starred": bool(run.get("starred")), "note": run.get("note"),
        })  # fmt: skip
    counts: dict[str, int] = {}
    for run in runs:
        counts[run["status"]] = counts.get(run["status"], 0) + 1
    columns = ["id", "best", "status", *(_RENAMED.get(k, k) for k in keys), *SCORES, "gpu_seconds", "starred",
               "note"]
    return SweepView(sweep_id, score, columns, rows, total_gpu_seconds(runs), counts)


def cell(column: str, value: object) -> str:
    """A view value as table text: blank for None, scores to 3 places, GPU time in words, weights a/b/c/d."""
    if value is None:
        return ""
    if column in SCORES and isinstance(value, float):
        return f"{value:.3f}"
    if column == "gpu_seconds" and isinstance(value, int | float):
        return format_seconds(value)
    if isinstance(value, bool):
        return ("★" if column == "starred" else "best") if value else ""
    if isinstance(value, list | tuple):
        return "/".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)
