"""The Dockerfile read as its instructions (continuation lines joined, comments dropped), for the tests
that check it without a base image to build from."""

from __future__ import annotations

import json

from tests.workspace import REPO


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order."""
    joined, current = [], ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip().removesuffix("\\").strip() + " "
            continue
        joined.append(current + line.strip())
        current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1].strip()) for text in joined]


def named(kind: str) -> list[str]:
    """The arguments of every `kind` instruction, in order."""
    return [args for instruction, args in instructions() if instruction == kind]


def healthcheck() -> tuple[str, list[str]]:
    """The HEALTHCHECK's options and its exec-form command."""
    (check,) = named("HEALTHCHECK")
    options, command = check.split("CMD", 1)
    return options, json.loads(command)
