"""`cosmos completion bash|zsh`: the tables come from the parser, and the generated scripts complete for
real in bash (COMP_WORDS + the function `complete` registered) and zsh (compadd recorded)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

import pytest

from cosmos_core.api import STATUSES
from cosmos_core.cli.completion import tables
from cosmos_core.cli.parser import build_parser
from tests.workspace import REPO


def _script(shell: str) -> str:
    result = subprocess.run([sys.executable, "-m", "cosmos_core", "completion", shell], cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


def test_tables_hold_subcommands_options_and_values():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    sub = parser.add_subparsers(dest="command")
    runs = sub.add_parser("runs")
    runs.add_argument("--status", choices=("a", "b"))
    runs.add_argument("--json", action="store_true")
    sub.add_parser("shell").add_argument("name", choices=("bash", "zsh"))
    words, values = tables(parser)
    assert words == {"cosmos": "--help --config runs shell", "cosmos runs": "--help --status --json",
                     "cosmos shell": "--help bash zsh"}
    assert values == {"cosmos --config": "", "cosmos runs --status": "a b"}


def test_every_command_of_the_real_parser_is_offered():
    words, _ = tables(build_parser())
    assert {"runs", "hosts", "dashboard", "completion", "db"} <= set(words["cosmos"].split())
    assert {"cosmos hosts check", "cosmos queue pause", "cosmos db migrate"} <= set(words)
    assert set(words["cosmos dashboard"].split()) == {"--help", "--host", "--port", "--insecure"}


BASH_COMPLETE = """
source "$1"
complete -p cosmos >/dev/null || { echo "no completion registered"; exit 3; }
shift
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
"$(complete -p cosmos | sed -E 's/.*-F ([^ ]+) .*/\\1/')"
printf '%s\\n' "${COMPREPLY[@]}"
"""


def _bash(script, tmp_path, *words: str) -> list[str]:
    file = tmp_path / "cosmos.bash"
    file.write_text(script)
    result = subprocess.run(["bash", "--norc", "-c", BASH_COMPLETE, "bash", str(file), *words],
                            capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.fixture(scope="module")
def bash_script() -> str:
    return _script("bash")


@pytest.mark.parametrize(("words", "expected"), [
    (("cosmos", "ru"), ["run", "runs"]),
    (("cosmos", "runs", "--st"), ["--starred", "--status"]),
    (("cosmos", "runs", "--status", "c"), ["completed", "cancelled"]),
    (("cosmos", "runs", "--status", ""), list(STATUSES)),
    (("cosmos", "hosts", "ch"), ["check"]),
    (("cosmos", "--config", "x.toml", "hosts", "check", "--j"), ["--json"]),  # an option's value is skipped
    (("cosmos", "queue", "p"), ["pause"]),
    (("cosmos", "completion", ""), ["--help", "bash", "zsh"]),
    (("cosmos", "dashboard", "--i"), ["--insecure"]),
    (("cosmos", "export", "--format", ""), ["csv", "json"]),
    (("cosmos", "show", "rs_1", "--j"), ["--json"]),
    (("cosmos", "nothing"), []),
])
def test_bash_completes_commands_options_and_choices(bash_script, tmp_path, words, expected):
    assert sorted(_bash(bash_script, tmp_path, *words)) == sorted(expected)


def test_bash_completes_file_names_for_an_option_taking_a_path(bash_script, tmp_path):
    (tmp_path / "team.toml").write_text("")
    assert _bash(bash_script, tmp_path, "cosmos", "--config", "te") == ["team.toml"]


ZSH_COMPLETE = """
source "$1"; shift
compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; }  # stands in for the builtin, outside a widget
_files() { print -r -- FILES; }
words=("$@"); CURRENT=$#
_cosmos
"""


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (apt-get install zsh)")
@pytest.mark.parametrize(("words", "offered", "not_offered"), [
    (("cosmos", "ru"), {"runs", "run", "hosts"}, {"--status"}),  # zsh filters by the prefix itself
    (("cosmos", "runs", "--st"), {"--status", "--json"}, {"runs"}),
    (("cosmos", "runs", "--status", ""), set(STATUSES), {"--json"}),
    (("cosmos", "--config", ""), {"FILES"}, {"runs"}),
    (("cosmos", "--config", "x", "hosts", ""), {"check", "--json"}, {"hosts"}),
])
def test_zsh_offers_the_same_words(tmp_path, words, offered, not_offered):
    file = tmp_path / "cosmos.zsh"
    file.write_text(_script("zsh"))
    assert subprocess.run(["zsh", "-n", str(file)], capture_output=True, timeout=30).returncode == 0
    result = subprocess.run(["zsh", "-f", "-c", ZSH_COMPLETE, "zsh", str(file), *words],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    got = set(result.stdout.split())
    assert offered <= got and not (not_offered & got)
