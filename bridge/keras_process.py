"""Keras on each of its backends, each in a process of its own: Keras fixes its backend when it is imported.

train() sends a problem, as one line of JSON, to a worker started with
KERAS_BACKEND set, and reads the trajectory back the same way. Numbers travel
exactly: scalars as float.hex(), arrays as their float64 bytes in base64. A worker stays up for the
next problem (importing a framework takes seconds) and ends with this process.
Run as `python -m bridge.keras_process`, this module is the worker.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from bridge import errors
from bridge.problems import Batched, Network, OneWeight, loop_of
from bridge.trajectory import Trajectory

BACKENDS = ("tensorflow", "jax", "torch")
RECORDED = ("weights", "losses", "grads", "biases", "bias_grads")
NICENESS = 10  # a worker's scheduling priority below its parent's (only matters when the CPUs are all busy)


def pack(values) -> str:
    """Floats as the base64 of their little-endian float64 bytes: exact, and compact for 10^6 samples."""
    return base64.b64encode(np.asarray(values, dtype="<f8").tobytes()).decode("ascii")


def unpack(text: str) -> list[float]:
    return np.frombuffer(base64.b64decode(text), dtype="<f8").tolist()


def problem_to_json(problem) -> dict:
    """Every field of the problem, floats exact."""
    if isinstance(problem, Network):
        arrays = {k: pack(getattr(problem, k)) for k in ("x", "y", "w1", "b1", "w2")}
        counts = {k: getattr(problem, k) for k in ("hidden", "epochs", "batch_size", "seed")}
        numbers = {"lr": problem.lr.hex(), "b2": problem.b2.hex()}
        return {
            "kind": "network",
            **arrays,
            **counts,
            **numbers,
            "activation": problem.activation,
            "dtype": problem.dtype,
        }
    if isinstance(problem, OneWeight):
        numbers = {k: float(getattr(problem, k)).hex() for k in ("x", "y", "w0", "lr")}
        return {"kind": "one_weight", **numbers, "steps": problem.steps, "dtype": problem.dtype}
    return {
        "kind": "batched",
        "x": pack(problem.x),
        "y": pack(problem.y),
        "w0": problem.w0.hex(),
        "lr": problem.lr.hex(),
        "epochs": problem.epochs,
        "batch_size": problem.batch_size,
        "dtype": problem.dtype,
        "b0": None if problem.b0 is None else problem.b0.hex(),
    }


def problem_from_json(data: dict):
    if data["kind"] == "network":
        arrays = {k: unpack(data[k]) for k in ("x", "y", "w1", "b1", "w2")}
        counts = {k: data[k] for k in ("hidden", "epochs", "batch_size", "seed")}
        numbers = {k: float.fromhex(data[k]) for k in ("lr", "b2")}
        return Network(**arrays, **counts, **numbers, activation=data["activation"], dtype=data["dtype"])
    if data["kind"] == "one_weight":
        x, y, w0, lr = (float.fromhex(data[k]) for k in ("x", "y", "w0", "lr"))
        return OneWeight(x, y, w0, lr, data["steps"], data["dtype"])
    b0 = None if data["b0"] is None else float.fromhex(data["b0"])
    w0, lr = float.fromhex(data["w0"]), float.fromhex(data["lr"])
    x, y = unpack(data["x"]), unpack(data["y"])
    return Batched(x, y, w0, lr, data["epochs"], data["batch_size"], data["dtype"], b0)


class Worker:
    """One worker process for one Keras backend, and the pipe to it."""

    def __init__(self, backend: str):
        self.backend = backend
        self.lock = threading.Lock()
        self.log = tempfile.TemporaryFile()  # the worker's stderr: framework chatter, or why it died
        source_root = str(Path(__file__).resolve().parent.parent)  # so the worker imports this very bridge
        path = os.pathsep.join(p for p in (source_root, os.environ.get("PYTHONPATH", "")) if p)
        from bridge.registry import TENSORFLOW_ENVIRONMENT  # here: bridge.registry imports this module

        env = TENSORFLOW_ENVIRONMENT | dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=path)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge.keras_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
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
            raise errors.BridgeError(f"the Keras worker for {self.backend} stopped: {self._last_words()}")
        return json.loads(line)

    def _last_words(self) -> str:
        self.log.seek(0)
        lines = [ln for ln in self.log.read().decode(errors="replace").splitlines() if ln.strip()]
        return lines[-1].strip() if lines else f"exit code {self.process.returncode}"


_workers: dict[str, Worker] = {}
_workers_lock = threading.Lock()


def _worker(backend: str) -> Worker:
    with _workers_lock:
        worker = _workers.get(backend)
        if worker is None or worker.process.poll() is not None:
            worker = _workers[backend] = Worker(backend)
        return worker


@atexit.register
def close_all(kill: bool = False) -> None:
    """End every worker: all told at once, then each waited for (kill: at once, for Ctrl-C)."""
    workers = list(_workers.values())
    _workers.clear()
    for worker in workers:
        if kill:
            worker.process.kill()
        elif worker.process.poll() is None:
            with contextlib.suppress(OSError):
                worker.process.stdin.close()
    for worker in workers:
        try:
            worker.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.process.kill()


def train(backend: str, problem, device: str = "cpu", **options) -> Trajectory:
    """Run impl/keras.py on this backend in its worker and return the trajectory.

    options: jit_compile ("auto", True or False, as Keras's compile takes it) and
    keep_float64 (True: undo Keras's float64 -> float32 type promotion on JAX and
    torch), the two ways found to make Keras agree; see tests/test_causes.py.
    """
    return submit(backend, problem, device, **options)()


def submit(backend: str, problem, device: str = "cpu", **options):
    """Send the run to the backend's worker now; return a function that waits for its trajectory.

    The wait happens on a thread of this process, so several backends' workers
    train at once while this process does other work.
    """
    if backend not in BACKENDS:
        raise errors.UnknownName(f"unknown Keras backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    worker, message = _worker(backend), {"problem": problem_to_json(problem), "device": device, "options": options}
    outcome = {}

    def wait():
        try:
            outcome["reply"] = worker.request(message)
        except errors.BridgeError as error:
            outcome["error"] = error

    thread = threading.Thread(target=wait, name=f"keras-{backend}", daemon=True)  # daemon: Ctrl-C never waits
    thread.start()

    def result() -> Trajectory:
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return _trajectory(backend, outcome["reply"])

    return result


def raise_if_error(reply: dict, who: str, detail: str = "") -> None:
    """A worker's error reply raised here: a BridgeError as itself, anything else as a BridgeError naming who failed."""
    if "error" not in reply:
        return
    kind = getattr(errors, reply["error"], None)
    if isinstance(kind, type) and issubclass(kind, errors.BridgeError):
        raise kind(reply["message"])
    raise errors.BridgeError(f"{who} failed: {reply['error']}: {reply['message']}{detail}")


def _trajectory(backend: str, reply: dict) -> Trajectory:
    raise_if_error(reply, f"Keras ({backend})")
    data = reply["trajectory"]
    if "network" in data:  # flat rows (Trajectory.network_rows) and the parameters' sizes
        rows = np.asarray(unpack(data["network"])).reshape(-1, data["width"])
        return Trajectory.of_network(data["sizes"], rows)
    return Trajectory(*(unpack(data[k]) for k in RECORDED))


# ---- the worker's side ----


@contextlib.contextmanager
def _run_settings(backend: str, dtype: str, keep_float64: bool = False):
    """What a Keras user sets for a float64 run, and the experiment that undoes the float32 promotion."""
    if backend == "jax":
        import jax

        jax.config.update("jax_enable_x64", dtype == "float64")  # JAX has no float64 without it
    from keras.src.backend.common import dtypes

    promoted = dtypes.BIT64_TO_BIT32_DTYPE["float64"]
    if keep_float64:
        dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"
    try:
        yield
    finally:
        dtypes.BIT64_TO_BIT32_DTYPE["float64"] = promoted


def serve() -> None:
    """Answer one request per line of stdin until it closes."""
    # The rows in the parent process come first in teaching order: a worker uses the CPU they leave.
    os.nice(NICENESS)
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything Keras or a framework prints goes to stderr, never into the replies
    backend = os.environ["KERAS_BACKEND"]
    import impl.keras as lesson

    for line in sys.stdin:
        request = json.loads(line)
        try:
            problem = problem_from_json(request["problem"])
            options = dict(request["options"])
            with _run_settings(backend, problem.dtype, options.pop("keep_float64", False)):
                trajectory = getattr(lesson, loop_of(problem))(problem, request["device"], **options)
            if isinstance(problem, Network):
                rows = trajectory.network_rows()
                table = {"network": pack(rows), "width": problem.values_per_update, "sizes": problem.sizes}
            else:
                table = {k: pack(getattr(trajectory, k)) for k in RECORDED}
            reply = {"trajectory": table}
        except Exception as error:  # sent back whole: the parent raises it with this message
            reply = {"error": type(error).__name__, "message": str(error)}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    os._exit(0)  # stdin closed: nothing left to save, and tearing down three frameworks takes seconds


if __name__ == "__main__":
    serve()
