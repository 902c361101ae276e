"""`--verbose`: our own loggers (`cosmos_core.*`) at DEBUG on stderr; `-vv` adds paramiko's."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


class _Stderr(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time: rich's progress display swaps it while its bars
    show, so that log lines print above the bars instead of through them."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def setup_logging(verbosity: int) -> None:
    """0: nothing (paramiko stays silent: see ssh/host.py); 1: ours at DEBUG; 2 or more: paramiko's too."""
    if verbosity <= 0:
        return
    handler = _Stderr()
    handler.setFormatter(logging.Formatter(FORMAT, "%H:%M:%S"))
    names = ["cosmos_core"] + (["paramiko"] if verbosity >= 2 else [])
    for name in names:
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
