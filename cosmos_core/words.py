"""How the product says counts and sizes to people (pure): "1 run", "2 runs", "0.3/1.2 MB"."""

from __future__ import annotations

_UNITS = ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"))


def count(number: int, noun: str, plural: str | None = None) -> str:
    """`1 run`, `2 runs` (`plural` for a noun that does not just take an s)."""
    return f"{number} {agreeing(number, noun, plural)}"


def agreeing(number: int, noun: str, plural: str | None = None) -> str:
    """The noun alone, as `number` of it reads (`run`, `runs`): for a count worded apart from its noun."""
    return noun if number == 1 else plural or noun + "s"


def size(total: float) -> str:
    """A size in the unit it reads best in: `512 B`, `3.4 kB`, `12.0 MB`, `1.2 GB`."""
    if total < 1e3:
        return f"{int(total)} B"
    scale, unit = next((s, u) for s, u in _UNITS if total >= s)
    return f"{total / scale:.1f} {unit}"


def sizes(done: float, total: float) -> str:
    """`done/total UNIT`, one unit for both, chosen by the total: `0.3/1.2 MB`, `12/512 B`."""
    if total < 1e3:
        return f"{int(done)}/{int(total)} B"
    scale, unit = next((s, u) for s, u in _UNITS if total >= s)
    return f"{done / scale:.1f}/{total / scale:.1f} {unit}"
