"""The completion marker that the run scripts write as the last line of a run's log."""

from __future__ import annotations

import re

MARKER_PREFIX = "[COSMOS_COMPLETE] exit_code="

_MARKER_LINE = re.compile(r"^\[COSMOS_COMPLETE\] exit_code=(-?\d+)[ \t\r]*$", re.MULTILINE)


def parse_completion_marker(log_text: str) -> int | None:
    """The exit code of the last whole marker line in `log_text`, or None.

    Only a line that is exactly the marker counts; text that merely contains it
    (a prompt echoed into the log) does not. Whether the marker may decide the
    run at all (only once the container has stopped) is the caller's rule.
    """
    codes = _MARKER_LINE.findall(log_text)
    return int(codes[-1]) if codes else None
