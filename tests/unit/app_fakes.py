"""Plain stand-ins for CosmosAPI in the dashboard's handler tests: run dicts and a recording fake."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from app.handlers import Handlers
from cosmos_core import uploads
from cosmos_core.api import MODELS, CosmosAPI, CosmosError, StartReport, StartStep
from cosmos_core.config import load_config


def make_run(run_id: str = "rs_1", **fields: Any) -> dict:
    """A run dict in the API's shape; `download_*` keys go into run["download"]."""
    download: dict[str, Any] = {"status": "none", "error": None, "bytes_done": 0, "bytes_total": 0, "files": []}
    download.update({k.removeprefix("download_"): fields.pop(k) for k in list(fields) if k.startswith("download_")})
    run = {
        "id": run_id, "prompt_id": "ps_1", "kind": "inference", "host": "gpu1", "parent_run_id": None,
        "model": "transfer1", "status": "completed", "progress": None, "exit_code": 0, "error": None,
        "download": download, "output_path": None,
        "enhanced_text": None, "created_at": "2025-01-02T03:04:05.000Z", "started_at": "2025-01-02T03:04:05.000Z",
        "completed_at": "2025-01-02T03:05:15.000Z",
        "params": {"num_steps": 35, "guidance": 5.0, "seed": 1, "weights": [0.25, 0.25, 0.25, 0.25]},
    }  # fmt: skip
    run.update(fields)
    return run


PROMPT = {"id": "ps_1", "name": "red robot", "text": "a red robot", "negative_prompt": "", "video": "/in/v.mp4",
          "depth": None, "seg": None, "created_at": "2025-01-02T03:00:00.000Z"}


def handlers_over(api: FakeAPI) -> Handlers:
    """The dashboard's handlers over the fake, which stands in for CosmosAPI by the calls it answers."""
    return Handlers(cast(CosmosAPI, api))


class FakeAPI:
    """Answers from memory and records every call as (method, args, kwargs). Its config has
    gpu1 (serving transfer1) and gpu25 (serving transfer2.5). Every prompt id it is asked for is `prompt`."""

    def __init__(self, root: Path, runs: list[dict] | None = None) -> None:
        config = root / "cosmos.toml"
        config.write_text(f'[storage]\noutputs_dir = "{root}/outputs"\ndatabase = "sqlite:///{root}/c.db"\n'
                          '[[hosts]]\nname = "gpu1"\nhostname = "h"\nuser = "u"\n'
                          '[[hosts]]\nname = "gpu25"\nhostname = "h25"\nuser = "u"\nmodels = ["transfer2.5"]\n')
        self.config = load_config(config)
        self.runs = runs if runs is not None else [make_run()]
        self.prompt: dict[str, Any] = PROMPT
        self.calls: list[tuple[str, tuple, dict]] = []
        self.log_text = "line 1\nline 2\n"
        self.local_logs: set[str] = set()  # runs whose log has been downloaded

    def _record(self, method: str, /, *args: Any, **kwargs: Any) -> None:
        self.calls.append((method, args, kwargs))

    def called(self, name: str) -> list[tuple[tuple, dict]]:
        return [(args, kwargs) for method, args, kwargs in self.calls if method == name]

    def pick_host(self, model_name="transfer1"):
        return next(h.name for h in self.config.hosts if model_name in h.models)

    def list_runs(self, status=None, refresh=None, **filters):
        self._record("list_runs", status, refresh, **filters)
        return self.runs[filters.get("offset", 0):][: filters.get("limit")]

    def get_run(self, run_id, refresh=None):
        self._record("get_run", run_id, refresh)
        for run in self.runs:
            if run["id"] == run_id:
                return run
        raise CosmosError(f"no run with id {run_id!r}")

    def get_prompts(self, prompt_ids):
        self._record("get_prompts", sorted(prompt_ids))
        return {i: {**self.prompt, "id": i} for i in prompt_ids}

    def list_prompts(self):
        return [self.prompt]

    def count_by_status(self):
        return {"completed": len(self.runs)}

    config_note: str | None = None  # what follow_config says

    def follow_config(self):
        return self.config_note

    def host_names(self):
        self.follow_config()
        return [host.name for host in self.config.hosts]

    def list_hosts(self):
        return [{"name": "gpu1", "hostname": "h", "port": 22, "user": "u", "image": "img", "remote_dir": "/r",
                 "num_gpus": 1, "last_ok_at": None, "last_error": None}]

    def has_local_log(self, run_id):
        return run_id in self.local_logs

    def logs(self, run_id, tail=None):
        self._record("logs", run_id, tail=tail)
        return self.log_text

    def hosts_serving(self, model_name):
        self.follow_config()
        return [host.name for host in self.config.hosts if model_name in host.models]

    def keep_upload(self, path):
        return uploads.keep(self.config.storage.outputs_dir, path).path

    def add_prompt(self, text, video, *, depth=None, seg=None, keep_copies=(), **kwargs):
        """Records the files as the core stores them: the uploads by their kept copies (the real uploads.py)."""
        files = {"video": video, "depth": depth, "seg": seg}
        with uploads.kept_files(self.config.storage.outputs_dir, files, keep_copies) as kept:
            self._record("add_prompt", text, kept["video"], depth=kept["depth"], seg=kept["seg"], **kwargs)
        return {**PROMPT, "text": text, "video": str(kept["video"])}

    def default_params(self, model_name="transfer1"):
        if model_name not in MODELS:
            raise CosmosError(f"unknown model {model_name!r}")
        return MODELS[model_name].defaults

    def check_params(self, params, model_name="transfer1"):
        try:
            MODELS[model_name].check(params)
        except ValueError as exc:
            raise CosmosError(str(exc)) from exc

    def start_inference(self, prompt_id, host=None, params=None, on_progress=None, model_name="transfer1"):
        self._record("start_inference", prompt_id, host, params, model_name=model_name)
        if on_progress:
            on_progress(StartReport("rs_new", host or "gpu1", StartStep.UPLOADING, "v.mp4", 10, 10))
        return make_run("rs_new", status="running")

    def retry_download(self, run_id):
        self._record("retry_download", run_id)
        return make_run(run_id, download_status="done")

    def cancel(self, run_id):
        self._record("cancel", run_id)
        return make_run(run_id, status="cancelled")

    def start_upscale(self, run_id, weight=0.5, host=None):
        self._record("start_upscale", run_id, weight)
        return make_run("rs_up", kind="upscale", status="running")

    def start_enhance(self, prompt_id, host=None):
        self._record("start_enhance", prompt_id, host)
        return make_run("rs_en", kind="enhance", status="running")

    def check_host(self, name):
        self._record("check_host", name)
        return {"name": name, "ok": True, "ssh": {"status": "ok", "detail": "host gpu1"},
                "docker": {"status": "ok", "detail": "27.0"}, "image": {"status": "ok", "detail": "img"},
                "gpus": {"status": "absent", "detail": "nvidia-smi not found"}}
