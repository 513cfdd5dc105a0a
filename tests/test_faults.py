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
def test_a_worker_that_fails_to_start_is_one_line_naming_the_row_and_the_cause(case):
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
