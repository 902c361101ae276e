"""The API's starts: a run of a prompt, a run again, a sweep, a 4K upscale, a prompt enhancement, and the
parameters they take. A part of CosmosAPI (one of its base classes), in a module of its own so that the facade
stays readable; the UI and CLI call these through CosmosAPI."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence

from cosmos_core import launcher, rerun, sweeps
from cosmos_core.config import Config
from cosmos_core.errors import CosmosError, as_cosmos_error
from cosmos_core.executors import Executor
from cosmos_core.launcher import LaunchPlan
from cosmos_core.lifecycle import RunStatus
from cosmos_core.records import prompt_input
from cosmos_core.repository import DataRepository, Refresh
from cosmos_core.ssh.host import RemoteError
from cosmos_core.start_steps import StartProgress
from cosmos_core.starting import Starter
from cosmos_core.store.queries import new_id
from cosmos_core.upstream.models import DEFAULT_MODEL, model
from cosmos_core.upstream.params import InferenceParams
from cosmos_core.words import count


class StartsAPI(ABC):
    config: Config
    executors: dict[str, Executor]
    repo: DataRepository

    @abstractmethod
    def follow_config(self) -> str | None:
        """HostsAPI's: a start goes by the config file as it is now."""

    @abstractmethod
    def get_run(self, run_id: str, refresh: Refresh = Refresh.AUTO) -> dict:
        """CosmosAPI's: what a start returns."""

    def default_params(self, model_name: str = DEFAULT_MODEL) -> InferenceParams:
        """The parameters a run of `model_name` gets unless the user says otherwise."""
        with as_cosmos_error():
            return model(model_name).defaults

    def check_params(self, params: InferenceParams, model_name: str = DEFAULT_MODEL) -> None:
        """Raise CosmosError (one line) if `model_name` cannot run with `params`."""
        with as_cosmos_error():
            model(model_name).check(params)

    def start_inference(self, prompt_id: str, host: str | None = None, params: InferenceParams | None = None,
                        on_progress: StartProgress | None = None, model_name: str = DEFAULT_MODEL,
                        sweep_id: str | None = None) -> dict:
        """Checks the parameters before anything is uploaded; None means the model's defaults."""
        params = params or self.default_params(model_name)
        self.check_params(params, model_name)
        with as_cosmos_error():
            cosmos_model = model(model_name)
            prompt = self.repo.get_prompt(prompt_id)
            host_name = self._starter().host_serving(cosmos_model.name, host)
        plan = launcher.plan_inference(new_id("rs"), prompt_input(prompt), params, cosmos_model)
        return self._launch(plan, prompt.id, "inference", host_name, params.to_dict(), on_progress=on_progress,
                            sweep_id=sweep_id)

    def rerun(self, run_id: str, overrides: Mapping[str, object] | None = None, host: str | None = None,
              model_name: str | None = None, on_progress: StartProgress | None = None) -> dict:
        """`run_id` again, except `overrides` (InferenceParams fields), `host`, `model_name` (see rerun.py)."""
        with as_cosmos_error():
            plan = rerun.again(self.repo, run_id, overrides or {}, host, model_name)
        return self.start_inference(plan.prompt_id, plan.host, plan.params, on_progress, plan.model)

    def start_sweep(self, prompt_ids: Sequence[str], grid: Mapping[str, Sequence], base: InferenceParams | None = None,
                    host: str | None = None, model_name: str = DEFAULT_MODEL, max_runs: int = sweeps.MAX_RUNS,
                    on_start: Callable[[int, int, dict], None] | None = None,
                    on_progress: StartProgress | None = None) -> dict:
        """The cross product of `grid` (InferenceParams field -> values) over `base` (default: the model's
        defaults), for each prompt, as runs under one sweep id. Every combination is checked before any
        run starts; `on_start(i, total, run)` hears of each started run."""
        base = base or self.default_params(model_name)
        with as_cosmos_error():
            sweeps.check_size(len(prompt_ids), grid, max_runs)
            prompts = [self.repo.get_prompt(p).id for p in prompt_ids]
        combos = sweeps.expand(base, grid)
        for params in combos:
            self.check_params(params, model_name)
        sweep_id, runs, total = new_id("sw"), [], len(prompts) * len(combos)
        for prompt_id in prompts:
            for params in combos:
                try:
                    runs.append(self.start_inference(prompt_id, host, params, on_progress, model_name,
                                                     sweep_id=sweep_id))
                except (CosmosError, RemoteError) as exc:
                    if not runs:
                        raise
                    raise CosmosError(f"sweep {sweep_id}: {len(runs)} of {count(total, 'run')} started, then {exc} "
                                      f"(`runs --sweep {sweep_id}` lists those started)") from exc
                if on_start is not None:
                    on_start(len(runs), total, runs[-1])
        return {"sweep_id": sweep_id, "runs": runs}

    def start_upscale(self, parent_run_id: str, control_weight: float = 0.5, host: str | None = None,
                      on_progress: StartProgress | None = None) -> dict:
        with as_cosmos_error():
            parent = self.repo.get_run(parent_run_id, Refresh.AUTO)
        if parent.kind != "inference" or parent.status != RunStatus.COMPLETED.value:
            raise CosmosError(f"run {parent.id} is a {parent.status} {parent.kind} run; "
                              f"only a completed inference run can be upscaled")
        if parent.model != DEFAULT_MODEL:
            raise CosmosError(f"run {parent.id} ran {parent.model}; the 4K upscaler is Cosmos-Transfer1's")
        if host is not None and host != parent.host:
            raise CosmosError(f"run {parent.id} ran on host {parent.host}; its upscale must run there too")
        if not 0 <= control_weight <= 1:
            raise CosmosError(f"upscale weight must be between 0 and 1, got {control_weight}")
        plan = launcher.plan_upscale(new_id("rs"), parent.id, control_weight)
        return self._launch(plan, parent.prompt_id, "upscale", parent.host, {"control_weight": control_weight},
                            parent_run_id=parent.id, on_progress=on_progress)

    def start_enhance(self, prompt_id: str, host: str | None = None,
                      on_progress: StartProgress | None = None) -> dict:
        """Prompt enhancement runs Cosmos-Transfer1's prompt upsampler."""
        with as_cosmos_error():
            prompt = self.repo.get_prompt(prompt_id)
            host_name = self._starter().host_serving(DEFAULT_MODEL, host)
        plan = launcher.plan_enhance(new_id("rs"), prompt_input(prompt))
        return self._launch(plan, prompt.id, "enhance", host_name, {}, on_progress=on_progress)

    def pick_host(self, model_name: str = DEFAULT_MODEL) -> str:
        """The host a new run of `model_name` goes to when the user picks none."""
        with as_cosmos_error():
            return self._starter().host_serving(model_name, None)

    def _launch(self, plan: LaunchPlan, prompt_id: str, kind: str, host_name: str, params: dict, *,
                parent_run_id: str | None = None, on_progress: StartProgress | None = None,
                sweep_id: str | None = None) -> dict:
        with as_cosmos_error():
            run_id = self._starter().launch(plan, prompt_id, kind, host_name, params, parent_run_id=parent_run_id,
                                            on_progress=on_progress, sweep_id=sweep_id)
        return self.get_run(run_id, Refresh.NONE)

    def _starter(self) -> Starter:
        self.follow_config()
        return Starter(self.repo, self.executors, self.config)
