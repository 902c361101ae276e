import argparse
import subprocess
import sys

import pytest

from cosmos_core.cli.commands import _fields
from cosmos_core.cli.parser import _weights, build_parser, suggest


def test_show_aligns_every_value_in_one_column_and_prints_number_lists_on_one_line():
    run = {"id": "rs_1", "error": None, "gpus": [0, 1], "params": {"seed": 3, "weights": [0.5, 0.25, 0, 0]},
           "download": {"status": "done", "files": ["/a", "/b"], "bytes_done": 10}}
    assert _fields(run) == [
        "id            rs_1",
        "error         -",
        "gpus          0, 1",
        "params",
        "  seed        3",
        "  weights     0.5, 0.25, 0, 0",
        "download",
        "  status      done",
        "  files       /a",
        "              /b",
        "  bytes_done  10",
    ]
    assert _fields({"files": [], "gpus": None}) == ["files  -", "gpus   -"]


def test_weights_must_be_four_numbers():
    assert _weights("0.5,0,0.25,1") == (0.5, 0.0, 0.25, 1.0)
    for bad in ("1,2,3", "a,b,c,d", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="VIS,EDGE,DEPTH,SEG"):
            _weights(bad)


def test_hosts_add_and_edit_take_run_args_split_as_a_shell_would():
    parse = build_parser().parse_args
    added = parse(["hosts", "add", "gpu1", "me@10.0.0.1", "--run-args=--gpus all --label 'a b'"])
    assert added.run_args == ["--gpus", "all", "--label", "a b"]
    assert parse(["hosts", "edit", "gpu1", "--run-args="]).run_args == []  # '': the default again
    assert parse(["hosts", "edit", "gpu1", "--image", "x"]).run_args is None  # not given: unchanged


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


@pytest.mark.parametrize(("argv", "said"), [
    (["rnus"], "invalid choice: 'rnus'; did you mean 'runs'? (choose from "),
    (["prompt", "ad"], "invalid choice: 'ad'; did you mean 'add'? (choose from 'add', 'delete')"),
    (["qeueu"], "invalid choice: 'qeueu'; did you mean 'queue'?"),
])
def test_a_mistyped_command_is_answered_with_the_nearest_one(capsys, argv, said):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2 and said in capsys.readouterr().err


def test_nothing_is_suggested_when_no_command_is_near():
    message = "argument COMMAND: invalid choice: 'zzzz' (choose from 'runs', 'run')"
    assert suggest(message) == message
    assert suggest("the following arguments are required: run_id") == "the following arguments are required: run_id"


def test_the_sweeps_list_flags_are_its_swept_lists_each_parsed_into_its_parameter():
    args = build_parser().parse_args(["sweep", "ps_1", "--seeds", "1-3", "--steps", "20,35", "--guidance", "3,5",
                                      "--sigma-max", "60,80", "--fps", "16,24", "--weights", "0,1,0,0"])
    assert (args.seed, args.num_steps, args.guidance, args.sigma_max, args.fps, args.weights) == (
        [1, 2, 3], [20, 35], [3.0, 5.0], [60.0, 80.0], [16, 24], [(0.0, 1.0, 0.0, 0.0)])


def test_a_bad_list_flag_is_a_usage_error_naming_the_flag_and_its_value(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["sweep", "ps_1", "--fps", "24,x"])
    assert exit_info.value.code == 2
    assert "argument --fps: '24,x' is not a list of whole numbers like 1-8 or 1,3,5" in capsys.readouterr().err
