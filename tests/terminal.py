"""The real CLI with one of its streams on a pseudo-terminal, as a user at a terminal runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, BinaryIO, Literal

from tests.inprocess import run_cli_in_process
from tests.workspace import REPO

Stream = Literal["stdout", "stderr"]
TERMINAL_ENV = {"COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"}  # a pty starts 0 x 0


def run_cli(config: Path, *args: str, terminal: Stream | None = None, stderr: IO | int = subprocess.PIPE,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m cosmos_core --config CONFIG ARGS`; `terminal` ("stdout" or "stderr") is a pty whose text
    stands in that stream's place in the result; the other streams are pipes (`stderr`: a file if given).
    With no terminal and stderr piped, the command runs in the test process (tests/inprocess.py)."""
    if terminal is None and stderr == subprocess.PIPE:
        return run_cli_in_process(["--config", str(config), *args], os.getcwd(), {**TERMINAL_ENV, "NO_COLOR": None})
    env = {**os.environ, "PYTHONPATH": str(REPO), **TERMINAL_ENV}
    env.pop("NO_COLOR", None)
    argv = [sys.executable, "-m", "cosmos_core", "--config", str(config), *args]
    if terminal is None:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=stderr, env=env, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        return subprocess.CompletedProcess(argv, done.returncode, done.stdout.decode(), _text(done.stderr))
    leader, follower = os.openpty()
    with os.fdopen(leader, "rb", buffering=0) as pty:
        process = subprocess.Popen(argv, stdout=follower if terminal == "stdout" else subprocess.PIPE,
                                   stderr=follower if terminal == "stderr" else stderr, stdin=subprocess.DEVNULL,
                                   env=env)
        os.close(follower)
        shown: list[bytes] = []
        reader = threading.Thread(target=lambda: shown.append(_read_all(pty)))  # a full pty would block the CLI
        reader.start()
        out, err = process.communicate(timeout=timeout)
        reader.join(timeout)
    texts = {"stdout": _text(out), "stderr": _text(err), terminal: b"".join(shown).decode(errors="replace")}
    return subprocess.CompletedProcess(argv, process.returncode, texts["stdout"], texts["stderr"])


def _text(data: bytes | None) -> str:
    return data.decode(errors="replace") if data else ""


def _read_all(pty: BinaryIO) -> bytes:
    """Everything written to the terminal until its last writer closed it (Linux then raises EIO)."""
    chunks: list[bytes] = []
    while True:
        try:
            chunk = pty.read(65536)
        except OSError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
