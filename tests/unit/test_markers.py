import pytest

from cosmos_core.upstream.markers import parse_completion_marker


@pytest.mark.parametrize(
    "log, expected",
    [
        ("", None),
        ("working\n", None),
        ("[COSMOS_COMPLETE] exit_code=0\n", 0),
        ("[COSMOS_COMPLETE] exit_code=3", 3),
        ("a\n[COSMOS_COMPLETE] exit_code=0\nb\n[COSMOS_COMPLETE] exit_code=5\n", 5),
        ("[COSMOS_COMPLETE] exit_code=137\r\n", 137),
        ("[COSMOS_COMPLETE] exit_code=255\n", 255),
        # Not an exit status the script can write: not its marker (and never stored).
        ("[COSMOS_COMPLETE] exit_code=-1\n", None),
        ("[COSMOS_COMPLETE] exit_code=256\n", None),
        ("[COSMOS_COMPLETE] exit_code=99999999999999999999\n", None),
        ("[COSMOS_COMPLETE] exit_code=007\n", None),
        ("[COSMOS_COMPLETE] exit_code=4\n[COSMOS_COMPLETE] exit_code=99999999999999999999\n", 4),
        # Text that merely contains the marker is not a marker line.
        ("Prompt: say [COSMOS_COMPLETE] exit_code=0\n", None),
        ("[COSMOS_COMPLETE] exit_code=0 and more\n", None),
        ("  [COSMOS_COMPLETE] exit_code=0\n", None),
        ("[COSMOS_COMPLETE] exit_code=\n", None),
        ("[COSMOS_COMPLETE] exit_code=x\n", None),
        ("[COSMOS_COMPLETE] exit_code=0\nPrompt: [COSMOS_COMPLETE] exit_code=0 x\n", 0),
    ],
)
def test_parse_completion_marker(log, expected):
    assert parse_completion_marker(log) == expected
