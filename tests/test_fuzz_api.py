"""The Python API fuzzed: problems, train and compare raise only BridgeError (TypeError: not a problem at all)."""

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import bridge
from bridge.compare import compare
from tests.helpers import verdict_of

ODD = [None, "1.5", "", b"1", [], [1.0], {}, object(), 1 + 2j, Decimal("1.5"), True, math.nan, -math.inf]
NUMBERS = st.one_of(
    st.floats(),
    st.integers(-(10**400), 10**400),
    st.fractions(max_denominator=10**6),
    st.sampled_from(
        [1e308, -1e308, 5e-324, 3.5e38, -0.0, 0.0, np.float32(1.5), np.float64(1e200), Fraction(10**400, 3)]
    ),
    st.sampled_from(ODD),
)
COUNTS = st.one_of(st.integers(-3, 40), st.sampled_from([10**30, 2.0, 1.5, np.int64(3), None, "3", True]))
SAMPLES = st.one_of(
    st.lists(st.one_of(st.floats(), st.integers(-(10**400), 10**400)), max_size=6),
    st.sampled_from([[], [[1.0]], "ab", b"ab", 3.0, None, [1.0, None], range(3), iter([1.0, 2.0]), np.zeros((2, 2))]),
)
DTYPES = st.sampled_from(["float64", "float32", "float16", "", None, 64, ["float64"]])
DEVICES = st.sampled_from(["cpu", "cuda", "gpu:1", "tpu", "", None, 0, "cpu:0"])


def attempt(make):
    """make() either returns or raises a BridgeError; nothing else gets out."""
    try:
        return make()
    except bridge.BridgeError as error:
        message = str(error)
        assert message and "\n" not in message and len(message) < 400, f"{type(error).__name__}: {message!r}"
        return None


@given(x=NUMBERS, y=NUMBERS, w0=NUMBERS, lr=NUMBERS, steps=COUNTS, dtype=DTYPES, device=DEVICES)
def test_one_weight_and_train_raise_only_bridge_errors(x, y, w0, lr, steps, dtype, device):
    problem = attempt(lambda: bridge.OneWeight(x, y, w0, lr, steps, dtype))
    if problem is not None:
        for name in ("python", "numpy"):
            trajectory = attempt(lambda: bridge.train(name, problem, device))  # noqa: B023 (called at once)
            if trajectory is not None:
                assert verdict_of(name, problem, candidate=trajectory).conforms


@given(x=SAMPLES, y=SAMPLES, w0=NUMBERS, lr=NUMBERS, epochs=COUNTS, batch_size=COUNTS, b0=st.none() | NUMBERS)
def test_batched_and_train_raise_only_bridge_errors(x, y, w0, lr, epochs, batch_size, b0):
    problem = attempt(lambda: bridge.Batched(x, y, w0, lr, epochs, batch_size, b0=b0))
    if problem is not None:
        trajectory = attempt(lambda: bridge.train("numpy", problem))
        if trajectory is not None:
            assert verdict_of("numpy", problem, candidate=trajectory).conforms


# Hypothesis also draws the code's own string constants, "numpy" among them: a real name is not a fuzzed one
@given(
    name=st.one_of(
        st.sampled_from(["", "PYTHON", "nope", None, 3, ["python"]]),
        st.text(max_size=5).filter(lambda text: text not in bridge.REGISTRY),
    )
)
def test_train_refuses_unknown_names_with_a_bridge_error(name):
    assert attempt(lambda: bridge.train(name, bridge.preset("practice"))) is None


def test_not_a_problem_is_a_type_error():
    for not_a_problem in (None, 3, "lesson", {"x": 1.5}):
        for call in (lambda: bridge.train("python", not_a_problem), lambda: compare(not_a_problem, None, None)):  # noqa: B023
            try:
                call()
            except TypeError as error:
                assert "bridge.OneWeight, Batched, Network or Classifier" in str(error)
            else:
                raise AssertionError(f"{not_a_problem!r} was taken for a problem")


def test_a_budget_refusal_names_the_limit_and_both_ways_to_raise_it(monkeypatch):
    problem = bridge.OneWeight(1.5, 3.0, 0.0, 0.1, 10**20)
    try:
        bridge.train("python", problem)
    except bridge.BridgeError as error:
        assert "2.0 GiB" in str(error) and "--memory-budget" in str(error) and "DESCENT_MEMORY_BUDGET" in str(error)
    else:
        raise AssertionError("a run of 10^20 steps was not refused")
    monkeypatch.setenv("DESCENT_MEMORY_BUDGET", "nonsense")
    assert attempt(lambda: bridge.train("python", bridge.preset("practice"))) is None
