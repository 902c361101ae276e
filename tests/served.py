"""A page-serving command as a real process: start it, poll until it answers HTTP (with a deadline),
stop it; used by the tests of `cosmos dashboard`, `launch.py` and the fresh-venv install."""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.hostkit import stop_process, wait_until


def status(url: str) -> int | None:
    """The HTTP status `url` answers with, None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without COSMOS_CONFIG (a command must find its config as told)."""
    env = {k: v for k, v in os.environ.items() if k != "COSMOS_CONFIG"}
    return {**env, "GRADIO_ANALYTICS_ENABLED": "False", **extra}


@contextmanager
def serving(argv: Sequence[str], cwd: Path, url: str, env: dict[str, str], timeout: float = 90) -> Iterator[None]:
    """Run `argv` until `url` answers (or the process ends: then fail with its output); stop it after."""
    log_path = cwd / "served.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: status(url) is not None or process.poll() is not None, timeout, f"{url} to answer")
            assert process.poll() is None, log_path.read_text()
            yield
        finally:
            stop_process(process)
