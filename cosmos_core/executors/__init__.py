"""Executors: what starts and watches runs (see `base.Executor`), one per configured host."""

from __future__ import annotations

from ..config import HostConfig
from ..remote import CONNECT_TIMEOUT, Host
from .base import (
    Executor,
    FileFacts,
    JobState,
    Observation,
    ProbeError,
    ProbeReport,
    ProbeTarget,
    SubmitError,
    UploadProgress,
)
from .docker import DockerExecutor
from .local import LocalFiles, LocalShell
from .slurm import SlurmExecutor
from .ssh_files import SshFiles

__all__ = ["Executor", "FileFacts", "JobState", "Observation", "ProbeError", "ProbeReport", "ProbeTarget",
           "SubmitError", "UploadProgress", "make_executor"]


def make_executor(config: HostConfig, probe_timeout: float) -> Executor:
    """The executor the host's `executor` key names; a refresh answers within `probe_timeout`."""
    if config.executor == "local":
        return DockerExecutor(config, LocalShell(), LocalFiles(), probe_timeout)
    host = Host(config, connect_timeout=min(CONNECT_TIMEOUT, probe_timeout))
    if config.executor == "slurm":
        return SlurmExecutor(config, host, SshFiles(host, probe_timeout), probe_timeout)
    return DockerExecutor(config, host, SshFiles(host, probe_timeout), probe_timeout)
