"""What the test modules share: the suite's device, one param per row, the named checks, strategies, emulations.

No test module imports another; each imports what it shares from here. The rows'
facts come from their entries (bridge/rows.py), never from a list kept here.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import struct
import zlib
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st

import bridge
from bridge.claims import claim_for, expected_departure, reference_problem
from bridge.compare import compare
from bridge.floats import rounder
from bridge.recording import Recorder
from bridge.rows import IN_PROCESS, REGISTRY, reference_row

# The long matrices: DESCENT_STRESS=1 python -m pytest (nox -s stress) runs them as well.
STRESS = os.environ.get("DESCENT_STRESS") == "1"
stress = pytest.mark.stress  # skipped unless DESCENT_STRESS=1 (conftest.py)

# from --device: where the GPU-capable rows run; who cannot run there; whether the CPU-only rows are left out
SUITE = {"device": "cpu", "refused": {}, "device_rows_only": False}

REFERENCE = reference_row().name
PARALLEL = tuple(n for n, row in REGISTRY.items() if row.parallel)
SINGLE_PROCESS = tuple(n for n in REGISTRY if n not in PARALLEL)
# Keras on JAX and torch computes a float64 problem in float32 (Row.narrows, tests/test_keras.py):
# facts that hold to float64's precision are checked on every other implementation.
FLOAT64_EXACT = tuple(n for n in SINGLE_PROCESS if not REGISTRY[n].narrows)
IN_TEST_PARALLEL = (
    "data-parallel: the batched loop only, each run in a launcher and its workers; tests/test_parallel.py checks it"
)


def device_for(name: str) -> str:
    """Where the suite runs this implementation, by name: --device for the GPU-capable ones, else the CPU."""
    return str(REGISTRY[name].device_for(SUITE["device"]))


def train(name: str, problem):
    """bridge.train on the suite's device for this implementation."""
    return bridge.train(name, problem, device_for(name))


def refusal(name: str, parallel: bool = False) -> str | None:
    """Why this row cannot run in this suite: not installed, refused by --device, or data-parallel where not wanted."""
    row = REGISTRY[name]
    reason = row.install_hint() if not row.installed() else SUITE["refused"].get(name)
    if row.parallel and not parallel and reason is None:
        reason = IN_TEST_PARALLEL
    if SUITE["device_rows_only"] and not row.gpu:
        reason = "runs on the CPU only, and --device-rows-only leaves it out"
    return reason


def impl_params(names=None, parallel: bool = False):
    """One pytest param per implementation (default: every row), skipped with the reason when it cannot run here.

    The data-parallel rows are skipped, saying why, unless parallel=True: the registry-wide tests run many
    problems per row, and each of their runs starts processes. conftest.py marks each param from its row's
    entry (slow, process), so a test's tier follows its rows.
    """
    names = tuple(REGISTRY) if names is None else names
    params = []
    for name in names:
        reason = refusal(name, parallel)
        params.append(pytest.param(name, id=name, marks=pytest.mark.skipif(reason is not None, reason=reason or "")))
    return params


def claim(name: str, problem, device: str | None = None, workers: int = 2):
    """The claim a row makes on this problem, on the suite's device for it (or the one given)."""
    return claim_for(name, problem, device or device_for(name), workers)


def verdict_of(name: str, problem, reference=None, candidate=None, device: str | None = None):
    """compare() of a row's run (trained here unless given) against the reference, held to the row's claim.

    A classifier's Adam is held to the reference moved as the row writes it (bridge.claims.reference_problem).
    """
    own = reference_problem(name, problem)
    reference = reference_run(own) if reference is None else reference
    candidate = train(name, problem) if candidate is None else candidate
    return compare(own, reference, candidate, claim(name, problem, device or candidate.device))


_REFERENCE_RUNS = {}


def reference_run(problem):
    """The reference's run; a classifier's kept for the session (its pure-Python float32 run takes 15 s here)."""
    if not isinstance(problem, bridge.Classifier):
        return bridge.train(REFERENCE, problem)
    arrays = (problem.x, problem.labels, problem.w1, problem.b1, problem.w2, problem.b2)
    key = (repr(problem), *(zlib.crc32(np.ascontiguousarray(a).tobytes()) for a in arrays))
    if key not in _REFERENCE_RUNS:
        _REFERENCE_RUNS[key] = bridge.train(REFERENCE, problem)
    return _REFERENCE_RUNS[key]


def reproduce(name: str, problem, preset: str | None = None) -> str:
    """The command (or code) that reruns this comparison."""
    device = device_for(name)
    on = "" if device == "cpu" else f" --device {device}"
    if preset is not None:
        return f"descent compare --impl {name} --problem {preset} --dtype {problem.dtype}{on}"
    if isinstance(problem, bridge.OneWeight):
        return (
            f"descent compare --impl {name} --x {problem.x!r} --y {problem.y!r} --w0 {problem.w0!r} "
            f"--lr {problem.lr!r} --steps {problem.steps} --dtype {problem.dtype}{on}"
        )
    return (
        f"bridge.compare.compare(p, bridge.train('python', p), bridge.train({name!r}, p, {device!r}), "
        f"bridge.claims.claim_for({name!r}, p, {device!r})) with "
        f"p = bridge.Batched({problem.x.tolist()!r}, {problem.y.tolist()!r}, w0={problem.w0!r}, "
        f"lr={problem.lr!r}, epochs={problem.epochs}, batch_size={problem.batch_size}, dtype={problem.dtype!r}, "
        f"b0={problem.b0!r})"
    )


def check_bitwise(name: str, problem, preset: str | None = None):
    """Exact check: every loss, gradient and weight equal to the reference's, bit for bit."""
    verdict = compare(problem, bridge.train(REFERENCE, problem), train(name, problem))  # no claim: bitwise
    assert verdict.status == "bitwise", f"{name}: {verdict.summary()}; reproduce: {reproduce(name, problem, preset)}"
    return verdict


def check_within_bound(name: str, problem, preset: str | None = None):
    """Bounded check: bitwise, or within the derived bound where a departure is documented."""
    verdict = verdict_of(name, problem)
    assert verdict.conforms, f"{name}: {verdict.summary()}; reproduce: {reproduce(name, problem, preset)}"
    return verdict


def check_claim(name: str, problem, preset: str | None = None):
    """The check the row claims for this implementation, loop and device."""
    if expected_departure(name, problem, device_for(name)) is None:
        return check_bitwise(name, problem, preset)
    return check_within_bound(name, problem, preset)


# ---- Hypothesis strategies: random problems ----


def examples_for(name: str) -> settings:
    """A property test's settings for this row: the profile's examples, a quarter of them for a row in a process
    of its own (each Keras example is a round trip to its worker and a new model's fit: 0.4 to 0.8 s here)."""
    drawn = settings().max_examples  # the profile's (conftest.py)
    return settings(max_examples=drawn if REGISTRY[name].runner == IN_PROCESS else max(1, drawn // 4))


# Magnitudes from subnormal to large; the problem rounds them to its dtype.
numbers = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
rates = st.floats(min_value=-2.0, max_value=2.0)  # zero and negative too: a student types them (uphill)
dtypes = st.sampled_from(["float64", "float32"])


@st.composite
def one_weight_problems(draw, rates=rates):
    return bridge.OneWeight(
        x=draw(numbers),
        y=draw(numbers),
        w0=draw(numbers),
        lr=draw(rates),
        steps=draw(st.integers(0, 12)),
        dtype=draw(dtypes),
    )


@st.composite
def batched_problems(draw, rates=rates):
    n = draw(st.integers(1, 40))
    samples = st.lists(numbers, min_size=n, max_size=n)
    return bridge.Batched(
        draw(samples),
        draw(samples),
        w0=draw(numbers),
        lr=draw(rates),
        epochs=draw(st.integers(0, 3)),
        batch_size=draw(st.integers(1, 48)),
        dtype=draw(dtypes),
        b0=draw(st.none() | numbers),  # the lesson's model, or Keras's Dense(1) with a bias
    )


# ---- exact arithmetic: a fused multiply-add, and the lesson's loop with one ----

FLOAT32_OVERFLOW = Fraction(2**128 - 2**103)  # halfway between float32's largest number and 2^128: rounds to inf


def float32_nearest(q: Fraction) -> float:
    """q rounded once to the nearest float32 (ties to even), from exact arithmetic."""
    if abs(q) >= FLOAT32_OVERFLOW:
        return math.copysign(math.inf, q)
    guess = np.float32(float(q))  # may be one float32 off: rounding to float64 first can double-round
    candidates = [np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf))]
    best = min(candidates, key=lambda c: (abs(Fraction(float(c)) - q), int(c.view(np.int32)) & 1))
    return float(best)


def fma(a: float, b: float, c: float, dtype: str) -> float:
    """a * b + c with a single rounding, as a fused multiply-add instruction computes it."""
    if not all(map(math.isfinite, (a, b, c))):
        return rounder(dtype)(a * b + c)  # inf and NaN come out as from two roundings
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    if dtype == "float32":
        return float32_nearest(exact)
    try:
        return float(exact)  # correctly rounded; OverflowError where that is inf
    except OverflowError:
        return math.copysign(math.inf, exact)


def fused_one_weight(problem, forward=True, update=True):
    """impl/python.py's loop with w * x - y (forward) and w - lr * grad (update) each fused into one FMA."""
    r = rounder(problem.dtype)
    weight, trajectory = problem.w0, bridge.Trajectory()
    for _ in range(problem.steps):
        error = fma(weight, problem.x, -problem.y, problem.dtype) if forward else r(r(weight * problem.x) - problem.y)
        loss, grad = r(error * error), r(r(2 * error) * problem.x)
        weight = fma(-problem.lr, grad, weight, problem.dtype) if update else r(weight - r(problem.lr * grad))
        trajectory.record(loss, grad, weight)
    return trajectory


# ---- the recorder trap, and a PNG's size ----


class KeepsReferences(Recorder):
    """The trap: keep the objects themselves and read them after the run (tests/test_planted_bugs.py plants it)."""

    def __init__(self, problem, device=None):
        super().__init__(problem)
        self.values = []

    def keep(self, values):
        self.values.append(values)

    keep_flat = keep  # a network's layers, kept as the objects themselves too

    def rows(self):
        return [np.concatenate([np.ravel(np.asarray(v, dtype=np.float64)) for v in row]) for row in self.values]


def png_size(path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature and the chunk's CRC."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    assert struct.unpack(">I", data[29:33])[0] == zlib.crc32(data[12:29]), "IHDR checksum"
    return struct.unpack(">II", data[16:24])


@contextlib.contextmanager
def as_at_a_terminal():
    """For a test that presses Ctrl-C: the children started inside get SIGINT as a terminal's foreground command.

    A job a non-interactive shell starts in the background (`cmd &`, CI runners among them) inherits SIGINT
    ignored, and Python then never turns it into KeyboardInterrupt: the test would measure the runner, not
    descent. A Python-level handler here is reset to the default in the child when it starts (no preexec_fn,
    which would fork a multithreaded process).
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
