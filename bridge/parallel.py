"""Data-parallel rows: the batched loop with each batch split across workers, each row in a launcher of its own.

A data-parallel run needs what the rest of a process must not have: a device
count JAX fixes when it starts (JAX_NUM_CPU_DEVICES), TensorFlow's logical CPU
devices, torch's process group. So every run starts a fresh launcher process
(serve(), in a new interpreter), never a fork of the caller, which may already
hold JAX's and TensorFlow's threads; the launcher starts the workers
(impl/torch_ddp.py starts one process per worker from it). The problem goes in
and the trajectory comes back as one line of JSON each, numbers exact, as for
the Keras workers (bridge.keras_process). Nothing leaks back: when the
launcher ends, its devices and process groups end with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bridge import errors, keras_process
from bridge.devices import parse
from bridge.keras_process import pack, problem_from_json, problem_to_json, raise_if_error, unpack
from bridge.problems import Batched
from bridge.trajectory import Trajectory

MAX_WORKERS = 8  # a bound on processes and devices started for one run; the lesson needs 2 or 3
DEFAULT_WORKERS = 2
TIMEOUT_S = 600  # a launcher that has not answered by then is killed: a hung rendezvous never hangs the caller
LOCAL = ("local_grads", "local_bias_grads")  # each worker's own gradients: a row per update, a number per worker
RECORDED = keras_process.RECORDED + LOCAL


def check_workers(workers) -> int:
    """workers as a whole number from 1 to MAX_WORKERS, or InvalidProblem."""
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise errors.InvalidProblem(f"workers must be a whole number from 1 to {MAX_WORKERS}, got {workers!r}")
    if not 1 <= workers <= MAX_WORKERS:
        raise errors.InvalidProblem(f"workers must be from 1 to {MAX_WORKERS}, got {workers}")
    return workers


def shards(batch: slice, workers: int) -> list[slice]:
    """The batch split across the workers in data order: the first (m mod N) get one sample more; some may be empty."""
    m = batch.stop - batch.start
    size, more = divmod(m, workers)
    starts = [batch.start + k * size + min(k, more) for k in range(workers + 1)]
    return [slice(a, b) for a, b in zip(starts, starts[1:])]


def padded_size(batch: slice, workers: int) -> int:
    """The samples each shard holds where an engine needs equal shards: the largest shard's size."""
    return -(-(batch.stop - batch.start) // workers)


def _environment(name: str, workers: int, device: str) -> dict:
    """What a row's launcher must have before its framework starts, read from the row's registry entry."""
    from bridge.registry import REGISTRY, TENSORFLOW_ENVIRONMENT

    row, env = REGISTRY[name], dict(os.environ) | TENSORFLOW_ENVIRONMENT
    if "jax" in row.requires and parse(device)[0] == "cpu":
        env["JAX_NUM_CPU_DEVICES"] = str(workers)  # read once, when JAX starts: hence a process of its own
    if row.framework == "keras":
        env["KERAS_BACKEND"] = row.uses[0]  # keras_data_parallel: JAX, which DataParallel is built for
    return env


def launch(name: str, problem: Batched, device: str, workers: int, source: str | Path | None = None) -> Trajectory:
    """Run the row's data-parallel loop in a fresh launcher process; the trajectory it records.

    source: the folder the launcher (and so every worker) imports bridge and impl from; by default this
    checkout. The planted-bug tests give it a copy with a bug planted in an impl module.
    """
    root = Path(source or Path(__file__).resolve().parent.parent)
    env = _environment(name, workers, device)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    request = {"row": name, "problem": problem_to_json(problem), "device": device, "workers": workers}
    with tempfile.TemporaryFile() as log:
        try:
            done = subprocess.run(
                [sys.executable, "-c", "from bridge.parallel import serve; serve()"],
                input=json.dumps(request),
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=root,
                text=True,
                timeout=TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise errors.BridgeError(f"{name}: the launcher gave no answer in {TIMEOUT_S} s, and was stopped") from None
        reply = done.stdout.strip().splitlines()[-1:] if done.stdout else []
        log.seek(0)
        said = [ln.strip() for ln in log.read().decode(errors="replace").splitlines() if ln.strip()]
    if not reply:
        raise errors.BridgeError(
            f"{name}: the launcher stopped: {said[-1] if said else f'exit code {done.returncode}'}"
        )
    return _trajectory(name, json.loads(reply[0]), workers, said)


def _trajectory(name: str, reply: dict, workers: int, said: list[str]) -> Trajectory:
    last = [line for line in said if "Error" in line or "error" in line][-1:]  # a worker's own last word
    raise_if_error(reply, name, "".join(f" ({w})" for w in last))
    data = reply["trajectory"]
    trajectory = Trajectory(*(unpack(data[k]) for k in keras_process.RECORDED))
    for key in LOCAL:
        values = unpack(data[key])
        setattr(trajectory, key, [values[i : i + workers] for i in range(0, len(values), workers)])
    trajectory.workers, trajectory.world = workers, data["world"]
    return trajectory


# ---- the launcher's side ----


def serve() -> None:
    """Answer the one request on stdin: run the row's loop here, and write its trajectory."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever a framework prints goes to stderr, never into the reply
    request = json.loads(sys.stdin.read())
    try:
        import importlib

        problem = problem_from_json(request["problem"])
        module = importlib.import_module(f"impl.{request['row']}")
        trajectory = module.batched(problem, request["device"], request["workers"])
        table = {k: pack(_flat(getattr(trajectory, k))) for k in RECORDED}
        reply = {"trajectory": table | {"world": trajectory.world}}
    except Exception as error:  # sent back whole: the caller raises it with this message
        reply = {"error": type(error).__name__, "message": str(error)}
    replies.write(json.dumps(reply) + "\n")
    replies.flush()
    os._exit(0)  # tearing down a framework's device threads takes seconds, and there is nothing left to save


def _flat(values) -> list[float]:
    return [v for row in values for v in row] if values and isinstance(values[0], list) else list(values)
