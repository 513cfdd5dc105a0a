"""The runner for rows whose loop runs in this very process."""

from __future__ import annotations

from typing import Protocol

from bridge.problems import loop_of
from bridge.trajectory import Trajectory


class Loop(Protocol):
    """An in-process row's module: step 0, then one function per loop it runs, each on prepare()'s data."""

    def prepare(self, problem, device="cpu"): ...

    def one_weight(self, problem, device="cpu", data=None) -> Trajectory: ...

    def batched(self, problem, device="cpu", data=None) -> Trajectory: ...

    def network(self, problem, device="cpu", data=None) -> Trajectory: ...

    def classifier(self, problem, device="cpu", data=None) -> Trajectory: ...


class InProcess:
    """Import the row's module here, and call its loop."""

    def prepare(self, row, problem, device, workers):
        return row.load().prepare(problem, device)

    def run(self, row, problem, device, data, workers) -> Trajectory:
        return getattr(row.load(), loop_of(problem))(problem, device, data)

    def start(self, row, problem, device, workers):
        """Nothing starts before it is waited for: its framework is imported when the run is wanted."""
        return lambda: self.run(row, problem, device, self.prepare(row, problem, device, workers), workers)
