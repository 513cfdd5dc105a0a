"""A data-parallel run replayed: its workers' own gradients combined by its engine's rule, in plain Python.

Each engine's rule (Row.combine) was established by experiment in tests/test_parallel.py: where 1/N is
applied, and the order its sum adds the workers' gradients in, observed at 2 and 3 workers (with 2 the
order is no question: a + b == b + a). Beyond the worker counts observed, the bound alone.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np

from bridge.causes import Combine
from bridge.devices import parse
from bridge.floats import gamma, rounder, same_bits, ulp_distance
from bridge.parallel import shards
from bridge.trajectory import Trajectory
from bridge.verdict import NAMES, Deviation, Verdict

_ORDER_UNKNOWN = "the order in which {} adds {} contributions was observed at 2 and 3 only, and is not documented"


def replay(rule: Combine, local: list[float], dtype: str) -> float:
    """The engine's combine rule in plain Python floats, rounded to dtype at every operation, in its order."""
    fl = rounder(dtype)
    terms = [fl(g * fl(1 / len(local))) for g in local] if rule.reciprocal else list(local)
    first, *rest = rule.order(len(local))
    total = terms[first]
    for worker in rest:
        total = fl(total + terms[worker])
    return total


def check_replay(problem, candidate: Trajectory, verdict: Verdict, rule: Combine | None, precision=None):
    """A data-parallel run: parallel indeed, and bitwise against its combine rule where the order is known.

    precision: the dtype its workers compute in, where its claim says it narrows the problem's.

    Sets verdict.replay; returns (Deviation, reason) where the run breaks either claim, else None.
    """
    workers, world = candidate.workers, candidate.world
    name = candidate.implementation or "the run"
    ran = (world.get("world_size"), world.get("devices"))
    nothing = Deviation(0, "grads", math.nan, math.nan, math.inf, 0.0)
    if ran != (workers, workers):
        return nothing, f"asked for {workers} workers, its workers report world size {ran[0]} on {ran[1]} devices"
    failure = check_world(problem, candidate)
    if failure is not None:
        return nothing, failure
    verdict.seen = world.get("seen")
    failure = check_shares(problem, candidate, rule, precision)
    if failure is not None:
        return failure
    if rule is None or rule.unreplayed:
        verdict.replay = f"not replayed: {rule.unreplayed if rule else 'no combine rule is claimed'}; the bound alone"
        return None
    tables = [("grads", "local_grads")] + ([("bias_grads", "local_bias_grads")] if problem.has_bias else [])
    if candidate.local_losses:  # the loss: the shares added in the same order, never scaled (they make the mean)
        tables.append(("losses", "local_losses"))
    for _, local in tables:
        rows = getattr(candidate, local)
        if len(rows) != len(candidate) or any(len(row) != workers for row in rows):
            return nothing, f"recorded {len(rows)} updates of its workers' gradients, not {len(candidate)} of {workers}"
    if not parse(candidate.device).on_cpu:  # NCCL, and XLA's and TensorFlow's GPU all-reduces, fix no order
        verdict.replay = (
            f"not replayed: on a GPU the order of {world.get('engine', name)}'s sum is not fixed; the bound alone"
        )
        return None
    if rule.order(workers) is None:
        engine = world.get("engine", name)
        verdict.replay = f"not replayed: {_ORDER_UNKNOWN.format(engine, workers)}; the bound alone"
        return None
    fl = rounder(problem.dtype)
    for step in range(len(candidate)):
        for combined, local in tables:
            how = rule if combined != "losses" else dataclasses.replace(rule, reciprocal=False)
            a, b = replay(how, getattr(candidate, local)[step], problem.dtype), getattr(candidate, combined)[step]
            if not same_bits(a, b):
                deviation = Deviation(step, combined, a, b, ulp_distance(a, b, problem.dtype), 0.0)
                return deviation, f"{deviation.describe()} where its replay ({rule.rule}) is the reference"
        for value, grad in (("weights", "grads"), ("biases", "bias_grads"))[: 1 + problem.has_bias]:
            before = getattr(candidate, value)[step - 1] if step else (problem.w0 if value == "weights" else problem.b0)
            a, b = fl(before - fl(problem.lr * getattr(candidate, grad)[step])), getattr(candidate, value)[step]
            if not same_bits(a, b):
                deviation = Deviation(step, value, a, b, ulp_distance(a, b, problem.dtype), 0.0)
                return deviation, f"{deviation.describe()}, where w - lr * grad from its own gradient is the reference"
    whose = f"its {workers} workers' recorded gradients" if workers > 1 else "its one worker's recorded gradient"
    whose += " and shares of the loss" if candidate.local_losses and workers > 1 else ""
    order = "+".join(map(str, rule.order(workers)))
    verdict.replay = f"bitwise against its replay: {rule.rule}, from {whose}" + (
        f", added in the order {order} (observed; {rule.documented}, in no documented order)" if workers > 2 else ""
    )
    return None


def check_world(problem, candidate: Trajectory) -> str | None:
    """What each worker reported of itself: one report each, from a device or process of its own, and each
    batch's share the split gives it (its count of the samples it held). Returns why not, or None."""
    workers, seen = candidate.workers, candidate.world.get("seen")
    if not len(candidate):
        return None  # no update: nothing was computed, so nothing held (Keras's step never even compiled)
    if seen is None:
        return "its workers did not report what they held"
    if [s["worker"] for s in seen] != list(range(workers)):
        return f"asked for {workers} workers, reports came from workers {[s['worker'] for s in seen]}"
    places = {(s["on"], s.get("pid")) for s in seen}
    if len(places) != workers:
        return f"its {workers} workers ran in {len(places)} places: {sorted(map(str, places))}"
    for s in seen:
        given = [part.stop - part.start for part in (shards(batch, workers)[s["worker"]] for batch in problem.batches)]
        if s["samples"] != given:
            return (
                f"worker {s['worker']} ({s['on']}) held {s['samples']} samples of the first epoch's batches, "
                f"where its own shares hold {given}"
            )
    return None


# Operations on each term beyond the sum's own: w * x, + b, - y, * 2, * x, the 1/n (and fl(1/n)), the scale by N
_TERM_OPERATIONS = 8
_NARROWING = 4  # where a row computes a float64 problem in float32: x, y, w and b each rounded to it first


def share(
    x: list[Fraction],
    y: list[Fraction],
    n: int,
    weight: float,
    bias: float | None,
    scale: Fraction,
    dtype,
    operations: int = _TERM_OPERATIONS,
):
    """A worker's exact shares of the batch's mean loss and gradients, and how far a correct one may be:
    {quantity: (share, bound)} for "losses", "grads" and "bias_grads"; and the largest magnitude any of its
    operations meets.

    x, y: its samples, exactly; n: the batch's size. The loss's share is sum over its samples of
    (w x + b - y)^2 / n; the gradients' are sum of 2 (w x + b - y) x (and 2 (w x + b - y)), over n, times scale.
    The bound: every term is computed with at most `operations` roundings and summed in any order
    (Higham, ch. 3: gamma(m + k) times the sum of the terms' magnitudes, each error bounded through
    |w x| + |b| + |y|), plus the smallest normal number per operation where subnormals are flushed.
    """
    w, b = Fraction(weight), Fraction(bias or 0)
    errors = [w * xi + b - yi for xi, yi in zip(x, y)]
    sizes = [abs(w * xi) + abs(b) + abs(yi) for xi, yi in zip(x, y)]  # what each error is computed from
    factor = 2 * abs(scale) / n
    slack = Fraction(gamma(len(x) + operations, dtype))
    tiny = Fraction(float(np.finfo(dtype).tiny)) * (len(x) + operations) * (3 + 2 * max(map(abs, x), default=0))
    magnitudes = (
        sum(s * s for s in sizes) / n,
        factor * sum(s * abs(xi) for s, xi in zip(sizes, x)),
        factor * sum(sizes),
    )
    shares = (
        sum(e * e for e in errors) / n,
        2 * sum(e * xi for e, xi in zip(errors, x)) * scale / n,
        2 * sum(errors) * scale / n,
    )
    bounds = [slack * m + tiny * f for m, f in zip(magnitudes, (max([1, *sizes]) / n, factor, factor))]
    # the largest number any operation may meet: a term, or the sum
    terms = [max(s * s, 2 * s * max(1, abs(xi)) * max(1, abs(scale))) for s, xi in zip(sizes, x)]
    return dict(zip(("losses", "grads", "bias_grads"), zip(shares, bounds))), max([*magnitudes, *terms])


def check_shares(problem, candidate: Trajectory, rule: Combine | None, precision=None):
    """Each worker's recorded share of the loss and gradient against the exact ones of its own shard, at that
    step's parameters.

    A worker that computed on another worker's samples, on none or on the whole batch fails, with the step and
    the worker named. Checked until the parameters stop being finite or a term could overflow the dtype.
    Returns (Deviation, reason) or None.
    """
    workers, rows = candidate.workers, candidate.local_grads
    if not rows:
        return None  # not observed (the row's combine rule says why): the bound and the world figures alone
    scale = Fraction(workers if rule is not None and rule.reciprocal else 1)  # DDP's workers scale their share by N
    dtype = precision or problem.dtype  # the workers' own arithmetic: narrower where the row narrows
    operations = _TERM_OPERATIONS + (_NARROWING if dtype != problem.dtype else 0)
    largest = Fraction(float(np.finfo(dtype).max))
    xs, ys = ([Fraction(v) for v in values.tolist()] for values in (problem.x, problem.y))  # once, not per step
    weights = [problem.w0, *candidate.weights[:-1]]
    biases = [problem.b0, *candidate.biases[:-1]] if problem.has_bias else [None] * len(candidate)
    batches = [problem.batches[k % len(problem.batches)] for k in range(len(candidate))]
    recorded = [("grads", rows)] + ([("bias_grads", candidate.local_bias_grads)] if problem.has_bias else [])
    if candidate.local_losses:  # the loss's share, where the row records it: checked first
        recorded.insert(0, ("losses", candidate.local_losses))
    for step, (batch, weight, bias) in enumerate(zip(batches, weights, biases)):
        if not all(math.isfinite(v) for v in (weight, bias or 0.0)):
            return None
        n = batch.stop - batch.start
        for worker, part in enumerate(shards(batch, workers)):
            shares, reach = share(xs[part], ys[part], n, weight, bias, scale, dtype, operations)
            if not reach < largest / 4:  # a number may overflow: a correct worker may show inf; the bound judges
                return None
            for quantity, table in recorded:
                (exact, bound), value = shares[quantity], table[step][worker]
                if math.isfinite(value) and abs(Fraction(value) - exact) <= bound:
                    continue
                nearest, bound = float(exact), float(bound)
                deviation = Deviation(step, quantity, nearest, value, ulp_distance(nearest, value, dtype), bound)
                samples = f"samples {part.start}-{part.stop - 1}" if part.stop > part.start else "no samples"
                return deviation, (
                    f"worker {worker}'s {NAMES[quantity]} at step {step} is {value!r}, but its own share "
                    f"({samples} of the batch {batch.start}-{batch.stop - 1}) gives {nearest!r} within {bound:.3g}: "
                    "it did not compute on its own share"
                )
    return None
