"""`python3 tests/pins_met.py REQUIREMENTS`: exit 0 when every `name==version` pin of that file (and of
the files it includes with `-r`) is the version installed, else 1, naming the first that is not.

tests/ci.sh --quick asks this first: pip takes half a minute to find everything already installed (it
rebuilds the editable install of the checkout each time), which the quick tier, run from the checkout
itself, does not need."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def pins(path: Path) -> Iterator[tuple[str, str]]:
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            yield from pins(path.parent / line.removeprefix("-r ").strip())
        elif "==" in line:
            name, _, pinned = line.partition("==")
            yield name.strip(), pinned.strip()


def main(requirements: str) -> int:
    for name, pinned in pins(Path(requirements)):
        try:
            installed: str | None = version(name)
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            print(f"{name}: {installed or 'not installed'}, pinned {pinned}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
