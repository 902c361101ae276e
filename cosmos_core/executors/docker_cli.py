"""Docker command lines and the parsing of their output (pure; Docker and podman).

Every argument is quoted with shlex, so prompt text, file names and paths reach
the host as data, never as shell code.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

RUN_LABEL = "cosmos.run_id"

# `.State.Status` values after which the container will not run again.
STOPPED_STATES = frozenset({"exited", "dead", "stopped"})

INSPECT_FORMAT = "{{.Name}}\t{{.State.Status}}\t{{.State.ExitCode}}\t{{.State.OOMKilled}}"


NAME_PREFIX = "cosmos-"


def container_name(run_id: str) -> str:
    return f"{NAME_PREFIX}{run_id}"


def _join(prefix: Sequence[str], *args: str) -> str:
    return shlex.join([*prefix, *args])


def run_command(
    prefix: Sequence[str],
    *,
    run_id: str,
    image: str,
    run_args: Sequence[str],
    mount_dir: str,
    workspace: str,
    env: Mapping[str, str],
    argv: Sequence[str],
    detach: bool = True,
    mounts: Mapping[str, str] | None = None,
) -> str:
    """`docker run -d` for one run: named and labelled by run id, `mount_dir` at
    `workspace` (its working directory), no `--rm` so that the exit code stays inspectable.
    `detach=False`: in the foreground with `--rm`, for a job whose own record keeps the exit code.
    `mounts`: more host dirs -> container dirs."""
    env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    mount_args = [arg for host, inside in (mounts or {}).items() for arg in ("-v", f"{host}:{inside}")]
    return _join(
        prefix,
        "run", "-d" if detach else "--rm",
        "--name", container_name(run_id),
        "--label", f"{RUN_LABEL}={run_id}",
        *run_args,
        "-v", f"{mount_dir}:{workspace}",
        *mount_args,
        "-w", workspace,
        *env_args,
        image,
        *argv,
    )  # fmt: skip


def split_gpus(run_args: Sequence[str]) -> tuple[list[str], str | None]:
    """(run_args without their `--gpus`, the value of the last `--gpus`), either spelling."""
    rest: list[str] = []
    value: str | None = None
    args = iter(run_args)
    for arg in args:
        if arg == "--gpus":
            value = next(args, "")
        elif arg.startswith("--gpus="):
            value = arg.removeprefix("--gpus=")
        else:
            rest.append(arg)
    return rest, value


def device_ids(gpus: str | None) -> tuple[int, ...] | None:
    """The machine's GPU indices a `--gpus` value names (`device=2,3`, with the NVIDIA toolkit's
    inner quotes or without); None when it names none by index (`all`, a count, UUIDs, nothing)."""
    value = (gpus or "").replace('"', "").replace("'", "").strip()
    if not value.startswith("device="):
        return None
    parts = value.removeprefix("device=").split(",")
    if not all(part.strip().isdigit() for part in parts):
        return None
    return tuple(dict.fromkeys(int(part) for part in parts))


def list_command(prefix: Sequence[str]) -> str:
    """Names of every container this product started, running or not."""
    return _join(prefix, "ps", "-a", "--filter", f"label={RUN_LABEL}", "--format", "{{.Names}}")


def inspect_command(prefix: Sequence[str], names: Iterable[str]) -> str:
    return _join(prefix, "inspect", "--format", INSPECT_FORMAT, *names)


def stop_command(prefix: Sequence[str], run_id: str, grace_seconds: int = 10) -> str:
    return _join(prefix, "stop", "-t", str(grace_seconds), container_name(run_id))


def remove_command(prefix: Sequence[str], names: Iterable[str]) -> str:
    return _join(prefix, "rm", "-f", *names)


def image_exists_command(prefix: Sequence[str], image: str) -> str:
    return _join(prefix, "image", "inspect", "--format", "{{.Id}}", image)


@dataclass(frozen=True)
class ContainerState:
    """What `docker inspect` says of one container."""

    name: str
    status: str
    exit_code: int
    oom_killed: bool

    @property
    def stopped(self) -> bool:
        return self.status in STOPPED_STATES


def parse_inspect_line(line: str) -> ContainerState | None:
    """One line of `inspect --format INSPECT_FORMAT`; None for anything else.

    Docker prints `.Name` with a leading slash, podman without.
    """
    parts = line.strip().split("\t")
    if len(parts) != 4:
        return None
    name, status, exit_code, oom = parts
    try:
        code = int(exit_code)
    except ValueError:
        return None
    if not -(2**31) <= code < 2**31:  # no runtime reports that: a garbled answer, never stored
        return None
    return ContainerState(name.lstrip("/"), status.lower(), code, oom.lower() == "true")
