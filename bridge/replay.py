"""A data-parallel run replayed: its workers' own gradients combined by its engine's rule, in plain Python.

Each engine's rule (Row.combine) was established by experiment in tests/test_parallel.py.
With 2 workers the order is no question: a + b == b + a.
"""

from __future__ import annotations

import math

from bridge.causes import Combine
from bridge.devices import parse
from bridge.floats import rounder, same_bits, ulp_distance
from bridge.trajectory import Trajectory
from bridge.verdict import Deviation, Verdict

_ORDER_UNKNOWN = "the order in which {} adds {} contributions is observed but not documented"


def replay(rule: Combine, local: list[float], dtype: str) -> float:
    """The engine's combine rule in plain Python floats, rounded to dtype at every operation."""
    fl = rounder(dtype)
    terms = [fl(g * fl(1 / len(local))) for g in local] if rule.reciprocal else list(local)
    total = terms[0]
    for term in terms[1:]:  # worker 0 first: where the order is established (2 workers) it is no question
        total = fl(total + term)
    return total


def check_replay(problem, candidate: Trajectory, verdict: Verdict, rule: Combine | None):
    """A data-parallel run: parallel indeed, and bitwise against its combine rule where the order is known.

    Sets verdict.replay; returns (Deviation, reason) where the run breaks either claim, else None.
    """
    workers, world = candidate.workers, candidate.world
    name = candidate.implementation or "the run"
    ran = (world.get("world_size"), world.get("devices"))
    nothing = Deviation(0, "grads", math.nan, math.nan, math.inf, 0.0)
    if ran != (workers, workers):
        return nothing, f"asked for {workers} workers, its workers report world size {ran[0]} on {ran[1]} devices"
    if rule is None or rule.unreplayed:
        verdict.replay = f"not replayed: {rule.unreplayed if rule else 'no combine rule is claimed'}; the bound alone"
        return None
    tables = [("grads", "local_grads")] + ([("bias_grads", "local_bias_grads")] if problem.has_bias else [])
    for _, local in tables:
        rows = getattr(candidate, local)
        if len(rows) != len(candidate) or any(len(row) != workers for row in rows):
            return nothing, f"recorded {len(rows)} updates of its workers' gradients, not {len(candidate)} of {workers}"
    if not parse(candidate.device).on_cpu:  # NCCL, and XLA's and TensorFlow's GPU all-reduces, fix no order
        verdict.replay = (
            f"not replayed: on a GPU the order of {world.get('engine', name)}'s sum is not fixed; the bound alone"
        )
        return None
    if workers > rule.ordered_up_to:
        engine = world.get("engine", name)
        verdict.replay = f"not replayed: {_ORDER_UNKNOWN.format(engine, workers)}; the bound alone"
        return None
    fl = rounder(problem.dtype)
    for step in range(len(candidate)):
        for combined, local in tables:
            a, b = replay(rule, getattr(candidate, local)[step], problem.dtype), getattr(candidate, combined)[step]
            if not same_bits(a, b):
                deviation = Deviation(step, combined, a, b, ulp_distance(a, b, problem.dtype), 0.0)
                return deviation, f"{deviation.describe()} where its replay ({rule.rule}) is the reference"
        for value, grad in (("weights", "grads"), ("biases", "bias_grads"))[: len(tables)]:
            before = getattr(candidate, value)[step - 1] if step else (problem.w0 if value == "weights" else problem.b0)
            a, b = fl(before - fl(problem.lr * getattr(candidate, grad)[step])), getattr(candidate, value)[step]
            if not same_bits(a, b):
                deviation = Deviation(step, value, a, b, ulp_distance(a, b, problem.dtype), 0.0)
                return deviation, f"{deviation.describe()}, where w - lr * grad from its own gradient is the reference"
    verdict.replay = f"bitwise against its replay: {rule.rule}, from its {workers} workers' recorded gradients"
    return None
