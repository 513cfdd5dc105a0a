"""In a launcher: one process per worker, for a row whose workers are processes of their own (torch_ddp).

The launcher starts N fresh interpreters (spawned, never forked), each running
the row's `worker(problem, device, rank, workers, rendezvous)` and writing what
it recorded, and what it reports, to a file of its own in the wire format; then
it reads them all and makes one trajectory: rank 0's records, every rank's own
gradient, and the world the ranks reported. A rank that fails says why in its
file; every rank is waited for, for a bounded time, and the folder goes with the run. The moment one rank
fails (or is killed), the others are stopped: they would only wait in a collective for a peer that is gone.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import multiprocessing.connection
import os
import tempfile
import time

from bridge.errors import BridgeError
from bridge.runners.processes import die_with_parent
from bridge.trajectory import LOCAL
from bridge.wire import error_to_json, problem_from_json, trajectory_from_json, trajectory_to_json

JOIN_S = 600  # ranks that have not finished by then are stopped: a hung rendezvous never hangs the launcher
GRACE_S = 5  # after one rank has failed, how long the others have to end of themselves


def run(module: str, loop: str, problem_json: dict, device: str, workers: int):
    """Every rank's run of module.loop, gathered into one trajectory."""
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="ranks-") as folder:
        ranks = [
            spawn.Process(target=rank_main, args=(module, loop, problem_json, device, rank, workers, folder))
            for rank in range(workers)
        ]
        for process in ranks:
            process.start()
        stopped = _wait(ranks)
        found = [STOPPED if ranks[k] in stopped else _read(folder, k) for k in range(workers)]  # before it goes
    failed = [f"rank {k}: {r['error']}: {r['message']}" for k, r in enumerate(found) if "error" in r]
    if failed:
        error = BridgeError(f"{module.removeprefix('impl.')} failed: {'; '.join(failed)}")
        error.detail = "".join(f"rank {k}: {r.get('traceback', '')}" for k, r in enumerate(found) if "error" in r)
        raise error
    return _gathered(found, workers)


STOPPED = {"error": "WorkerStopped", "message": "stopped, another rank having failed (or the time limit passed)"}


def _wait(ranks: list) -> list:
    """Until every rank has ended, JOIN_S at most, or GRACE_S after one has failed; stop the rest and return them.

    Without this, a rank whose peer was killed waits out gloo's collective timeout (60 s) before it fails too.
    The grace lets ranks that fail of the same cause (a bad address, say) say so themselves.
    """
    deadline = time.monotonic() + JOIN_S
    running = list(ranks)
    while running and time.monotonic() < deadline:
        if any(p.exitcode for p in ranks):
            deadline = min(deadline, time.monotonic() + GRACE_S)
        multiprocessing.connection.wait([p.sentinel for p in running], timeout=max(0, deadline - time.monotonic()))
        running = [p for p in running if p.exitcode is None]
    for process in running:
        process.kill()
        process.join()
    return running


def rank_main(module, loop, problem_json, device, rank, workers, folder):
    """One rank, in a process of its own: its loop, then its file; then leave at once."""
    die_with_parent()  # a launcher killed (its timeout, Ctrl-C, descent's end) takes its ranks with it
    try:
        problem = problem_from_json(problem_json)
        rendezvous = os.path.join(folder, "rendezvous")
        trajectory = getattr(importlib.import_module(module), loop)(problem, device, rank, workers, rendezvous)
        trajectory.world = dict(trajectory.world, rank=rank, pid=os.getpid())
        reply = {"trajectory": trajectory_to_json(trajectory, problem)}
    except Exception as error:
        reply = error_to_json(error)
    with open(os.path.join(folder, f"rank{rank}.json"), "w") as file:
        json.dump(reply, file)
    # Leave without the interpreter's teardown: gloo's threads, destroyed there while still joinable, made
    # 1 run in 10 end in std::terminate (SIGABRT) after its work was done and saved
    os._exit(0 if "trajectory" in reply else 1)


def _read(folder: str, rank: int) -> dict:
    path = os.path.join(folder, f"rank{rank}.json")
    if not os.path.exists(path):
        return {"error": "WorkerLost", "message": "it ended without a word (killed, or out of time)"}
    with open(path) as file:
        return json.load(file)


def _gathered(found: list[dict], workers: int):
    """Rank 0's records, each rank's own gradient beside the others', and the world they reported."""
    ranks = [trajectory_from_json(reply["trajectory"], workers=1) for reply in found]
    trajectory, first = ranks[0], ranks[0].world
    for key in LOCAL:  # each rank's rows of one, side by side: one row of N per update
        setattr(trajectory, key, [list(row) for row in zip(*([v for (v,) in getattr(r, key)] for r in ranks))])
    trajectory.workers = workers
    trajectory.world = {
        "engine": first["engine"],
        "world_size": first["world_size"],
        "devices": len({(r.world["pid"], r.world["device"]) for r in ranks}),  # distinct processes and devices
        "ranks": sorted(r.world["rank"] for r in ranks),
        "seen": [  # what each rank reported of itself: its process, its device, the samples it was given
            {"worker": r.world["rank"], "on": r.world["device"], "pid": r.world["pid"], "samples": r.world["samples"]}
            for r in ranks
        ],
    }
    return trajectory
