"""`cosmos` (and `python -m cosmos_core`): the command line. Exit 0 ok, 1 failed (one line on
stderr), 2 usage. The grammar is in cli_parser.py, the commands in cli_commands.py."""

from __future__ import annotations

from collections.abc import Sequence

from . import completion
from .cli_logging import setup_logging
from .cli_parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.command == "completion":
        print(completion.script(build_parser(), args.shell), end="")
        return 0
    # Loaded only now: the commands stand on the config (pydantic), the database and SSH, which
    # `--help` and `completion` (run by every new shell that sources it) should not wait for.
    from .cli_commands import run

    return run(args)
