"""Sweeps: lists of values and their cross product (pure)."""

import pytest

from cosmos_core.sweeps import check_size, describe, expand, parse_floats, parse_ints
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
