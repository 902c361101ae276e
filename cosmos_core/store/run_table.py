"""The runs table's queries: its sort orders, in SQL, by a run's own fields and its stored parameters
(JSON in `run.params`), numbers compared as numbers, on SQLite and PostgreSQL alike; the sweeps to
filter by.

A sort key names a column of the page's experiment table; every order ends with the run id, so
pages never overlap, and puts runs with no value (an upscale has no seed) last either way.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import peewee as pw

from cosmos_core.store.queries import InvalidInput
from cosmos_core.store.tables import Changes, Prompt, Run, on_postgres

DEFAULT_SORT = "created"
# The stored parameters a run can be sorted by: sort key -> its key in `run.params`.
NUMERIC_PARAMS = {"seed": "seed", "steps": "num_steps", "guidance": "guidance", "sigma_max": "sigma_max",
                  "fps": "fps"}
TEXT_PARAMS = {"blur_strength": "blur_strength", "canny_threshold": "canny_threshold"}
WEIGHTS = 4  # vis, edge, depth, seg: `weights` sorts by each in turn
FIELDS: dict[str, Callable[[], pw.ColumnBase]] = {
    "created": lambda: Run.created_at, "id": lambda: Run.id, "prompt": lambda: Prompt.name,
    "kind": lambda: Run.kind, "model": lambda: Run.model, "host": lambda: Run.host, "status": lambda: Run.status,
    "sweep": lambda: Run.sweep_id, "download": lambda: Run.download_status,
    "duration": lambda: Run.completed_at - Run.started_at,
}  # fmt: skip
# The control-fidelity scores, from the run's `metrics` (JSON), once the store has that column.
SCORES = ("blur_ssim", "canny_f1") if "metrics" in Run._meta.fields else ()
SORT_KEYS = (*FIELDS, *NUMERIC_PARAMS, "weights", *TEXT_PARAMS, *SCORES)
NEVER_NULL = {"created", "id", "prompt", "kind", "model", "host", "status", "download"}
# Orders that move only when a run is created, deleted or changes status (what bumps the Changes row):
# not the download state's nor the scores (written without a bump), nor the default (an index walk).
STABLE_SORTS = set(SORT_KEYS) - {"download", DEFAULT_SORT, *SCORES}


class UnknownSort(InvalidInput):
    pass


def order_by(sort: str | None, ascending: bool = False) -> list[pw.ColumnBase]:
    """ORDER BY terms for `sort` (a SORT_KEYS name; None: newest first)."""
    sort = sort or DEFAULT_SORT
    if sort in FIELDS:
        values = [FIELDS[sort]()]
    elif sort in NUMERIC_PARAMS:
        values = [param_value(NUMERIC_PARAMS[sort], numeric=True)]
    elif sort in TEXT_PARAMS:
        values = [param_value(TEXT_PARAMS[sort], numeric=False)]
    elif sort == "weights":
        values = [param_value("weights", numeric=True, index=i) for i in range(WEIGHTS)]
    elif sort in SCORES:
        values = [param_value(sort, numeric=True, column=Run._meta.fields["metrics"])]
    else:
        raise UnknownSort(f"cannot sort runs by {sort!r}; use one of {', '.join(SORT_KEYS)}")
    if sort == DEFAULT_SORT and not ascending:
        return [Run.created_at.desc(), Run.id]  # the page's usual order: the index run_created_at_id, as it is
    terms: list[pw.ColumnBase] = []
    for value in values:
        if sort not in NEVER_NULL:
            terms.append(value.is_null())  # no value: last, either way
        terms.append(value.asc() if ascending else value.desc())
    return [*terms, Run.id.asc() if ascending else Run.id.desc()]


def param_value(key: str, *, numeric: bool, index: int | None = None, column: pw.Field | None = None) -> pw.ColumnBase:
    """A stored parameter of the run (`index`: an element of a list; `column`: another JSON column than
    `params`), NULL when it has none."""
    column = column or Run.params
    if on_postgres():
        path = [key] if index is None else [key, str(index)]
        text = pw.NodeList([pw.SQL("CAST("), column, pw.SQL("AS jsonb) #>>"), pw.Value("{" + ",".join(path) + "}")],
                           parens=True)
        return pw.Cast(text, "double precision") if numeric else text
    where = f"$.{key}" + ("" if index is None else f"[{index}]")
    return pw.fn.json_extract(column, where)


def recent_sweeps(limit: int = 50) -> list[str]:
    """The sweep ids of the newest runs, newest sweep first (reads the sweep_id index)."""
    newest = pw.fn.MAX(Run.created_at)
    rows = (Run.select(Run.sweep_id, newest.alias("newest")).where(Run.sweep_id.is_null(False))
            .group_by(Run.sweep_id).order_by(newest.desc()).limit(limit))
    return [str(row.sweep_id) for row in rows]


class SortedPages:
    """Pages of run ids in a sort that reads every matching run (a parameter: 0.1 s over 100,000 runs),
    kept until the database's Changes count moves (a run created, deleted or changing status, by any
    process), so that a quiet tick of a sorted table costs what an unsorted one does."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._version: int | None = None
        self._pages: dict[Hashable, list[str]] = {}

    def get(self, key: Hashable, compute: Callable[[], list[str]]) -> list[str]:
        version = Changes.get_by_id(1).count
        if version != self._version:
            self._pages, self._version = {}, version
        if key not in self._pages:
            if len(self._pages) >= self.size:
                self._pages.pop(next(iter(self._pages)))
            self._pages[key] = compute()
        return list(self._pages[key])
