"""`cosmos` (and `python -m cosmos_core`): the command line. Exit 0 ok, 1 failed (one line on
stderr), 2 usage. The grammar is in parser.py, the commands in commands.py."""

from __future__ import annotations

from collections.abc import Sequence

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
