"""The New sweep form (plain data): what the user typed, as prompts and lists of values, and the
count of runs it makes, shown before anything starts. Its lists are the core's (`SWEPT`), as the CLI's are."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cosmos_core.api import MAX_RUNS, SWEPT, CosmosError, count, describe_sweep, sweep_grid

from .run_table import sweep_links


@dataclass(frozen=True)
class SweepForm:
    prompts: tuple[str, ...]  # prompt ids
    model: str
    host: str  # "" : the product picks
    lists: Mapping[str, str] = field(default_factory=dict)  # SWEPT name -> the list as typed: "seeds": "1-8"
    weights: str = ""  # "VIS,EDGE,DEPTH,SEG; VIS,EDGE,DEPTH,SEG"
    max_runs: int = MAX_RUNS

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> SweepForm:
        """The form from its fields' values by name (layout.new_sweep_form's)."""
        return cls(tuple(values["prompts"] or ()), values["model"], values["host"],
                   {swept.name: values[swept.name] or "" for swept in SWEPT}, values["weights"] or "",
                   int(values["max_runs"] or 0))

    def grid(self) -> dict[str, list]:
        """Field -> values for every list filled in; raises CosmosError naming the field."""
        return sweep_grid(self.lists, self.weights.split(";"))

    def preview(self) -> str:
        """The count the sweep makes, or what is wrong with the form."""
        if not self.prompts:
            return "Choose one or more prompts."
        try:
            described = describe_sweep(len(self.prompts), self.grid(), self.max_runs)
        except CosmosError as exc:
            return f"❌ {exc}"
        return f"Starts {described}."


def started_text(sweep_id: str, runs: int) -> str:
    """The notice of a started sweep: its id linking to its runs, how many, and a link to compare them."""
    runs_link, compare_link = sweep_links(sweep_id)
    return f"✅ Started sweep [{sweep_id}]({runs_link}): {count(runs, 'run')} ([compare]({compare_link}))"
