"""The Cosmos models the product runs, as data: script, defaults, spec builder, log lines.

A model is not a code path: everything that differs between Cosmos-Transfer1
and Cosmos-Transfer2.5 is a field here, checked against upstream in
docs/upstream.md. Log patterns are POSIX extended regular expressions that
Python's `re` reads the same way (the probe greps with them on the host).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cosmos_core.upstream.gpu_queue import CANNOT_START
from cosmos_core.upstream.params import InferenceParams, ParamError, check
from cosmos_core.upstream.specs import ModelCall, transfer1_call, transfer25_call

SpecBuilder = Callable[[str, Mapping[str, str], str, str, InferenceParams], ModelCall]


@dataclass(frozen=True)
class CosmosModel:
    name: str  # as written in the config, the CLI and the database
    title: str
    script: str  # the run script in scripts/ that calls the model
    checkout: str  # default checkout directory name under the user's home
    checkout_marker: str  # what a ready checkout holds (hosts check looks for it)
    image: str  # default Docker image
    defaults: InferenceParams
    tunes: frozenset[str]  # InferenceParams fields the model takes; the others keep their defaults
    call: SpecBuilder
    max_weight: float  # highest control weight the model accepts
    whole_guidance: bool  # guidance must be an integer
    max_guidance: float
    stages: tuple[tuple[str, str], ...]  # (pattern in a log line, stage shown; {0} is the pattern's group)
    counter: tuple[str, str]  # (tqdm line pattern with groups done, total; what is counted)
    guardrail: tuple[str, ...]  # log lines saying the guardrail blocked the run; the first group is the detail
    missing_checkpoints: tuple[str, ...]  # log lines saying the weights are not there

    def check(self, params: InferenceParams) -> None:
        check(params, tunes=self.tunes, defaults=self.defaults, max_weight=self.max_weight,
              whole_guidance=self.whole_guidance, max_guidance=self.max_guidance)


_ALL_TUNES = frozenset({"num_steps", "guidance", "seed", "weights", "sigma_max", "blur_strength",
                        "canny_threshold", "fps", "distilled", "upsample_prompt"})
_TQDM = "[0-9]+%[|][^|]*[|] *([0-9]+)/([0-9]+)"
# What torch and Python print whichever model runs.
OUT_OF_MEMORY = "(.*(CUDA out of memory|OutOfMemoryError).*)"
_NAME = "[A-Za-z_][A-Za-z0-9_]*"
EXCEPTION_LINE = f"^(\\[rank[0-9]+\\]: *)?(({_NAME}\\.)*{_NAME}(Error|Exception|Interrupt)(: .*)?)$"

TRANSFER1 = CosmosModel(
    name="transfer1", title="Cosmos-Transfer1", script="inference.sh", checkout="cosmos-transfer1",
    checkout_marker="checkpoints",
    image="cosmos-transfer1:latest", defaults=InferenceParams(), tunes=_ALL_TUNES, call=transfer1_call,
    max_weight=10.0, whole_guidance=False, max_guidance=20.0,
    stages=(
        ("Upsampling prompt", "upsampling the prompt"),
        ("Running guardrail checks on all prompts", "checking the prompt"),
        ("Running text embedding on all prompts", "encoding the prompt"),
        ("Starting latent encoding", "encoding the input"),
        ("Starting diffusion sampling", "diffusion sampling"),
        ("Starting VAE decode", "decoding"),
        ("Completed VAE decode", "chunk decoded"),
        ("Run guardrail on generated videos", "checking the video"),
        ("Saved video to", "saving"),
    ),
    counter=("^ *" + _TQDM, "chunks"),
    guardrail=("GUARDRAIL BLOCKED: (.*)", "(All prompts failed safety checks)",
               "(All generated videos failed safety checks)", "(Guardrail blocked generation for entire batch)"),
    missing_checkpoints=("(FileNotFoundError: .*checkpoints.*)",),
)

TRANSFER25 = CosmosModel(
    name="transfer2.5", title="Cosmos-Transfer2.5", script="transfer25.sh", checkout="cosmos-transfer2.5",
    checkout_marker="examples/inference.py",
    image="cosmos-transfer2.5:latest",
    defaults=InferenceParams(guidance=3, seed=2025, weights=(0.0, 1.0, 0.0, 0.0), sigma_max=None),
    tunes=frozenset({"num_steps", "guidance", "seed", "weights", "sigma_max", "blur_strength", "canny_threshold"}),
    call=transfer25_call, max_weight=1.0, whole_guidance=True, max_guidance=7.0,
    stages=(
        ("Processing sample", "loading"),
        ("Generating chunk ([0-9]+/[0-9]+)", "chunk {0}"),
        ("Generated video saved to", "saving"),
    ),
    counter=("^Generating samples: *" + _TQDM, "steps"),
    guardrail=("GUARDRAIL BLOCKED: (.*)", "Guardrail blocked generation\\. (.*)",
               "(Guardrail blocked video2world generation)"),
    missing_checkpoints=("(Checkpoint .* does not exist.*)", "(CalledProcessError: Command .*download.*)"),
)

MODELS: dict[str, CosmosModel] = {m.name: m for m in (TRANSFER1, TRANSFER25)}
DEFAULT_MODEL = TRANSFER1.name


def model(name: str) -> CosmosModel:
    try:
        return MODELS[name]
    except KeyError:
        raise ParamError(f"unknown model {name!r}; use one of {', '.join(MODELS)}") from None


def probe_patterns() -> tuple[str, str, str]:
    """(stage, counter, reason) patterns over every model, for the probe's greps on the host."""
    stages = [p for m in MODELS.values() for p, _ in m.stages]
    counters = [m.counter[0] for m in MODELS.values()]
    reasons = [OUT_OF_MEMORY, EXCEPTION_LINE, CANNOT_START]
    reasons += [p for m in MODELS.values() for p in m.guardrail + m.missing_checkpoints]

    def alternatives(group: list[str]) -> str:
        return "|".join(f"({p})" for p in dict.fromkeys(group))

    return alternatives(stages), alternatives(counters), alternatives(reasons)
