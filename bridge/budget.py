"""The memory a run stores, known before it starts, and the budget it must fit.

Every update is recorded, so a run's memory grows with its length: a run of
10^20 steps can only end in an out-of-memory kill. Each row's cost was
measured (tests/test_budget.py measures it again): the peak resident memory
a run adds, per recorded value and per sample of data, counting everything
it keeps on the way: device buffers and per-step arrays (a JAX array or a
TensorFlow tensor per value costs far more than its 8 bytes), a compiled
scan's stacked outputs and their host copy, a Keras worker's copies of the
data and its records, and the Python lists the trajectory ends in.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

import numpy as np

from bridge.errors import BridgeError, InvalidProblem
from bridge.settings import Setting

ENVIRONMENT = "DESCENT_MEMORY_BUDGET"
OPTION = "--memory-budget"
DEFAULT = 2 * 2**30  # 2 GiB: every preset many times over, and an MNIST-sized classifier (records per epoch)


class Cost(NamedTuple):
    """What a row stores: bytes per recorded value, per sample of data; whether a one-weight run's steps are samples.

    The peak resident memory a run adds, measured on x86-64 Linux in float64 (tests/test_budget.py
    measures every row again), rounded up. A recorded value ends as a Python float in a list, 24 + 8
    bytes, and about 8 more while the list grows; TensorFlow keeps a tensor per step (about 1.6 KB a
    value) and eager JAX a tuple of arrays (about 4.9 KB a value). Per sample: the lists and temporaries
    of a batch, a Keras worker's copies. Each row's own is in its entry (bridge/rows.py).
    """

    per_value: int
    per_sample: int
    steps_are_samples: bool = False  # impl/keras.py: fit() sees the lesson's one sample once per step
    # How tests/test_budget.py measures it again: (updates of a one-weight run, samples of a one-update batched
    # run, training images of a one-update classifier), about a second each on 2 cores and well above the
    # measurement's grain; None: an estimate, not measured
    measured_at: tuple[int, ...] | None = None
    stress_only: tuple[str, ...] = ()  # loops whose measurement is slow enough for the stress profile only
    # A classifier's images: bytes per pixel of its training images, from what the row copies of them (a tensor on
    # the device; a Keras worker reads the set again and fit copies it; Python lists, or Value nodes). Measured in
    # float64 on synthetic images of 784 pixels, 20,000 to train and 10,000 to test (tests/test_budget.py)
    per_pixel: float = 0


UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


class OverBudget(BridgeError, MemoryError):
    """A run would store more than the memory budget allows."""


def parse_size(text: str, where: str = OPTION) -> int:
    """'512MB', '2GiB', '1e9' or a plain number of bytes, as bytes; InvalidProblem otherwise."""
    match = re.fullmatch(r"\s*([0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match and match.group(2).lower()
    if not match or unit not in UNITS:
        raise InvalidProblem(f"{where} must be a size such as 512MB or 2GiB, got {text!r}")
    try:
        size = float(match.group(1)) * UNITS[unit]
    except (ValueError, OverflowError):
        size = math.inf
    if not 1 <= size < 2**63:
        raise InvalidProblem(f"{where} must be between 1 byte and 8 EiB, got {text!r}")
    return int(size)


MEMORY = Setting(OPTION, ENVIRONMENT, DEFAULT, lambda text, where: parse_size(text, where), "SIZE")


def limit() -> int:
    """The budget in bytes: the CLI's --memory-budget, else DESCENT_MEMORY_BUDGET, else 2 GiB."""
    return MEMORY.value()


limited = MEMORY.limited  # within the block, the budget is size bytes (None: unchanged)


LAYERED_VALUE = 48  # a layered record's value: a float64 in its update's array, then a Python float in a list


def stored(cost: Cost, problem) -> int:
    """Bytes a run that costs this keeps at its peak on this problem, beyond what its framework takes to start.

    A network's or a classifier's update records its loss and each layer's gradient and values as 9 arrays:
    each costs what a recorded scalar does (per_value, measured on the scalar loops, where every value is an
    array of its own), and each number in them LAYERED_VALUE more. A classifier whose records are per epoch
    keeps those for one update an epoch, and every loss apart (one value each). Its data costs per pixel.
    """
    if hasattr(problem, "sizes"):
        arrays, every = 1 + 2 * len(problem.sizes), getattr(problem, "layers_every", 1)
        kept = problem.updates // every
        values = kept * (arrays * cost.per_value + problem.values_per_update * LAYERED_VALUE)
        if every > 1:
            values += problem.updates * (cost.per_value + LAYERED_VALUE)
        data = problem.x.size * (cost.per_pixel if hasattr(problem, "images") else cost.per_sample)
        return values + data
    values = problem.updates * problem.values_per_update
    if isinstance(problem.x, np.ndarray):
        samples = problem.x.size
    else:
        samples = problem.steps if cost.steps_are_samples else 1
    return values * cost.per_value + samples * cost.per_sample


def check(rows: dict[str, int], what: str = "this run") -> None:
    """Raise OverBudget, naming the limit and how to raise it, unless the rows' bytes (held at once) fit."""
    total, budget = sum(rows.values()), limit()
    if total <= budget:
        return
    largest = max(rows, key=rows.get)
    held = f" ({len(rows)} rows held at once; {largest} alone {size_text(rows[largest])})" if len(rows) > 1 else ""
    raise OverBudget(
        f"{what} would store about {size_text(total)}{held}, over the memory budget of {size_text(budget)}: "
        f"shorten it, or raise the budget with {MEMORY.how_to_raise()}"
    )


def check_run(name: str, cost: Cost, problem) -> None:
    """The budget check of one row's run: what bridge.train does before it starts."""
    check({name: stored(cost, problem)}, f"a run of {name}")


def size_text(size: int) -> str:
    """Bytes for a person: '1.0 GiB', '24.0 TB', or a power of ten for sizes no disk has."""
    if size >= 10**18:
        return f"10^{len(str(size)) - 1} bytes"
    for unit, scale in (("TB", 10**12), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"
