import argparse
import subprocess
import sys

import pytest

from cosmos_core.cli.commands import _fields
from cosmos_core.cli.parser import _weights, build_parser


def test_show_prints_nested_records_indented():
    run = {"id": "rs_1", "error": None, "download": {"status": "done", "files": ["/a", "/b"]}}
    assert _fields(run) == [
        "id             rs_1",
        "error          -",
        "download",
        "  status         done",
        "  files          /a",
        "                 /b",
    ]


def test_weights_must_be_four_numbers():
    assert _weights("0.5,0,0.25,1") == (0.5, 0.0, 0.25, 1.0)
    for bad in ("1,2,3", "a,b,c,d", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="VIS,EDGE,DEPTH,SEG"):
            _weights(bad)


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["runs", "--status", "sleeping"])
    assert exit_info.value.code == 2


HEAVY = ("pydantic", "peewee", "paramiko", "gradio", "cosmos_core.api", "cosmos_core.config")


@pytest.mark.parametrize("argv", [["--help"], ["completion", "bash"], ["runs", "--help"]])
def test_help_and_completion_load_no_config_database_or_ssh_module(argv):
    """They run in every new shell that sources the completion, and at every `--help`: they stay light
    (a start-up of about 0.1 s against 0.5 s for a command that opens the database; see the benchmark)."""
    probe = ("import sys\n"
             "from cosmos_core.cli import main\n"
             f"try:\n    main({argv!r})\n"
             "except SystemExit:\n    pass\n"
             f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.splitlines()[-1] == "[]", done.stdout[-300:]
