"""tail_lines: the right lines, read from the end only."""

import pytest

from cosmos_core import tailing
from cosmos_core.tailing import tail_lines


@pytest.mark.parametrize(("text", "count", "expected"), [
    ("a\nb\nc\n", 2, "b\nc\n"),
    ("a\nb\nc", 2, "b\nc"),
    ("a\nb\nc\n", 5, "a\nb\nc\n"),
    ("", 3, ""),
    ("only\n", 1, "only\n"),
    ("a\n\n\nb\n", 3, "\n\nb\n"),
    ("a\r\nb\r\n", 1, "b\r\n"),
    ("x\n", 0, ""),
])  # fmt: skip
def test_tail_lines(tmp_path, text, count, expected):
    path = tmp_path / "log"
    path.write_bytes(text.encode())
    assert tail_lines(path, count) == expected


def test_lines_longer_than_a_block_and_invalid_utf8(tmp_path, monkeypatch):
    monkeypatch.setattr(tailing, "BLOCK", 8)
    path = tmp_path / "log"
    path.write_bytes(b"first\n" + b"y" * 50 + b"\n\xff\xfebad\nlast")
    assert tail_lines(path, 2) == "\ufffd\ufffdbad\nlast"
    assert tail_lines(path, 3) == "y" * 50 + "\n\ufffd\ufffdbad\nlast"


def test_a_big_file_is_read_from_its_end_only(tmp_path, monkeypatch):
    path = tmp_path / "log"
    path.write_bytes(b"line of a long log\n" * 200_000)  # 3.8 MB
    reads = []
    real_open = open

    def counting_open(*args, **kwargs):
        f = real_open(*args, **kwargs)
        read = f.read
        f.read = lambda n=-1: reads.append(n) or read(n)
        return f

    monkeypatch.setattr("builtins.open", counting_open)
    assert tail_lines(path, 5) == "line of a long log\n" * 5
    assert reads and sum(reads) <= tailing.BLOCK and -1 not in reads
