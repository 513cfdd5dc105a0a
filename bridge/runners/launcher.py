"""The runner for data-parallel rows: every run in a fresh launcher process of its own.

A data-parallel run needs what the rest of a process must not have: a device
count JAX fixes when it starts (JAX_NUM_CPU_DEVICES), TensorFlow's logical CPU
devices, torch's process group. So every run starts a fresh launcher (a new
interpreter running bridge/runners/serve.py, never a fork of the caller, which
may already hold JAX's and TensorFlow's threads); the row's module starts any
workers it needs from there. The problem goes in and the trajectory comes back
in the wire format. When the launcher ends, its devices and process groups end with it.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Protocol

from bridge import errors
from bridge.devices import parse
from bridge.parallel import OutOfTime, check_time, check_workers, duration_text, raise_time_limit, time_limit
from bridge.runners.processes import SERVE, SOURCE, environment, raise_if_error
from bridge.trajectory import Trajectory
from bridge.wire import problem_to_json, trajectory_from_json


class Loop(Protocol):
    """A data-parallel row's module: the batched loop over `workers` workers, recording each one's own gradient."""

    def batched(self, problem, device="cpu", workers=2) -> Trajectory: ...


class RankLoop(Protocol):
    """A row whose workers are processes of their own (Row.rank_loop): what each runs, given its rank."""

    def worker(self, problem, device="cpu", rank=0, workers=2, rendezvous="") -> Trajectory: ...


def launch(row, problem, device: str, workers: int, source: str | Path | None = None) -> Trajectory:
    """Run the row's data-parallel loop in a fresh launcher process; the trajectory it records.

    source: the folder the launcher (and so every worker) imports bridge and impl from; by default this
    checkout. The planted-bug tests give it a copy with a bug planted in an impl module.
    A launcher still running when the time limit (bridge.parallel.time_limit) passes is killed, and its
    workers with it (each dies with its parent); every file they wrote is in a folder removed here.
    """
    with tempfile.TemporaryDirectory(prefix=f"{row.name}-") as folder:
        return _launch(row, problem, device, workers, Path(source or SOURCE), folder)


def _launch(row, problem, device, workers, root: Path, folder: str) -> Trajectory:
    settings = {row.worker_devices: str(workers)} if row.worker_devices and parse(device).on_cpu else {}
    settings["TMPDIR"] = folder  # the rendezvous, the ranks' files, TensorFlow's and torch's own: all in here
    request = {
        "module": row.module,
        "loop": row.rank_loop or "batched",
        "ranks": bool(row.rank_loop),  # one process per worker, started by the launcher (bridge/runners/ranks.py)
        "problem": problem_to_json(problem),
        "device": str(device),  # the name it was asked for: the other side parses it
        "arguments": {"workers": workers},
    }
    limit = time_limit()
    with tempfile.TemporaryFile() as log:
        try:
            done = subprocess.run(
                SERVE,
                input=json.dumps(request) + "\n",
                stdout=subprocess.PIPE,
                stderr=log,
                env=environment(row, settings, root),
                cwd=root,
                text=True,
                timeout=limit,
            )
        except subprocess.TimeoutExpired:
            raise OutOfTime(
                f"{row.name}: its launcher had not finished after the time limit of {duration_text(limit)}, "
                f"and was stopped with its workers: shorten the run, or {raise_time_limit()}"
            ) from None
        reply = done.stdout.strip().splitlines()[-1:] if done.stdout else []
        log.seek(0)
        said = [ln.strip() for ln in log.read().decode(errors="replace").splitlines() if ln.strip()]
    if not reply:
        raise errors.BridgeError(
            f"{row.name}: the launcher stopped: {said[-1] if said else f'exit code {done.returncode}'}"
        )
    answer = json.loads(reply[0])
    last = [line for line in said if "Error" in line or "error" in line][-1:]  # a worker's own last word
    raise_if_error(answer, row.name, "".join(f" ({w})" for w in last))
    return trajectory_from_json(answer["trajectory"], workers)


class Launcher:
    """Every refusal before a launcher starts; the run itself in the launcher."""

    def prepare(self, row, problem, device, workers):
        check_workers(workers)
        check_time(row.name, row.pace, problem, workers)  # a run that cannot finish in time never starts
        if not parse(device).on_cpu:  # refused here, in the words every row uses, before a launcher starts
            row.check_device(device)
            if row.rank_loop:  # a process per worker, each on a GPU of its own: cuda:0 to cuda:N-1
                row.check_device(f"{parse(device).kind}:{workers - 1}")
        return None

    def run(self, row, problem, device, data, workers) -> Trajectory:
        return launch(row, problem, device, check_workers(workers))

    def start(self, row, problem, device, workers):
        self.prepare(row, problem, device, workers)
        return lambda: self.run(row, problem, device, None, workers)
