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
from .params import InferenceParams
from .remote import Host, RemoteError
from .specs import ModelCall, transfer1_upscale_call
from .transfer import make_dirs, upload_file
from .transfer_models import TRANSFER1, CosmosModel, model

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "scripts"
RUNS_SUBDIR = "cosmos_runs"


class LaunchError(Exception):
    """A run could not be started; the message says why."""


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
    relative_dir: str  # the run dir relative to the model's checkout, i.e. to /workspace in the container
    argv: tuple[str, ...]  # the container command
    uploads: Mapping[str, Path] = field(default_factory=dict)  # relative to the run dir -> local file
    texts: Mapping[str, str] = field(default_factory=dict)  # relative to the run dir -> content
    model: str = TRANSFER1.name

    def remote_dir(self, host: HostConfig) -> str:
        return posixpath.join(host.setup(self.model).remote_dir, self.relative_dir)


def run_relative_dir(run_id: str) -> str:
    return f"{RUNS_SUBDIR}/{run_id}"


def input_name(role: str, path: Path) -> str:
    """Each input has a fixed name by its role ("video", "depth", "seg"), so that no two collide."""
    return f"inputs/{role}{path.suffix.lower() or '.mp4'}"


def _script(rel: str, name: str) -> str:
    return f"{rel}/scripts/{name}"


def _spec(call: ModelCall) -> dict[str, str]:
    return {"spec.json": json.dumps(call.spec, indent=2, ensure_ascii=False)}


def plan_inference(run_id: str, prompt: PromptInput, params: InferenceParams,
                   model: CosmosModel = TRANSFER1) -> LaunchPlan:
    """Uploads the video and the control videos of the controls in use, under fixed names."""
    rel = run_relative_dir(run_id)
    active = params.active_controls()
    inputs = {"video": prompt.video} | {role: path for role, path in (("depth", prompt.depth), ("seg", prompt.seg))
                                       if path is not None and role in active}
    files = {role: input_name(role, path) for role, path in inputs.items()}
    call = model.call(rel, files, prompt.text, prompt.negative_prompt, params)
    argv = ("bash", _script(rel, model.script), rel, *call.flags)
    uploads = {files[role]: path for role, path in inputs.items()}
    return LaunchPlan(run_id, rel, argv, uploads, _spec(call), model.name)


def plan_upscale(run_id: str, parent_run_id: str, control_weight: float) -> LaunchPlan:
    rel = run_relative_dir(run_id)
    call = transfer1_upscale_call(f"{run_relative_dir(parent_run_id)}/outputs/output.mp4", control_weight)
    return LaunchPlan(run_id, rel, ("bash", _script(rel, "upscale.sh"), rel, *call.flags), {}, _spec(call))


def plan_enhance(run_id: str, prompt: PromptInput) -> LaunchPlan:
    rel = run_relative_dir(run_id)
    video = input_name("video", prompt.video)
    argv = ("bash", _script(rel, "enhance.sh"), rel, f"{rel}/{video}")
    return LaunchPlan(run_id, rel, argv, {video: prompt.video}, {"prompt.txt": prompt.text})


UploadProgress = Callable[[str, int, int], None]  # file name, bytes sent, bytes total


def launch(host: Host, plan: LaunchPlan, on_upload: UploadProgress | None = None) -> str:
    """Upload and start; returns the container id. Raises LaunchError or RemoteError,
    after removing any container this call created."""
    cfg = host.config
    setup = cfg.setup(plan.model)
    run_dir = plan.remote_dir(cfg)
    with host.sftp_session("uploading the run's files") as sftp:
        _upload(sftp, cfg, setup.remote_dir, plan, run_dir, on_upload)
    command = docker.run_command(
        cfg.docker, run_id=plan.run_id, image=setup.image, run_args=setup.run_args,
        mount_dir=setup.remote_dir, env={"NUM_GPU": str(cfg.num_gpus), "PYTHONPATH": docker.WORKSPACE},
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


def _upload(sftp: paramiko.SFTPClient, cfg: HostConfig, checkout: str, plan: LaunchPlan, run_dir: str,
            on_upload: UploadProgress | None) -> None:
    try:
        sftp.stat(checkout)
    except FileNotFoundError:
        raise LaunchError(f"remote_dir {checkout} does not exist on host {cfg.name} "
                          f"(it must be the {model(plan.model).checkout} checkout)") from None
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
