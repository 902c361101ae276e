"""The tables of `runs`, `prompts` and `hosts`: rows as plain data, printed either as a rich table
(stdout is a terminal) or as plain aligned text (a pipe or a file: no box drawing, no colour, no
truncation, one line per row, so `grep`, `awk` and `cut` work on it)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from cosmos_core.estimates import format_seconds
from cosmos_core.upstream.models import DEFAULT_MODEL
from cosmos_core.words import agreeing

Table = tuple[list[str], list[list[str]]]  # column titles, rows of cells

STATUS_STYLES = {
    "completed": "green", "failed": "bold red", "cancelled": "dim", "running": "cyan", "queued": "yellow",
    "uploading": "yellow", "pending": "yellow",
}  # fmt: skip


def runs_table(runs: Sequence[dict]) -> Table:
    columns = ["ID", "KIND", "MODEL", "HOST", "STATUS", "CREATED", "DETAIL"]
    return columns, [[run["id"], run["kind"], run["model"] or DEFAULT_MODEL, run["host"], run["status"],
                      run["created_at"], run_detail(run)] for run in runs]


def run_detail(run: dict) -> str:
    """What a user wants to know of a run beyond its status: the error, the progress, its place in the
    queue, its GPUs, how far its download is."""
    download = run["download"]
    detail = run["error"] or run["progress"] or ""
    if run.get("time_left_text"):
        detail = f"{detail}, {run['time_left_text']}" if detail else run["time_left_text"]
    if run["queue_position"]:
        detail = f"#{run['queue_position']} in queue, {detail}"
    elif run["gpus"] and run["status"] == "running":
        detail = f"GPUs {','.join(map(str, run['gpus']))}, {detail}"
    if download["status"] in ("pending", "downloading") and download["bytes_total"]:
        detail = f"downloading {100 * download['bytes_done'] // download['bytes_total']}%"
    elif download["status"] == "failed":
        detail = f"download failed: {download['error']}"
    marks = ("★ " if run.get("starred") else "") + (f"[{run['note']}] " if run.get("note") else "")
    return (marks + detail).rstrip(", ").strip()


def showing_line(shown: int, counts: Mapping[str, int], status: str | None) -> str:
    """The stderr line of a `runs` cut short: how many there are (`counts`: runs per status), how to see
    them all. Never fewer than one more than shown (a run may have changed status since it was listed)."""
    total = max(shown + 1, counts.get(status, 0) if status else sum(counts.values()))
    return f"showing {shown} of {total} {status + ' ' if status else ''}{agreeing(total, 'run')}; --all for every run"


def prompts_table(prompts: Sequence[dict]) -> Table:
    columns = ["ID", "CREATED", "NAME", "TEXT"]
    return columns, [[p["id"], p["created_at"], p["name"], p["text"]] for p in prompts]


def hosts_table(hosts: Sequence[dict]) -> Table:
    columns = ["NAME", "EXECUTOR", "ADDRESS", "GPUS/RUN", "GPU TIME", "IMAGE", "LAST ERROR"]
    return columns, [[h["name"], h["executor"], f"{h['user']}@{h['hostname']}:{h['port']}", str(h["num_gpus"]),
                      format_seconds(h.get("gpu_seconds") or 0), h["image"], h["last_error"]] for h in hosts]


def plain_lines(table: Table) -> list[str]:
    """Header and rows, columns padded to their widest cell and two spaces apart; an empty cell is `-`
    (so every row has as many words before the last column) and line breaks in a cell become spaces."""
    columns, rows = table
    cells = [columns] + [[_one_line(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
            for row in cells]


def _one_line(cell: object) -> str:
    text = " ".join(str(cell).split()) if cell is not None else ""
    return text or "-"


def print_table(table: Table, out: TextIO | None = None) -> None:
    """The table on `out` (default stdout): rich on a terminal, plain text elsewhere."""
    out = out or sys.stdout
    if out.isatty():
        _print_rich(table, out)
    else:
        print("\n".join(plain_lines(table)), file=out)


def _print_rich(table: Table, out: TextIO) -> None:
    from rich.console import Console  # imported only here: a command writing to a pipe starts faster
    from rich.table import Table as RichTable
    from rich.text import Text

    columns, rows = table
    shown = RichTable(header_style="bold", show_edge=False, pad_edge=False)
    for column in columns:
        shown.add_column(column, overflow="fold", no_wrap=column in ("ID", "CREATED"))
    for row in rows:  # Text, not markup: a prompt's "[b]" is shown as it is
        shown.add_row(*(Text("" if cell is None else str(cell), style=_style(column, cell))
                        for column, cell in zip(columns, row, strict=True)))
    Console(file=out, highlight=False).print(shown)


def _style(column: str, cell: object) -> str:
    return STATUS_STYLES.get(str(cell), "") if column == "STATUS" else ""
