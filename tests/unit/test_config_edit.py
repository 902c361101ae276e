"""Editing the config file's hosts in place: comments and layout kept (tomlkit), refused edits write
nothing, the file is replaced whole; a new host's table added after the file's text."""

from __future__ import annotations

import os
import re
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosmos_core.config import load_config
from cosmos_core.config_edit import (
    EditError,
    added_text,
    check_loads,
    edit_host,
    edited_text,
    remove_host,
    removed_text,
)
from cosmos_core.ssh.onboarding import OnboardingError, host_table, parse_new_host, parse_setup

TEXT = '''# my lab's config
[storage]
outputs_dir = "/data/out"   # where the videos go

[[hosts]]
name = "gpu1"   # the big box
hostname = "10.0.0.1"
user = "me"
image = "old:1"

# the second box
[[hosts]]
name = "gpu2"
hostname = "10.0.0.2"
user = "me"
'''


def test_an_edit_changes_only_its_keys_and_keeps_every_comment_and_line():
    text = edited_text(TEXT, "gpu1", {"image": "new:2", "gpus": 4, "models": ["transfer1", "transfer2.5"]})
    added = 'image = "new:2"\ngpus = 4\nmodels = ["transfer1", "transfer2.5"]\n'
    assert text == TEXT.replace('image = "old:1"\n', added)
    assert edited_text(text, "gpu1", {"gpus": None, "image": ""}) == TEXT.replace(
        'image = "old:1"\n', 'models = ["transfer1", "transfer2.5"]\n')  # back to the defaults


def test_run_args_are_edited_as_a_list_and_an_empty_one_puts_the_default_back(tmp_path):
    text = edited_text(TEXT, "gpu2", {"run_args": ["--gpus", "all", "--ipc=host"]})
    assert text == TEXT + 'run_args = ["--gpus", "all", "--ipc=host"]\n'
    path = tmp_path / "cosmos.toml"
    path.write_text(text)
    assert load_config(path).host("gpu2").run_args == ("--gpus", "all", "--ipc=host")
    assert edited_text(text, "gpu2", {"run_args": []}) == TEXT


def test_removing_a_host_keeps_the_others_and_the_comments():
    assert removed_text(TEXT, "gpu2") == TEXT[:TEXT.index('[[hosts]]\nname = "gpu2"')]
    alone = removed_text(removed_text(TEXT, "gpu2"), "gpu1")
    assert "[[hosts]]" not in alone and alone.startswith("# my lab's config\n[storage]\n")


@pytest.mark.parametrize(("edit", "said"), [
    (lambda t: edited_text(t, "gpu9", {"image": "x"}), "no host 'gpu9' in the config file"),
    (lambda t: edited_text(t, "gpu1", {"hostname": "x"}), "hostname is not edited here (edit it in the config file)"),
    (lambda t: removed_text(t, "gpu9"), "no host 'gpu9' in the config file"),
])
def test_what_cannot_be_edited_is_refused_in_one_line(edit, said):
    with pytest.raises(EditError, match=f"^{re.escape(said)}$"):
        edit(TEXT)


def test_an_edit_is_written_whole_and_a_bad_one_writes_nothing(tmp_path):
    path = tmp_path / "cosmos.toml"
    path.write_text(TEXT)
    path.chmod(0o640)
    edit_host(path, "gpu2", {"gpus": 2, "image": "img:3"})
    config = load_config(path)
    assert (config.host("gpu2").gpus, config.host("gpu2").image) == (2, "img:3")
    assert oct(path.stat().st_mode & 0o777) == "0o640" and "# the second box" in path.read_text()
    before = path.read_text()
    with pytest.raises(EditError, match=r"^the config file would not load: .*hosts\[1\]\.gpus.*at least 1"):
        edit_host(path, "gpu2", {"gpus": 0})
    with pytest.raises(EditError, match=r"models"):
        edit_host(path, "gpu2", {"models": ["transfer9"]})
    assert path.read_text() == before and sorted(os.listdir(tmp_path)) == ["cosmos.toml"]  # no scratch file left
    remove_host(path, "gpu1")
    assert [h.name for h in load_config(path).hosts] == ["gpu2"]


def test_add_hosts_settings_are_checked_and_empty_ones_left_to_their_defaults():
    assert parse_setup({"image": " img:2 ", "remote_dir": "", "models": ["transfer2.5"], "gpus": 2.0}) == {
        "image": "img:2", "models": ["transfer2.5"], "gpus": 2}
    assert parse_setup({"image": None, "remote_dir": None, "models": [], "gpus": None, "run_args": " "}) == {}
    assert parse_setup({"run_args": "--gpus all --label 'a b'"}) == {"run_args": ["--gpus", "all", "--label", "a b"]}
    assert parse_setup({"run_args": ["--gpus", "all"]}) == {"run_args": ["--gpus", "all"]}  # as the CLI splits them
    for setup, said in (({"remote_dir": "ct1"}, "checkout: 'ct1' must be an absolute path"),
                        ({"models": ["transfer9"]}, "models: 'transfer9' is not one of"),
                        ({"gpus": 0}, "GPUs: 0 is not a number of GPUs"), ({"image": "-x"}, "image: '-x'"),
                        ({"run_args": "--label 'a"}, "run_args: No closing quotation in")):
        with pytest.raises(OnboardingError, match=f"^{said}"):
            parse_setup(setup)


def test_a_host_added_with_its_settings_has_them_in_its_table():
    host = parse_new_host("gpu3", "h", 22, "u", setup={"image": "img:2", "remote_dir": "/data/ct1",
                                                        "models": ["transfer1", "transfer2.5"], "gpus": 4,
                                                        "run_args": "--gpus all --ipc=host"})
    table = added_text("", host_table(host))
    assert table.splitlines()[-5:] == ['image = "img:2"', 'remote_dir = "/data/ct1"',
                                       'models = ["transfer1", "transfer2.5"]', "gpus = 4",
                                       'run_args = ["--gpus", "all", "--ipc=host"]']


NEW = {"name": "gpu3", "hostname": "10.0.0.3", "port": 2222, "user": "me"}
NEW_TEXT = '# added today\n[[hosts]]\nname = "gpu3"\nhostname = "10.0.0.3"\nport = 2222\nuser = "me"\n'


@pytest.mark.parametrize(("existing", "between"), [
    ("", ""),
    (TEXT, "\n"),  # comments, blank lines, two hosts
    (TEXT + "\n", ""),  # a blank line already
    ('[ui]\nport = 7861  # no newline at the end', "\n\n"),
    ('[[hosts]]\nname = "gpu1"\nhostname = "x"\nuser = "u"\nmodels = ["transfer2.5"]\n'
     '[hosts.model."transfer2.5"]\nimage = "i"', "\n\n"),  # the new host is not one of gpu1's model tables
])  # fmt: skip
def test_a_new_host_goes_after_the_files_text_kept_as_it_was(existing, between):
    text = added_text(existing, NEW, "added today")
    assert text == existing + between + NEW_TEXT
    hosts = check_loads(text).hosts
    assert hosts[-1].name == "gpu3" and (hosts[-1].hostname, hosts[-1].port, hosts[-1].user) == ("10.0.0.3", 2222, "me")
    assert [h.name for h in hosts[:-1]] == [h["name"] for h in tomllib.loads(existing).get("hosts", [])]


def test_a_new_hosts_values_that_need_escapes_load_back_as_given(tmp_path):
    odd = 'a "quoted" \\ word\t\x7f é # not a comment\n[ui]'
    text = added_text(TEXT, NEW | {"key_file": str(tmp_path / 'k"ey\\#1'), "run_args": ["--label", odd]})
    host = check_loads(text).host("gpu3")
    assert host.run_args == ("--label", odd) and host.key_file == tmp_path / 'k"ey\\#1'
    assert text.startswith(TEXT) and text.count("\n[ui]") == 0  # the newline is escaped, not a new table


@given(st.text())
def test_any_string_survives_as_a_new_hosts_value(value):
    assert tomllib.loads(added_text(TEXT, NEW | {"image": value}))["hosts"][-1]["image"] == value
