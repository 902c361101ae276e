"""A private single-node Slurm 22.05 cluster on this machine, with accounting
(slurmdbd + a private MariaDB, so ``sacct`` works) and two gres GPUs, and a
way to reach it as a login node over SSH (``SlurmLoginHost``).

Everything lives under one temp dir, on loopback and high free ports; each
daemon runs in the foreground in a session of its own and is stopped by its
own PID.  Built from /work/shared/TESTHOST-slurm-facts.md (the verified
recipe: start order, every config file, the pitfalls).  Plain Python, no
pytest.

    with SlurmCluster() as cluster:
        job = cluster.run("sbatch", "--parsable", "--wrap", "exit 3").stdout.strip()
        cluster.run("sacct", "-j", job, "-n", "-P", "-X", "-o", "JobID,State,ExitCode")

    with TestHost() as host, SlurmCluster() as cluster, SlurmLoginHost(host, cluster) as login:
        login.ssh_run("sbatch --parsable --wrap 'docker run --rm IMAGE true'")
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.hostkit import SSHD, TestHost, free_port, kill_tree, wait_until

CLIENT_COMMANDS = ("sbatch", "sacct", "squeue", "scontrol", "scancel", "sinfo", "sacctmgr")
STARTUP_TIMEOUT = 30.0  # start() takes about 2.5 s in all here
STOP_TIMEOUT = 15.0  # per daemon; each takes 1-3 s after SIGTERM
DB_PASSWORD = "slurmpw"  # the private MariaDB's slurm user; loopback only
# The daemons, in start order; stop() goes the other way (slurmd first, munged last).
DAEMONS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd")


def short_hostname() -> str:
    """``hostname -s``: slurmctld insists SlurmctldHost names this machine."""
    return socket.gethostname().split(".")[0]


def _tcp_listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path}: missing)"
    return f"--- {path} ---\n" + "\n".join(text.splitlines()[-lines:])


def processes_using(text: str) -> list[int]:
    """PIDs of live processes whose command line or environment contains ``text``.

    The environment catches what a command line does not name: slurmstepd and
    the job's own processes carry SLURM_CONF (the submitter's environment).
    """
    found = []
    needle = text.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        for part in ("cmdline", "environ"):
            try:
                if needle in Path(f"/proc/{entry}/{part}").read_bytes():
                    found.append(int(entry))
                    break
            except OSError:
                break
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def _alive(pid: int) -> bool:
    """False once a PID has exited (a zombie counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


class SlurmCluster:
    """A started single-node Slurm cluster: munged, MariaDB, slurmdbd, slurmctld, slurmd.

    The node is this machine (``node`` = ``hostname -s``) with ``cpus`` CPUs
    and two gres GPUs (``gpu:2``: char devices made with mknod under the temp
    dir; a job with ``--gres=gpu:1`` gets ``CUDA_VISIBLE_DEVICES``), in one
    partition (``partition``).  Jobs run as root, started by slurmd.
    Client commands need ``SLURM_CONF``: use ``env`` or ``run()``.

    Use as ``with SlurmCluster() as cluster: ...`` or call start()/stop().
    """

    __test__ = False

    cluster_name = "testcluster"
    partition = "debug"
    gpus = 2
    real_memory_mb = 2000

    def __init__(self) -> None:
        self.root = Path()
        self.node = short_hostname()
        self.cpus = min(2, os.cpu_count() or 1)  # -c 8 must exceed the node
        self.ports: dict[str, int] = {}
        self.timings: dict[str, float] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.killed: list[str] = []  # what stop() had to SIGKILL (see there)

    # ----------------------------------------------------------- paths
    @property
    def slurm_dir(self) -> Path:
        return self.root / "slurm"

    @property
    def conf(self) -> str:
        """Path of slurm.conf (slurmdbd.conf and gres.conf sit beside it)."""
        return str(self.slurm_dir / "slurm.conf")

    @property
    def munge_socket(self) -> str:
        return str(self.root / "munge" / "munge.sock")

    @property
    def db_socket(self) -> str:
        return str(self.root / "db" / "mysqld.sock")

    @property
    def log_dir(self) -> Path:
        return self.slurm_dir / "log"

    @property
    def env(self) -> dict[str, str]:
        """This process's environment plus ``SLURM_CONF``: for client commands."""
        return {**os.environ, "SLURM_CONF": self.conf}

    def pids(self) -> dict[str, int]:
        """The live daemons' PIDs by name."""
        return {name: proc.pid for name, proc in self._procs.items() if proc.poll() is None}

    def job_processes(self) -> list[int]:
        """Live PIDs of job steps (slurmstepd) and the jobs' own processes.

        They carry SLURM_CONF in their environment (so do a SlurmLoginHost's
        sessions); the daemons and their direct children (slurmctld's
        slurmscriptd) are left out.  A container
        a job started is not here: its conmon gets a clean environment from
        podman (the TestHost removes containers).
        """
        daemons = set(self.pids().values())
        return [
            pid
            for pid in processes_using(str(self.root))
            if pid not in daemons and _parent(pid) not in daemons and _alive(pid)
        ]

    # ------------------------------------------------------- lifecycle
    def start(self) -> Self:
        if self.root != Path():
            raise RuntimeError("SlurmCluster already started")
        began = time.monotonic()
        self.root = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))
        try:
            self._make_dirs()
            self._pick_ports()
            # install-db is the slowest step (1-3 s): munged and the config files meanwhile.
            install = self._spawn_install_db()
            self._timed("munged", self._start_munged)
            self._write_configs()
            self._make_gpu_devices()
            self._timed("install_db", lambda: self._finish_install_db(install))
            self._timed("mariadbd", self._start_mariadb)
            self._timed("slurmdbd", self._start_slurmdbd)
            self._timed("slurmctld", self._start_slurmctld)
            self._timed("slurmd", self._start_slurmd)
            self._timed("ready", self._wait_ready)
        except BaseException:
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Cancel every job, stop the daemons by PID (slurmd, slurmctld, slurmdbd,
        mariadbd, munged), kill whatever of theirs is left, delete the temp dir.

        What had to be killed is listed in ``killed`` ("PID command line"):
        a daemon that ignored SIGTERM, or a job's process that outlived its
        job.  The latter happens with proctrack/linuxproc: a cancelled job's
        ``docker run`` (podman) whose container ignores SIGTERM is orphaned
        when the batch shell dies, and the SIGKILL after KillWait misses it.
        Raises RuntimeError if anything of the cluster is still alive after that.
        """
        if self.root == Path():
            return
        began = time.monotonic()
        self.cancel_jobs()
        for name in reversed(DAEMONS):
            self._stop_daemon(name)
        root = str(self.root)
        for pid in processes_using(root):
            if _alive(pid):
                self.killed.append(f"{pid} {_cmdline(pid)}")
                kill_tree(pid)
        try:
            wait_until(lambda: not any(_alive(pid) for pid in processes_using(root)), 10, "leftovers to die")
        except TimeoutError:
            stuck = [f"{pid} {_cmdline(pid)}" for pid in processes_using(root) if _alive(pid)]
            raise RuntimeError(f"Slurm test cluster {root}: still alive after SIGKILL: {stuck}") from None
        finally:
            self.root = Path()
            shutil.rmtree(root, ignore_errors=True)
            self.timings["stop"] = time.monotonic() - began

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _timed(self, name: str, step: Any) -> None:
        began = time.monotonic()
        step()
        self.timings[name] = time.monotonic() - began

    # ---------------------------------------------------------- client
    def run(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a client command (sbatch, sacct, squeue, scontrol, scancel, ...) here with ``env``."""
        return subprocess.run(list(args), capture_output=True, text=True, env=self.env, check=check, timeout=timeout)

    def logs(self) -> str:
        """The tails of every daemon's log: for failure messages."""
        paths = [self.root / "munge" / "munged.log", self.root / "db" / "mysqld.err"]
        paths += [self.log_dir / f"{name}.log" for name in ("slurmdbd", "slurmctld", "slurmd")]
        paths += sorted(self.log_dir.glob("*.out"))
        return "\n".join(_tail(path) for path in paths)

    # --------------------------------------------------------- startup
    def _make_dirs(self) -> None:
        for sub in ("munge", "db", "slurm/state", "slurm/spool", "slurm/log", "gpu"):
            (self.root / sub).mkdir(parents=True)
        # mariadb-install-db --user=mysql must reach its data dir (mkdtemp is 0700).
        self.root.chmod(0o755)
        shutil.chown(self.root / "db", "mysql", "mysql")
        (self.root / "db").chmod(0o755)

    def _pick_ports(self) -> None:
        while len(set(self.ports.values())) < 4:
            self.ports = {name: free_port() for name in ("mariadb", "slurmdbd", "slurmctld", "slurmd")}

    def _spawn(self, name: str, args: Sequence[str]) -> None:
        """Start a daemon in the foreground, in a session of its own; its PID is the daemon's."""
        with open(self.log_dir / f"{name}.out", "ab") as out:
            self._procs[name] = subprocess.Popen(
                list(args),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=self.env,
                start_new_session=True,
            )

    def _check_alive(self, name: str) -> None:
        proc = self._procs[name]
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} during start-up\n{self.logs()}")

    def _wait(self, name: str, predicate: Any, what: str, timeout: float = STARTUP_TIMEOUT) -> None:
        def ready() -> Any:
            self._check_alive(name)
            return predicate()

        try:
            wait_until(ready, timeout, what, interval=0.05)
        except TimeoutError as error:
            raise TimeoutError(f"{error}\n{self.logs()}") from None

    def _spawn_install_db(self) -> subprocess.Popen[bytes]:
        with open(self.log_dir / "install-db.out", "ab") as out:
            return subprocess.Popen(
                [
                    "mariadb-install-db", "--no-defaults", f"--datadir={self.root / 'db' / 'data'}",
                    "--user=mysql", "--auth-root-authentication-method=socket", "--skip-test-db",
                ],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip

    def _finish_install_db(self, install: subprocess.Popen[bytes]) -> None:
        try:
            code = install.wait(timeout=STARTUP_TIMEOUT)
        except subprocess.TimeoutExpired:
            kill_tree(install.pid)
            install.wait()
            raise
        if code != 0:
            raise RuntimeError(f"mariadb-install-db failed ({code})\n{_tail(self.log_dir / 'install-db.out', 30)}")

    def _start_munged(self) -> None:
        munge = self.root / "munge"
        key = munge / "munge.key"
        subprocess.run(["mungekey", "-c", "-k", str(key), "-b", "1024"], check=True, capture_output=True, timeout=30)
        key.chmod(0o600)
        self._spawn(
            "munged",
            [
                "munged", "--foreground", "--force", f"--key-file={key}", f"--socket={self.munge_socket}",
                f"--pid-file={munge / 'munged.pid'}", f"--log-file={munge / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}",
            ],
        )  # fmt: skip
        self._wait("munged", lambda: Path(self.munge_socket).is_socket(), "munged's socket")

    def _start_mariadb(self) -> None:
        db = self.root / "db"
        self._spawn(
            "mariadbd",
            [
                "mariadbd", "--no-defaults", f"--datadir={db / 'data'}", "--user=mysql",
                f"--socket={self.db_socket}", f"--port={self.ports['mariadb']}", "--bind-address=127.0.0.1",
                f"--pid-file={db / 'mysqld.pid'}", f"--log-error={db / 'mysqld.err'}",
                "--innodb-buffer-pool-size=512M", "--innodb-lock-wait-timeout=900", "--skip-name-resolve",
            ],
        )  # fmt: skip
        grant = (
            f"CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}';"
            " GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
        )

        def granted() -> bool:
            # Fails without side effects until the server accepts connections.
            if not Path(self.db_socket).is_socket():
                return False
            args = ["mariadb", "--no-defaults", "-S", self.db_socket, "-u", "root", "-e", grant]
            return subprocess.run(args, capture_output=True, timeout=30).returncode == 0

        self._wait("mariadbd", granted, "MariaDB to accept the slurm user's grant")

    def _start_slurmdbd(self) -> None:
        self._spawn("slurmdbd", ["slurmdbd", "-D"])
        self._wait("slurmdbd", lambda: _tcp_listening(self.ports["slurmdbd"]), "slurmdbd to listen")

    def _start_slurmctld(self) -> None:
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", self.conf])
        self._wait("slurmctld", lambda: _tcp_listening(self.ports["slurmctld"]), "slurmctld to listen")

    def _start_slurmd(self) -> None:
        self._spawn("slurmd", ["slurmd", "-D", "-N", self.node, "-f", self.conf])

    def _wait_ready(self) -> None:
        """Until the node is idle and sacct answers for this cluster."""

        def idle() -> bool:
            self._check_alive("slurmctld")
            self._check_alive("slurmdbd")
            states = self.run("sinfo", "-h", "-n", self.node, "-o", "%T", check=False).stdout.split()
            return states == ["idle"]

        def sacct_answers() -> bool:
            return self.run("sacct", "-n", "-X", "-P", "-o", "JobID", check=False).returncode == 0

        self._wait("slurmd", idle, f"node {self.node} to be idle")
        self._wait("slurmdbd", sacct_answers, "sacct to answer")

    def _make_gpu_devices(self) -> None:
        for index in range(self.gpus):
            # gres.conf File= must be a character device, or CUDA_VISIBLE_DEVICES stays empty.
            os.mknod(self.root / "gpu" / f"nvidia{index}", 0o666 | stat.S_IFCHR, os.makedev(195, index))

    def _write_configs(self) -> None:
        slurm, munge = self.slurm_dir, self.munge_socket
        dbd_conf = slurm / "slurmdbd.conf"
        dbd_conf.write_text(
            "\n".join(
                [
                    "AuthType=auth/munge",
                    f"AuthInfo=socket={munge}",
                    "DbdHost=localhost",
                    "DbdAddr=127.0.0.1",
                    f"DbdPort={self.ports['slurmdbd']}",
                    "SlurmUser=root",
                    "DebugLevel=info",
                    f"LogFile={self.log_dir / 'slurmdbd.log'}",
                    f"PidFile={slurm / 'slurmdbd.pid'}",
                    "StorageType=accounting_storage/mysql",
                    # Not localhost: libmysql would use /run/mysqld/mysqld.sock.
                    "StorageHost=127.0.0.1",
                    f"StoragePort={self.ports['mariadb']}",
                    "StorageUser=slurm",
                    f"StoragePass={DB_PASSWORD}",
                    "StorageLoc=slurm_acct_db",
                    "",
                ]
            )
        )
        dbd_conf.chmod(0o600)  # slurmdbd refuses a group- or world-readable file
        node, last_gpu = self.node, self.gpus - 1
        Path(self.conf).write_text(
            "\n".join(
                [
                    f"ClusterName={self.cluster_name}",
                    f"SlurmctldHost={node}(127.0.0.1)",
                    f"SlurmctldPort={self.ports['slurmctld']}",
                    f"SlurmdPort={self.ports['slurmd']}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={munge}",
                    f"StateSaveLocation={slurm / 'state'}",
                    f"SlurmdSpoolDir={slurm / 'spool'}",
                    f"SlurmctldPidFile={slurm / 'slurmctld.pid'}",
                    f"SlurmdPidFile={slurm / 'slurmd.pid'}",
                    f"SlurmctldLogFile={self.log_dir / 'slurmctld.log'}",
                    f"SlurmdLogFile={self.log_dir / 'slurmd.log'}",
                    "SlurmctldDebug=info",
                    "SlurmdDebug=info",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "MpiDefault=none",
                    "ReturnToService=2",
                    "SchedulerType=sched/backfill",
                    "SchedulerParameters=batch_sched_delay=0",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core",
                    "KillWait=5",
                    "MinJobAge=300",
                    "AccountingStorageType=accounting_storage/slurmdbd",
                    "AccountingStorageHost=127.0.0.1",
                    f"AccountingStoragePort={self.ports['slurmdbd']}",
                    # Without it slurmctld and sacct use the system munge socket and fail.
                    f"AccountingStoragePass={munge}",
                    "AccountingStorageTRES=gres/gpu",
                    "JobCompType=jobcomp/none",
                    "MailProg=/bin/true",
                    "GresTypes=gpu",
                    f"NodeName={node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.real_memory_mb}"
                    f" Gres=gpu:{self.gpus} State=UNKNOWN",
                    f"PartitionName={self.partition} Nodes={node} Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        (slurm / "gres.conf").write_text(
            f"AutoDetect=off\nNodeName={node} Name=gpu File={self.root / 'gpu'}/nvidia[0-{last_gpu}]\n"
        )

    # -------------------------------------------------------- shutdown
    def cancel_jobs(self) -> None:
        """Cancel every job and wait until their steps (slurmstepd) are gone:
        they outlive slurmd. Between two users of one cluster, each starts with an empty queue."""
        if "slurmctld" not in self.pids():
            return
        try:
            listed = self.run("squeue", "-h", "-o", "%A", check=False, timeout=10).stdout.split()
            if listed:
                self.run("scancel", *listed, check=False, timeout=10)

            # KillWait=5: SIGKILL follows SIGTERM after 5 s; then slurmstepd exits.
            # (What it missed is an orphan now: stop() kills it.)
            def steps_done() -> bool:
                return not any(_comm(pid) == "slurmstepd" for pid in self.job_processes())

            wait_until(steps_done, 15, "cancelled jobs' steps to end", interval=0.1)
        except (subprocess.SubprocessError, TimeoutError):
            pass  # the sweep in stop() kills what is left

    def _stop_daemon(self, name: str) -> None:
        proc = self._procs.pop(name, None)
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.killed.append(f"{proc.pid} {_cmdline(proc.pid)}")
                kill_tree(proc.pid)
                proc.wait(timeout=10)


class SlurmLoginHost:
    """The stand-in host's login node for a SlurmCluster: a second sshd of the
    TestHost (same keys, known_hosts and docker shim) whose sessions get
    ``SLURM_CONF`` and a PATH with the docker shim and the Slurm clients.

    Jobs submitted over it (``sbatch`` exports the whole environment by
    default) run with that PATH, so their ``docker`` is the TestHost's podman
    shim.  Its log is its own (``sshd_log``), so the TestHost's session
    counters do not see it.  stop() kills it with its sessions: stop it
    before the cluster (whose stop() would kill and list its sessions).
    """

    __test__ = False

    def __init__(self, host: TestHost, cluster: SlurmCluster, shims: Path | None = None) -> None:
        """`shims`: a directory put first on the sessions' PATH (a test's stand-ins for Slurm's clients)."""
        if host.root == Path() or cluster.root == Path():
            raise RuntimeError("start the TestHost and the SlurmCluster first")
        self.host = host
        self.shims = shims
        self.cluster = cluster
        self.hostname = host.hostname
        self.user = host.user
        self.key_file = host.key_file
        self.known_hosts = host.known_hosts
        self.port = 0
        self.dir = Path()
        self._sshd: subprocess.Popen[bytes] | None = None

    @property
    def path(self) -> str:
        """PATH of the login sessions: the test's shims if any, the TestHost's (its docker shim
        first), with the Slurm clients' directory added if it is not on it."""
        dirs = [str(Path(self.host.docker_cmd).parent), "/usr/local/sbin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        if self.shims is not None:
            dirs.insert(0, str(self.shims))
        for command in CLIENT_COMMANDS:
            found = shutil.which(command)
            if found is None:
                raise RuntimeError(f"{command} not installed (slurm-client)")
            dirs.append(str(Path(found).parent))
        return ":".join(dict.fromkeys(dirs))

    @property
    def sshd_log(self) -> Path:
        return self.dir / "sshd.log"

    @property
    def sshd_pid(self) -> int | None:
        return self._sshd.pid if self._sshd and self._sshd.poll() is None else None

    def start(self) -> Self:
        if self._sshd is not None:
            raise RuntimeError("SlurmLoginHost already started")
        try:
            self.port = free_port()
            self.dir = self.host.root / f"slurm-login-{self.port}"
            self.dir.mkdir()
            config = self.dir / "sshd_config"
            self.host.write_sshd_config(config, self.hostname, self.port, self.dir / "sshd.pid")
            config.write_text(self._login_config(config.read_text()))
            subprocess.run([SSHD, "-t", "-f", str(config)], check=True, capture_output=True, timeout=30)
            self.host.trust(self.hostname, self.port)
            # Its own log, so that the TestHost's session counters never see the login node.
            self._sshd = self.host.launch_sshd(config, self.hostname, self.port, log_file=self.sshd_log)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        sshd, self._sshd = self._sshd, None
        if sshd is not None:
            killed = kill_tree(sshd.pid) if sshd.poll() is None else set()
            sshd.wait(timeout=10)
            wait_until(lambda: not any(_alive(pid) for pid in killed), 5, "login sshd sessions to die")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _login_config(self, text: str) -> str:
        """The TestHost's config with our SetEnv and our own log.

        sshd takes only the first SetEnv line, so its one line is replaced.
        """
        lines = text.splitlines()
        setenv = [i for i, line in enumerate(lines) if line.startswith("SetEnv ")]
        subsystem = [i for i, line in enumerate(lines) if line.startswith("Subsystem sftp ")]
        if len(setenv) != 1 or len(subsystem) != 1:
            raise RuntimeError(f"unexpected TestHost sshd_config:\n{text}")
        lines[setenv[0]] = f"SetEnv SLURM_CONF={self.cluster.conf} PATH={self.path}"
        lines[subsystem[0]] = lines[subsystem[0]].replace(str(self.host.sshd_log), str(self.sshd_log))
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------- clients
    def connect(self, **kwargs: Any) -> Any:
        """A paramiko SSHClient logged in to the login node with strict host key checking."""
        return self.host.connect(**{"port": self.port, **kwargs})

    def ssh_run(self, command: str | Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run one command on the login node over SSH; a list is shell-quoted."""
        return self.host.ssh_run(command, timeout, port=self.port)

    def host_config_toml(
        self,
        name: str = "slurm1",
        gres: str = "gpu:1",
        time_limit: str = "00:10:00",
        models: Sequence[str] = ("transfer1",),
    ) -> str:
        """A ``[[hosts]]`` block for this login node: the TestHost's block
        (its key, known_hosts, image, checkout, docker shim) on this port,
        plus ``executor = "slurm"``, ``partition``, ``gres`` and ``time_limit``."""
        lines = self.host.host_config_toml(name=name, models=models).splitlines()
        port_line = f"port = {self.host.port}"
        if lines.count(port_line) != 1:
            raise RuntimeError(f"unexpected TestHost host block:\n{lines}")
        lines[lines.index(port_line)] = f"port = {self.port}"
        # The new keys go at the end of the [[hosts]] table itself, before
        # any blank line or sub-table ([hosts.model."..."]).
        end = next((i for i, line in enumerate(lines[1:], 1) if not line or line.startswith("[")), len(lines))

        def q(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

        lines[end:end] = [
            'executor = "slurm"',
            f"partition = {q(self.cluster.partition)}",
            f"gres = {q(gres)}",
            f"time_limit = {q(time_limit)}",
        ]
        return "\n".join(lines) + "\n"
