"""What a run's log says: the stage it is at, and why it failed (pure).

The probe brings back a few lines of each log's tail (picked on the host with
`models.probe_patterns`); these functions turn them into the words
the table and the run's `error` show.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cosmos_core.upstream.gpu_queue import CANNOT_START
from cosmos_core.upstream.models import EXCEPTION_LINE, OUT_OF_MEMORY, CosmosModel

MAX_REASON_CHARS = 300
# Upstream's loguru format, e.g. "[06-07 10:00:00|INFO|cosmos_transfer1/.../transfer.py:412:demo] Saved video to ...".
_LOG_PREFIX = re.compile(r"^\[\d\d-\d\d \d\d:\d\d:\d\d\|[A-Z]+\|[^\]]*\] ")
_RANK_PREFIX = re.compile(r"^\[rank\d+\]: *")
# torchrun's own summary of a failed worker: it names no cause.
_WRAPPER_EXCEPTIONS = ("ChildFailedError",)


def message(line: str) -> str:
    """A log line without upstream's log prefix or torchrun's rank prefix."""
    return _RANK_PREFIX.sub("", _LOG_PREFIX.sub("", line.strip())).strip()


def progress_text(model: CosmosModel, stage_line: str, counter_line: str) -> str | None:
    """'diffusion sampling · 1/2 chunks' from the latest stage line and the latest progress bar."""
    parts = []
    text = message(stage_line)
    for pattern, label in model.stages:
        if found := re.search(pattern, text):
            parts.append(label.format(*found.groups()))
            break
    pattern, unit = model.counter
    if found := re.search(pattern, counter_line.strip("\n")):
        done, total = found.groups()
        parts.append(f"{int(done)}/{int(total)} {unit}")
    return " · ".join(parts) or None


def failure_reason(model: CosmosModel, lines: Sequence[str]) -> str | None:
    """Why the run failed, when its log says so: the guardrail, CUDA out of memory, missing
    checkpoints, else the last Python exception (torchrun's wrapper exception says nothing)."""
    messages = [message(line) for line in lines]
    checks = [(p, "blocked by the guardrail: ") for p in model.guardrail]
    checks += [(OUT_OF_MEMORY, "out of GPU memory: ")]
    checks += [(p, "missing checkpoints: ") for p in model.missing_checkpoints]
    checks += [(CANNOT_START, "")]
    for pattern, label in checks:
        for text in reversed(messages):
            if found := re.search(pattern, text):
                return _short(label + found.group(1).strip())
    for line in reversed(lines):
        found = re.search(EXCEPTION_LINE, line.strip())
        if found and not _is_wrapper(found.group(2)):
            return _short(found.group(2))
    return None


def _is_wrapper(exception_line: str) -> bool:
    name = exception_line.split(":", 1)[0]
    return name.rsplit(".", 1)[-1] in _WRAPPER_EXCEPTIONS


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"
