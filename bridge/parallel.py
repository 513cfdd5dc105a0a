"""Data-parallel runs: how each splits each batch across its workers, and how many workers a run may ask for."""

from __future__ import annotations

from bridge.errors import InvalidProblem

MAX_WORKERS = 8  # a bound on processes and devices started for one run; the lesson needs 2 or 3
DEFAULT_WORKERS = 2


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
