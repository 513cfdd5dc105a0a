"""The runner for Keras rows: each backend in a worker process of its own, since Keras fixes its backend on import.

A request goes to a worker started with the row's environment (KERAS_BACKEND)
as one line of the wire format, and the trajectory comes back the same way
(bridge/runners/serve.py is the worker's side). A worker stays up for the next
problem (importing a framework takes seconds) and ends with this process.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import subprocess
import tempfile
import threading
from typing import Protocol

from bridge import errors
from bridge.problems import loop_of
from bridge.runners.processes import SERVE, environment, raise_if_error
from bridge.trajectory import Trajectory
from bridge.wire import problem_to_json, trajectory_from_json

NICENESS = 10  # a worker's scheduling priority below its parent's (only matters when the CPUs are all busy)


class Loop(Protocol):
    """A Keras row's module: one function per loop; options as Keras's compile takes them (tests/test_causes.py)."""

    def one_weight(self, problem, device="cpu", jit_compile="auto", keep_float64=False) -> Trajectory: ...

    def batched(self, problem, device="cpu", jit_compile="auto", keep_float64=False) -> Trajectory: ...

    def network(self, problem, device="cpu", jit_compile=False, keep_float64=False) -> Trajectory: ...

    def classifier(self, problem, device="cpu", jit_compile="auto", keep_float64=False) -> Trajectory: ...


class Worker:
    """One worker process for one Keras backend, and the pipe to it."""

    def __init__(self, row):
        self.name = row.name
        self.lock = threading.Lock()
        self.log = tempfile.TemporaryFile()  # the worker's stderr: framework chatter, or why it died
        self.process = subprocess.Popen(
            SERVE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=environment(row, {"DESCENT_NICENESS": str(NICENESS)}),
            text=True,
        )

    def request(self, message: dict) -> dict:
        with self.lock:
            try:
                self.process.stdin.write(json.dumps(message) + "\n")
                self.process.stdin.flush()
                line = self.process.stdout.readline()
            except BrokenPipeError:
                line = ""
        if not line:
            self.process.wait()
            raise errors.BridgeError(f"the Keras worker for {self.name} stopped: {self._last_words()}")
        return json.loads(line)

    def _last_words(self) -> str:
        self.log.seek(0)
        lines = [ln for ln in self.log.read().decode(errors="replace").splitlines() if ln.strip()]
        return lines[-1].strip() if lines else f"exit code {self.process.returncode}"


_workers: dict[str, Worker] = {}  # by row name: one worker per backend
_workers_lock = threading.Lock()


def worker(row) -> Worker:
    """The row's worker, started if it is not running."""
    with _workers_lock:
        found = _workers.get(row.name)
        if found is None or found.process.poll() is not None:
            found = _workers[row.name] = Worker(row)
        return found


@atexit.register
def close_all(kill: bool = False) -> None:
    """End every worker: all told at once, then each waited for (kill: at once, for Ctrl-C)."""
    workers = list(_workers.values())
    _workers.clear()
    for each in workers:
        if kill:
            each.process.kill()
        elif each.process.poll() is None:
            with contextlib.suppress(OSError):
                each.process.stdin.close()
    for each in workers:
        try:
            each.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            each.process.kill()


def submit(row, problem, device: str = "cpu", **options):
    """Send the run to the row's worker now; return a function that waits for its trajectory.

    The wait happens on a thread of this process, so several backends' workers
    train at once while this process does other work. options: jit_compile and
    keep_float64, the two ways found to make Keras agree (tests/test_causes.py).
    """
    message = {
        "module": row.module,
        "loop": loop_of(problem),
        "problem": problem_to_json(problem),
        "device": str(device),  # the name it was asked for: the other side parses it
        "arguments": options,
    }
    each, outcome = worker(row), {}

    def wait():
        try:
            outcome["reply"] = each.request(message)
        except errors.BridgeError as error:
            outcome["error"] = error

    thread = threading.Thread(target=wait, name=f"keras-{row.name}", daemon=True)  # daemon: Ctrl-C never waits
    thread.start()

    def result() -> Trajectory:
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        raise_if_error(outcome["reply"], f"Keras ({row.backend or row.name})")
        return trajectory_from_json(outcome["reply"]["trajectory"])

    return result


class KerasWorkers:
    """Nothing to prepare here: the problem travels to the worker with each run."""

    def prepare(self, row, problem, device, workers):
        return None

    def run(self, row, problem, device, data, workers) -> Trajectory:
        return submit(row, problem, device)()

    def start(self, row, problem, device, workers):
        """The worker starts training at once, alongside whatever this process does next."""
        return submit(row, problem, device)
