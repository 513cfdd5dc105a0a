"""Data-parallel runs: how each splits each batch across its workers, how many workers and how long a run may have."""

from __future__ import annotations

import math
from typing import NamedTuple

from bridge.errors import BridgeError, InvalidProblem
from bridge.settings import Setting

MAX_WORKERS = 8  # a bound on processes and devices started for one run; the lesson needs 2 or 3
DEFAULT_WORKERS = 2


class OutOfTime(BridgeError):
    """A data-parallel run would take, or took, longer than the time limit."""


def check_workers(workers) -> int:
    """workers as a whole number from 1 to MAX_WORKERS, or InvalidProblem."""
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise InvalidProblem(f"workers must be a whole number from 1 to {MAX_WORKERS}, got {workers!r}")
    if not 1 <= workers <= MAX_WORKERS:
        raise InvalidProblem(f"workers must be from 1 to {MAX_WORKERS}, got {workers}")
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


# How long a data-parallel run may take: its launcher is stopped, with its workers, when the limit passes.
TIME_ENVIRONMENT = "DESCENT_TIME_LIMIT"
TIME_OPTION = "--time-limit"
DEFAULT_TIME_S = 600  # a hung rendezvous or a run too long for a lesson never hangs the caller longer


class Pace(NamedTuple):
    """How long a row's data-parallel run takes: its launcher's start, and each update per worker.

    Measured on this project's 2-core Xeon (CPU) with mini_batch at 2 and 3 workers, 1 and 501
    epochs (the difference over the 2,000 updates between); an update's cost grows with the workers,
    who share the cores.
    """

    start_s: float
    update_ms_per_worker: float

    def estimate(self, problem, workers: int) -> float:
        """Seconds a run of the problem at this many workers is expected to take here."""
        return self.start_s + problem.updates * workers * self.update_ms_per_worker / 1000


def parse_seconds(text, where: str = TIME_OPTION) -> float:
    """A positive number of seconds ('600', '1.5e4'), or InvalidProblem."""
    try:
        seconds = float(text)
    except (TypeError, ValueError):
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise InvalidProblem(f"{where} must be a positive number of seconds, got {text!r}")
    return seconds


TIME = Setting(TIME_OPTION, TIME_ENVIRONMENT, DEFAULT_TIME_S, parse_seconds, "SECONDS")


def time_limit() -> float:
    """The seconds a launcher may run: the CLI's --time-limit, else DESCENT_TIME_LIMIT, else 600."""
    return TIME.value()


time_limited = TIME.limited  # within the block, a launcher may run this many seconds (None: unchanged)


def raise_time_limit() -> str:
    return f"raise the limit with {TIME.how_to_raise()}"


def check_time(name: str, pace: Pace | None, problem, workers: int) -> None:
    """Refuse, before it starts, a run expected to outlast the time limit, naming how to raise it."""
    if pace is None:
        return
    expected, limit = pace.estimate(problem, workers), time_limit()
    if expected > limit:
        raise OutOfTime(
            f"a run of {name} at {workers} {'worker' if workers == 1 else 'workers'} would take about "
            f"{duration_text(expected)} here ({problem.updates:,} updates), over the time limit of "
            f"{duration_text(limit)}: shorten it, or {raise_time_limit()}"
        )


def duration_text(seconds: float) -> str:
    """Seconds for a person: '45 s', '12 min', '2.7 h', or days."""
    for unit, scale in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * scale:
            return f"{seconds / scale:.{0 if unit == 'min' else 1}f} {unit}"
    return f"{seconds:.0f} s"
