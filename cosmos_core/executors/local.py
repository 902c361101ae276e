"""This machine as the GPU host: commands as local processes, files copied instead of sent.

For a researcher whose workstation runs both the dashboard and the model: the
same scripts, probes and status rules as a host over SSH (`executor = "local"`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

from cosmos_core.executors.base import FileFacts, SubmitError, UploadProgress
from cosmos_core.executors.shell import download_all
from cosmos_core.ssh.host import CommandTimeout, Result
from cosmos_core.ssh.transfer import DownloadError, DownloadRecorder, download_file, local_fetch, sha256_of
from cosmos_core.tailing import tail_lines


class LocalShell:
    label = "this machine"

    def __init__(self, command_timeout: float = 120.0) -> None:
        self.command_timeout = command_timeout

    def run(self, command: str, *, stdin: str | None = None, timeout: float | None = None) -> Result:
        """Run `command` with bash in a process group of its own; at the timeout the whole group is
        killed (bash and whatever it started), not bash alone."""
        seconds = timeout or self.command_timeout
        with subprocess.Popen(["bash", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True) as shell:
            try:
                stdout, stderr = shell.communicate(stdin, timeout=seconds)
            except subprocess.TimeoutExpired as exc:
                with suppress(ProcessLookupError):  # the group ended just now
                    os.killpg(shell.pid, signal.SIGKILL)  # a new session's group id is bash's pid
                shell.communicate()
                raise CommandTimeout(f"{self.label}: command timed out after {seconds:.0f} s") from exc
        return Result(shell.returncode, stdout, stderr)

    def close(self) -> None:
        pass


class LocalFiles:
    """A run's files when the "host" is this machine: the run dir is a local path."""

    def upload(self, run_dir: str, checkout: str, checkout_name: str, uploads: Mapping[str, Path],
               texts: Mapping[str, str], on_upload: UploadProgress | None, cancelled: Callable[[], bool]) -> None:
        if not Path(checkout).is_dir():
            raise SubmitError(f"remote_dir {checkout} does not exist on this machine "
                              f"(it must be the {checkout_name} checkout)")
        for sub in ("inputs", "scripts", "outputs"):
            Path(run_dir, sub).mkdir(parents=True, exist_ok=True)
        for name, local in uploads.items():
            if cancelled():
                raise SubmitError("cancelled while copying its inputs")
            shutil.copyfile(local, Path(run_dir, name))
            if on_upload is not None:
                size = Path(local).stat().st_size
                on_upload(name, size, size)
        for name, text in texts.items():
            Path(run_dir, name).write_text(text, encoding="utf-8")

    def read_log(self, path: str, tail: int | None) -> str:
        if not Path(path).is_file():
            return ""
        return tail_lines(Path(path), tail) if tail else Path(path).read_text(errors="replace")

    def file_facts(self, run_dir: str, names: Sequence[str]) -> dict[str, FileFacts]:
        facts = {}
        for name in names:
            path = Path(run_dir, name)
            if path.is_symlink():
                facts[name] = FileFacts(0, symlink_to=os.readlink(path))
            elif path.is_file():
                facts[name] = FileFacts(path.stat().st_size)
        return facts

    def download(self, run_dir: str, files: Mapping[str, FileFacts], local_dir: Path,
                 recorder: DownloadRecorder, deadline: float | None) -> bool:
        def download_one(name: str, local: Path, facts: FileFacts, progress: Callable[[int], None]) -> bool:
            source = Path(run_dir, name)
            if source.is_symlink():  # it became one since the probe: never followed
                raise DownloadError(FileFacts(0, symlink_to=os.readlink(source)).refusal(name))
            return download_file(local_fetch(source, facts.size, progress, deadline), str(source), local,
                                 facts.size, lambda: sha256_of(source).hexdigest(), progress)

        return download_all(files, local_dir, recorder, download_one)
