"""What the executors need of a machine: run a shell command, and a run's files there.

`ssh.host.Host` (SSH) and `local.LocalShell` (this machine) are the shells;
`ssh_files.SshFiles` and `local.LocalFiles` the files. An executor built on a
shell and its files works the same on a GPU host over SSH and on this machine.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cosmos_core.executors.base import FileFacts, Shell, SubmitError, UploadProgress
from cosmos_core.launcher import run_dir_refusal

if TYPE_CHECKING:
    from cosmos_core.ssh.transfer import DownloadRecorder


class RunFiles(Protocol):
    def upload(self, run_dir: str, checkout: str, checkout_name: str, uploads: Mapping[str, Path],
               texts: Mapping[str, str], on_upload: UploadProgress | None, cancelled: Callable[[], bool]) -> None:
        """Create the run's directory (inputs/, scripts/, outputs/) and put its files and texts there."""

    def read_log(self, path: str, tail: int | None) -> str: ...

    def file_facts(self, run_dir: str, names: Sequence[str]) -> dict[str, FileFacts]: ...

    def download(self, run_dir: str, files: Mapping[str, FileFacts], local_dir: Path,
                 recorder: DownloadRecorder, deadline: float | None) -> bool: ...


# Brings one file (name relative to the run dir) to a local path, verified, reporting bytes done in it:
# False when the turn's deadline came first.
FileDownload = Callable[[str, Path, FileFacts, Callable[[int], None]], bool]


def download_all(files: Mapping[str, FileFacts], local_dir: Path, recorder: DownloadRecorder,
                 download_one: FileDownload) -> bool:
    """Every file of a run into `local_dir`, skipping those an earlier turn verified and put in place
    (never hashed again); True when all are there, False when the deadline came first (the partial
    files stay and the next turn resumes them)."""
    done_before = 0
    total = sum(f.size for f in files.values())
    for name, facts in files.items():
        local = local_dir / name  # outputs/<file> stays under outputs/, run.log beside it
        if recorder.is_verified(local) and local.is_file() and local.stat().st_size == facts.size:
            recorder.progress(done_before + facts.size, total)
        else:
            def progress(n: int, base: int = done_before) -> None:
                recorder.progress(base + n, total)

            if not download_one(name, local, facts, progress):
                return False
            recorder.file_done(local)
        done_before += facts.size
    return True


class ShellExecutor:
    """What every executor on a shell does the same way: logs, file facts, downloads."""

    def __init__(self, shell: Shell, files: RunFiles, probe_timeout: float) -> None:
        self.shell = shell
        self.files = files
        self.probe_timeout = probe_timeout

    @property
    def label(self) -> str:
        return self.shell.label

    def read_log(self, run_dir: str, tail: int | None) -> str:
        return self.files.read_log(f"{run_dir}/run.log", tail)

    def file_facts(self, run_dir: str, names: Sequence[str]) -> dict[str, FileFacts]:
        return self.files.file_facts(run_dir, names)

    def download(self, run_dir: str, files: Mapping[str, FileFacts], local_dir: Path,
                 recorder: DownloadRecorder, deadline: float | None) -> bool:
        return self.files.download(run_dir, files, local_dir, recorder, deadline)

    def delete_run_dir(self, run_dir: str) -> None:
        """Remove a run's directory `<checkout>/cosmos_runs/<run_id>` on the host, and nothing else:
        any other path is refused here too (ValueError). Gone already is fine."""
        refusal = run_dir_refusal(run_dir)
        if refusal is not None:
            raise ValueError(f"refusing to delete {refusal}")
        # A job stopped a moment ago may still write its last lines (its exit trap writes the completion
        # marker) while rm walks the directory, which then fails 'Directory not empty': tried again twice.
        remove = f"rm -rf -- {shlex.quote(run_dir)}"
        result = self.shell.run(f"{remove} || {{ sleep 1; {remove}; }} || {{ sleep 2; {remove}; }}")
        if not result.ok:
            detail = (result.stderr.strip() or f"exit {result.exit_code}").splitlines()[-1]
            raise SubmitError(f"cannot delete {run_dir} on {self.label}: {detail}")

    def close(self) -> None:
        self.shell.close()
