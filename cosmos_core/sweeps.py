"""Sweeps (pure): lists of parameter values whose cross product becomes that many runs.

`python -m cosmos_core sweep PROMPT... --seeds 1-8 --sigma-max 60,80 --weights 0,0.5,0,0 --weights
0,1,0,0` makes prompts × seeds × sigma-max × weights runs, grouped under one sweep id.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from cosmos_core.upstream.params import InferenceParams, ParamError, parse_weights
from cosmos_core.words import count

T = TypeVar("T")
MAX_RUNS = 20  # a sweep bigger than this needs --max-runs: a typo in a range must not start 1,000 runs


def parse_ints(text: str) -> list[int]:
    """`1-8`, `1,3,5` or `1-3,10`: the values in order, each once."""
    values: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            start, end = int(low), int(high) if dash else int(low)
        except ValueError:
            raise ParamError(f"{text!r} is not a list of whole numbers like 1-8 or 1,3,5") from None
        if end < start:
            raise ParamError(f"range {part.strip()!r} runs backwards")
        values += [v for v in range(start, end + 1) if v not in values]
    return values


def parse_floats(text: str) -> list[float]:
    """`60,80` or `0.3,0.5`: the values in order, each once."""
    values: list[float] = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise ParamError(f"{text!r} is not a list of numbers like 60,80") from None
        if not math.isfinite(value):
            raise ParamError(f"{part.strip()!r} is not a finite number")
        if value not in values:
            values.append(value)
    return values


@dataclass(frozen=True)
class SweptList:
    """One list a sweep can vary: the CLI's `--seeds` and the New sweep form's Seeds field are both built
    from it, so that each takes every list the other does."""

    param: str  # the InferenceParams field it varies
    name: str  # the list's name: `--seeds` on the command line, `seeds` in the form and its errors
    label: str  # the form's label
    example: str  # "1-8 or 1,3,5": the flag's help ("e.g. ...") and the form's placeholder
    parse: Callable[[str], list]

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


# The swept knobs, in the order they vary (the first slowest); the control weights come last (see parse_grid).
SWEPT: tuple[SweptList, ...] = (
    SweptList("seed", "seeds", "Seeds", "1-8 or 1,3,5", parse_ints),
    SweptList("num_steps", "steps", "Steps", "20,35", parse_ints),
    SweptList("guidance", "guidance", "Guidance", "3,5,7", parse_floats),
    SweptList("sigma_max", "sigma_max", "sigma_max", "60,80", parse_floats),
    SweptList("fps", "fps", "FPS", "16,24", parse_ints),
)


def parse_grid(lists: Mapping[str, str], weights: Sequence[str]) -> dict[str, list]:
    """The grid (InferenceParams field -> values) of the lists as typed, by SWEPT name (`seeds`: "1-8"),
    and of the control weight sets ("VIS,EDGE,DEPTH,SEG" each). A blank list or set is left out; a bad one
    raises ParamError naming it and its value ("seeds: range '9-1' runs backwards")."""
    unknown = [name for name in lists if name not in {s.name for s in SWEPT}]
    if unknown:
        raise ParamError(f"no list {unknown[0]!r} to sweep; the lists are {', '.join(s.name for s in SWEPT)}")
    grid: dict[str, list] = {}
    for swept in SWEPT:
        text = lists.get(swept.name, "").strip()
        if text:
            grid[swept.param] = _named(swept.name, swept.parse, text)
    sets = [text.strip() for text in weights if text.strip()]
    if sets:
        grid["weights"] = [_named("weights", parse_weights, text) for text in sets]
    return grid


def _named(name: str, parse: Callable[[str], T], text: str) -> T:
    try:
        return parse(text)
    except ParamError as exc:
        raise ParamError(f"{name}: {exc}") from None


def grid_size(prompt_count: int, grid: Mapping[str, Sequence]) -> int:
    return prompt_count * math.prod(len(values) for values in grid.values())


# How a sweep's description counts each knob's values: "2 seeds", "3 sigma_max values".
KNOB_NOUNS = {"seed": "seed", "num_steps": "step count", "guidance": "guidance value", "sigma_max": "sigma_max value",
              "fps": "frame rate", "weights": "weight set"}


def describe(prompt_count: int, grid: Mapping[str, Sequence]) -> str:
    """'8 runs: 2 prompts × 2 seeds × 2 sigma_max values'."""
    factors = [count(prompt_count, "prompt")]
    factors += [count(len(values), KNOB_NOUNS.get(name, name)) for name, values in grid.items() if len(values) > 1]
    return f"{count(grid_size(prompt_count, grid), 'run')}: " + " × ".join(factors)


def expand(base: InferenceParams, grid: Mapping[str, Sequence]) -> list[InferenceParams]:
    """Every combination of the grid's values over `base`, the first knob varying slowest."""
    names = list(grid)
    return [replace(base, **dict(zip(names, combo, strict=True))) for combo in itertools.product(*grid.values())]


def check_size(prompt_count: int, grid: Mapping[str, Sequence], max_runs: int) -> None:
    size = grid_size(prompt_count, grid)
    if size == 0:
        raise ParamError("the sweep is empty: every list needs a value")
    if size > max_runs:
        raise ParamError(f"the sweep makes {describe(prompt_count, grid)}, more than --max-runs {max_runs}; "
                         f"raise --max-runs to start them")
