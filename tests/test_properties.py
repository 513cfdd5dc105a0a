"""Random problems (Hypothesis): every implementation meets its claim, in both loops and both dtypes."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import bridge
from tests.helpers import batched_problems, check_claim, dtypes, examples_for, impl_params, one_weight_problems

pytestmark = pytest.mark.device  # runs on the suite's --device

# Cases Hypothesis found while this suite was written, kept so that every run checks them.
F32, F64 = "float32", "float64"
ONE_WEIGHT_FOUND = [
    bridge.OneWeight(0.00390625, 0.0, 2.5742382673285073e-34, 0.0, 1, F32),  # gradient subnormal: flushed
    bridge.OneWeight(298.0, 0.0, 5.605193857299268e-45, 2.0, 12, F32),  # flushed w0, then only one overflows
    bridge.OneWeight(35.0, 43.0, 0.0, 2.225073858507e-311, 1, F64),  # subnormal lr read as 0 (DAZ)
]
BATCHED_FOUND = [
    bridge.Batched([0.0], [1.0], 0.0, 0.0, 1, 1, F64),  # gradient -0.0 vs +0.0
    # found by the CLI fuzz test: a negative lr made the derived bound negative, so 1 ULP failed it
    bridge.with_changes(bridge.preset("mini_batch"), lr=-1.0, epochs=1),
    bridge.Batched(
        [0.0] * 17
        + [6754.0, 1e4, 1e4, 1e4, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 2830.0, 0.0, 0.0, 0.0, 10.0]
        + [0.0] * 4,
        [0.0, 0.0, 0.0, 7779.0, 0.0, 0.0, 0.0, 2221.0, 0.0, 0.0, 4326.0, 1529.0] + [0.0] * 24 + [1185.0],
        6.0,
        2.0,
        3,
        19,
        F32,
    ),  # one summation order overflows, the other does not
    bridge.Batched(
        [1525.0]
        + [0.0] * 10
        + [
            220.0,
            3191.0,
            3440.0,
            5324.0,
            6306.0,
            6621.0,
            8879.0,
            9863.0,
            1021.0,
            3446.0,
            5173.0,
            7003.0,
            7993.0,
            8292.0,
            8596.0,
            8640.0,
            9172.0,
            9748.0,
            0.0,
            2.225073858507203e-309,
        ],
        [1.0, 3.0, 1072.0] + [0.0] * 28,
        0.0,
        1.0,
        2,
        1,
        F64,
    ),  # huge w times a subnormal x
    bridge.Batched(
        [0.0, 0.0, 0.0, 1238.0, 1e4, 1e4, 1e4, 1.401298464324817e-45, 6.0, 22.0, 298.0, 0.0, 0.0, 0.0],
        [54.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 61.0, 6.0, 0.0, 0.0, 0.0, 0.0],
        1.0,
        1.0,
        3,
        4,
        F32,
    ),  # inf * flushed subnormal gives NaN where IEEE gives inf
    bridge.Batched(
        [0.0] * 6 + [4503.0, 3877.0, 2201.0, -4531.0, 6506.0],
        [0.0, 24.0, -70.0] + [0.0] * 8,
        2894.0,
        1.875,
        3,
        10,
        F32,
        b0=0.0,
    ),  # 2 e overflows both ways before 1/n (inf - inf: NaN); scaled by 1/n first it stays finite
]


def found(cases):
    """@example for each found case."""

    def decorate(test):
        for case in cases:
            test = example(problem=case)(test)
        return test

    return decorate


# Each test draws its problems inside, with the row's settings (helpers.examples_for): fewer for a Keras row.


@pytest.mark.parametrize("name", impl_params())
def test_random_one_weight_problem_meets_its_claim(name):
    @examples_for(name)
    @found(ONE_WEIGHT_FOUND)
    @given(problem=one_weight_problems())
    def meets_its_claim(problem):
        check_claim(name, problem)  # bitwise, but where TensorFlow and XLA flush subnormals

    meets_its_claim()


@pytest.mark.parametrize("name", impl_params())
def test_random_batched_problem_meets_its_claim(name):
    @examples_for(name)
    @found(BATCHED_FOUND)
    @given(problem=batched_problems())
    def meets_its_claim(problem):
        check_claim(name, problem)

    meets_its_claim()


@pytest.mark.parametrize("name", impl_params())
def test_exact_sums_with_power_of_two_batches_leave_no_departure(name):
    # Small integers, w0 = 0 and lr = 2^-6: every product and sum of the first
    # update is exact in any order, and 1/size is exact, so a reordered sum or a
    # 1/n applied early cannot change a value. Only the sign of a zero sum may
    # differ (a sum's starting value is +0.0 or its first term): 0 ULP apart.
    @examples_for(name)
    @given(
        x=st.lists(st.integers(-15, 15), min_size=8, max_size=8),
        y=st.lists(st.integers(-15, 15), min_size=8, max_size=8),
        size=st.sampled_from([1, 2, 4, 8]),
        dtype=dtypes,
    )
    def leaves_no_departure(x, y, size, dtype):
        problem = bridge.Batched(x, y, w0=0.0, lr=2.0**-6, epochs=1, batch_size=size, dtype=dtype)
        problem = bridge.with_changes(problem, x=problem.x[:size], y=problem.y[:size])
        verdict = check_claim(name, problem)
        assert max(verdict.max_ulps.values()) == 0, f"{name}: {verdict.summary()}"

    leaves_no_departure()
