"""`cosmos` (and `python -m cosmos_core`): the command line. Exit 0 ok, 1 failed (one line on
stderr), 2 usage. The grammar is in parser.py, the commands in commands.py."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from cosmos_core.cli import completion
from cosmos_core.cli.parser import build_parser
from cosmos_core.cli.verbosity import setup_logging


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.command == "completion":
        print(completion.script(build_parser(), args.shell), end="")
        return 0
    # Loaded only now: the commands stand on the config (pydantic), the database and SSH, which
    # `--help` and `completion` (run by every new shell that sources it) should not wait for.
    from cosmos_core.cli.commands import run

    return run(args)


def console() -> NoReturn:
    """The `cosmos` script and `python -m cosmos_core`: `main`, then `exit_now`."""
    exit_now(main())


def exit_now(code: int) -> NoReturn:
    """End the process without Python's tear-down of every module loaded (a fifth of a command's
    start-up, 0.1 s here). Nothing is lost by it: whatever a command does is in the database or on
    disk by the time it returns, as it must be for a process that is killed at any moment."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a closed pipe (`cosmos runs | head`): nothing more can be said there
            pass
    os._exit(code)
