"""The reads and writes of a run's scores and thumbnail (see cosmos_core/scoring.py).

Every write while a scoring is under way is a compare-and-set on the totals stored so far, so two
processes scoring the same run never both store a turn: the loser's write changes nothing, and it
stops.
"""

from __future__ import annotations

from peewee import Expression

from cosmos_core.store.tables import Prompt, Run

NONE, PENDING, DONE, FAILED = "none", "pending", "done", "failed"


def due() -> list[Run]:
    """Runs whose scores are due, the longest finished first (one indexed query)."""
    return list(Run.select().where(Run.metrics_status == PENDING).order_by(Run.completed_at, Run.id))


def find(run_id: str) -> Run | None:
    return Run.get_or_none(Run.id == run_id)


def prompt_of(run: Run) -> Prompt | None:
    """The run's prompt (None once deleted)."""
    return Prompt.get_or_none(Prompt.id == run.prompt_id)


def request(run_id: str) -> bool:
    """Score the run (again) from the start; False if there is no such run."""
    return Run.update(metrics_status=PENDING, metrics=None, metrics_state=None).where(
        Run.id == run_id).execute() == 1


def save(run_id: str, expect_state: str | None, **fields: object) -> bool:
    """Write `fields` if the run is still pending with the totals `expect_state` (None: none yet)."""
    return Run.update(**fields).where((Run.id == run_id) & (Run.metrics_status == PENDING)
                                      & _state_is(expect_state)).execute() == 1


def set_thumbnail(run_id: str, path: str) -> None:
    Run.update(thumbnail=path).where(Run.id == run_id).execute()


def _state_is(state: str | None) -> Expression:
    return Run.metrics_state.is_null() if state is None else Run.metrics_state == state
