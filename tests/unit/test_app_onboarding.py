"""The page's onboarding as plain data: empty states, what Connect and Trust and add say, the hooks."""

from __future__ import annotations

from app.dashboard import build_app
from app.details import NO_HOST_HINT, NO_RUN, NO_RUNS, empty_states
from app.handlers import Handlers, Query
from app.onboarding import AddHost, added_text, key_prompt
from cosmos_core.api import CosmosError
from tests.unit.app_fakes import FakeAPI

SCANNED = {"name": "gpu9", "hostname": "203.0.113.7", "port": 2222, "user": "ubuntu", "key_file": "~/.ssh/k",
           "known_hosts": "/home/u/.ssh/known_hosts", "key": "ssh-ed25519 AAAA", "key_type": "ssh-ed25519",
           "fingerprint": "SHA256:abc", "trust": "unknown", "config_file": "/work/cosmos.toml"}
REPORT = {"name": "gpu9", "ok": False, "ssh": {"status": "ok", "detail": "host gpu9"},
          "docker": {"status": "ok", "detail": "27.0"}, "image": {"status": "fail", "detail": "img not found"},
          "gpus": {"status": "absent", "detail": "nvidia-smi not found"}}
ADDED = {"name": "gpu9", "config_file": "/work/cosmos.toml", "known_hosts": "/kh", "fingerprint": "SHA256:abc",
         "key_written": True}


def test_empty_states():
    hidden = {"run_shown": False, "run_status": NO_RUN.status}
    assert empty_states(False, 0, hidden) == {"no_host": True, "run_status": NO_HOST_HINT}
    assert empty_states(True, 0, hidden) == {"no_host": False, "run_status": NO_RUNS}
    assert empty_states(True, 3, hidden) == {"no_host": False}  # runs to pick: "Select a run" stays
    assert empty_states(True, 0, {"run_shown": False, "run_status": "❌ no run rs_x"}) == {"no_host": False}


def test_the_view_hides_the_details_until_a_run_is_open(tmp_path):
    handlers = Handlers(FakeAPI(tmp_path))
    closed = handlers.render(Query(), None)
    assert not closed["run_shown"] and closed["run_status"] == NO_RUN.status and not closed["no_host"]
    assert handlers.render(Query(), "rs_1")["run_shown"]


def test_connect_shows_the_key_to_trust_or_says_it_is_trusted():
    prompt = key_prompt(SCANNED)
    assert "`ubuntu@203.0.113.7:2222`" in prompt and "**ssh-ed25519** key `SHA256:abc`" in prompt
    assert "ssh_host_ed25519_key.pub" in prompt and "nothing is written before" in prompt
    known = key_prompt(SCANNED | {"trust": "known"})
    assert "already trusts" in known and "/work/cosmos.toml" in known


def test_the_check_after_adding_is_shown():
    text = added_text(ADDED, REPORT)
    assert "Added **gpu9** to `/work/cosmos.toml` and its key to `/kh`." in text
    assert ("Check: ssh ✅ ok · docker ✅ ok: 27.0 · image ❌ FAILED: img not found · gpus – absent: nvidia-smi not "
            "found") in text
    assert "Not ready yet" in text
    assert "Ready: start a run" in added_text(ADDED | {"key_written": False}, REPORT | {"ok": True})
    down = added_text(ADDED, {"name": "gpu9", "ok": False, "ssh": {"status": "fail", "detail": "refused"}})
    assert "❌ Check: cannot log in: refused" in down


class OnboardingAPI(FakeAPI):
    def scan_host_key(self, **given):
        self._record("scan_host_key", **given)
        if given["name"] == "bad name":
            raise CosmosError("name: 'bad name' must use only letters")
        return SCANNED

    def add_host(self, scanned):
        self._record("add_host", scanned)
        return ADDED


def test_connect_then_trust_call_the_api_and_check_the_host(tmp_path):
    api = OnboardingAPI(tmp_path)
    add = AddHost(Handlers(api))
    assert add.connect("bad name", "h", None, "u", "", "") == ("❌ name: 'bad name' must use only letters", None)
    assert api.called("scan_host_key")[-1][1] == {  # empty fields: ""
        "name": "bad name", "hostname": "h", "port": "", "user": "u", "key_file": "", "known_hosts": "", "setup": {}}
    line, scanned = add.connect("gpu9", "h", "22", "u", "", "", "img:2", "/data/ct1", ["transfer1", "transfer2.5"], 2,
                                "--gpus all --ipc=host")
    assert api.called("scan_host_key")[-1][1]["setup"] == {
        "image": "img:2", "remote_dir": "/data/ct1", "models": ["transfer1", "transfer2.5"], "gpus": 2,
        "run_args": "--gpus all --ipc=host"}  # split by the core (parse_setup)
    assert scanned == SCANNED and "SHA256:abc" in line and not api.called("add_host")  # nothing added yet
    assert add.trust(None).startswith("❌ press Connect first")
    assert "Added **gpu9**" in add.trust(scanned)
    assert api.called("add_host") == [((SCANNED,), {})] and api.called("check_host") == [(("gpu9",), {})]


def test_the_page_has_the_onboarding_hooks(tmp_path):
    config = build_app(FakeAPI(tmp_path)).get_config_file()
    ids = {c["props"].get("elem_id") for c in config["components"]}
    for prefix in ("add-host", "hosts-add-host"):
        assert {f"{prefix}-{part}" for part in ("name", "address", "port", "user", "key-file", "known-hosts",
                                                "image", "remote-dir", "models", "gpus", "run-args",
                                                "connect", "trust", "close", "status")} <= ids
    assert {"no-host", "add-host-open", "run-details"} <= ids
