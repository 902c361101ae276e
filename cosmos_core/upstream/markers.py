"""The completion marker that the run scripts write as the last line of a run's log."""

from __future__ import annotations

import re

MARKER_PREFIX = "[COSMOS_COMPLETE] exit_code="
# The scripts write bash's exit status, 0..255: any other number is not their marker (and could not
# be stored). The same expression, in POSIX ERE, is what the probe greps for on the host.
EXIT_STATUS_ERE = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"

_MARKER_LINE = re.compile(rf"^\[COSMOS_COMPLETE\] exit_code={EXIT_STATUS_ERE}[ \t\r]*$", re.MULTILINE)


def parse_completion_marker(log_text: str) -> int | None:
    """The exit code of the last whole marker line in `log_text`, or None.

    Only a line that is exactly the marker, with a code 0..255, counts; text that merely contains it
    (a prompt echoed into the log) does not. Whether the marker may decide the
    run at all (only once the container has stopped) is the caller's rule.
    """
    codes = _MARKER_LINE.findall(log_text)
    return int(codes[-1]) if codes else None
