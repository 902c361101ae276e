"""Uploaded input files kept under `outputs_dir/inputs/<sha256 prefix>/<name>`, so that a prompt's file
outlives the browser session that uploaded it (Gradio's temp dir), and the same content is kept once.

A prompt the core refuses must keep no copy: `kept_files` removes, on the way out of an error, exactly the
copies its own block made (never one kept before, which an earlier prompt may use).
"""

from __future__ import annotations

import shutil
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from cosmos_core.ssh.transfer import sha256_of

KEPT_INPUTS = "inputs"  # outputs_dir/inputs/: the copies of uploaded files
DIGEST_CHARS = 16  # the folder's name: this many hex digits of the content's sha256


@dataclass(frozen=True)
class Kept:
    path: Path  # the copy under outputs_dir/inputs/
    created: bool  # whether this call made it (else it was kept already)


def is_kept(outputs_dir: str | Path, path: str | Path) -> bool:
    """Whether `path` is under outputs_dir/inputs/ (symlinks followed)."""
    return Path(path).resolve().is_relative_to(Path(outputs_dir, KEPT_INPUTS).resolve())


def keep(outputs_dir: str | Path, source: str | Path) -> Kept:
    """A copy of `source` under outputs_dir/inputs/, named by its content's sha256; a file kept there
    already (Run again gives one back) is its own copy."""
    source = Path(source)
    if is_kept(outputs_dir, source):
        return Kept(source, created=False)
    copy = Path(outputs_dir, KEPT_INPUTS, sha256_of(source).hexdigest()[:DIGEST_CHARS], source.name)
    if copy.is_file():
        return Kept(copy, created=False)
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, copy)
    return Kept(copy, created=True)


def remove(path: str | Path) -> None:
    """Remove a kept file, and its folder once nothing else is kept there."""
    Path(path).unlink(missing_ok=True)
    with suppress(OSError):
        Path(path).parent.rmdir()


@contextmanager
def kept_files(outputs_dir: str | Path, files: Mapping[str, str | Path | None],
               roles: Collection[str]) -> Iterator[dict[str, Path | None]]:
    """`files` (role -> path, None: not given) as Paths, those of `roles` replaced by their kept copies. An
    error out of the block removes the copies this call made, and nothing else."""
    made: list[Path] = []
    try:
        kept: dict[str, Path | None] = {}
        for role, path in files.items():
            if path and role in roles:
                copy = keep(outputs_dir, path)
                made += [copy.path] if copy.created else []
                kept[role] = copy.path
            else:
                kept[role] = Path(path) if path else None
        yield kept
    except BaseException:
        for path in made:
            remove(path)
        raise
