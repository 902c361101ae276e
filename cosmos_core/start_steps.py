"""The steps of starting a run, as its executor goes through them, said in words (pure but for the listener).

A start connects to the host, uploads the run's files, then waits on one command there: `docker run`
(the container) or `sbatch` (the Slurm job). That last wait is where a slow daemon or a refused flag
holds a start, so each step is reported as it begins, with what it waits on: the page and the CLI
show it, and the run's row keeps it (its `progress`) while the run is still starting.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from cosmos_core.words import sizes


class StartStep(enum.StrEnum):
    CONNECTING = "connecting"
    UPLOADING = "uploading"
    STARTING = "starting the container"
    SUBMITTING = "submitting the job"


@dataclass(frozen=True)
class StartReport:
    run_id: str
    host: str
    step: StartStep
    detail: str = ""  # what the step waits on: the file uploading now, or the host's command
    sent: int = 0  # uploading: bytes of `detail` sent so far, of `total`
    total: int = 0

    def step_words(self) -> str:
        """The step alone, as the run's row keeps it: `starting the container on gpu1 (docker run)`."""
        where = {StartStep.CONNECTING: "to", StartStep.UPLOADING: "to"}.get(self.step, "on")
        waits_on = f" ({self.detail})" if self.detail and self.step is not StartStep.UPLOADING else ""
        return f"{self.step.value} {where} {self.host}{waits_on}"

    def upload_words(self) -> str:
        """The file uploading and its bytes: `video.mp4 0.3/1.2 MB`."""
        return f"{self.detail} {sizes(self.sent, self.total)}"

    def words(self) -> str:
        """The step with its bytes while uploading: `uploading to gpu1: video.mp4 0.3/1.2 MB`."""
        if self.step is StartStep.UPLOADING and self.detail:
            return f"{self.step_words()}: {self.upload_words()}"
        return self.step_words()


StartProgress = Callable[[StartReport], None]


class StepReporter:
    """What an executor calls as its start goes on; tells `listener` (if any) each step and each upload's
    progress. `upload` is the files' UploadProgress."""

    def __init__(self, run_id: str, host: str, listener: StartProgress | None) -> None:
        self.run_id = run_id
        self.host = host
        self.listener = listener

    def step(self, step: StartStep, detail: str = "") -> None:
        self._tell(StartReport(self.run_id, self.host, step, detail))

    def upload(self, name: str, sent: int, total: int) -> None:
        self._tell(StartReport(self.run_id, self.host, StartStep.UPLOADING, name, sent, total))

    def _tell(self, report: StartReport) -> None:
        if self.listener is not None:
            self.listener(report)
