"""The experiment table (the Runs tab's table): plain functions, runs in, a DataFrame of cells out.

Parameters and scores are columns the user chooses; the status is a coloured label that reads as
text (no emoji), its whole reason in the label's tooltip; ids never wrap; a sweep id links to the
table filtered to that sweep and to its Compare view (`?sweep=` / `?compare=`, read on page load);
the first column picks runs for Compare. HTML cells are escaped here, nowhere else.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd

from .compare import FILE_ROUTE
from .tables import download_text, local_time, run_duration, status_text

PICK, ID = "pick", "id"
Datatype = Literal["str", "number", "html"]  # gr.Dataframe's kinds of cell used here


@dataclass(frozen=True)
class Column:
    header: str
    datatype: Datatype
    width: str
    cell: Callable[[Mapping, Mapping[str, str], datetime], Any]  # (run, prompt names, now) -> the cell


def _param(key: str) -> Callable[[Mapping, Mapping[str, str], datetime], Any]:
    return lambda run, names, now: _number((run.get("params") or {}).get(key))


def _text_param(key: str) -> Callable[[Mapping, Mapping[str, str], datetime], Any]:
    return lambda run, names, now: str((run.get("params") or {}).get(key) or "")


def _score(key: str) -> Callable[[Mapping, Mapping[str, str], datetime], Any]:
    return lambda run, names, now: _number((run.get("metrics") or {}).get(key), digits=3)


def _number(value: Any, digits: int | None = None) -> float | int | None:
    """A cell of a numeric column: the number, None (blank) when the run has none."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(value, digits) if digits is not None else value


COLUMNS: dict[str, Column] = {  # in table order
    PICK: Column("pick", "html", "52px", lambda run, names, now: ""),  # filled by `pick_cell`
    ID: Column("id", "html", "180px", lambda run, names, now: id_cell(run["id"])),
    "status": Column("status", "html", "170px", lambda run, names, now: status_cell(run)),
    "thumbnail": Column("frame", "html", "84px", lambda run, names, now: thumbnail_cell(run.get("thumbnail"))),
    "prompt": Column("prompt", "str", "120px", lambda run, names, now: ("★ " if run.get("starred") else "")
                     + names.get(run["prompt_id"], run["prompt_id"])),
    "kind": Column("kind", "str", "90px", lambda run, names, now: run["kind"]),
    "model": Column("model", "str", "110px", lambda run, names, now: run["model"]),
    "host": Column("host", "str", "70px", lambda run, names, now: run["host"]),
    "sweep": Column("sweep", "html", "190px", lambda run, names, now: sweep_cell(run.get("sweep_id"))),
    "seed": Column("seed", "number", "60px", _param("seed")),
    "steps": Column("steps", "number", "64px", _param("num_steps")),
    "guidance": Column("guidance", "number", "86px", _param("guidance")),
    "weights": Column("weights v/e/d/s", "str", "140px", lambda run, names, now: weights_text(run)),
    "sigma_max": Column("sigma_max", "number", "94px", _param("sigma_max")),
    "blur_strength": Column("blur strength", "str", "90px", _text_param("blur_strength")),
    "canny_threshold": Column("canny threshold", "str", "90px", _text_param("canny_threshold")),
    "fps": Column("fps", "number", "50px", _param("fps")),
    "blur_ssim": Column("Blur SSIM", "number", "86px", _score("blur_ssim")),
    "canny_f1": Column("Canny-F1", "number", "86px", _score("canny_f1")),
    "download": Column("download", "str", "86px", lambda run, names, now: download_text(run["download"])),
    "duration": Column("duration", "str", "86px", lambda run, names, now: run_duration(run, now)),
    "created": Column("created", "str", "150px", lambda run, names, now: local_time(run["created_at"])),
}
FIXED = (PICK, ID)  # always shown, first
CHOOSABLE = [key for key in COLUMNS if key not in FIXED]
DEFAULT_SHOWN = ["status", "thumbnail", "prompt", "model", "sweep", "seed", "steps", "guidance", "weights",
                 "sigma_max", "blur_ssim", "canny_f1", "download", "created"]  # fmt: skip
# Status -> (background, text colour) of its label: dark text on a light tint, legible as plain text.
STATUS_COLOURS = {
    "pending": ("#e5e7eb", "#374151"), "uploading": ("#e0e7ff", "#3730a3"), "queued": ("#fef3c7", "#92400e"),
    "running": ("#dbeafe", "#1e40af"), "completed": ("#dcfce7", "#166534"), "failed": ("#fee2e2", "#991b1b"),
    "cancelled": ("#f3f4f6", "#4b5563"),
}  # fmt: skip
NOWRAP = "rt-nw"
STATUS_CLASS = "rt-st"


def table_css() -> str:
    """The page's stylesheet for the table's cells (one class per status: the cells stay small)."""
    labels = "".join(f".{STATUS_CLASS}.rt-{status}{{background:{background};color:{colour}}}"
                     for status, (background, colour) in STATUS_COLOURS.items())
    return (f".{NOWRAP}{{white-space:nowrap}}.rt-id{{white-space:nowrap;font-family:monospace}}"
            f".{STATUS_CLASS}{{padding:1px 6px;border-radius:4px;display:inline-block;background:#e5e7eb;"
            f"color:#374151}}{labels}"
            ".rt-pick{display:inline-block;width:14px;height:14px;border:2px solid #2563eb;border-radius:3px;"
            "cursor:pointer}.rt-pick[aria-checked=true]{background:#2563eb;box-shadow:inset 0 0 0 2px #fff}")
TAGS = re.compile(r"<[^>]*>")
SHORT_ID_CHARS = 8


def shown_columns(chosen: Collection[str] | None) -> list[str]:
    """The columns on screen, in table order: the fixed ones, then those chosen (None: the defaults)."""
    wanted = set(DEFAULT_SHOWN if chosen is None else chosen)
    return [*FIXED, *(key for key in CHOOSABLE if key in wanted)]


def headers(columns: Sequence[str]) -> list[str]:
    return [COLUMNS[key].header for key in columns]


def datatypes(columns: Sequence[str]) -> list[Datatype]:
    return [COLUMNS[key].datatype for key in columns]


def widths(columns: Sequence[str]) -> list[str | int]:
    return [COLUMNS[key].width for key in columns]


def experiment_frame(runs: Sequence[Mapping], prompt_names: Mapping[str, str], columns: Sequence[str],
                     picked: Collection[str] = (), now: datetime | None = None) -> pd.DataFrame:
    """One row per run, in the order given, with `columns` (shown_columns); `picked`: runs ticked for Compare."""
    now = now or datetime.now(UTC)
    rows = [[pick_cell(run["id"], run["id"] in picked) if key == PICK else COLUMNS[key].cell(run, prompt_names, now)
             for key in columns] for run in runs]  # fmt: skip
    return pd.DataFrame(rows, columns=headers(columns), dtype=object)  # object: a blank stays None, not NaN


def thumbnail_cell(path: str | None) -> str:
    """One frame of the output (made locally once it is verified), small; empty until there is one."""
    if not path:
        return ""
    return f'<img class="run-thumb" src="{FILE_ROUTE}{html.escape(path)}" alt="" loading="lazy" height="36">'


def id_cell(run_id: str) -> str:
    return f'<span class="rt-id">{html.escape(run_id)}</span>'


def pick_cell(run_id: str, picked: bool) -> str:
    """A tick box drawn by the stylesheet (filled when picked); clicking its cell picks or unpicks the
    run (the page keeps the picked ids)."""
    state = "true" if picked else "false"
    return (f'<span class="rt-pick" role="checkbox" aria-checked="{state}" aria-label="compare" '
            f'data-pick="{html.escape(run_id)}"></span>')


def sweep_links(sweep_id: str) -> tuple[str, str]:
    """(the table filtered to the sweep, its Compare view): links the page follows on load."""
    quoted = html.escape(sweep_id)
    return f"?sweep={quoted}", f"?compare={quoted}"


def sweep_cell(sweep_id: str | None) -> str:
    """The sweep's short id (its full id on hover) linking to its runs, and a link to its Compare view."""
    if not sweep_id:
        return ""
    runs, grid = sweep_links(sweep_id)
    full = html.escape(sweep_id)
    short = html.escape(short_id(sweep_id))
    return (f'<span class="{NOWRAP}"><a href="{runs}" title="{full}: its runs">{short}</a> · '
            f'<a href="{grid}" title="{full}: compare its videos">compare</a></span>')


def sweep_markdown(sweep_id: str) -> str:
    """A sweep id in Markdown text: a link to its runs, then one to its Compare view."""
    runs, grid = sweep_links(sweep_id)
    return f"sweep [{sweep_id}]({runs}) ([compare]({grid}))"


def short_id(any_id: str, chars: int = SHORT_ID_CHARS) -> str:
    """The prefix and the first `chars` characters after it (`sw_9820ff05`), enough to tell ids apart."""
    prefix, _, rest = any_id.partition("_")
    return f"{prefix}_{rest[:chars]}" if rest else any_id[: chars + 3]


def status_cell(run: Mapping) -> str:
    """The status as a coloured label with its text; the whole reason (or progress) on hover."""
    full = status_text(run, limit=10**9)
    return (f'<span class="{STATUS_CLASS} rt-{html.escape(run["status"])}" title="{html.escape(full)}">'
            f"{html.escape(status_text(run))}</span>")


def weights_text(run: Mapping) -> str:
    weights = (run.get("params") or {}).get("weights")
    if not isinstance(weights, list | tuple):
        return ""
    return "/".join(f"{w:g}" if isinstance(w, int | float) else str(w) for w in weights)


def cell_text(cell: Any) -> str:
    """What an HTML cell reads as (a select event gives the cell's HTML)."""
    return html.unescape(TAGS.sub("", str(cell))).strip()


def toggled(picked: Sequence[str], run_id: str) -> list[str]:
    """`picked` with `run_id` added at the end, or removed if it was there."""
    return [r for r in picked if r != run_id] if run_id in picked else [*picked, run_id]


def picked_text(picked: Sequence[str]) -> str:
    """The runs ticked for Compare, or how to tick them."""
    if not picked:
        return "Tick 2-9 runs to compare them."
    return f"Picked {len(picked)}: " + ", ".join(f"`{run_id}`" for run_id in picked)


HEADER_KEYS = {column.header: key for key, column in COLUMNS.items()}


def column_props(header_names: Sequence[str]) -> tuple[list[Datatype], list[str | int]]:
    """gr.Dataframe's datatype and column_widths for a frame with these headers."""
    keys = [HEADER_KEYS[name] for name in header_names]
    return datatypes(keys), widths(keys)
