"""A run stopped from outside leaves nothing behind: no process it started, no file it made, one line said.

Each case starts `descent compare` on two data-parallel rows (torch_ddp's ranks are processes of their own,
under a launcher; tf_mirrored's launcher) in a fresh process, signals it while they train, then looks for
every process that carries the case's mark in its environment (all that descent started inherit it) and
for what is left in the temporary folder it was given.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import bridge
from tests.helpers import as_at_a_terminal

ROOT = Path(__file__).resolve().parent.parent
RUN = ["compare", "--problem", "mini_batch", "--epochs", "400", "--workers", "3", "--impl", "torch_ddp", "tf_mirrored"]
LINUX_PROC = Path("/proc/self/environ").exists()


def marked(mark: str) -> list[int]:
    """The processes whose environment carries the mark."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:  # gone, or not ours
                continue
    return found


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.fixture
def case(tmp_path):
    """A mark for every process a case's run starts, a temporary folder of its own, and its environment."""
    mark, folder = f"DESCENT_FAULT_CASE_{uuid.uuid4().hex}", tmp_path / "tmp"
    folder.mkdir()
    yield mark, folder, os.environ | {"TMPDIR": str(folder), mark: "1", "PYTHONPATH": str(ROOT)}
    assert wait_for(lambda: not marked(mark), 10), f"still running: {marked(mark)}"
    assert sorted(p.name for p in folder.iterdir()) == [], "files left in the temporary folder"


def needs(*names):
    for name in names:
        if not bridge.REGISTRY[name].installed():
            pytest.skip(bridge.REGISTRY[name].install_hint())


@pytest.mark.skipif(not LINUX_PROC, reason="finds the processes through /proc")
@pytest.mark.parametrize(
    "how, to_group, code, said",
    [
        (signal.SIGINT, False, 130, "descent: interrupted"),
        (signal.SIGTERM, False, 143, "descent: terminated"),
        (signal.SIGTERM, True, 143, "descent: terminated"),  # as `timeout` or a CI runner stops a job
    ],
    ids=["SIGINT-to-descent", "SIGTERM-to-descent", "SIGTERM-to-its-group"],
)
def test_a_signalled_run_ends_its_workers_and_removes_its_files(how, to_group, code, said, case):
    needs("torch_ddp", "tf_mirrored")
    mark, _, env = case  # the fixture checks, after the test, that nothing is left
    with as_at_a_terminal():  # SIGINT below must reach it as Ctrl-C does
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge", *RUN],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a group of its own, as a shell gives a job
        )
    try:
        # torch_ddp's launcher and 3 ranks, besides descent: training has begun
        assert wait_for(lambda: len(marked(mark)) >= 5, 120), "the run never started its workers"
        time.sleep(2)
        (os.killpg if to_group else os.kill)(process.pid, how)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == code, err[-2000:]
    assert err.strip().splitlines()[-1:] == [said] and "Traceback" not in err, err[-2000:]


@pytest.mark.skipif(not LINUX_PROC, reason="finds the processes through /proc")
def test_a_worker_that_fails_to_start_is_one_line_naming_the_row_and_the_cause_and_debug_shows_why(case):
    needs("torch_ddp")
    # gloo cannot find the network interface named: every rank fails as it joins the group
    env = case[2] | {"GLOO_SOCKET_IFNAME": "nonexistent0"}
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "run", "--impl", "torch_ddp", "--problem", "mini_batch"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert lines[0].startswith("descent: error: torch_ddp failed: rank 0: ") and "nonexistent0" in lines[0]
    debug = subprocess.run(
        [sys.executable, "-m", "bridge", "run", "--impl", "torch_ddp", "--problem", "mini_batch", "--debug"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # --debug: each rank's traceback, from its own process, then the same one line
    assert debug.returncode == 2 and debug.stderr.strip().splitlines()[-1] == lines[0]
    assert debug.stderr.startswith("rank 0: Traceback (most recent call last):")
    assert "init_process_group" in debug.stderr


# The launcher run through the Python API (no `descent`, so no folder of descent's own): the estimate is not
# asked, so a 4-second limit passes while torch_ddp's ranks train, as it would for a run slower than its estimate
PAST_THE_LIMIT = """
import bridge
from tests.helpers import as_at_a_terminal
from bridge.parallel import OutOfTime, time_limited
from bridge.problems import preset, with_changes
from bridge.runners.launcher import launch

problem = with_changes(preset("mini_batch"), epochs=20000)
with time_limited(4):
    try:
        launch(bridge.REGISTRY["torch_ddp"], problem, "cpu", 3)
    except OutOfTime as error:
        print(error)
"""


@pytest.mark.skipif(not LINUX_PROC, reason="finds the processes through /proc")
def test_the_time_limit_stops_the_launcher_and_its_workers_and_removes_their_files(case):
    needs("torch_ddp")
    done = subprocess.run(
        [sys.executable, "-c", PAST_THE_LIMIT], cwd=ROOT, env=case[2], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("torch_ddp: its launcher had not finished after the time limit of 4 s, and was ")
    assert "--time-limit SECONDS" in done.stdout


@pytest.mark.skipif(not LINUX_PROC, reason="finds the processes through /proc")
def test_a_worker_killed_mid_run_ends_the_run_in_one_line_naming_the_row(case):
    needs("torch_ddp")
    mark, _, env = case
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "run", "--impl", "torch_ddp", "--problem", "mini_batch", "--epochs", "4000"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert wait_for(lambda: len(marked(mark)) >= 4, 120), "the run never started its workers"
        time.sleep(2)
        ranks = [pid for pid in marked(mark) if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        os.kill(ranks[-1], signal.SIGKILL)
        out, err = process.communicate(timeout=150)  # its peer is stopped at once (bridge/runners/ranks.py)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 2 and out == "", err[-2000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    assert lines[0].startswith("descent: error: torch_ddp failed: rank "), lines[0]
    assert "WorkerLost" in lines[0] and "WorkerStopped" in lines[0], lines[0]  # the killed one, and its peer


@pytest.mark.skipif(not LINUX_PROC, reason="finds the processes through /proc")
def test_a_run_of_tf_function_leaves_no_autograph_file(case):
    needs("tf_function")
    # TensorFlow writes __autograph_generated_file*.py for each tf.function and removes them in its own exit
    # handler, which a console script leaving with os._exit skips: descent's own folder holds them and goes
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "compare", "--impl", "python", "tf_function", "--problem", "mini_batch"],
        cwd=ROOT,
        env=case[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
