"""This installation's id: random, kept, shared by every process of the install, never the hostname."""

import socket
import subprocess
import sys

from cosmos_core import install


def test_the_id_is_random_kept_and_per_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "a"))
    install.install_id.cache_clear()
    first = install.install_id()
    install.install_id.cache_clear()
    assert install.install_id() == first and first.startswith("in_") and socket.gethostname() not in first
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "b"))
    install.install_id.cache_clear()
    assert install.install_id() != first  # another install (machine)
    install.install_id.cache_clear()


def test_processes_starting_at_once_agree_on_one_id(tmp_path):
    code = "from cosmos_core.install import install_id; print(install_id())"
    env = {"XDG_STATE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    processes = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env,
                                  cwd=str(install.Path(install.__file__).parents[1])) for _ in range(6)]
    ids = {p.communicate(timeout=30)[0].strip() for p in processes}
    assert len(ids) == 1 and not [p for p in (tmp_path / "cosmos").iterdir() if p.name != "install-id"]
