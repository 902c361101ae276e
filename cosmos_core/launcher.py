"""What starting a run means, whatever runs it (pure): its files, spec and command.

`plan_*` decide the run's layout, the spec and the command its job runs, inside
the model's checkout seen at /workspace; an executor (`executors/`) then puts
the files in place and starts the job. Each run owns the directory
`<remote_dir>/cosmos_runs/<run_id>/` on the host (inputs/, scripts/, spec.json,
outputs/, run.log); nothing here touches another run's directory.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cosmos_core.config import HostConfig
from cosmos_core.upstream import gpu_queue
from cosmos_core.upstream.models import TRANSFER1, CosmosModel
from cosmos_core.upstream.params import InferenceParams
from cosmos_core.upstream.specs import ModelCall, transfer1_upscale_call

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "scripts"
RUNS_SUBDIR = "cosmos_runs"
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # what a run id (rs_<hex>) may be, as a file name
WORKSPACE = "/workspace"  # where a job sees the model's checkout (its working directory)


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
    ticket: str = ""  # its place in the host's GPU queue (see gpu_queue.ticket); "" when the host has none
    gpu_slots: int | None = None  # the host's GPU slots; None: as many as nvidia-smi lists there, else 1

    def remote_dir(self, host: HostConfig) -> str:
        return posixpath.join(host.setup(self.model).remote_dir, self.relative_dir)

    def files_to_send(self) -> dict[str, Path]:
        """Every file the run's directory needs, relative to it: the scripts travel with each run."""
        return {f"scripts/{p.name}": p for p in sorted(SCRIPTS_DIR.glob("*.sh"))} | dict(self.uploads)

    def env(self, num_gpus: int) -> dict[str, str]:
        """The job's environment, whatever runs it; with the host's GPU queue when it has one."""
        env = {"NUM_GPU": str(num_gpus), "PYTHONPATH": WORKSPACE, "COSMOS_RUN_ID": self.run_id}
        if self.ticket:
            env |= {"COSMOS_GPUS": str(self.gpu_slots or "auto"), "COSMOS_TICKET": self.ticket,
                    "COSMOS_QUEUE_DIR": gpu_queue.MOUNT}
        return env


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


def run_dir_refusal(run_dir: str, run_id: str | None = None) -> str | None:
    """Why `run_dir` is not a run's own directory `<checkout>/cosmos_runs/<run_id>` (of `run_id`, when
    given), which is all that deleting a run may remove on a host; None when it is one."""
    parts = run_dir.split("/")
    checkout, runs, name = parts[:-2], parts[-2:-1], parts[-1]
    if any(p in ("", ".", "..") for p in parts[1:]) or parts[0] in (".", ".."):
        return f"{run_dir!r} is not a plain path (empty, '.' or '..' parts)"
    if runs != [RUNS_SUBDIR] or not any(checkout) or not RUN_ID.fullmatch(name) or name != (run_id or name):
        return f"{run_dir!r} is not <checkout>/{RUNS_SUBDIR}/{run_id or '<run_id>'}"
    return None
