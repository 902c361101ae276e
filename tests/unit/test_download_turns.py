"""What a download turn skips: a file an earlier turn checked and put in place is not read again."""

from pathlib import Path
from types import SimpleNamespace

from cosmos_core.executors.base import FileFacts
from cosmos_core.executors.ssh_files import SshFiles


class Recorder:
    def __init__(self, verified: list[Path]) -> None:
        self.verified = [str(p.resolve()) for p in verified]
        self.seen: list[tuple[int, int]] = []

    def progress(self, bytes_done: int, bytes_total: int) -> None:
        self.seen.append((bytes_done, bytes_total))

    def is_verified(self, path: Path) -> bool:
        return str(path.resolve()) in self.verified

    def file_done(self, path: Path) -> None:
        self.verified.append(str(path.resolve()))


class NoHost:
    """Any use of the host fails the test."""

    config = SimpleNamespace(name="gpu1")

    def start(self, command: str, **kwargs):
        raise AssertionError(f"the host was asked to run {command}")

    def sftp_session(self, purpose: str, timeout: float | None = None):
        raise AssertionError(f"the host was asked for {purpose}")


def test_a_verified_file_in_place_is_neither_downloaded_nor_hashed_again(tmp_path, monkeypatch):
    video = tmp_path / "outputs" / "output.mp4"
    video.parent.mkdir()
    video.write_bytes(b"v" * 10)
    never_hash = lambda path: (_ for _ in ()).throw(AssertionError("hashed"))
    monkeypatch.setattr("cosmos_core.ssh.transfer.sha256_of", never_hash)
    recorder = Recorder([video])
    done = SshFiles(NoHost(), 15).download(
        "/remote/run", {"outputs/output.mp4": FileFacts(10, "not-checked")}, tmp_path, recorder, None)
    assert done and recorder.seen == [(10, 10)]


def test_a_verified_file_that_changed_size_is_fetched_again(tmp_path, monkeypatch):
    video = tmp_path / "outputs" / "output.mp4"
    video.parent.mkdir()
    video.write_bytes(b"v" * 9)
    try:
        SshFiles(NoHost(), 15).download("/r", {"outputs/output.mp4": FileFacts(10, "x")}, tmp_path,
                                        Recorder([video]), None)
    except AssertionError as exc:
        assert "the host was asked to run" in str(exc) and "outputs/output.mp4" in str(exc)
    else:
        raise AssertionError("a file of the wrong size was trusted")
