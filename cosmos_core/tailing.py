"""The last lines of a file of any size, read from its end: a 1 GiB log costs what a small one does."""

from __future__ import annotations

import os
from pathlib import Path

BLOCK = 64 * 1024


def tail_lines(path: Path, count: int) -> str:
    """The last `count` lines of `path` (all of them if it has fewer), decoded with replacement."""
    if count <= 0:
        return ""
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        position, data = end, b""
        # count + 1 newlines guarantee `count` whole lines, whether or not the file ends with one.
        while position > 0 and data.count(b"\n") <= count:
            step = min(BLOCK, position)
            position -= step
            f.seek(position)
            data = f.read(step) + data
    lines = data.splitlines(keepends=True)
    return b"".join(lines[-count:]).decode(errors="replace")
