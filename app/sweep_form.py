"""The New sweep form (plain data): what the user typed, as prompts and lists of values, and the
count of runs it makes, shown before anything starts."""

from __future__ import annotations

from dataclasses import dataclass

from cosmos_core.api import CosmosError, count
from cosmos_core.sweeps import SWEPT, check_size, describe
from cosmos_core.upstream.params import ParamError, parse_weights

from .run_table import sweep_links

# Form field -> InferenceParams field swept by it (the weights take groups separated by ';').
LIST_FIELDS = {"seeds": "seed", "steps": "num_steps", "guidance": "guidance", "sigma_max": "sigma_max"}


@dataclass(frozen=True)
class SweepForm:
    prompts: tuple[str, ...]  # prompt ids
    model: str
    host: str  # "" : the product picks
    seeds: str = ""
    steps: str = ""
    guidance: str = ""
    sigma_max: str = ""
    weights: str = ""  # "VIS,EDGE,DEPTH,SEG; VIS,EDGE,DEPTH,SEG"
    max_runs: int = 20

    def grid(self) -> dict[str, list]:
        """Field -> values for every list filled in; raises CosmosError naming the field."""
        grid: dict[str, list] = {}
        for name, param in LIST_FIELDS.items():
            text = getattr(self, name).strip()
            if text:
                try:
                    grid[param] = SWEPT[param](text)
                except ParamError as exc:
                    raise CosmosError(f"{name.replace('_', ' ')}: {exc}") from None
        groups = [g for g in self.weights.split(";") if g.strip()]
        if groups:
            try:
                grid["weights"] = [parse_weights(g.strip()) for g in groups]
            except ParamError as exc:
                raise CosmosError(f"weights: {exc}") from None
        return grid

    def preview(self) -> str:
        """The count the sweep makes, or what is wrong with the form."""
        if not self.prompts:
            return "Choose one or more prompts."
        try:
            grid = self.grid()
            check_size(len(self.prompts), grid, self.max_runs)
        except (CosmosError, ParamError) as exc:
            return f"❌ {exc}"
        return f"Starts {describe(len(self.prompts), grid)}."


def started_text(sweep_id: str, runs: int) -> str:
    """The notice of a started sweep: its id linking to its runs, how many, and a link to compare them."""
    runs_link, compare_link = sweep_links(sweep_id)
    return f"✅ Started sweep [{sweep_id}]({runs_link}): {count(runs, 'run')} ([compare]({compare_link}))"
