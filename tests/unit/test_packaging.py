"""The package files: requirements.txt pins the runtime and installs this checkout, requirements-dev.txt
adds the pinned test tools, pyproject.toml's ranges admit the pins, and `cosmos` names the CLI."""

from __future__ import annotations

import importlib
import tomllib

from packaging.requirements import Requirement

from tests.workspace import REPO

TEST_TOOLS = {"pytest", "pytest-xdist", "hypothesis", "playwright", "ruff", "mypy", "types-paramiko", "pandas-stubs"}


def requirement_lines(name: str) -> list[str]:
    """The lines of a requirements file without comments and blanks."""
    lines = (line.split("#", 1)[0].strip() for line in (REPO / name).read_text().splitlines())
    return [line for line in lines if line]


def pins(name: str) -> dict[str, str]:
    """package -> exact version, for every pinned line (`-e`/`-r` lines left out)."""
    found = {}
    for line in requirement_lines(name):
        if not line.startswith("-"):
            requirement = Requirement(line)
            versions = [spec.version for spec in requirement.specifier if spec.operator == "=="]
            assert len(versions) == 1 and len(requirement.specifier) == 1, f"{name}: {line} is not an exact pin"
            found[requirement.name] = versions[0]
    return found


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_requirements_pin_the_runtime_and_install_the_checkout_without_test_tools():
    assert "-e ." in requirement_lines("requirements.txt")
    runtime = pins("requirements.txt")
    assert not TEST_TOOLS & set(runtime)
    assert {Requirement(d).name for d in project()["dependencies"]} == set(runtime)


def test_requirements_dev_adds_the_pinned_test_tools_to_the_runtime():
    assert "-r requirements.txt" in requirement_lines("requirements-dev.txt")
    assert set(pins("requirements-dev.txt")) == TEST_TOOLS


def test_the_ci_command_installs_requirements_dev():
    assert "pip install -q --disable-pip-version-check -r requirements-dev.txt" in (REPO / "tests/ci.sh").read_text()


def test_pyproject_ranges_admit_the_pins_but_not_the_next_major():
    runtime = pins("requirements.txt")
    for line in project()["dependencies"]:
        requirement = Requirement(line)
        pinned = runtime[requirement.name]
        assert requirement.specifier.contains(pinned), line
        next_major = f"{int(pinned.split('.')[0]) + 1}.0.0"
        assert not requirement.specifier.contains(next_major), f"{line} is not a compatible range"
    assert Requirement(next(d for d in project()["dependencies"] if d.startswith("gradio"))).specifier.contains("6.99")


def test_the_cosmos_script_is_the_cli_and_every_package_is_listed():
    module, function = project()["scripts"]["cosmos"].split(":")
    assert callable(getattr(importlib.import_module(module), function))
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = set(config["tool"]["setuptools"]["packages"])
    on_disk = {str(init.parent.relative_to(REPO)).replace("/", ".")
               for top in ("cosmos_core", "app") for init in (REPO / top).rglob("__init__.py")}
    assert packages == on_disk
