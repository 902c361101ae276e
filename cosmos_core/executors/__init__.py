"""Executors: what starts and watches runs (see `base.Executor`), one per configured host."""

from __future__ import annotations

from cosmos_core.config import HostConfig
from cosmos_core.executors.base import (
    Executor,
    FileFacts,
    JobState,
    Observation,
    ProbeError,
    ProbeReport,
    ProbeTarget,
    SubmitError,
)
from cosmos_core.executors.docker import DockerExecutor
from cosmos_core.executors.local import LocalFiles, LocalShell
from cosmos_core.executors.slurm import SlurmExecutor
from cosmos_core.executors.ssh_files import SshFiles
from cosmos_core.ssh.host import CONNECT_TIMEOUT, Host

__all__ = ["Executor", "FileFacts", "JobState", "Observation", "ProbeError", "ProbeReport", "ProbeTarget",
           "SubmitError", "make_executor"]


def make_executor(config: HostConfig, probe_timeout: float) -> Executor:
    """The executor the host's `executor` key names; a refresh answers within `probe_timeout`."""
    if config.executor == "local":
        return DockerExecutor(config, LocalShell(), LocalFiles(), probe_timeout)
    host = Host(config, connect_timeout=min(CONNECT_TIMEOUT, probe_timeout))
    if config.executor == "slurm":
        return SlurmExecutor(config, host, SshFiles(host, probe_timeout), probe_timeout)
    return DockerExecutor(config, host, SshFiles(host, probe_timeout), probe_timeout)
