"""Every run with every parameter, as flat rows for a spreadsheet or a script (pure).

`export_rows` turns runs (in `records.run_to_dict` form) and their prompts into one flat
dict per run: the run's own fields, its prompt's name and text, then one column per
parameter (`params` flattened: `num_steps` as `steps`, a 4-list of control weights as
`weight_vis`, `weight_edge`, `weight_depth`, `weight_seg`). `to_csv` writes them with a
header; the JSON export is the same rows as a list.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence

from cosmos_core.upstream.params import CONTROLS

RUN_COLUMNS = (
    "id", "prompt_id", "prompt_name", "prompt_text", "kind", "model", "host", "status", "exit_code", "error",
    "created_at", "queued_at", "started_at", "completed_at", "output_path", "parent_run_id", "sweep_id",
    "blur_ssim", "canny_f1", "canny_precision", "canny_recall", "metrics_frames", "metrics_error",
    "starred", "note", "gpu_seconds",
)  # fmt: skip
# Columns taken from the run's `metrics` (its control-fidelity scores): column -> key there.
METRIC_FIELDS = {"blur_ssim": "blur_ssim", "canny_f1": "canny_f1", "canny_precision": "canny_precision",
                 "canny_recall": "canny_recall", "metrics_frames": "frames", "metrics_error": "error"}
PROMPT_FIELDS = {"prompt_name": "name", "prompt_text": "text"}
RENAMED = {"num_steps": "steps"}  # as the command line spells it (`run --steps`)

Scalar = str | int | float | bool | None


def flat_params(params: Mapping[str, object]) -> dict[str, Scalar]:
    """One column per parameter; a value that is neither a scalar nor the 4 weights becomes JSON text."""
    flat: dict[str, Scalar] = {}
    for key, value in params.items():
        if key == "weights" and isinstance(value, list | tuple) and len(value) == len(CONTROLS):
            flat |= {f"weight_{control}": weight for control, weight in zip(CONTROLS, value, strict=True)}
            continue
        name = RENAMED.get(key, key)
        if name != key and name in params:  # both spellings stored: each keeps its own
            name = key
        if name in RUN_COLUMNS:  # never hide one of the run's own fields
            name = f"param_{name}"
        flat[name] = value if value is None or isinstance(value, str | int | float | bool) else _json(value)
    return flat


def export_rows(runs: Iterable[Mapping[str, object]],
                prompts: Mapping[str, Mapping[str, object]]) -> tuple[list[str], list[dict[str, Scalar]]]:
    """(columns, rows): the run's fields first, in RUN_COLUMNS order, then the parameters of all runs
    sorted by name; every row has every column (None where a run has no such value)."""
    flat_rows = []
    for run in runs:
        prompt = prompts.get(str(run.get("prompt_id")), {})
        metrics = run.get("metrics") or {}
        assert isinstance(metrics, Mapping)  # a JSON object or None (`records.run_to_dict`)
        fields = {c: prompt.get(PROMPT_FIELDS[c]) if c in PROMPT_FIELDS
                  else metrics.get(METRIC_FIELDS[c]) if c in METRIC_FIELDS else run.get(c) for c in RUN_COLUMNS}
        params = run.get("params") or {}
        assert isinstance(params, Mapping)  # a JSON object (`records.run_to_dict`)
        flat_rows.append(({c: _scalar(v) for c, v in fields.items()}, flat_params(params)))
    param_columns = sorted({name for _, params in flat_rows for name in params})
    columns = [*RUN_COLUMNS, *param_columns]
    rows = [fields | {name: params.get(name) for name in param_columns} for fields, params in flat_rows]
    return columns, rows


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Scalar]]) -> str:
    """A header, then one line per row; None is an empty cell, booleans are true/false."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
    return out.getvalue()


def _cell(value: Scalar) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _scalar(value: object) -> Scalar:
    return value if value is None or isinstance(value, str | int | float | bool) else _json(value)


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
