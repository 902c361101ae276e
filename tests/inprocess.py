"""The real CLI run inside the test process: `cosmos_core.cli.main(argv)`, as `python -m cosmos_core ARGV`
runs it, without the process.

A process costs a third of a second of CPU before the command starts (the interpreter and the
imports), which several hundred CLI calls per test run add up to. In-process, what a process would
not carry from one command to the next is put back after each call: the working dir, the environment,
the streams, sys.argv, the database the product's models are bound to, the log handlers `--verbose`
adds and the cached install id. A few tests keep real processes (`python -m cosmos_core`, the `cosmos`
script): the entry points themselves, exit codes and no traceback, and whatever needs a process to
kill, to run alongside others, or a terminal (tests/terminal.py).
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

from cosmos_core import install
from cosmos_core.cli import main
from cosmos_core.store import tables

# What `python -m cosmos_core` has as sys.argv[0]: argparse names the program after it in usage errors.
MAIN_SCRIPT = str(Path(__file__).resolve().parents[1] / "cosmos_core" / "__main__.py")
LOGGERS = ("cosmos_core", "paramiko")  # the ones `--verbose` sets up (cli/verbosity.py)


def run_cli_in_process(argv: Sequence[str], cwd: str | os.PathLike[str],
                       env: Mapping[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
    """`cosmos ARGV` in `cwd`, stdin /dev/null, stdout and stderr captured; `env` sets (None: unsets)
    variables for the call. The exit code is main's, or argparse's (2 for usage, 0 for --help). An
    exception main lets through propagates: a process would have printed it as a traceback."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with ExitStack() as stack:
        stack.enter_context(_process_state(cwd, env or {}))
        stdin = stack.enter_context(open(os.devnull))
        stack.enter_context(_swapped(sys, "stdin", stdin))
        stack.enter_context(redirect_stdout(stdout))
        stack.enter_context(redirect_stderr(stderr))
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = _exit_code(exc.code)
    return subprocess.CompletedProcess(["cosmos", *argv], code, stdout.getvalue(), stderr.getvalue())


def _exit_code(code: object) -> int:
    """The process's exit status for `sys.exit(code)`: None is 0, a message is printed and is 1."""
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1


@contextmanager
def _process_state(cwd: str | os.PathLike[str], env: Mapping[str, str | None]) -> Iterator[None]:
    """What one call may change of this process, put back when it ends."""
    saved_cwd, saved_env, saved_argv = os.getcwd(), dict(os.environ), sys.argv
    bound = tables.database.obj
    loggers = {name: logging.getLogger(name) for name in LOGGERS}
    levels = {name: (logger.level, list(logger.handlers)) for name, logger in loggers.items()}
    install.install_id.cache_clear()  # XDG_STATE_HOME may differ from the last call's
    os.chdir(cwd)
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    sys.argv = [MAIN_SCRIPT]
    try:
        yield
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        install.install_id.cache_clear()
        tables.database.initialize(bound)
        for name, logger in loggers.items():
            logger.setLevel(levels[name][0])
            logger.handlers[:] = levels[name][1]


@contextmanager
def _swapped(owner: object, name: str, value: object) -> Iterator[None]:
    saved = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)
