"""Random problems (Hypothesis): the one-weight loop is bitwise, the batched loop meets its claim."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bridge
from tests.conftest import check_claim, impl_params

# Magnitudes from subnormal to large; the problem rounds them to its dtype.
numbers = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
rates = st.floats(min_value=0.0, max_value=2.0)
dtypes = st.sampled_from(["float64", "float32"])


@st.composite
def one_weight_problems(draw):
    return bridge.OneWeight(
        x=draw(numbers),
        y=draw(numbers),
        w0=draw(numbers),
        lr=draw(rates),
        steps=draw(st.integers(0, 12)),
        dtype=draw(dtypes),
    )


@st.composite
def batched_problems(draw):
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
    )


@pytest.mark.parametrize("name", impl_params())
@given(problem=one_weight_problems())
def test_random_one_weight_problem_meets_its_claim(name, problem):
    check_claim(name, problem)  # bitwise, but where TensorFlow and XLA flush subnormals


@pytest.mark.parametrize("name", impl_params())
@given(problem=batched_problems())
def test_random_batched_problem_meets_its_claim(name, problem):
    check_claim(name, problem)


@pytest.mark.parametrize("name", impl_params())
@given(
    x=st.lists(st.integers(-15, 15), min_size=8, max_size=8),
    y=st.lists(st.integers(-15, 15), min_size=8, max_size=8),
    size=st.sampled_from([1, 2, 4, 8]),
    dtype=dtypes,
)
def test_exact_sums_with_power_of_two_batches_leave_no_departure(name, x, y, size, dtype):
    # Small integers, w0 = 0 and lr = 2^-6: every product and sum of the first
    # update is exact in any order, and 1/size is exact, so a reordered sum or a
    # 1/n applied early cannot change a value. Only the sign of a zero sum may
    # differ (a sum's starting value is +0.0 or its first term): 0 ULP apart.
    problem = bridge.Batched(x, y, w0=0.0, lr=2.0**-6, epochs=1, batch_size=size, dtype=dtype)
    problem = bridge.with_changes(problem, x=problem.x[:size], y=problem.y[:size])
    verdict = check_claim(name, problem)
    assert max(verdict.max_ulps.values()) == 0, f"{name}: {verdict.summary()}"
