"""Sweeps: lists of values and their cross product (pure)."""

from dataclasses import fields

import pytest

from cosmos_core.sweeps import SWEPT, check_size, describe, expand, parse_floats, parse_grid, parse_ints
from cosmos_core.upstream.params import InferenceParams, ParamError


@pytest.mark.parametrize(("text", "values"), [("1-8", list(range(1, 9))), ("1,3,5", [1, 3, 5]),
                                              ("1-3,10", [1, 2, 3, 10]), ("2,2,1-2", [2, 1]), ("7", [7])])
def test_whole_number_lists_and_ranges(text, values):
    assert parse_ints(text) == values


@pytest.mark.parametrize("text", ["", "a", "3-1", "1-", "1.5"])
def test_bad_whole_number_lists_say_what_is_wrong(text):
    with pytest.raises(ParamError):
        parse_ints(text)


def test_number_lists():
    assert parse_floats("60,80,60") == [60.0, 80.0]
    for bad in ("", "x", "nan", "inf"):
        with pytest.raises(ParamError):
            parse_floats(bad)


def test_the_cross_product_over_the_base_parameters():
    base = InferenceParams(num_steps=10)
    grid = {"seed": [1, 2], "weights": [(0, 0.3, 0, 0), (0, 0.5, 0, 0)]}
    runs = expand(base, grid)
    assert [(p.seed, p.weights[1], p.num_steps) for p in runs] == [(1, 0.3, 10), (1, 0.5, 10), (2, 0.3, 10),
                                                                    (2, 0.5, 10)]
    assert describe(1, grid) == "4 runs: 1 prompt × 2 seeds × 2 weight sets"
    assert describe(2, {"seed": [1]}) == "2 runs: 2 prompts"
    assert describe(1, {"seed": [1]}) == "1 run: 1 prompt"
    assert describe(1, {"seed": list(range(30)), "sigma_max": [60.0, 80.0]}) == \
        "60 runs: 1 prompt × 30 seeds × 2 sigma_max values"


def test_a_sweep_over_the_cap_is_refused_until_the_cap_is_raised():
    grid = {"seed": list(range(1, 9)), "sigma_max": [60.0, 80.0]}
    with pytest.raises(ParamError, match="16 runs.*more than --max-runs 10"):
        check_size(1, grid, 10)
    check_size(1, grid, 16)
    with pytest.raises(ParamError, match="empty"):
        check_size(1, {"seed": []}, 10)


# -- parse_grid: the lists as typed (the New sweep form's; the CLI parses each flag with the same SWEPT parser) --

@pytest.mark.parametrize(("name", "text", "param", "values"), [
    ("seeds", "1-8", "seed", list(range(1, 9))), ("seeds", " 1,3,5 ", "seed", [1, 3, 5]),
    ("steps", "20,35", "num_steps", [20, 35]), ("steps", "10-12,40", "num_steps", [10, 11, 12, 40]),
    ("guidance", "3,5,7", "guidance", [3.0, 5.0, 7.0]), ("guidance", "7.5", "guidance", [7.5]),
    ("sigma_max", "60,80", "sigma_max", [60.0, 80.0]), ("sigma_max", "60,60.0", "sigma_max", [60.0]),
    ("fps", "16,24", "fps", [16, 24]), ("fps", "8-10", "fps", [8, 9, 10]),
])
def test_each_list_is_parsed_into_its_parameter(name, text, param, values):
    assert parse_grid({name: text}, []) == {param: values}


@pytest.mark.parametrize(("name", "text", "message"), [
    ("seeds", "9-1", "seeds: range '9-1' runs backwards"),
    ("seeds", "1-8,x", "seeds: '1-8,x' is not a list of whole numbers like 1-8 or 1,3,5"),
    ("steps", "20.5", "steps: '20.5' is not a list of whole numbers like 1-8 or 1,3,5"),
    ("steps", "20,,35", "steps: '20,,35' is not a list of whole numbers like 1-8 or 1,3,5"),
    ("guidance", "3,five", "guidance: '3,five' is not a list of numbers like 60,80"),
    ("sigma_max", "60,inf", "sigma_max: 'inf' is not a finite number"),
    ("fps", "16-", "fps: '16-' is not a list of whole numbers like 1-8 or 1,3,5"),
    ("fps", "24,12-8", "fps: range '12-8' runs backwards"),
])
def test_a_bad_list_is_one_line_naming_the_list_and_its_value(name, text, message):
    with pytest.raises(ParamError) as refused:
        parse_grid({name: text}, [])
    assert str(refused.value) == message


def test_blank_lists_and_weight_sets_are_left_out():
    assert parse_grid({}, []) == {}
    assert parse_grid({swept.name: " " for swept in SWEPT}, ["", "  "]) == {}
    assert parse_grid({"seeds": "", "fps": "24"}, []) == {"fps": [24]}


def test_weight_sets_each_make_one_value_and_a_bad_one_is_named():
    assert parse_grid({}, [" 0,0.3,0,0", "0,0.5,0,0 ", ""]) == {"weights": [(0.0, 0.3, 0.0, 0.0),
                                                                            (0.0, 0.5, 0.0, 0.0)]}
    with pytest.raises(ParamError, match=r"^weights: weights must be 4 numbers VIS,EDGE,DEPTH,SEG, got '0,1'$"):
        parse_grid({}, ["0,0.3,0,0", "0,1"])


def test_the_grid_takes_the_lists_in_swept_order_then_the_weights_whatever_order_they_came_in():
    grid = parse_grid({"fps": "16,24", "seeds": "1-2", "sigma_max": "60"}, ["0,1,0,0"])
    assert list(grid) == ["seed", "sigma_max", "fps", "weights"]
    assert len(expand(InferenceParams(), grid)) == 4


def test_an_unknown_list_is_refused_naming_the_lists_there_are():
    with pytest.raises(ParamError, match=r"^no list 'seed' to sweep; the lists are seeds, steps, guidance, "
                                         r"sigma_max, fps$"):
        parse_grid({"seed": "1-2"}, [])


def test_every_swept_list_varies_a_parameter_and_has_its_flag():
    params = {f.name for f in fields(InferenceParams)}
    assert [(s.param in params, s.flag) for s in SWEPT] == [(True, "--seeds"), (True, "--steps"), (True, "--guidance"),
                                                             (True, "--sigma-max"), (True, "--fps")]
    for swept in SWEPT:
        parse_grid({swept.name: swept.example.split(" or ")[0]}, [])  # the example shown is a valid list
