"""compare(): one run against the reference, step by step, held to a claim: bitwise, or within the derived bound."""

from __future__ import annotations

import math

import numpy as np

from bridge.bounds import (
    MaskMayFlip,
    Start,
    batch_magnitudes,
    network_bounds,
    network_starts,
    non_finite_allowed,
    quantities,
    step_bounds,
)
from bridge.causes import in_plain_words
from bridge.claims import BITWISE, Claim, claim_for, expected_departure
from bridge.classifier_bounds import ClipMayFlip, adam_moments, classifier_bounds
from bridge.errors import InvalidProblem
from bridge.floats import same_bits, ulp_distance
from bridge.problems import PROBLEMS, Classifier, Network
from bridge.replay import check_replay
from bridge.trajectory import LAYERS, Trajectory
from bridge.verdict import NETWORK_QUANTITIES, Deviation, Verdict, group, network_labels

__all__ = [
    "BITWISE",
    "Claim",
    "Verdict",
    "agreed_digits",
    "claim_for",
    "compare",
    "expected_departure",
    "network_starts",
]


def _starts(problem, reference: Trajectory, candidate: Trajectory) -> list[Start]:
    """The parameters each step starts from, in both runs."""
    wa, wb = [problem.w0, *reference.weights[:-1]], [problem.w0, *candidate.weights[:-1]]
    if not problem.has_bias:
        return [Start(a, b) for a, b in zip(wa, wb)]
    ba, bb = [problem.b0, *reference.biases[:-1]], [problem.b0, *candidate.biases[:-1]]
    return [Start(*values) for values in zip(wa, wb, ba, bb)]


def compare(problem, reference: Trajectory, candidate: Trajectory, claim: Claim = BITWISE) -> Verdict:
    """Check candidate against reference, held to the claim given (bridge.claims.claim_for: the row's own).

    With no claim, bitwise is what is held: every recorded number equal, bit for bit. A run within its bound
    also says to how many significant digits it agrees (Verdict.digits) and its cause in plain words.
    """
    verdict = _compare(problem, reference, candidate, claim)
    if verdict.status == "bounded":
        verdict.digits = agreed_digits(problem, reference, candidate, verdict.compared_steps)
        verdict.plain = in_plain_words(claim.departure)
    return verdict


@np.errstate(over="ignore", invalid="ignore")
def agreed_digits(problem, reference: Trajectory, candidate: Trajectory, upto: int | None = None) -> int:
    """The significant digits the path (every parameter, at every step, up to step upto) shares with the
    reference's: the floor of -log10 of the largest relative difference, at most what the dtype holds (15, or 6
    in float32). The losses' and gradients' distances are the verdict's (in ULP)."""
    if isinstance(problem, Classifier):  # thousands of weights, many near 0: each layer's digits, normwise
        return min(
            _layer_digits(reference.parameters[n][:upto], candidate.parameters[n][:upto], problem) for n in LAYERS
        )
    if isinstance(problem, Network):
        path = [k for k, label in enumerate(network_labels(problem)) if group(label) == "parameters"]
        a, b = reference.network_rows()[:, path], candidate.network_rows()[:, path]
    else:
        kept = [q for q in ("weights", "biases") if len(getattr(reference, q)) == len(reference)]
        a, b = (np.array([getattr(t, q) for q in kept], dtype=np.float64).T for t in (reference, candidate))
    return shared_digits(a[:upto], b[:upto], problem.dtype)


@np.errstate(over="ignore", invalid="ignore")
def _layer_digits(a, b, problem) -> int:
    """The significant digits a layer's values share with the reference's, step by step, relative to the layer's
    largest value at that step (a weight that crosses 0 is not read as disagreeing in every digit)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    most = int(-math.log10(np.finfo(problem.dtype).eps))
    if a.size == 0:
        return most
    scale = np.maximum(abs(a).max(axis=1), abs(b).max(axis=1))
    apart = np.nanmax(np.where(np.isfinite(a) & np.isfinite(b), abs(a - b), 0), axis=1)
    worst = max((float(d / s) for d, s in zip(apart, scale) if d > 0 and s > 0), default=0.0)
    return most if worst == 0 else max(0, min(most, math.floor(-math.log10(worst))))


@np.errstate(over="ignore", invalid="ignore")
def shared_digits(a, b, dtype: str) -> int:
    """The significant digits every pair of finite numbers in a and b shares: the floor of -log10 of the largest
    relative difference, at most what the dtype holds (15, or 6 in float32)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    most = int(-math.log10(np.finfo(dtype).eps))
    size = np.maximum(abs(a), abs(b))
    apart = np.isfinite(a) & np.isfinite(b) & (size > 0) & (a != b)
    if not apart.any():
        return most  # only a zero's sign, or nothing, differs
    largest = float((abs(a - b)[apart] / size[apart]).max())
    return max(0, min(most, math.floor(-math.log10(largest))))


EPOCH_RECORDS = (
    "records per epoch keep a classifier's layers once an epoch, and compare checks every update's: compare "
    "with records per step (records='step', --records step), or train it alone (descent run)"
)


# A bound beyond float64's range is inf, as the arithmetic says: any finite distance is within it.
@np.errstate(over="ignore", invalid="ignore")
def _compare(problem, reference: Trajectory, candidate: Trajectory, claim: Claim = BITWISE) -> Verdict:
    if not isinstance(problem, PROBLEMS):
        raise TypeError(
            f"problem must be a bridge.OneWeight, Batched, Network or Classifier, got {type(problem).__name__}"
        )
    for trajectory in (reference, candidate):
        if not isinstance(trajectory, Trajectory):
            raise TypeError(f"compare takes two bridge.Trajectory objects, got {type(trajectory).__name__}")
    if not isinstance(claim, Claim):
        raise TypeError(f"claim must be a bridge.claims.Claim, got {type(claim).__name__}")
    if getattr(problem, "layers_every", 1) > 1:
        raise InvalidProblem(EPOCH_RECORDS)
    name, device, departure = candidate.implementation, candidate.device, claim.departure
    recorded = quantities(problem)
    verdict = Verdict(name, problem.dtype, "bitwise", departure and departure.cause, device=device)
    verdict.note = claim.note
    verdict.max_ulps = dict.fromkeys(recorded, 0)

    def fail(deviation: Deviation, reason: str) -> Verdict:
        verdict.status, verdict.failure, verdict.reason = "mismatch", deviation, reason
        return verdict

    if isinstance(problem, (Network, Classifier)):
        return _compare_network(problem, reference, candidate, verdict, departure, fail)
    if len(candidate) != len(reference) or any(len(getattr(candidate, q)) != len(candidate) for q in recorded):
        step = min(len(candidate), len(reference))
        return fail(
            Deviation(step, "weights", math.nan, math.nan, math.inf, 0.0),
            f"recorded {len(candidate)} updates, the reference {len(reference)}",
        )
    if not problem.has_bias and (candidate.biases or candidate.bias_grads):
        no_bias = Deviation(0, "biases", math.nan, math.nan, math.inf, 0.0)
        return fail(no_bias, "recorded a bias the model does not have")
    if candidate.workers:
        failure = check_replay(problem, candidate, verdict, claim.combine, departure and departure.precision)
        if failure is not None:
            return fail(*failure)
    batches = batch_magnitudes(problem) if departure else []
    starts = _starts(problem, reference, candidate) if departure else []
    worst_ratio = -1.0
    for step in range(len(reference)):
        bounds = None
        for q in recorded:
            a, b = getattr(reference, q)[step], getattr(candidate, q)[step]
            if same_bits(a, b):
                continue
            ulps = ulp_distance(a, b, problem.dtype)
            deviation = Deviation(step, q, a, b, ulps, 0.0)
            if departure is None:
                return fail(deviation, f"{deviation.describe()}; bitwise claimed")
            s = batches[step % len(batches)]
            if bounds is None:
                bounds = step_bounds(problem, s, starts[step], departure)
            if not (math.isfinite(a) and math.isfinite(b)):
                if non_finite_allowed(problem, s, starts[step], departure, a, b, bounds[q]):
                    verdict.status, verdict.compared_steps = "bounded", step
                    return verdict
                return fail(deviation, f"{deviation.describe()}; inf and NaN must agree exactly")
            deviation = Deviation(step, q, a, b, ulps, bounds[q])
            if not abs(a - b) <= bounds[q]:  # written so that a NaN bound fails too
                return fail(deviation, f"{deviation.describe()}; derived bound {bounds[q]:.3g} exceeded")
            verdict.status, verdict.max_ulps[q] = "bounded", max(verdict.max_ulps[q], ulps)
            ratio = abs(a - b) / bounds[q] if bounds[q] else 0.0
            if ratio > worst_ratio:
                worst_ratio, verdict.worst = ratio, deviation
    return verdict


@np.errstate(over="ignore", invalid="ignore")
def _compare_network(problem, reference, candidate, verdict: Verdict, departure, fail) -> Verdict:
    """compare() for a network or a classifier: every column of every update, bitwise or within its bounds."""
    verdict.max_ulps = dict.fromkeys(NETWORK_QUANTITIES, 0)
    if len(candidate) == len(reference) == 0:
        return verdict  # no update: nothing recorded, nothing to differ
    shapes_differ = len(candidate) != len(reference) or set(candidate.parameters) != set(LAYERS)
    if not shapes_differ:
        shapes_differ = any(
            np.shape(table[n]) != (len(candidate), problem.sizes[n])
            for table in (candidate.parameters, candidate.gradients)
            for n in LAYERS
        )
    if shapes_differ:
        step = min(len(candidate), len(reference))
        shape = f"{len(candidate)} updates of {sorted(candidate.parameters)}"
        return fail(
            Deviation(step, "parameters", math.nan, math.nan, math.inf, 0.0),
            f"recorded {shape}, the reference {len(reference)} updates of {list(LAYERS)}",
        )
    a_rows, b_rows, labels = reference.network_rows(), candidate.network_rows(), network_labels(problem)
    same = (a_rows.view(np.int64) == b_rows.view(np.int64)) | (np.isnan(a_rows) & np.isnan(b_rows))
    worst_ratio = -1.0
    bounds_at = None
    for step in np.flatnonzero(~same.all(axis=1)).tolist():
        columns = np.flatnonzero(~same[step]).tolist()
        if departure is None:
            q = labels[columns[0]]
            a, b = a_rows[step, columns[0]], b_rows[step, columns[0]]
            deviation = Deviation(step, q, float(a), float(b), ulp_distance(a, b, problem.dtype), 0.0)
            return fail(deviation, f"{deviation.describe()}; bitwise claimed")
        if bounds_at is None:
            bounds_at = _bounds_of(problem, reference, candidate, departure)
        try:
            bounds, unsure = bounds_at(step)
            verdict.masks_either_way += unsure
        except MaskMayFlip as unit:
            verdict.status, verdict.compared_steps = "bounded", step
            verdict.stopped = (
                f"unit {unit} of the hidden layer has a pre-activation within its bound of 0 (its mask may flip)"
            )
            return verdict
        except ClipMayFlip as sample:
            verdict.status, verdict.compared_steps = "bounded", step
            verdict.stopped = (
                f"sample {sample} of the batch has its label's probability within its bound of the clip at 1e-7 "
                "(its loss may be flat in one run only)"
            )
            return verdict
        if not np.isfinite(bounds[columns]).all() and np.isfinite(a_rows[step]).all():
            # the analysis overflowed: past here no bound is finite, and nothing more can be claimed
            verdict.status, verdict.compared_steps = "bounded", step
            verdict.stopped = "the parameters have grown so large that the derived bound overflows"
            return verdict
        for column in columns:
            a, b, q = float(a_rows[step, column]), float(b_rows[step, column]), labels[column]
            ulps = ulp_distance(a, b, problem.dtype)
            deviation = Deviation(step, q, a, b, ulps, float(bounds[column]))
            if not (math.isfinite(a) and math.isfinite(b)):
                if not np.isfinite(bounds).all():  # some intermediate may overflow: inf and NaN may part here
                    verdict.status, verdict.compared_steps = "bounded", step
                    return verdict
                return fail(deviation, f"{deviation.describe()}; inf and NaN must agree exactly")
            if not abs(a - b) <= bounds[column]:
                return fail(deviation, f"{deviation.describe()}; derived bound {bounds[column]:.3g} exceeded")
            counted = group(q)
            verdict.status, verdict.max_ulps[counted] = "bounded", max(verdict.max_ulps[counted], ulps)
            ratio = abs(a - b) / bounds[column] if bounds[column] else 0.0
            if ratio > worst_ratio:
                worst_ratio, verdict.worst = ratio, deviation
    return verdict


def _bounds_of(problem, reference: Trajectory, candidate: Trajectory, departure):
    """The function giving a step's bounds (network_bounds or classifier_bounds), from where both runs started it,
    and how many ReLU masks the bounds hold either way at that step."""
    ref_starts, cand_starts = network_starts(problem, reference), network_starts(problem, candidate)
    if isinstance(problem, Network):  # a network stops where a mask may flip (MaskMayFlip)
        return lambda step: (
            network_bounds(
                problem, problem.batches[step % len(problem.batches)], ref_starts[step], cand_starts[step], departure
            ),
            0,
        )
    adam = problem.optimizer == "adam"
    moments = adam_moments(problem, reference, candidate, departure) if adam else None
    return lambda step: classifier_bounds(
        problem,
        problem.batches[step % len(problem.batches)],
        ref_starts[step],
        cand_starts[step],
        departure,
        moments[step] if adam else None,
        step + 1,
    )
