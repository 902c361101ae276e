import argparse

import pytest

from cosmos_core.cli_commands import _fields
from cosmos_core.cli_parser import _weights, build_parser


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
