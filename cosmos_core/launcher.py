"""Start a run on a host: upload inputs and scripts, write its spec, `docker run -d`.

`plan_*` are pure: they decide the run's remote layout, the spec and the
container command. `launch` does the I/O. Each run owns the directory
`<remote_dir>/cosmos_runs/<run_id>/` on the host (inputs/, scripts/, spec.json,
outputs/, run.log); nothing here touches another run's directory.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from . import docker
from .config import HostConfig
from .remote import Host, RemoteError
from .transfer import make_dirs, upload_file

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "scripts"
RUNS_SUBDIR = "cosmos_runs"
CONTROLS = ("vis", "edge", "depth", "seg")


class LaunchError(Exception):
    """A run could not be started; the message says why."""


@dataclass(frozen=True)
class InferenceParams:
    num_steps: int = 35
    guidance: float = 5.0
    seed: int = 1
    weights: tuple[float, float, float, float] = (0.25, 0.25, 0.25, 0.25)  # vis, edge, depth, seg


@dataclass(frozen=True)
class PromptInput:
    text: str
    negative_prompt: str
    video: Path
    depth: Path | None = None
    seg: Path | None = None


@dataclass(frozen=True)
class LaunchPlan:
    run_id: str
    relative_dir: str  # the run dir relative to remote_dir, i.e. to /workspace in the container
    argv: tuple[str, ...]  # the container command
    uploads: Mapping[str, Path] = field(default_factory=dict)  # relative to the run dir -> local file
    texts: Mapping[str, str] = field(default_factory=dict)  # relative to the run dir -> content

    def remote_dir(self, host_remote_dir: str) -> str:
        return posixpath.join(host_remote_dir, self.relative_dir)


def run_relative_dir(run_id: str) -> str:
    return f"{RUNS_SUBDIR}/{run_id}"


def _input_name(path: Path) -> str:
    return f"inputs/{path.name}"


def _script(rel: str, name: str) -> str:
    return f"{rel}/scripts/{name}"


def plan_inference(run_id: str, prompt: PromptInput, params: InferenceParams) -> LaunchPlan:
    rel = run_relative_dir(run_id)
    uploads = {_input_name(prompt.video): prompt.video}
    spec: dict[str, object] = {
        "prompt": prompt.text,
        "negative_prompt": prompt.negative_prompt,
        "input_video_path": f"{rel}/{_input_name(prompt.video)}",
    }
    controls = {"depth": prompt.depth, "seg": prompt.seg}
    for name, weight in zip(CONTROLS, params.weights, strict=False):
        video = controls.get(name)
        if weight <= 0 and video is None:
            continue
        block: dict[str, object] = {"control_weight": weight}
        if video is not None:
            upload_as = f"inputs/{name}_{video.name}"
            uploads[upload_as] = video
            block["input_control"] = f"{rel}/{upload_as}"
        spec[name] = block
    argv = ("bash", _script(rel, "inference.sh"), rel, str(params.num_steps), f"{params.guidance:g}", str(params.seed))
    return LaunchPlan(run_id, rel, argv, uploads, {"spec.json": json.dumps(spec, indent=2, ensure_ascii=False)})


def plan_upscale(run_id: str, parent_run_id: str, control_weight: float) -> LaunchPlan:
    rel = run_relative_dir(run_id)
    parent_output = f"{run_relative_dir(parent_run_id)}/outputs/output.mp4"
    spec = {"input_video_path": parent_output, "upscale": {"control_weight": control_weight}}
    argv = ("bash", _script(rel, "upscale.sh"), rel)
    return LaunchPlan(run_id, rel, argv, {}, {"spec.json": json.dumps(spec, indent=2)})


def plan_enhance(run_id: str, prompt: PromptInput) -> LaunchPlan:
    rel = run_relative_dir(run_id)
    video = _input_name(prompt.video)
    argv = ("bash", _script(rel, "enhance.sh"), rel, f"{rel}/{video}")
    return LaunchPlan(run_id, rel, argv, {video: prompt.video}, {"prompt.txt": prompt.text})


UploadProgress = Callable[[str, int, int], None]  # file name, bytes sent, bytes total


def launch(host: Host, plan: LaunchPlan, on_upload: UploadProgress | None = None) -> str:
    """Upload and start; returns the container id. Raises LaunchError or RemoteError,
    after removing any container this call created."""
    cfg = host.config
    run_dir = plan.remote_dir(cfg.remote_dir)
    with host.sftp_session("uploading the run's files") as sftp:
        _upload(sftp, cfg, plan, run_dir, on_upload)
    command = docker.run_command(
        cfg.docker, run_id=plan.run_id, image=cfg.image, run_args=cfg.run_args,
        mount_dir=cfg.remote_dir, env={"NUM_GPU": str(cfg.num_gpus), "PYTHONPATH": docker.WORKSPACE},
        argv=plan.argv,
    )  # fmt: skip
    try:
        result = host.run(command)
    except RemoteError:
        remove_container(host, plan.run_id)
        raise
    if not result.ok:
        remove_container(host, plan.run_id)
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise LaunchError(f"docker run failed on {cfg.name} (exit {result.exit_code}): {detail[0]}")
    container_id = result.stdout.strip().splitlines()[-1:]
    if not container_id:
        remove_container(host, plan.run_id)
        raise LaunchError(f"docker run on {cfg.name} printed no container id")
    return container_id[0]


def _upload(sftp: paramiko.SFTPClient, cfg: HostConfig, plan: LaunchPlan, run_dir: str,
            on_upload: UploadProgress | None) -> None:
    try:
        sftp.stat(cfg.remote_dir)
    except FileNotFoundError:
        raise LaunchError(f"remote_dir {cfg.remote_dir} does not exist on host {cfg.name} "
                          f"(it must be the cosmos-transfer1 checkout with checkpoints/)") from None
    for sub in ("inputs", "scripts", "outputs"):
        make_dirs(sftp, f"{run_dir}/{sub}")
    for script in sorted(SCRIPTS_DIR.glob("*.sh")):
        upload_file(sftp, script, f"{run_dir}/scripts/{script.name}")
    for name, local in plan.uploads.items():
        callback = (lambda sent, total, name=name: on_upload(name, sent, total)) if on_upload else None
        upload_file(sftp, local, f"{run_dir}/{name}", callback)
    for name, text in plan.texts.items():
        with sftp.open(f"{run_dir}/{name}", "w") as f:
            f.write(text.encode())


def remove_container(host: Host, run_id: str) -> None:
    """Best effort: a failed start must not leave a container behind (the sync's clean-up
    removes it later if the host cannot be reached now)."""
    try:
        host.run(docker.remove_command(host.config.docker, [docker.container_name(run_id)]))
    except RemoteError:
        pass
