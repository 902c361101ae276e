"""What each page event does, as plain data in and out: the API is the only thing called.

`Handlers.render` builds the whole visible state of a tab (a `dict` of
component key -> plain value); `diff` keeps only what changed since the tab
last received it, so a quiet refresh sends almost nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from cosmos_core.api import (
    DEFAULT_MODEL,
    MODELS,
    CosmosAPI,
    CosmosError,
    InferenceParams,
    Refresh,
    StartReport,
    output_here,
)

from . import compare, run_table, tables
from .applies import ACTIONS, required_run
from .details import NO_RUN, Details, empty_states, run_details
from .remote import HostChecks, HostGates, LogTails
from .sweep_form import SweepForm

ALL = "all"
PAGE_SIZE = 50
# InferenceParams field -> the new-run form's fields that show it (weights: one slider per control).
KNOBS = {
    "weights": ("vis", "edge", "depth_w", "seg_w"), "num_steps": ("steps",), "guidance": ("guidance",),
    "seed": ("seed",), "sigma_max": ("sigma_max",), "blur_strength": ("blur_strength",),
    "canny_threshold": ("canny_threshold",), "fps": ("fps",), "distilled": ("distilled",),
    "upsample_prompt": ("upsample_prompt",),
}  # fmt: skip
KNOB_FIELDS = tuple(name for names in KNOBS.values() for name in names)


@dataclass(frozen=True)
class Query:
    """The table's filters, order and page (0 = the first), and what it shows: its columns (None: the
    defaults, run_table.shown_columns) and the runs picked for Compare."""

    status: str = ALL
    kind: str = ALL
    host: str = ALL
    search: str = ""
    page: int = 0
    starred: bool = False  # only starred runs
    sweep: str = ALL
    sort: str = "created"  # a SORT_KEYS name
    ascending: bool = False
    columns: tuple[str, ...] | None = None
    picked: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewRun:
    """The new-run form, in FORM_FIELDS order: `upload` is a fresh upload, `picked` a video an
    earlier prompt used. A knob left empty (None) takes the model's default."""

    prompt: str
    upload: str | None = None
    picked: str | None = None
    depth: str | None = None
    seg: str | None = None
    negative: str = ""
    name: str = ""
    model: str = DEFAULT_MODEL
    host: str | None = None
    weights: tuple[float, float, float, float] | None = None  # vis, edge, depth, seg
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None
    sigma_max: float | None = None
    blur_strength: str | None = None
    canny_threshold: str | None = None
    fps: int | None = None
    distilled: bool | None = None
    upsample_prompt: bool | None = None

    def params(self, defaults: InferenceParams) -> InferenceParams:
        """The knobs over the model's `defaults`; the core checks them."""
        given: dict[str, Any] = {  # InferenceParams field -> value, each of its own type
            "num_steps": self.steps, "guidance": self.guidance, "seed": self.seed,
            "weights": None if self.weights is None else tuple(float(w) for w in self.weights),
            "sigma_max": self.sigma_max, "blur_strength": self.blur_strength,
            "canny_threshold": self.canny_threshold, "fps": self.fps, "distilled": self.distilled,
            "upsample_prompt": self.upsample_prompt,
        }  # fmt: skip
        return replace(defaults, **{k: v for k, v in given.items() if v is not None})


@dataclass(frozen=True)
class Knob:
    value: Any
    shown: bool  # whether the model takes it


@dataclass(frozen=True)
class ModelForm:
    """What the new-run form offers for one model."""

    hosts: list[str]  # the hosts serving it, the default first
    knobs: dict[str, Knob]  # form field (KNOB_FIELDS order) -> the model's default and whether it applies


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        return isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame) and a.equals(b)
    return a == b


def diff(view: Mapping[str, Any], sent: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the entries of `view` that differ from `sent`, the new `sent`)."""
    changed = {k: v for k, v in view.items() if k not in sent or not _same(v, sent[k])}
    return changed, {**sent, **changed}


GALLERY_SIZE = 24


class Handlers:
    def __init__(self, api: CosmosAPI) -> None:
        self.api = api
        self.gates = HostGates()
        self.outputs_dir = Path(api.config.storage.outputs_dir)
        self.logs = LogTails(api, self.gates, ttl=max(api.config.ui.refresh_seconds, 1.0))
        self.checks = HostChecks(api, self.gates)
        self._prompts: dict[str, dict] = {}

    # -- reading ------------------------------------------------------------

    def render(self, query: Query, selected: str | None, refresh: Refresh = Refresh.NONE) -> dict[str, Any]:
        """Everything a tab shows, after a sync as `refresh` asks."""
        problem = ""
        try:
            runs = self._list_runs(query, refresh)
        except CosmosError as exc:
            runs, problem = [], f"❌ {exc}"
        config_note = self.api.follow_config()  # the config file as it is now (one stat when unchanged)
        hosts = self.api.list_hosts()
        shown = runs[:PAGE_SIZE]
        first = query.page * PAGE_SIZE
        self._cache_prompts(r["prompt_id"] for r in shown)
        names = {r["prompt_id"]: self._prompts.get(r["prompt_id"], {}).get("name", r["prompt_id"]) for r in shown}
        counts = self.api.count_by_status()
        view = {
            "table": run_table.experiment_frame(shown, names, run_table.shown_columns(query.columns), query.picked),
            "counts": tables.counts_text(counts),
            "banner": "\n\n".join(p for p in (problem, config_note and f"⚠️ {config_note}",
                                               tables.unreachable_text(hosts)) if p),
            "pager": tables.pager_text(first, len(shown), sum(counts.values())),
            "newer": query.page > 0,
            "older": len(runs) > PAGE_SIZE,
            "hosts": tables.hosts_frame(hosts, self.checks.results),
        }
        details = self.details_view(selected)
        return view | details | empty_states(bool(hosts), sum(counts.values()), details)

    def _list_runs(self, query: Query, refresh: Refresh) -> list[dict]:
        """One page (+1 row, to know if there is another). AUTO syncs the hosts no other remote
        call is using, and reads the database for the rest; FORCE waits for every host's turn."""
        def page(mode: Refresh, hosts: set[str] | None = None) -> list[dict]:
            return self.api.list_runs(
                None if query.status == ALL else query.status, mode,
                kind=None if query.kind == ALL else query.kind, host=None if query.host == ALL else query.host,
                search=query.search.strip() or None, limit=PAGE_SIZE + 1, offset=query.page * PAGE_SIZE,
                sync_hosts=hosts, starred=query.starred, sweep=None if query.sweep in (ALL, "") else query.sweep,
                sort=query.sort, ascending=query.ascending,
            )  # fmt: skip

        names = self.api.host_names()
        if refresh is Refresh.FORCE:
            with self.gates.exclusive(*names):
                return page(refresh)
        if refresh is Refresh.NONE:
            return page(refresh)
        with self.gates.attempt(names) as free:
            return page(refresh if free else Refresh.NONE, free)

    def details_view(self, run_id: str | None) -> dict[str, Any]:
        """The panel's view keys: `run_<field>` of its Details, and `run_can_<action>` for every action."""
        details = self.details(run_id)
        view = {f"run_{key}": value for key, value in asdict(details).items() if key != "actions"}
        return view | {f"run_can_{action}": action in details.actions for action in ACTIONS}

    def details(self, run_id: str | None) -> Details:
        if not run_id:
            return NO_RUN
        try:
            run = self.api.get_run(run_id, Refresh.NONE)
        except CosmosError as exc:
            return replace(NO_RUN, status=f"❌ {exc}")
        video = run["output_path"]
        host = next((h for h in self.api.config.hosts if h.name == run["host"]), None)
        return run_details(run, self.prompt(run["prompt_id"]), self.logs.read(run),
                           video_exists=output_here(video),
                           host_models=host.models if host else None)

    def prompt(self, prompt_id: str) -> dict | None:
        """A prompt, cached: prompts never change once stored."""
        self._cache_prompts([prompt_id])
        return self._prompts.get(prompt_id)

    def _cache_prompts(self, prompt_ids: Iterable[str]) -> None:
        """Fetch, in one query, the prompts not cached yet."""
        missing = set(prompt_ids) - self._prompts.keys()
        if missing:
            self._prompts |= self.api.get_prompts(missing)

    def gallery(self, kind: str, host: str, search: str) -> tuple[list[tuple[str, str]], list[str]]:
        """(video, caption) of the newest completed runs with their videos here, and their run ids."""
        runs = self.api.list_runs("completed", Refresh.NONE, kind=None if kind == ALL else kind,
                                  host=None if host == ALL else host, search=(search or "").strip() or None,
                                  limit=GALLERY_SIZE)
        shown = [r for r in runs if output_here(r["output_path"])]
        self._cache_prompts(r["prompt_id"] for r in shown)
        names = {pid: p["name"] for pid, p in self._prompts.items()}
        return ([(r["output_path"], f"{names.get(r['prompt_id'], '')} · {r['id']}") for r in shown],
                [r["id"] for r in shown])

    def prompt_choices(self) -> list[tuple[str, str]]:
        """(name, id) of every prompt, newest first, for the New sweep form."""
        return [(f"{p['name'][:60]} ({p['id']})", p["id"]) for p in self.api.list_prompts()]

    def start_sweep(self, form: SweepForm) -> dict:
        """The form's sweep, its every combination checked before any run starts."""
        if not form.prompts:
            raise CosmosError("choose one or more prompts")
        with self.gates.exclusive(form.host or self.api.pick_host(form.model)):
            return self.api.start_sweep(form.prompts, form.grid(), host=form.host or None, model_name=form.model,
                                        max_runs=form.max_runs)

    def compare(self, picked: str) -> str:
        """The comparison grid of a sweep (its finished videos, at most 9) or of 2-9 runs by id; else a
        line saying why not, naming any id that is neither a run nor a sweep."""
        ids = picked.replace(",", " ").split()
        if not 1 <= len(ids) <= compare.MAX_RUNS:
            return compare.line(compare.USAGE)
        swept = self.api.list_runs(None, Refresh.NONE, sweep=ids[0]) if len(ids) == 1 else []
        if swept:
            runs = [r for r in swept if r["output_path"]][::-1][: compare.MAX_RUNS]  # oldest first, as made
            if not runs:
                return compare.line(f"Sweep {ids[0]} has no finished videos yet.")
        else:
            runs, missing = self._runs_by_id(ids)
            if missing or len(runs) == 1:
                return compare.line(compare.unknown_text(missing) if missing else compare.lone_text(ids[0]))
        self._cache_prompts(r["prompt_id"] for r in runs)
        names = {pid: p["name"] for pid, p in self._prompts.items()}
        captions = compare.differing(runs, names)
        return compare.grid_html([(run["id"], run["output_path"], caption) for run, caption
                                  in zip(runs, captions, strict=True)
                                  if output_here(run["output_path"])])

    def _runs_by_id(self, ids: Iterable[str]) -> tuple[list[dict], list[str]]:
        """(the runs with these ids, the ids no run has)."""
        found, missing = [], []
        for run_id in ids:
            try:
                found.append(self.api.get_run(run_id, Refresh.NONE))
            except CosmosError:
                missing.append(run_id)
        return found, missing

    def model_choices(self) -> list[tuple[str, str]]:
        """(title, name) of each model, for the form's Model dropdown."""
        return [(m.title, name) for name, m in MODELS.items()]

    def model_form(self, model_name: str, params: InferenceParams | None = None) -> ModelForm:
        """The form for `model_name` with `params` (default: its defaults): the knobs it takes, the
        hosts serving it."""
        model = MODELS[model_name]
        params = params or model.defaults
        knobs: dict[str, Knob] = {}
        for field, names in KNOBS.items():
            value = getattr(params, field)
            values = value if field == "weights" else (value,)
            knobs |= {name: Knob(v, field in model.tunes) for name, v in zip(names, values, strict=True)}
        return ModelForm(self.api.hosts_serving(model_name), knobs)

    def video_choices(self) -> list[tuple[str, str]]:
        """Input videos of earlier prompts still on disk, as (label, path), newest first."""
        seen: dict[str, str] = {}
        for prompt in self.api.list_prompts():
            path = prompt["video"]
            if path not in seen and Path(path).is_file():
                seen[path] = f"{Path(path).name} ({prompt['name'][:40]})"
        return [(label, path) for path, label in seen.items()]

    def check_hosts(self) -> pd.DataFrame:
        self.checks.check_all()
        return tables.hosts_frame(self.api.list_hosts(), self.checks.results)

    # -- actions: each returns a one-line notice, or raises CosmosError ------

    def _host_of(self, run_id: str | None) -> str:
        return self.api.get_run(required_run(run_id), Refresh.NONE)["host"]

    def retry(self, run_id: str | None) -> str:
        with self.gates.exclusive(self._host_of(run_id)):
            run = self.api.retry_download(required_run(run_id))
        return f"Download of {run['id']} is {run['download']['status']}."

    def cancel(self, run_id: str | None) -> str:
        """A run still uploading is cancelled in the database alone (its launch notices): no wait
        behind its upload. A running one is stopped on its host, when that host's gate is free."""
        run = self.api.get_run(required_run(run_id), Refresh.NONE)
        remote = [run["host"]] if run["status"] in ("queued", "running") else []
        with self.gates.exclusive(*remote):
            run = self.api.cancel(run["id"])
        return f"Run {run['id']} is {run['status']}."

    def upscale(self, run_id: str | None, weight: float) -> tuple[str, str]:
        with self.gates.exclusive(self._host_of(run_id)):
            run = self.api.start_upscale(required_run(run_id), float(weight))
        return f"Started 4K upscale {run['id']}.", run["id"]

    def enhance(self, run_id: str | None) -> tuple[str, str]:
        source = self.api.get_run(required_run(run_id), Refresh.NONE)
        with self.gates.exclusive(source["host"]):
            run = self.api.start_enhance(source["prompt_id"], source["host"])
        return f"Started prompt enhancement {run['id']}.", run["id"]

    def start(self, form: NewRun, on_progress: Callable[[StartReport], None] | None = None) -> dict:
        """Store the prompt (an upload is kept under outputs_dir first) and start the inference run."""
        if not form.upload and not form.picked:
            raise CosmosError("choose an input video: upload one or pick one used before")
        params = form.params(self.api.default_params(form.model))
        self.api.check_params(params, form.model)  # before anything is stored
        prompt = self._store_prompt(form)
        host = form.host or self.api.pick_host(form.model)
        with self.gates.exclusive(host):
            return self.api.start_inference(prompt["id"], host, params, on_progress=on_progress,
                                            model_name=form.model)

    def _store_prompt(self, form: NewRun) -> dict:
        """The form's prompt; the core keeps its uploads under outputs_dir (a prompt it refuses keeps none)."""
        uploads = ("video", "depth", "seg") if form.upload else ("depth", "seg")  # a picked video is stored already
        return self.api.add_prompt(form.prompt, form.upload or str(form.picked), name=form.name.strip() or None,
                                   negative_prompt=form.negative, depth=form.depth, seg=form.seg,
                                   keep_copies=uploads)

