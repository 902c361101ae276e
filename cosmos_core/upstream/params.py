"""The knobs a researcher tunes for one inference run, and their checks (pure).

One `InferenceParams` serves both models; `check` says in one line what is
wrong before anything is uploaded. Which fields a model takes and its
defaults live with the model (`models.py`); how each field is
spelled on the model's command line or spec lives in `specs.py`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, fields

CONTROLS = ("vis", "edge", "depth", "seg")
# transfer.py --blur_strength / --canny_threshold choices; Transfer2.5's preset_* take the same words.
STRENGTHS = ("very_low", "low", "medium", "high", "very_high")
MAX_STEPS = 1000
MAX_SIGMA = 200.0


class ParamError(ValueError):
    """A parameter is out of range or does not apply; the message is one line."""


@dataclass(frozen=True)
class InferenceParams:
    num_steps: int = 35
    guidance: float = 5.0
    seed: int = 1
    weights: tuple[float, float, float, float] = (0.25, 0.25, 0.25, 0.25)  # vis, edge, depth, seg
    sigma_max: float | None = 70.0  # None: the model's own default
    blur_strength: str = "medium"  # vis control
    canny_threshold: str = "medium"  # edge control
    fps: int = 24
    distilled: bool = False  # Transfer1's distilled edge model
    upsample_prompt: bool = False  # Transfer1 rewrites the prompt with its upsampler before generating

    def to_dict(self) -> dict:
        return asdict(self) | {"weights": list(self.weights)}

    @classmethod
    def from_dict(cls, data: Mapping, base: InferenceParams | None = None) -> InferenceParams:
        """Stored params over `base` (older runs stored fewer keys); unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "weights" in values:
            values["weights"] = tuple(float(w) for w in values["weights"])
        return cls(**(asdict(base or cls()) | values))

    def weight(self, control: str) -> float:
        return self.weights[CONTROLS.index(control)]

    def active_controls(self) -> list[str]:
        """The controls with a weight above 0, in CONTROLS order: each becomes a spec block."""
        return [c for c in CONTROLS if self.weight(c) > 0]


def check(params: InferenceParams, *, tunes: Collection[str], defaults: InferenceParams,
          max_weight: float = math.inf, whole_guidance: bool = False, max_guidance: float = 20.0) -> None:
    """Raise ParamError naming the first thing wrong. `tunes` are the fields the model takes:
    any other field must keep the model's default."""
    for f in fields(InferenceParams):
        if f.name not in tunes and getattr(params, f.name) != getattr(defaults, f.name):
            raise ParamError(f"{f.name} does not apply to this model")
    _check_range("steps", params.num_steps, 1, MAX_STEPS, whole=True)
    _check_range("guidance", params.guidance, 0, max_guidance, whole=whole_guidance)
    _check_range("seed", params.seed, 0, 2**31 - 1, whole=True)
    if len(params.weights) != len(CONTROLS):
        raise ParamError(f"weights must be {len(CONTROLS)} numbers ({','.join(CONTROLS)}), got {len(params.weights)}")
    for control, weight in zip(CONTROLS, params.weights, strict=True):
        _check_range(f"{control} weight", weight, 0, max_weight)
    if not params.active_controls():
        raise ParamError("at least one control weight must be above 0")
    if params.sigma_max is not None:
        _check_range("sigma_max", params.sigma_max, 0, MAX_SIGMA, open_low=True)
    for name in ("blur_strength", "canny_threshold"):
        if getattr(params, name) not in STRENGTHS:
            raise ParamError(f"{name} must be one of {', '.join(STRENGTHS)}, got {getattr(params, name)!r}")
    _check_range("fps", params.fps, 1, 240, whole=True)
    if params.distilled and params.active_controls() != ["edge"]:
        raise ParamError("the distilled model takes the edge control alone: set the other weights to 0")


def _check_range(name: str, value: object, low: float, high: float, *, whole: bool = False,
                 open_low: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParamError(f"{name} must be a number, got {value!r}")
    if whole and value != int(value):
        raise ParamError(f"{name} must be a whole number, got {value:g}")
    if value > high or value < low or (open_low and value == low):
        lower = f"above {low:g}" if open_low else f"at least {low:g}"
        raise ParamError(f"{name} must be {lower} and at most {high:g}, got {value:g}")


def parse_weights(text: str) -> tuple[float, float, float, float]:
    """'VIS,EDGE,DEPTH,SEG' as four numbers."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != len(CONTROLS):
        raise ParamError(f"weights must be 4 numbers VIS,EDGE,DEPTH,SEG, got {text!r}")
    vis, edge, depth, seg = values
    return vis, edge, depth, seg
