"""A stand-in GPU host on this machine: a real OpenSSH server and a real
container runtime (podman + runc behind a ``docker`` shim).

Optionally (``start_docker_api()``) the same podman state also serves the
Docker Engine API on a unix socket, and a second shim (``docker_cli_cmd``)
runs the real Docker CLI against it, so the product can be tested with
Docker's own output formats.

Optionally (``cuttable_link()``) the same host is also reached through a
veth pair into a network namespace, whose link a test sets down and up: a
real network cut (see CuttableLink).

The host has GPUs as far as ``nvidia-smi`` tells (a stand-in on the SSH
sessions' PATH and in the image; ``set_gpus()``), and the stand-in model keeps
a record of the GPUs each run held (``gpu_record()``, ``max_concurrent()``).

Everything lives under one temp dir; daemons are started by hand and
stopped by their own PID.  See /work/shared/TESTHOST.md for the facts this
is built on.  Plain Python, no pytest: fixtures live in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import pwd
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

STANDIN_DIR = Path(__file__).resolve().parent / "standin"
SSHD = "/usr/sbin/sshd"
PODMAN = "/usr/bin/podman"
DOCKER_CLI = "/usr/local/bin/docker"  # the real Docker CLI (no engine on this machine)
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
# The product's default run_args minus "--shm-size=8g": podman 4.3 refuses
# --shm-size together with --ipc=host ("cannot set shmsize when running in
# the {host } IPC Namespace"), also through its Docker API; Docker accepts it.
RUN_ARGS = ("--gpus", "all", "--ipc=host")
# Through the Docker API podman ignores containers.conf's netns = "none" and
# puts each container on a bridge: rootful netavark then keeps its IP
# allocations in /run/containers/networks/ipam.db (a fixed path outside the
# temp dir) and a netns per container under /run/netns.  No network keeps
# the two modes alike and the machine clean; the product does not care.
DOCKER_CLI_RUN_ARGS = (*RUN_ARGS, "--network=none")
# The second paragraph of every answer the stand-in prompt upsampler gives (tests/standin/upsampler.sh).
STANDIN_SECOND_PARAGRAPH = "The camera glides slowly, and the light stays soft."
TRANSFER_SCRIPT = "cosmos_transfer1/diffusion/inference/transfer.py"
UPSAMPLER_SCRIPT = "cosmos_transfer1/auxiliary/upsampler/inference/upsampler_pipeline.py"
TRANSFER25_SCRIPT = "examples/inference.py"  # Cosmos-Transfer2.5's entry point
# What the Transfer2.5 container gets on top of run_args: the stand-in, like
# the real model, downloads its checkpoints only with a Hugging Face token.
TRANSFER25_ENV = ("-e", "HF_TOKEN=hf_standin")
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The stand-in model's record of the GPUs each run held, under the checkout
# mounted at /workspace (tests/standin/lib.sh, gpu_record_start).
GPU_RECORD = "cosmos_runs/.standin-gpus.log"
DEFAULT_GPUS = 8  # what nvidia-smi shows (over SSH until set_gpus(), and in the image): a DGX-like node

# The account the product logs in as: uid 0 (podman needs it) under a name of its own, with an empty
# home, so no SSH session runs this machine's shell start-up files (root's ~/.bashrc here runs
# `pyenv rehash`, whose lock file, left behind by a session killed mid-start-up, stalls every later
# session for 60 s). See ensure_standin_account.
STANDIN_USER = "cosmos-standin"
STANDIN_HOME = Path("/var/lib/cosmos-standin")
# A second user of the same machine (the same uid, a name and home of its own), for the GPU queue that
# every user of a machine shares.
OTHER_USER = "cosmos-standin-b"
OTHER_HOME = Path("/var/lib/cosmos-standin-b")
# sshd (LogLevel VERBOSE) writes one such line per exec channel, e.g.
# "Starting session: command for cosmos-standin from 127.0.0.1 port 40000 id 0".
EXEC_SESSION_MARK = "Starting session: command "
# sftp-server -l INFO logs each open, e.g.
# 'open "/path/file" flags WRITE,CREATE,TRUNCATE mode 0644'.
SFTP_OPEN_RE = re.compile(r'^open "(.*)" flags (\S+) mode [0-7]+$')


# The longest pause wait_until makes between two polls of a slow predicate (see there).
SLOW_POLL_PAUSE = 0.5


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; return that value.

    Between two polls it pauses `interval`, or as long as the poll took (up to SLOW_POLL_PAUSE) if
    longer: a predicate that asks the stand-in host (a forced sync, an SSH session and two podman calls,
    takes about 0.35 s, 0.12 s of it CPU) then keeps the machine busy half the time it waits instead of
    all of it, while a cheap one (a file, a database row) is still seen within `interval`."""
    deadline = time.monotonic() + timeout
    while True:
        began = time.monotonic()
        value = predicate()
        if value:
            return value
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(max(interval, min(now - began, SLOW_POLL_PAUSE)))


def make_video(path: str | os.PathLike[str], seconds: float = 2) -> Path:
    """Write a small H.264 (yuv420p, +faststart) mp4 that browsers can play."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    source = f"testsrc=duration={seconds}:size=320x240:rate=25"
    encode = "-c:v libx264 -pix_fmt yuv420p -movflags +faststart".split()
    _run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i", source, *encode, str(out)])
    return out


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("check", True)
    kwargs.setdefault("timeout", 120)
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


def ensure_standin_account(user: str = STANDIN_USER, home: Path = STANDIN_HOME) -> str:
    """Create the account ``user`` once per machine (kept after: the next test run finds it); its name.

    ``useradd -o -u 0`` shares root's uid under another name; the password field ``*`` (useradd
    leaves ``!``) keeps key logins open, since sshd with ``UsePAM no`` refuses a locked account.
    Two test processes may race here: whichever useradd loses, the account is there after.
    """
    home.mkdir(mode=0o755, exist_ok=True)
    if _account(user) is None:
        _run(["useradd", "-o", "-u", "0", "-g", "0", "-M", "-d", str(home), "-s", "/bin/bash", user], check=False)
        _run(["usermod", "-p", "*", user])
    account = _account(user)
    if account is None or account.pw_uid != 0 or account.pw_dir != str(home):
        raise RuntimeError(f"account {user} is not uid 0 with home {home}: {account}")
    dotfiles = [p.name for p in home.iterdir() if p.name.startswith(".")]
    if dotfiles:
        raise RuntimeError(f"{home} must stay empty of start-up files, has {dotfiles}")
    return user


def _account(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _children_by_parent() -> dict[int, list[int]]:
    """Map ppid -> [pid] for every live process, read from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after it.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int) -> set[int]:
    tree = _children_by_parent()
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    """Stop a process a test started, by its own handle: SIGTERM (so that it may clean up), then SIGKILL if
    it has not exited within `timeout`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def kill_tree(pid: int) -> set[int]:
    """SIGKILL a process and all its descendants; return their PIDs.

    The tree is frozen with SIGSTOP first so that nothing forks away or gets
    reparented (sshd's per-connection children call setsid(), so a process
    group kill would miss them).
    """
    frozen = {pid}
    _signal(pid, signal.SIGSTOP)
    while new := _descendants(pid) - frozen:
        for child in new:
            _signal(child, signal.SIGSTOP)
        frozen |= new
    for victim in frozen:
        _signal(victim, signal.SIGKILL)
    return frozen


def processes_mentioning(text: str) -> list[int]:
    """PIDs of live processes whose command line contains ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline:
            found.append(int(entry))
    return found


def _gone(pid: int) -> bool:
    """True once a PID has exited (a zombie counts: it only awaits reaping)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


class TestHost:
    """A started stand-in GPU host: sshd on loopback, podman, a test image.

    Use as ``with TestHost() as host: ...`` or call start()/stop().
    """

    __test__ = False  # not a pytest test class

    hostname = "127.0.0.1"
    user = STANDIN_USER

    def __init__(self, image: str = "cosmos-transfer1:test") -> None:
        self.image = image
        self.port = 0
        self.root = Path()
        self.host_key_fingerprint = ""
        self._sshd: subprocess.Popen[bytes] | None = None
        self._docker_api: subprocess.Popen[bytes] | None = None
        self._netns = ""
        self.timings: dict[str, float] = {}

    # ----------------------------------------------------------- paths
    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    @property
    def key_file(self) -> str:
        """The client's ed25519 private key (authorised for STANDIN_USER)."""
        return str(self.ssh_dir / "id_ed25519")

    @property
    def known_hosts(self) -> str:
        return str(self.ssh_dir / "known_hosts")

    @property
    def sshd_log(self) -> Path:
        return self.ssh_dir / "sshd.log"

    @property
    def sshd_pid(self) -> int | None:
        return self._sshd.pid if self._sshd and self._sshd.poll() is None else None

    @property
    def remote_dir(self) -> str:
        """The cosmos-transfer1 checkout on the 'GPU host' (mounted at /workspace)."""
        return str(self.root / "gpu-host" / "cosmos-transfer1")

    @property
    def remote_dir_25(self) -> str:
        """The cosmos-transfer2.5 checkout on the 'GPU host' (no checkpoints dir:
        the real one downloads them from Hugging Face)."""
        return str(self.root / "gpu-host" / "cosmos-transfer2.5")

    @property
    def podman_dir(self) -> Path:
        return self.root / "podman"

    @property
    def queue_dir(self) -> str:
        """This host's GPU queue directory, as its config gives it (the default one is the machine's)."""
        return str(self.root / "gpu-host" / "gpu-queue")

    @property
    def gpu_use_file(self) -> Path:
        """Other users' processes on the host's GPUs (see set_gpu_use)."""
        return self.root / "gpu" / "use"

    @property
    def gpu_count_file(self) -> Path:
        """How many GPUs the host's ``nvidia-smi`` shows (a number; see set_gpus)."""
        return self.root / "gpu" / "count"

    @property
    def docker_cmd(self) -> str:
        """Absolute path of the 3-line ``docker`` shim (podman, private state)."""
        return str(self.root / "bin" / "docker")

    @property
    def docker_api_dir(self) -> Path:
        return self.root / "docker-api"

    @property
    def docker_api_socket(self) -> Path:
        """The podman service's Docker API socket (see start_docker_api)."""
        return self.docker_api_dir / "docker.sock"

    @property
    def docker_api_pid(self) -> int | None:
        api = self._docker_api
        return api.pid if api and api.poll() is None else None

    @property
    def docker_api_netns(self) -> str:
        """The network namespace the podman service runs in ("" when stopped)."""
        return self._netns

    @property
    def docker_cli_cmd(self) -> str:
        """Absolute path of the shim that runs the real Docker CLI against the
        podman service (same containers and image as ``docker_cmd``).  Written
        by start_docker_api(); while the service is stopped it fails as
        Docker's CLI does with no daemon."""
        return str(self.docker_api_dir / "docker")

    # ------------------------------------------------------- lifecycle
    def start(self) -> Self:
        if self.root != Path():
            raise RuntimeError("TestHost already started")
        # Short path: podman puts unix sockets (108-byte limit) under it.
        self.root = Path(tempfile.mkdtemp(prefix="th-", dir="/tmp"))
        try:
            self._make_remote_dir()
            self._setup_podman()
            self._setup_gpus()
            self._timed("image_build", self._build_image)
            self._setup_ssh()
            self._timed("sshd_start", self.start_sshd)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop sshd and the Docker API, remove every container, delete the temp dir."""
        if self.root == Path():
            return
        self.stop_sshd()
        self.stop_docker_api()
        if Path(self.docker_cmd).exists():
            try:
                self.docker("rm", "--force", "--all", "--time", "0", check=False, timeout=60)
            except subprocess.TimeoutExpired:
                pass  # unmount and delete anyway
        # A killed container's conmon runs `podman container cleanup` after rm
        # has returned; started after the rmtree below, it would recreate
        # podman/ and bind-mount storage/overlay again.  Both name the temp dir.
        try:
            wait_until(lambda: not processes_mentioning(f"{self.root}/"), 15, "conmon and its cleanup to exit", 0.05)
        except TimeoutError:
            pass  # unmount and delete anyway
        self._unmount_all()
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = Path()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _timed(self, name: str, step: Callable[[], None]) -> None:
        began = time.monotonic()
        step()
        self.timings[name] = time.monotonic() - began

    # ------------------------------------------------------ remote dir
    def _make_remote_dir(self) -> None:
        _write_checkout(Path(self.remote_dir), TRANSFER_SCRIPT, UPSAMPLER_SCRIPT)
        _write_checkout(Path(self.remote_dir_25), TRANSFER25_SCRIPT, checkpoints=False)

    def other_checkout(self, name: str) -> str:
        """A second cosmos-transfer1 checkout on the host (with checkpoints/), beside remote_dir and
        named `name`: a host entry whose `remote_dir` is not the default one. Made once, then reused."""
        path = Path(self.remote_dir).with_name(name)
        if not path.exists():
            _write_checkout(path, TRANSFER_SCRIPT, UPSAMPLER_SCRIPT)
        return str(path)

    def tag_image(self, name: str) -> str:
        """The test image under a second name as well (`docker tag`); that name."""
        self.docker("tag", self.image, name)
        return name

    # ---------------------------------------------------------- podman
    def _setup_podman(self) -> None:
        state = self.podman_dir
        for sub in ("run", "storage", "tmp"):
            (state / sub).mkdir(parents=True)
        (state / "containers.conf").write_text(
            "[containers]\n"
            'netns = "none"\n'
            'default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]\n'
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{state}/events.log"\n'
            f'tmp_dir = "{state}/tmp"\n'
        )
        (state / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\nrunroot = "{state}/run"\ngraphroot = "{state}/storage"\n'
        )
        shim = Path(self.docker_cmd)
        shim.parent.mkdir()
        slow = shlex.quote(str(self._slow_file))
        # The directory, not the file: set_gpu_use replaces the file, which a file's bind mount would not see.
        use_dir = shlex.quote(str(self.gpu_use_file.parent))
        use_inside = f"/run/standin-gpu/{self.gpu_use_file.name}"
        shim.write_text(
            "#!/bin/bash\n"
            # A slow daemon (see slow_docker): "SECONDS COMMAND..." in the file delays those commands
            # of SSH sessions (the product's), never this machine's own calls (the tests' checks).
            f'if [ -n "${{SSH_CONNECTION:-}}" ] && read -r secs cmds 2>/dev/null < {slow}; then\n'
            '  case " $cmds " in *" $1 "*|" all ") sleep "$secs" ;; esac\n'
            "fi\n"
            f"export CONTAINERS_CONF={shlex.quote(str(state / 'containers.conf'))}"
            f" CONTAINERS_STORAGE_CONF={shlex.quote(str(state / 'storage.conf'))}\n"
            # The NVIDIA toolkit's part, as far as the stand-in nvidia-smi needs it: a container given
            # `--gpus "device=2,3"` sees the machine's GPUs 2 and 3 alone, and every container sees the
            # machine's other processes on its GPUs (set_gpu_use).
            '[ "${1:-}" = run ] || exec ' + PODMAN + ' "$@"\n'
            "shift\n"
            f"extra=(-v {use_dir}:/run/standin-gpu:ro -e STANDIN_GPU_USE={use_inside})\n"
            "prev= gpus=\n"
            'for arg in "$@"; do\n'
            '  [ "$prev" = --gpus ] && gpus=$arg\n'
            '  case $arg in --gpus=*) gpus=${arg#--gpus=} ;; esac\n'
            "  prev=$arg\n"
            "done\n"
            'gpus=${gpus//\\"/}\n'
            'case $gpus in device=*) extra+=(-e "STANDIN_GPU_IDS=${gpus#device=}") ;; esac\n'
            f'exec {PODMAN} run "${{extra[@]}}" "$@"\n'
        )
        shim.chmod(0o755)
        self._record_tail_calls()

    def _record_tail_calls(self) -> None:
        """``tail`` next to the docker shim (first on the SSH sessions' PATH): the real one, each call's
        arguments appended to a file first (see tail_offsets)."""
        shim = Path(self.docker_cmd).with_name("tail")
        shim.write_text(
            "#!/bin/sh\n"
            f'printf "%s\\n" "$*" >> {shlex.quote(str(self.root / "tail-calls.log"))}\n'
            'exec /usr/bin/tail "$@"\n'
        )
        shim.chmod(0o755)

    @contextmanager
    def tool(self, name: str, script: str) -> Iterator[None]:
        """Until the block ends, `name` in the host's SSH sessions is this shell script (first on their
        PATH, next to the docker shim): a host whose tool misbehaves in a way the test chooses."""
        path = Path(self.docker_cmd).with_name(name)
        path.write_text(f"#!/bin/sh\n{script}\n")
        path.chmod(0o755)
        try:
            yield
        finally:
            path.unlink()

    def input_parts(self) -> dict[Path, int]:
        """The inputs being uploaded into the host's store (see ssh_files._upload_input): part file -> size."""
        parts = (Path(self.remote_dir) / "cosmos_runs" / ".inputs").glob("*.part")
        return {part: size for part in parts if (size := _size_or_none(part)) is not None}

    def tail_offsets(self, path_substring: str) -> list[int]:
        """The byte offsets (counted from 0) from which `tail -c +N` read files whose path contains
        the substring, in call order: the host's view of where each download (re)started."""
        try:
            calls = (self.root / "tail-calls.log").read_text().splitlines()
        except FileNotFoundError:
            return []
        matches = (re.match(r"-c \+(\d+) -- (.*)$", call) for call in calls)
        return [int(m.group(1)) - 1 for m in matches if m and path_substring in m.group(2)]

    @property
    def _slow_file(self) -> Path:
        return self.root / "bin" / "docker-slow"

    @contextmanager
    def slow_docker(self, seconds: float, *commands: str) -> Iterator[None]:
        """A slow Docker daemon: while inside, each docker command run over SSH whose first argument is
        one of `commands` ("inspect", "ps", ...; none: every command) first waits `seconds`."""
        self._slow_file.write_text(f"{seconds} {' '.join(commands) or 'all'}\n")
        try:
            yield
        finally:
            self._slow_file.unlink(missing_ok=True)

    def docker(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the docker shim locally (same podman state as SSH sessions)."""
        return _run([self.docker_cmd, *args], check=check, timeout=timeout)

    def run_images(self, run_id: str) -> list[str]:
        """The images the run's containers were created from, as podman names them, read from its events
        log (the container itself may be gone: the product removes it once the run is done)."""
        events = (json.loads(line) for line in (self.podman_dir / "events.log").read_text().splitlines() if line)
        return [event["Image"] for event in events if event.get("Status") == "create"
                and event.get("Attributes", {}).get("cosmos.run_id") == run_id]

    def remove_run_containers(self) -> None:
        """Remove every Docker-executor run's container a test left behind: the host outlives the
        tests and has one GPU queue, where a run left running would hold a slot that the next test's
        runs wait for. A Slurm job's container (`--rm`) is Slurm's: a module's job may outlive a test."""
        left = self.docker("ps", "-aq", "--filter", "label=cosmos.run_id").stdout.split()
        if not left:
            return
        facts = self.docker("inspect", "--format", "{{.Id}} {{.HostConfig.AutoRemove}}", *left, check=False)
        kept = [words[0] for words in map(str.split, facts.stdout.splitlines()) if words[1:] == ["false"]]
        if kept:
            self.docker("rm", "--force", "--time", "0", *kept, check=False)

    # ------------------------------------------------------------ GPUs
    def _setup_gpus(self) -> None:
        """``nvidia-smi`` next to the docker shim (first on the SSH sessions' PATH): the
        stand-in (tests/standin/nvidia-smi) counting the GPUs in gpu_count_file."""
        gpu_dir = self.gpu_count_file.parent
        gpu_dir.mkdir()
        script = gpu_dir / "nvidia-smi"
        shutil.copy(STANDIN_DIR / "nvidia-smi", script)
        script.chmod(0o755)
        self.set_gpus(DEFAULT_GPUS)
        wrapper = Path(self.docker_cmd).parent / "nvidia-smi"
        self.set_gpu_use({})
        wrapper.write_text(
            "#!/bin/sh\n"
            f"export STANDIN_GPUS_FILE={shlex.quote(str(self.gpu_count_file))}"
            f" STANDIN_GPU_USE={shlex.quote(str(self.gpu_use_file))}\n"
            f'exec /bin/bash {shlex.quote(str(script))} "$@"\n'
        )
        wrapper.chmod(0o755)

    def set_gpu_use(self, processes: dict[int, tuple[int, int, str]]) -> None:
        """From now on the host's GPUs run these processes of another user, outside the product:
        machine GPU index -> (MiB in use, pid, process name), as nvidia-smi shows them."""
        lines = "".join(f"{gpu} {mib} {pid} {name}\n" for gpu, (mib, pid, name) in processes.items())
        staged = self.gpu_use_file.with_suffix(".new")
        staged.write_text(lines)
        staged.replace(self.gpu_use_file)

    def set_gpus(self, count: int) -> None:
        """From now on the host's ``nvidia-smi`` shows ``count`` GPUs (0: "No devices were found")."""
        if count < 0:
            raise ValueError(f"a GPU count cannot be negative: {count}")
        staged = self.gpu_count_file.with_name("count.new")
        staged.write_text(f"{count}\n")
        staged.replace(self.gpu_count_file)  # atomic: nvidia-smi never reads a half-written file

    def gpu_record(self, remote_dir: str | None = None) -> list[tuple[str, str, str, float]]:
        """The stand-in model's record of the GPUs its runs held, in file order:
        ``(kind, run_dir, devices, time)`` per line of ``<remote_dir>/cosmos_runs/.standin-gpus.log``
        (``remote_dir`` defaults to the Transfer1 checkout).

        ``kind`` is "start" (the entry point begins) or "end" (it exits: normally, by an
        error or by SIGTERM/SIGINT; not when SIGKILLed); ``run_dir`` the run's dir relative
        to the checkout (``cosmos_runs/<id>`` for the product's runs); ``devices`` its
        CUDA_VISIBLE_DEVICES ("-" if unset or empty); ``time`` epoch seconds (microseconds).
        Lines that do not parse (none expected) are skipped; no file: [].
        """
        path = Path(remote_dir or self.remote_dir) / GPU_RECORD
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return parse_gpu_record(text)

    # ------------------------------------------- Docker API + real CLI
    def start_docker_api(self) -> Self:
        """Serve the Docker Engine API from the podman state (no-op if running).

        ``podman system service`` runs in a network namespace of its own
        (``ip netns add``) with the podman shim's containers.conf and
        storage.conf; ``docker_cli_cmd`` then runs the real Docker CLI with
        ``DOCKER_HOST`` pointing at its socket.  stop_docker_api() (or stop())
        ends it by its PID and deletes the namespace.
        """
        if self.root == Path():
            raise RuntimeError("start the TestHost first")
        if self.docker_api_pid is not None:
            return self
        if self._docker_api is not None:
            self.stop_docker_api()  # it died: clean up before starting again
        began = time.monotonic()
        api_dir = self.docker_api_dir
        (api_dir / "config").mkdir(parents=True, exist_ok=True)
        netns = f"th-{self.root.name.removeprefix('th-')}"
        _run(["ip", "netns", "add", netns])
        self._netns = netns  # only once it is ours to delete
        try:
            self._start_docker_service()
        except BaseException:
            self.stop_docker_api()
            raise
        shim = Path(self.docker_cli_cmd)
        shim.write_text(
            "#!/bin/sh\n"
            f"export DOCKER_HOST={shlex.quote(f'unix://{self.docker_api_socket}')}"
            f" DOCKER_CONFIG={shlex.quote(str(api_dir / 'config'))}\n"
            f'exec {DOCKER_CLI} "$@"\n'
        )
        shim.chmod(0o755)
        self.timings["docker_api_start"] = time.monotonic() - began
        return self

    def _start_docker_service(self) -> None:
        state = self.podman_dir
        env = {
            **os.environ,
            "CONTAINERS_CONF": str(state / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(state / "storage.conf"),
        }
        log_path = self.docker_api_dir / "service.log"
        sock = self.docker_api_socket
        with open(log_path, "ab") as log:
            # nsenter execs podman: the PID we keep is the service's own.
            self._docker_api = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{self._netns}", PODMAN, "system", "service", "--time=0",
                 f"unix://{sock}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            )  # fmt: skip

        def accepts() -> bool:
            if self._docker_api is not None and self._docker_api.poll() is not None:
                raise RuntimeError(f"podman system service exited: {log_path.read_text(errors='replace')}")
            with socket.socket(socket.AF_UNIX) as probe:
                try:
                    probe.connect(str(sock))
                except (FileNotFoundError, ConnectionRefusedError):
                    return False
            return True

        wait_until(accepts, 10, "the podman Docker API socket")

    def stop_docker_api(self) -> None:
        """Stop the podman service by its PID and delete its network namespace.

        Containers it started keep running (their conmon is not its child);
        stop() removes them with the rest.  The CLI shim stays.
        """
        api, self._docker_api = self._docker_api, None
        if api is not None:
            stop_process(api, timeout=10)
        if self._netns:
            _run(["ip", "netns", "delete", self._netns], check=False)
            self._netns = ""

    def docker_cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the real Docker CLI locally against the podman service."""
        return _run([self.docker_cli_cmd, *args], check=check, timeout=timeout)

    def _build_image(self) -> None:
        build = self.root / "build"
        rootfs = build / "rootfs"
        _populate_rootfs(rootfs)
        tarball = build / "rootfs.tar"
        with tarfile.open(tarball, "w") as tar:
            tar.add(rootfs, arcname=".")
        self.docker(
            "import",
            "--change",
            'CMD ["/bin/sh"]',
            "--change",
            f"ENV PATH={IMAGE_PATH}",
            str(tarball),
            self.image,
        )
        shutil.rmtree(build)

    def _unmount_all(self) -> None:
        """Lazily unmount anything podman left mounted under the temp dir."""
        prefix = str(self.root) + "/"
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        for point in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
            _run(["umount", "-l", point], check=False)

    # ------------------------------------------------------------- ssh
    def _setup_ssh(self) -> None:
        ssh = self.ssh_dir
        ssh.mkdir()
        ensure_standin_account()
        ensure_standin_account(OTHER_USER, OTHER_HOME)
        host_key = ssh / "ssh_host_ed25519_key"
        for key, comment in ((host_key, "testhost"), (Path(self.key_file), "testclient")):
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)])
        shutil.copy(f"{self.key_file}.pub", ssh / "authorized_keys")
        self.port = free_port()
        self.trust(self.hostname, self.port)
        listing = _run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{host_key}.pub"])
        self.host_key_fingerprint = listing.stdout.split()[1]
        Path("/run/sshd").mkdir(exist_ok=True)
        self.write_sshd_config(ssh / "sshd_config", self.hostname, self.port, ssh / "sshd.pid")

    def trust(self, address: str, port: int) -> None:
        """Add the host key at ``address:port`` to ``known_hosts`` (the product checks it strictly)."""
        key_type, key_b64 = Path(f"{self.ssh_dir / 'ssh_host_ed25519_key'}.pub").read_text().split()[:2]
        name = address if port == 22 else f"[{address}]:{port}"  # OpenSSH's known_hosts form
        with open(self.known_hosts, "a") as known:
            known.write(f"{name} {key_type} {key_b64}\n")

    def write_sshd_config(self, config: Path, address: str, port: int, pid_file: Path) -> None:
        """An sshd config for this host (its keys, shim, log) listening on ``address:port``; validated."""
        config.write_text(self._sshd_config(address, port, pid_file))
        _run([SSHD, "-t", "-f", str(config)])

    def _sshd_config(self, address: str, port: int, pid_file: Path) -> str:
        ssh = self.ssh_dir
        path = f"{Path(self.docker_cmd).parent}:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
        return "\n".join(
            [
                f"Port {port}",
                f"ListenAddress {address}",
                f"HostKey {ssh / 'ssh_host_ed25519_key'}",
                f"PidFile {pid_file}",
                f"AuthorizedKeysFile {ssh / 'authorized_keys'}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "PermitRootLogin prohibit-password",
                f"AllowUsers {STANDIN_USER} {OTHER_USER}",  # never root (this machine's pyenv fills its start-up)
                "StrictModes no",
                "PrintMotd no",
                "LogLevel VERBOSE",
                # internal-sftp can only log to syslog (there is none here), so
                # run the real sftp-server with its log appended to ours.
                f"Subsystem sftp {SFTP_SERVER} -e -l INFO 2>>{self.sshd_log}",
                "MaxStartups 100:30:200",
                "MaxSessions 50",
                f"SetEnv PATH={path}",
                "",
            ]
        )

    def start_sshd(self) -> None:
        """Start sshd (same port and keys as before) and wait until it listens."""
        if self.sshd_pid is not None:
            raise RuntimeError("sshd is already running")
        self._sshd = self.launch_sshd(self.ssh_dir / "sshd_config", self.hostname, self.port)

    def launch_sshd(self, config: Path, address: str, port: int, prefix: Sequence[str] = (),
                    log_file: Path | None = None) -> subprocess.Popen[bytes]:
        """Start ``prefix sshd -D -f config`` (its log appended to ``log_file``, default ours) and
        wait until it listens on ``address:port``; the Popen's PID is sshd's own (``prefix`` must exec)."""
        log_file = log_file or self.sshd_log
        offset = log_file.stat().st_size if log_file.exists() else 0
        with open(log_file, "ab") as log:
            sshd = subprocess.Popen(
                [*prefix, SSHD, "-D", "-f", str(config), "-E", str(log_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        listening = f"Server listening on {address} port {port}.".encode()

        def ready() -> bool:
            # Byte offsets: sshd ends its lines with \r\n, text mode drops the \r.
            new_lines = log_file.read_bytes()[offset:]
            if sshd.poll() is not None:
                raise RuntimeError(f"sshd exited: {new_lines.decode(errors='replace')}")
            return listening in new_lines

        try:
            wait_until(ready, 10, "sshd to listen")
        except BaseException:
            kill_tree(sshd.pid)
            sshd.wait(timeout=10)
            raise
        return sshd

    def stop_sshd(self) -> None:
        """Kill sshd by its PID, with every connection and command it spawned.

        Running containers survive (conmon is not an sshd descendant), as on a
        real host whose SSH daemon died.
        """
        if self._sshd is None:
            return
        listener = self._sshd.pid
        killed = kill_tree(listener) if self._sshd.poll() is None else set()
        self._sshd.wait(timeout=10)
        self._sshd = None
        # The killed sessions are orphans now: PID 1 here reaps them only
        # about every 2 s, so `ps` may briefly list them as <defunct>.
        wait_until(lambda: all(_gone(pid) for pid in killed), 5, "sshd sessions to die")

    def sshd_log_text(self) -> str:
        """The sshd + sftp-server log so far, with \n line ends."""
        try:
            return self.sshd_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def count_exec_sessions(self) -> int:
        """Exec channels opened so far (each paramiko exec_command is one)."""
        return self.sshd_log_text().count(EXEC_SESSION_MARK)

    def count_sftp_opens(self, path_substring: str, flag: str | None = None) -> int:
        """SFTP file opens so far of paths containing the substring.

        ``flag`` ("READ", "WRITE", "APPEND", ...) counts only opens with it.
        """
        count = 0
        for line in self.sshd_log_text().splitlines():
            match = SFTP_OPEN_RE.match(line)
            if not match or path_substring not in match.group(1):
                continue
            if flag is None or flag in match.group(2).split(","):
                count += 1
        return count

    @contextmanager
    def cuttable_link(self) -> Iterator[CuttableLink]:
        """This host's SSH through a link the test can cut (see CuttableLink); removed on exit."""
        link = CuttableLink(self).start()
        try:
            yield link
        finally:
            link.stop()

    # ------------------------------------------------------- clients
    def connect(self, **kwargs: Any) -> Any:
        """A paramiko SSHClient logged in with strict host key checking."""
        import paramiko

        client = paramiko.SSHClient()
        client.load_host_keys(self.known_hosts)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        options: dict[str, Any] = {
            "port": self.port,
            "username": self.user,
            "key_filename": self.key_file,
            "look_for_keys": False,
            "allow_agent": False,
            "timeout": 10,
        }
        options.update(kwargs)
        client.connect(self.hostname, **options)
        return client

    def ssh_run(self, command: str | Sequence[str], timeout: float = 60,
                **connect: Any) -> subprocess.CompletedProcess[str]:
        """Run one command over SSH (one exec session); a list is shell-quoted. `connect`: options of
        `connect` (say, the port of another sshd of this host)."""
        text = command if isinstance(command, str) else shlex.join(command)
        client = self.connect(**connect)
        try:
            _, out, err = client.exec_command(text, timeout=timeout)
            stdout = out.read().decode(errors="replace")
            stderr = err.read().decode(errors="replace")
            code = out.channel.recv_exit_status()
        finally:
            client.close()
        return subprocess.CompletedProcess(text, code, stdout, stderr)

    def container_argv(
        self,
        *args: str,
        detach: bool = False,
        remote_dir: str | None = None,
        env: dict[str, str] | None = None,
    ) -> list[str]:
        """``docker run`` of the test image with a checkout at /workspace.

        ``remote_dir`` defaults to the Transfer1 checkout (``remote_dir_25``
        for Transfer2.5); ``env`` adds ``-e NAME=VALUE`` options.
        """
        mode = ["-d"] if detach else ["--rm"]
        env_args = [word for key, value in (env or {}).items() for word in ("-e", f"{key}={value}")]
        return [
            self.docker_cmd,
            "run",
            *mode,
            *RUN_ARGS,
            *env_args,
            "-v",
            f"{remote_dir or self.remote_dir}:/workspace",
            "-w",
            "/workspace",
            self.image,
            *args,
        ]

    def host_config_toml(
        self,
        name: str = "gpu1",
        docker_cli: bool = False,
        models: Sequence[str] = ("transfer1",),
        link: CuttableLink | None = None,
        gpus: int | None = None,
        remote_dir: str | None = None,
        run_args: Sequence[str] | None = None,
        machine_queue: bool = False,
        user: str | None = None,
    ) -> str:
        """A ``[[hosts]]`` block for the product's config file.

        ``gpus``: the host's GPU slots (its runs then queue for them). The host's GPU queue is its own
        (``queue_dir``), unless ``machine_queue``: then the product's default, the one of this machine.
        ``remote_dir``, ``run_args``, ``user``: other than the host's checkout, the stand-in's run args
        and its account (OTHER_USER is the machine's second user).

        ``docker_cli=True``: the host's ``docker`` is the real Docker CLI
        (``docker_cli_cmd``; call start_docker_api() first).  ``link``: the
        host is reached through that cuttable link (its address and gated
        docker shim).  ``models`` other
        than the default adds ``models = [...]`` and, with "transfer2.5", a
        ``[hosts.model."transfer2.5"]`` table: the same test image, its own
        checkout (``remote_dir_25``) and run_args that pass the stand-in a
        Hugging Face token.
        """

        def q(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

        def q_list(values: Sequence[str]) -> str:
            return "[" + ", ".join(q(value) for value in values) + "]"

        base_args = run_args or (DOCKER_CLI_RUN_ARGS if docker_cli else RUN_ARGS)
        extra: list[str] = [f"gpus = {gpus}"] if gpus else []
        if not machine_queue:
            extra.append(f"queue_dir = {q(self.queue_dir)}")
        if tuple(models) != ("transfer1",):
            extra.append(f"models = {q_list(models)}")
        if "transfer2.5" in models:
            extra += [
                "",
                '[hosts.model."transfer2.5"]',
                f"image = {q(self.image)}",  # one test image plays both models
                f"remote_dir = {q(self.remote_dir_25)}",
                f"run_args = {q_list((*base_args, *TRANSFER25_ENV))}",
            ]
        return "\n".join(
            [
                "[[hosts]]",
                f"name = {q(name)}",
                f"hostname = {q(link.address if link else self.hostname)}",
                f"port = {link.port if link else self.port}",
                f"user = {q(user or self.user)}",
                f"key_file = {q(self.key_file)}",
                f"known_hosts = {q(self.known_hosts)}",
                f"remote_dir = {q(remote_dir or self.remote_dir)}",
                f"image = {q(self.image)}",
                f"docker = {q(link.docker_cmd if link else self.docker_cli_cmd if docker_cli else self.docker_cmd)}",
                f"run_args = {q_list(base_args)}",
                "num_gpus = 1",
                *extra,
                "",
            ]
        )


class CuttableLink:
    """The stand-in host's SSH, reached through a network link a test can cut.

    A network namespace of our own (``ip netns add``) holds one end of a veth
    pair and a second sshd of the same host (same keys, podman state,
    checkouts and log), listening on the namespace's address; the other end
    stays here, and the two ends share a /30 of 10.200.0.0/16 that no
    interface here uses::

        product  10.200.A.B+1 [thlXXXXXXXXh] ===veth=== [thlXXXXXXXXn] 10.200.A.B+2:22  sshd

    ``down()`` sets the namespace's end down: packets stop and no socket is
    closed, so a connection is left half-open (a command or SFTP read in
    flight hears nothing until its own timeout); a new connect fails with "No
    route to host" after about 3 s of unanswered ARP.  ``up()`` restores it.

    sshd is started with ``nsenter --net=`` (not ``ip netns exec``, which also
    remounts /sys in a mount namespace of its own: podman, run in its sessions,
    needs the real cgroup tree); containers have no network (``netns =
    "none"``), so only SSH crosses the link.

    ``docker_cmd`` is the host's docker shim behind a gate: between
    ``hold_docker()`` and ``release_docker()`` every docker command over the
    link waits on the host, so a test can cut the link while a probe runs.

    ``stop()`` (also on failure) kills this sshd with its sessions and deletes
    the veth pair and the namespace.  The pair is deleted by name because a
    namespace outlives ``ip netns delete`` while anything refers to it (a
    socket in TIME_WAIT, a conmon started through the link), and its veth end
    with it.
    """

    __test__ = False
    port = 22  # nothing else listens in the namespace

    def __init__(self, host: TestHost) -> None:
        self.host = host
        tag = host.root.name.removeprefix("th-")  # unique among live test hosts; names stay within 15 bytes
        self.netns = f"thl-{tag}"
        self.outer_dev, self.inner_dev = f"thl{tag}h", f"thl{tag}n"
        self.dir = host.root / "link"
        self.address = ""
        self._sshd: subprocess.Popen[bytes] | None = None

    @property
    def docker_cmd(self) -> str:
        return str(self.dir / "docker")

    @property
    def sshd_pid(self) -> int | None:
        return self._sshd.pid if self._sshd and self._sshd.poll() is None else None

    @property
    def _gate(self) -> Path:
        return self.dir / "gate"

    @property
    def _waiting(self) -> Path:
        return self.dir / "waiting"

    def start(self) -> Self:
        try:
            self._make_link()
            self._write_gated_shim()
            config = self.dir / "sshd_config"
            self.host.write_sshd_config(config, self.address, self.port, self.dir / "sshd.pid")
            self.host.trust(self.address, self.port)
            self._sshd = self.host.launch_sshd(
                config, self.address, self.port, prefix=("nsenter", f"--net=/run/netns/{self.netns}")
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        sshd, self._sshd = self._sshd, None
        if sshd is not None:
            kill_tree(sshd.pid)
            sshd.wait(timeout=10)
        self.release_docker()
        _run(["ip", "link", "delete", self.outer_dev], check=False)
        _run(["ip", "netns", "delete", self.netns], check=False)

    def down(self) -> None:
        _run(["ip", "-n", self.netns, "link", "set", self.inner_dev, "down"])

    def up(self) -> None:
        _run(["ip", "-n", self.netns, "link", "set", self.inner_dev, "up"])

    def shape(self, rate: str = "1000mbit") -> None:
        """Limit what the host sends (the downloads' direction) to `rate`, as a real link of that
        speed would: a token bucket on the namespace's end of the pair."""
        _run(["tc", "-n", self.netns, "qdisc", "replace", "dev", self.inner_dev, "root",
              "tbf", "rate", rate, "burst", "1mb", "latency", "50ms"])  # fmt: skip

    def hold_docker(self) -> None:
        """From now on docker commands over the link wait on the host (see release_docker)."""
        self._waiting.unlink(missing_ok=True)
        self._gate.touch()

    def wait_docker_held(self, timeout: float = 30) -> None:
        """Return once a docker command waits at the gate."""
        wait_until(self._waiting.exists, timeout, "a docker command to reach the gate")

    def release_docker(self) -> None:
        self._gate.unlink(missing_ok=True)

    def _make_link(self) -> None:
        self.dir.mkdir(exist_ok=True)
        outer, self.address = _unused_pair()
        _run(["ip", "netns", "add", self.netns])
        _run(["ip", "link", "add", self.outer_dev, "type", "veth", "peer", "name", self.inner_dev, "netns", self.netns])
        _run(["ip", "addr", "add", f"{outer}/30", "dev", self.outer_dev])
        _run(["ip", "-n", self.netns, "addr", "add", f"{self.address}/30", "dev", self.inner_dev])
        _run(["ip", "link", "set", self.outer_dev, "up"])
        self.up()

    def _write_gated_shim(self) -> None:
        shim = Path(self.docker_cmd)
        gate, waiting = shlex.quote(str(self._gate)), shlex.quote(str(self._waiting))
        shim.write_text(
            "#!/bin/sh\n"
            f"while [ -e {gate} ]; do touch {waiting}; sleep 0.05; done\n"
            f'exec {shlex.quote(self.host.docker_cmd)} "$@"\n'
        )
        shim.chmod(0o755)


def _unused_pair() -> tuple[str, str]:
    """The two host addresses of a random 10.200.A.B/30 in which no interface here has an address."""
    used = set(re.findall(r"inet (10\.200\.\d+\.\d+)/", _run(["ip", "-4", "-o", "addr", "show"]).stdout))
    for _ in range(1000):
        a, b = random.randrange(256), 4 * random.randrange(64)
        block = [f"10.200.{a}.{b + i}" for i in range(4)]
        if not used.intersection(block):
            return block[1], block[2]
    raise RuntimeError("no free /30 in 10.200.0.0/16")


def _size_or_none(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # renamed into place meanwhile
        return None


def parse_gpu_record(text: str) -> list[tuple[str, str, str, float]]:
    """The lines "start|end RUN_DIR DEVICES TIME" of a GPU record (see TestHost.gpu_record)."""
    record = []
    for line in text.splitlines():
        words = line.split(" ")
        if len(words) < 4 or words[0] not in ("start", "end"):
            continue
        try:
            when = float(words[-1])
        except ValueError:
            continue
        record.append((words[0], " ".join(words[1:-2]), words[-2], when))
    return record


def max_concurrent(record: Sequence[tuple[str, str, str, float]]) -> int:
    """The most runs holding GPUs at once: start/end events replayed in record (file) order.

    A run is keyed by its run_dir (a dir run again later counts again); an end with no start
    before it is ignored; a start with no end (a SIGKILLed run) holds until the record ends.
    """
    holding: dict[str, int] = {}
    now = most = 0
    for kind, run_dir, _devices, _when in record:
        if kind == "start":
            holding[run_dir] = holding.get(run_dir, 0) + 1
            now += 1
            most = max(most, now)
        elif holding.get(run_dir, 0) > 0:
            holding[run_dir] -= 1
            now -= 1
    return most


def start_order(record: Sequence[tuple[str, str, str, float]]) -> list[str]:
    """The run dirs in the order their runs started (a dir run twice is listed twice)."""
    return [run_dir for kind, run_dir, _devices, _when in record if kind == "start"]


def _write_checkout(path: Path, *scripts: str, checkpoints: bool = True) -> None:
    """A stand-in checkout at `path`: the entry points as placeholders (tests/standin/torchrun plays
    them) and, unless told otherwise, a checkpoints/ dir."""
    if checkpoints:
        (path / "checkpoints").mkdir(parents=True)
        (path / "checkpoints" / "README.txt").write_text("dummy checkpoints\n")
    for script in scripts:
        placeholder = path / script
        placeholder.parent.mkdir(parents=True, exist_ok=True)
        placeholder.write_text("# placeholder: tests/standin/torchrun plays this script\n")


def _populate_rootfs(rootfs: Path) -> None:
    """busybox + bash + jq + util-linux's flock (with their libraries) + the stand-in model.

    tests/standin/torchrun becomes /usr/local/bin/torchrun (and, linked, the
    ``python`` that runs an entry point without torchrun's environment); the
    files it sources go to /opt/standin with the sample video;
    tests/standin/nvidia-smi becomes /usr/local/bin/nvidia-smi (it shows
    ``${STANDIN_GPUS:-8}`` GPUs).  Debian's busybox has no flock applet.
    """
    for sub in ("bin", "usr/bin", "usr/local/bin", "etc", "opt/standin", "workspace", "root", "proc", "sys", "dev"):
        (rootfs / sub).mkdir(parents=True, exist_ok=True)
    (rootfs / "tmp").mkdir(mode=0o1777)
    (rootfs / "tmp").chmod(0o1777)
    for binary in ("/bin/bash", "/usr/bin/jq", "/usr/bin/flock"):
        _copy_with_libs(binary, rootfs)
    (rootfs / "usr" / "bin" / "bash").symlink_to("/bin/bash")
    shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
    # Applets at their usual paths, so "#!/usr/bin/env bash" works too.
    for applet in _run(["/bin/busybox", "--list-full"]).stdout.split():
        link = rootfs / applet
        if not link.exists() and not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/bin/busybox")
    (rootfs / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (rootfs / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    torchrun = rootfs / "usr" / "local" / "bin" / "torchrun"
    shutil.copy(STANDIN_DIR / "torchrun", torchrun)
    torchrun.chmod(0o755)
    (rootfs / "usr" / "local" / "bin" / "python").symlink_to("torchrun")
    nvidia_smi = rootfs / "usr" / "local" / "bin" / "nvidia-smi"
    shutil.copy(STANDIN_DIR / "nvidia-smi", nvidia_smi)
    nvidia_smi.chmod(0o755)
    for part in STANDIN_DIR.iterdir():
        if part.name != "torchrun" and part.suffix in (".sh", ".jq"):
            shutil.copy(part, rootfs / "opt" / "standin" / part.name)
    make_video(rootfs / "opt" / "standin" / "sample.mp4")


def _copy_with_libs(binary: str, rootfs: Path) -> None:
    """Copy a binary and the shared libraries ``ldd`` lists, at the same paths."""
    paths = [binary]
    for line in _run(["ldd", binary]).stdout.splitlines():
        words = line.split()
        if "=>" in words and words[words.index("=>") + 1].startswith("/"):
            paths.append(words[words.index("=>") + 1])
        elif words and words[0].startswith("/"):
            paths.append(words[0])
    for path in paths:
        target = rootfs / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(path), target)
