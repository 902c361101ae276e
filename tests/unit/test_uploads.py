"""Uploaded files kept under outputs_dir/inputs/ by their content (cosmos_core/uploads.py), on real files, and
the API's prompt that keeps its uploads and, refused, keeps none of the copies it made."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cosmos_core import uploads
from cosmos_core.api import CosmosAPI, CosmosError
from cosmos_core.config import load_config
from cosmos_core.uploads import KEPT_INPUTS, keep, kept_files


def _file(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def outputs(tmp_path) -> Path:
    return tmp_path / "outputs"


def test_the_contents_hash_names_the_folder_and_the_copy_keeps_the_name(tmp_path, outputs):
    upload = _file(tmp_path / "gradio" / "a1" / "clip.mp4", b"video bytes")
    kept = keep(outputs, upload)
    digest = hashlib.sha256(b"video bytes").hexdigest()[:16]
    assert kept.created and kept.path == outputs / KEPT_INPUTS / digest / "clip.mp4"
    assert kept.path.read_bytes() == b"video bytes" and upload.is_file()


def test_the_same_content_twice_is_kept_once(tmp_path, outputs):
    first = keep(outputs, _file(tmp_path / "gradio" / "a1" / "clip.mp4", b"same"))
    again = keep(outputs, _file(tmp_path / "gradio" / "b2" / "clip.mp4", b"same"))
    assert again.path == first.path and not again.created
    assert [p for p in (outputs / KEPT_INPUTS).rglob("*") if p.is_file()] == [first.path]


def test_a_file_kept_already_is_its_own_copy(tmp_path, outputs):
    kept = keep(outputs, _file(tmp_path / "clip.mp4", b"v")).path
    assert keep(outputs, kept) == uploads.Kept(kept, created=False)


def test_a_refusal_undoes_only_what_this_call_created(tmp_path, outputs):
    earlier = keep(outputs, _file(tmp_path / "g1" / "video.mp4", b"used by an earlier prompt")).path
    video = _file(tmp_path / "g2" / "video.mp4", b"used by an earlier prompt")
    depth = _file(tmp_path / "g2" / "depth.mp4", b"new depth")
    mine = tmp_path / "mine.mp4"  # a role not asked to be kept: the user's own file
    _file(mine, b"own")
    with pytest.raises(CosmosError, match="refused"), \
            kept_files(outputs, {"video": video, "depth": depth, "seg": mine}, ("video", "depth")) as made:
        raise CosmosError("refused")
    assert made["video"] == earlier and made["depth"] is not None and made["seg"] == mine
    assert earlier.is_file() and mine.is_file()  # kept before this call; not an upload
    assert not made["depth"].exists() and not made["depth"].parent.exists()  # the copy this call made, and its folder


def test_files_not_given_stay_none_and_the_others_become_paths(tmp_path, outputs):
    video = _file(tmp_path / "v.mp4", b"v")
    with kept_files(outputs, {"video": str(video), "depth": None, "seg": ""}, ("depth", "seg")) as kept:
        assert kept == {"video": video, "depth": None, "seg": None}
    assert not (outputs / KEPT_INPUTS).exists()


@pytest.fixture
def api(tmp_path, outputs):
    config = _file(tmp_path / "cosmos.toml",
                   f'[storage]\noutputs_dir = "{outputs}"\ndatabase = "sqlite:///{tmp_path}/c.db"\n'.encode())
    api = CosmosAPI(load_config(config))
    yield api
    api.close()


def test_the_api_stores_a_prompt_with_the_kept_copies_of_its_uploads(tmp_path, outputs, api):
    picked = _file(tmp_path / "used_before.mp4", b"picked")
    depth = _file(tmp_path / "gradio" / "d.mp4", b"depth")
    prompt = api.add_prompt("a red robot", picked, depth=str(depth), keep_copies=("depth", "seg"))
    assert prompt["video"] == str(picked)  # not an upload: stored where it is
    assert Path(prompt["depth"]).read_bytes() == b"depth" and Path(prompt["depth"]).is_relative_to(outputs / "inputs")
    assert api.keep_upload(depth) == Path(prompt["depth"])  # Run again's copy is the same one
    assert api.add_prompt("a red robot", picked, depth=depth, keep_copies=("depth",))["id"] == prompt["id"]


def test_a_prompt_the_api_refuses_keeps_no_copy(tmp_path, outputs, api):
    upload = _file(tmp_path / "gradio" / "v.mp4", b"video")
    with pytest.raises(CosmosError, match="prompt"):
        api.add_prompt("   ", upload, keep_copies=("video",))  # an empty prompt
    assert list((outputs / KEPT_INPUTS).rglob("*")) == []  # neither the copy nor its folder
    with pytest.raises(CosmosError, match="keep_copies takes video, depth and seg, not mask"):
        api.add_prompt("p", upload, keep_copies=("mask",))
