"""Progress of uploads, downloads and `sync --wait`, on stderr: rich bars when stderr is a terminal
(and the command is not asked for `--json`), a few plain lines elsewhere.

Both kinds offer the callbacks the API takes: `start(report)` for a start's steps and its upload (a
StartProgress), `download(run_id, done, total)` (a ProgressListener), `waiting(left)` for the runs `sync --wait` still
waits on, and `note(text)` for a line of its own. Use them as context managers: the bars stop (and
stay, finished, above what the command prints next) when the block ends, also on an error.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from cosmos_core.start_steps import StartReport, StartStep
from cosmos_core.words import sizes

if TYPE_CHECKING:
    from rich.progress import TaskID


def quarter(done: int, total: int) -> int:
    """How many quarters of a download have arrived (0-4); an empty download is whole."""
    return 4 if total <= 0 else min(4, 4 * done // total)


def download_line(run_id: str, done: int, total: int) -> str:
    percent = done * 100 // total if total else 100
    return f"{run_id}: downloaded {percent}% ({sizes(done, total)})"


@dataclass
class UploadTally:
    """One bar for all the files a run uploads: the files' sizes summed as each one starts. A file name
    that comes back after it was whole is the next run's (a sweep uploads the same names for each run)."""

    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (sent, total)

    def add(self, name: str, sent: int, total: int) -> bool:
        """Record the file's progress; True when it begins a new run's upload (the tally restarted)."""
        previous = self.files.get(name)
        restarted = previous is not None and previous[0] >= previous[1] and sent < total
        if restarted:
            self.files.clear()
        self.files[name] = (sent, total)
        return restarted

    @property
    def sent(self) -> int:
        return sum(sent for sent, _ in self.files.values())

    @property
    def total(self) -> int:
        return sum(total for _, total in self.files.values())


class PlainProgress:
    """No bars: a start's steps and uploads say nothing, a download says how far it got once per quarter
    (unless told not to be: `retry`'s only line is its result), `note` prints."""

    def __init__(self, out: TextIO | None = None, downloads: bool = True) -> None:
        self.out = out or sys.stderr
        self.downloads = downloads
        self.shown: dict[str, int] = {}  # run id -> quarters already told

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def start(self, report: StartReport) -> None:
        return None

    def download(self, run_id: str, done: int, total: int) -> None:
        reached = quarter(done, total)
        if self.downloads and reached > self.shown.get(run_id, 0):
            self.shown[run_id] = reached
            print(download_line(run_id, done, total), file=self.out, flush=True)

    def waiting(self, left: int) -> None:
        return None

    def note(self, text: str) -> None:
        print(text, file=self.out, flush=True)


class RichProgress:
    """rich bars: a line per step of a start with its time (its upload a bar, its files summed), one per
    downloading run, one for the runs `sync --wait` waits on. The display starts with the first bar."""

    def __init__(self, out: TextIO) -> None:
        from rich.console import Console  # imported only here: a command without bars starts faster
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                             TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                             console=Console(file=out, highlight=False), redirect_stdout=False)
        self.started = False
        self.tasks: dict[str, TaskID] = {}
        self.uploads = UploadTally()
        self.most_left = 0

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.bars.stop()

    def _show(self, key: str, description: str, done: float, total: float | None, detail: str,
              new: bool = False) -> None:
        if not self.started:
            self.bars.start()
            self.started = True
        if new or key not in self.tasks:
            self.tasks[key] = self.bars.add_task(description, total=total, detail=detail)
        self.bars.update(self.tasks[key], description=description, completed=done, total=total, detail=detail)

    def start(self, report: StartReport) -> None:
        """The upload a bar; the other steps one line, which says the step now and its time so far."""
        if report.step is StartStep.UPLOADING and report.detail:
            new = self.uploads.add(report.detail, report.sent, report.total)
            self._show("upload", f"upload {report.detail}", self.uploads.sent, self.uploads.total,
                       sizes(self.uploads.sent, self.uploads.total), new)
        elif report.step is not StartStep.UPLOADING:
            self._show("step", report.step_words(), 0, None, "")
            self.bars.reset(self.tasks["step"], total=None, description=report.step_words())  # its clock from 0

    def download(self, run_id: str, done: int, total: int) -> None:
        self._show(f"download {run_id}", f"download {run_id}", done, total, sizes(done, total))

    def waiting(self, left: int) -> None:
        self.most_left = max(self.most_left, left)
        if self.most_left:  # nothing to wait on: no bar
            self._show("wait", "active runs", self.most_left - left, self.most_left, f"{left} left")

    def note(self, text: str) -> None:
        self.bars.console.print(text, markup=False)


def progress_for(json_output: bool, out: TextIO | None = None,
                 download_lines: bool = True) -> PlainProgress | RichProgress:
    """Bars when `out` (default stderr) is a terminal and the output is not JSON; plain lines elsewhere."""
    out = out or sys.stderr
    return RichProgress(out) if not json_output and out.isatty() else PlainProgress(out, download_lines)
