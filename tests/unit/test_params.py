"""Parameter checks: one line naming what is wrong, before anything is uploaded."""

import pytest

from cosmos_core.upstream.models import TRANSFER1, TRANSFER25, model
from cosmos_core.upstream.params import InferenceParams, ParamError, parse_weights


def test_defaults_pass():
    TRANSFER1.check(TRANSFER1.defaults)
    TRANSFER25.check(TRANSFER25.defaults)


@pytest.mark.parametrize(("changes", "message"), [
    ({"num_steps": 0}, "steps must be at least 1 and at most 1000, got 0"),
    ({"num_steps": 2.5}, "steps must be a whole number, got 2.5"),
    ({"guidance": -1}, "guidance must be at least 0 and at most 20, got -1"),
    ({"guidance": float("nan")}, "guidance must be a number, got nan"),
    ({"seed": -1}, "seed must be at least 0"),
    ({"weights": (0, 0, 0, 0)}, "at least one control weight must be above 0"),
    ({"weights": (-0.1, 1, 0, 0)}, "vis weight must be at least 0"),
    ({"weights": (1, 1)}, "weights must be 4 numbers"),
    ({"sigma_max": 0}, "sigma_max must be above 0 and at most 200, got 0"),
    ({"sigma_max": 201}, "sigma_max must be above 0 and at most 200"),
    ({"blur_strength": "extreme"}, "blur_strength must be one of very_low, low, medium, high, very_high"),
    ({"canny_threshold": ""}, "canny_threshold must be one of"),
    ({"fps": 0}, "fps must be at least 1"),
    ({"distilled": True}, "the distilled model takes the edge control alone"),
])  # fmt: skip
def test_transfer1_checks(changes, message):
    params = InferenceParams(**{**TRANSFER1.defaults.to_dict(), "weights": (0.25,) * 4, **changes})
    with pytest.raises(ParamError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        TRANSFER1.check(params)


def test_distilled_with_edge_alone_passes():
    TRANSFER1.check(InferenceParams(weights=(0, 1, 0, 0), distilled=True))


@pytest.mark.parametrize(("changes", "message"), [
    ({"guidance": 3.5}, "guidance must be a whole number, got 3.5"),
    ({"guidance": 8}, "guidance must be at least 0 and at most 7, got 8"),
    ({"weights": (0, 1.5, 0, 0)}, "edge weight must be at least 0 and at most 1, got 1.5"),
    ({"fps": 30}, "fps does not apply to this model"),
    ({"distilled": True}, "distilled does not apply to this model"),
    ({"upsample_prompt": True}, "upsample_prompt does not apply to this model"),
])  # fmt: skip
def test_transfer25_checks(changes, message):
    params = InferenceParams(**{**TRANSFER25.defaults.to_dict(), **changes})
    with pytest.raises(ParamError, match="^" + message):
        TRANSFER25.check(params)


def test_params_round_trip_through_storage_and_old_rows_get_defaults():
    params = InferenceParams(sigma_max=80, fps=16, upsample_prompt=True)
    assert InferenceParams.from_dict(params.to_dict()) == params
    old_row = {"num_steps": 20, "guidance": 7.0, "seed": 3, "weights": [0.5, 0, 0, 0]}
    assert InferenceParams.from_dict(old_row) == InferenceParams(num_steps=20, guidance=7.0, seed=3,
                                                                 weights=(0.5, 0, 0, 0))


def test_weights_text():
    assert parse_weights("0.5,0,0.25,1") == (0.5, 0.0, 0.25, 1.0)
    for bad in ("1,2,3", "a,b,c,d", ""):
        with pytest.raises(ParamError, match="weights must be 4 numbers VIS,EDGE,DEPTH,SEG"):
            parse_weights(bad)


def test_unknown_model():
    with pytest.raises(ParamError, match="unknown model 'transfer3'; use one of transfer1, transfer2.5"):
        model("transfer3")
