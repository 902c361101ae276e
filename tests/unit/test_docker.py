import shlex

from cosmos_core.executors import docker_cli as docker


def test_run_command_quotes_everything_and_keeps_the_exit_code():
    cmd = docker.run_command(
        ("sudo", "docker"),
        run_id="rs_1",
        image="img:latest",
        run_args=("--gpus", "all"),
        mount_dir="/home/u/cosmos transfer",
        workspace="/workspace",
        env={"NUM_GPU": "2", "X": "$(id)"},
        argv=("bash", "a b.sh", "it's"),
    )
    args = shlex.split(cmd)
    assert args[:4] == ["sudo", "docker", "run", "-d"]
    assert "--rm" not in args
    assert args[args.index("--name") + 1] == "cosmos-rs_1"
    assert args[args.index("--label") + 1] == "cosmos.run_id=rs_1"
    assert args[args.index("-v") + 1] == "/home/u/cosmos transfer:/workspace"
    assert "X=$(id)" in args and "--gpus" in args
    assert args[-4:] == ["img:latest", "bash", "a b.sh", "it's"]


def test_parse_inspect_line_docker_and_podman():
    docker_line = "/cosmos-rs_1\texited\t137\ttrue"
    podman_line = "cosmos-rs_1\trunning\t0\tfalse"
    assert docker.parse_inspect_line(docker_line) == docker.ContainerState("cosmos-rs_1", "exited", 137, True)
    state = docker.parse_inspect_line(podman_line)
    assert state == docker.ContainerState("cosmos-rs_1", "running", 0, False)
    assert not state.stopped
    assert docker.parse_inspect_line("Error: no such container") is None
    assert docker.parse_inspect_line("a\tb\tnot-a-number\tfalse") is None


def test_stopped_states():
    for status, stopped in [("exited", True), ("dead", True), ("stopped", True), ("running", False),
                            ("created", False), ("paused", False), ("restarting", False)]:
        assert docker.ContainerState("c", status, 0, False).stopped is stopped


def test_more_mounts_follow_the_workspace_quoted():
    cmd = docker.run_command(("docker",), run_id="rs_1", image="img", run_args=(), mount_dir="/ck",
                             workspace="/workspace", env={}, argv=("true",),
                             mounts={"/ck/cosmos_runs/.gpu queue": "/cosmos_queue"})
    args = shlex.split(cmd)
    volumes = [args[i + 1] for i, arg in enumerate(args) if arg == "-v"]
    assert volumes == ["/ck:/workspace", "/ck/cosmos_runs/.gpu queue:/cosmos_queue"]
