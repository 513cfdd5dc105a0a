"""One runner per kind of row: in this process, in a Keras worker, in a launcher. Each receives a row, never a name.

A runner offers the three calls bridge.training makes (Runner); which runner a row
gets is the row's own fact (Row.runner).
"""

from __future__ import annotations

from typing import Protocol

from bridge.rows import IN_PROCESS, KERAS_WORKER, LAUNCHER
from bridge.runners import in_process, keras_worker, launcher


class Runner(Protocol):
    """What training needs of a runner: step 0 (prepare), the loop (run), and a run begun now, waited for later."""

    def prepare(self, row, problem, device: str, workers: int): ...

    def run(self, row, problem, device: str, data, workers: int): ...

    def start(self, row, problem, device: str, workers: int): ...


RUNNERS: dict[str, Runner] = {
    IN_PROCESS: in_process.InProcess(),
    KERAS_WORKER: keras_worker.KerasWorkers(),
    LAUNCHER: launcher.Launcher(),
}
LOOPS = {  # the loop functions each kind of runner calls in a row's module, by signature (tests/test_layers.py)
    IN_PROCESS: in_process.Loop,
    KERAS_WORKER: keras_worker.Loop,
    LAUNCHER: launcher.Loop,
}


def runner_for(row) -> Runner:
    return RUNNERS[row.runner]


def close_all(kill: bool = False) -> None:
    """End every process a runner started: told to stop (kill: at once, for Ctrl-C)."""
    keras_worker.close_all(kill)


__all__ = ["LOOPS", "RUNNERS", "Runner", "close_all", "runner_for"]
