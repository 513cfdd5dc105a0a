"""The network loop (issue 11): the problem, the presets' promises, and each claim's experiment."""

import math
import os
import random

import numpy as np
import pytest

import bridge
from bridge.bounds import MaskMayFlip, network_bounds
from bridge.causes import Departure
from bridge.compare import claim_for, compare, expected_departure
from bridge.floats import to_float32
from bridge.problems import with_changes
from tests.helpers import SINGLE_PROCESS, check_claim, fma, impl_params, train

DTYPES = ["float64", "float32"]
MLP = bridge.PRESETS["mlp"]
# The presets run one sample per update; mini-batches (16 samples in 5, 5, 5 and 1) reach the batch sums
MINI_BATCHES = {
    "mlp": with_changes(MLP, batch_size=5, epochs=10),
    "mlp_tanh": with_changes(bridge.PRESETS["mlp_tanh"], batch_size=5, epochs=10),
}


def pre_activations(problem, trajectory) -> np.ndarray:
    """Every z = x W1 + b1 the reference computed, one row per sample of each update."""
    w1 = [problem.w1.tolist(), *trajectory.parameters["W1"][:-1]]
    b1 = [problem.b1.tolist(), *trajectory.parameters["b1"][:-1]]
    rows = []
    for step in range(problem.updates):
        batch = problem.batches[step % len(problem.batches)]
        rows.append(np.outer(problem.x[batch], w1[step]) + np.asarray(b1[step]))
    return np.vstack(rows)


# ---- the problem ----


def test_network_is_validated_on_construction():
    x, y = [0.5, 1.0], [0.5, 1.0]
    cases = [
        (dict(hidden=0), "hidden must be >= 1"),
        (dict(activation="sigmoid"), "activation must be one of relu, tanh"),
        (dict(w1=[1.0, 2.0], b1=[0.0, 0.0], w2=[1.0, 1.0]), "give all of w1, b1, w2 and b2"),
        (dict(w1=[1.0], b1=[0.0, 0.0], w2=[1.0, 1.0], b2=0.0), "w1 must hold hidden=2 numbers, got 1"),
        (dict(lr=math.nan), "lr must be finite"),
        (dict(hidden=10**6), "hidden must be <= 4096"),
    ]
    for change, message in cases:
        fields = dict(x=x, y=y, hidden=2, activation="relu", lr=0.1, epochs=1, batch_size=1) | change
        with pytest.raises(bridge.InvalidProblem, match=message):
            bridge.Network(**fields)


def test_parameters_are_drawn_from_the_seed_or_given_and_rounded_once():
    drawn = bridge.Network([1.0], [1.0], 3, "tanh", 0.1, 1, 1, seed=7)
    again = bridge.Network([1.0], [1.0], 3, "tanh", 0.1, 1, 1, seed=7)
    assert drawn.initial == again.initial, "random.Random(seed) is stable"
    rng = random.Random(7)
    assert drawn.w1.tolist() == [rng.uniform(-1.5, 1.5) for _ in range(3)]
    given = bridge.Network([1.0], [1.0], 1, "relu", 0.1, 1, 1, "float32", w1=[0.1], b1=[0.2], w2=[0.3], b2=0.4)
    assert given.initial == {
        "W1": [to_float32(0.1)],
        "b1": [to_float32(0.2)],
        "W2": [to_float32(0.3)],
        "b2": [to_float32(0.4)],
    }
    wider = with_changes(MLP, hidden=8)
    assert wider.hidden == 8 and len(wider.w1) == 8, "a new width draws new parameters from the seed"
    with pytest.raises(ValueError):
        MLP.w1[0] = 1.0  # read-only, like the data


def test_mlp_needs_its_hidden_layer():
    # the best a single weight can do on y = |x| over symmetric x is w = 0: loss mean(x^2)
    x, y = MLP.x.astype(float), MLP.y.astype(float)
    best_w = float(np.dot(x, y) / np.dot(x, x))
    one_weight_loss = float(np.mean((best_w * x - y) ** 2))
    assert best_w == 0.0 and one_weight_loss > 1.3
    final = bridge.train("python", MLP).losses[-len(x) :]  # the last epoch, one sample a step
    assert np.mean(final) < one_weight_loss / 1000


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_pre_activation_of_mlp_comes_near_zero(dtype):
    # so that no ReLU's mask is a matter of rounding: 0.02 is some 10^13 (float64) or 10^5 (float32) times the bound
    problem = bridge.preset("mlp", dtype)
    z = pre_activations(problem, bridge.train("python", problem))
    assert np.abs(z).min() > 0.02


@pytest.mark.parametrize("dtype", DTYPES)
def test_mlp_tanh_stays_away_from_saturation_and_in_the_measured_range(dtype):
    problem = bridge.preset("mlp_tanh", dtype)
    z = pre_activations(problem, bridge.train("python", problem))
    assert np.abs(z).max() < bridge.bounds.TANH_RANGE, "the range where each library's tanh error was measured"
    # fitting a bend drives tanh units towards +-1 (h reaches 0.998); 1 - h^2 stays above 2^-8, so tanh's
    # derivative loses at most 8 of its bits to cancellation (the bound counts them, being absolute)
    assert (1 - np.tanh(z) ** 2).min() > 2**-8


def test_trajectory_shape_per_parameter():
    problem = with_changes(MLP, epochs=2)
    t = bridge.train("python", problem)
    assert len(t) == len(t.losses) == problem.updates == 32
    for table in (t.parameters, t.gradients):
        assert list(table) == ["W1", "b1", "W2", "b2"]
        assert [len(table[n][0]) for n in table] == [4, 4, 4, 1]
        assert all(len(rows) == 32 for rows in table.values())
    assert t.weights == t.grads == t.biases == [], "the one-weight fields stay empty"
    data = t.to_dict()
    assert data["parameters"]["W1"][0] == t.parameters["W1"][0] and data["gradients"]["b2"][31] == t.gradients["b2"][31]
    assert bridge.Trajectory.of_network(problem.sizes, t.network_rows()).parameters == t.parameters


# ---- conformance beyond the presets ----


STRESS = os.environ.get("DESCENT_STRESS") == "1"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("preset", list(MINI_BATCHES) if STRESS else ["mlp"])  # mlp_tanh: the stress profile
@pytest.mark.parametrize("name", impl_params())
def test_network_in_mini_batches_conforms(name, preset, dtype):
    check_claim(name, with_changes(MINI_BATCHES[preset], dtype=dtype), f"{preset} --batch-size 5 --epochs 10")


@pytest.mark.parametrize("name", impl_params())
def test_network_with_no_epochs_records_nothing(name):
    problem = with_changes(MLP, epochs=0)
    assert len(train(name, problem)) == 0
    check_claim(name, problem)


# ---- the claims on mlp, and the experiments behind them ----


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", impl_params(["numpy"]))
def test_hand_backprop_in_numpy_is_bitwise_on_mlp(name, dtype):
    problem = bridge.preset("mlp", dtype)
    verdict = compare(problem, bridge.train("python", problem), train(name, problem))  # no claim given: bitwise
    assert verdict.status == "bitwise", verdict.summary()


def test_only_the_reference_claims_bitwise_on_a_network():
    # numpy's claim stays bounded: its float32 dot is not left to right (below), though mlp happens to be bitwise;
    # torch's matmul fuses its products on some CPUs (below), so even one sample at a time departs there
    for dtype in DTYPES:
        claimed = [n for n in SINGLE_PROCESS if expected_departure(n, bridge.preset("mlp", dtype)) is None]
        assert claimed == ["python"]


def _left_to_right(h, w, r):
    total = r(h[0] * w[0])
    for a, b in zip(h[1:], w[1:]):
        total = r(total + r(a * b))
    return total


def _random_rows(dtype, hidden, count=400, seed=3):
    rng = random.Random(seed)
    for _ in range(count):
        yield (np.array([rng.uniform(-3, 3) for _ in range(hidden)], dtype) for _ in range(2))


def test_numpy_matmul_adds_in_order_in_float64_at_this_size_but_not_in_float32():
    # the cause in NUMPY_DOT: float64 at H = 4 left to right, each product rounded or fused into a multiply-add as
    # the CPU has it (an Intel Xeon with AVX-512: every one fused); float32 in an order of OpenBLAS's own
    for dtype, hidden, departs in (("float64", 4, False), ("float32", 4, True)):
        r = float if dtype == "float64" else to_float32
        rows = [tuple(pair) for pair in _random_rows(dtype, hidden)]
        found = [float((h.reshape(1, -1) @ w.reshape(-1, 1))[0, 0]) for h, w in rows]
        plain = sum(got != _left_to_right(h.tolist(), w.tolist(), r) for got, (h, w) in zip(found, rows))
        fused = sum(got != _fma_chain(h.tolist(), w.tolist(), dtype) for got, (h, w) in zip(found, rows))
        assert (min(plain, fused) > 0) == departs, f"{dtype}, H={hidden}: {plain} and {fused} of 400 differ"


def _fma_chain(h, w, dtype):
    """h . w left to right, each product after the first fused with the running sum: one rounding a term."""
    r = float if dtype == "float64" else to_float32
    total = r(h[0] * w[0])
    for a, b in zip(h[1:], w[1:]):
        total = fma(a, b, total, dtype)
    return total


@pytest.mark.parametrize("name", impl_params(["torch_manual"]))
def test_torch_matmul_adds_left_to_right_fused_or_not_as_the_cpu_has_it(name):
    # the cause in TORCH_DOT: on an Intel Xeon with AVX-512 every result is the FMA chain's (in both dtypes), and
    # mlp's very first loss in float32 tells the two apart; on earlier machines every one was left to right
    import torch

    kinds = set()
    for dtype in DTYPES:
        r = float if dtype == "float64" else to_float32
        for hidden in (4, 64):
            for h, w in _random_rows(dtype, hidden, count=100):
                got = float((torch.from_numpy(h).reshape(1, -1) @ torch.from_numpy(w).reshape(-1, 1))[0, 0])
                plain, fused = _left_to_right(h.tolist(), w.tolist(), r), _fma_chain(h.tolist(), w.tolist(), dtype)
                assert got in (plain, fused), f"{dtype}, H={hidden}: neither left to right nor an FMA chain"
                kinds.add("plain" if got == plain and got != fused else "fused" if got != plain else "either")
    assert len(kinds - {"either"}) == 1, f"one kernel for every size and dtype, found {kinds}"


@pytest.mark.parametrize("name", impl_params(["jax_grad"]))
def test_xla_dot_is_a_chain_of_fused_multiply_adds(name):
    from fractions import Fraction

    import jax
    import jax.numpy as jnp

    def fma_chain(h, w, r):
        total = r(h[0] * w[0])
        for a, b in zip(h[1:], w[1:]):
            total = r(float(Fraction(a) * Fraction(b) + Fraction(total)))
        return total

    for dtype in DTYPES:
        r = float if dtype == "float64" else to_float32
        plain = 0
        with jax.enable_x64(dtype == "float64"):
            for h, w in _random_rows(dtype, 4):
                got = float((jnp.asarray(h).reshape(1, -1) @ jnp.asarray(w).reshape(-1, 1))[0, 0])
                assert got == fma_chain(h.tolist(), w.tolist(), r)
                plain += got == _left_to_right(h.tolist(), w.tolist(), r)
        assert plain < 400, "the fused chain is not the plain sum"


@pytest.mark.parametrize("name", impl_params(["tf_tape", "torch_autograd", "jax_grad"]))
def test_relu_gradient_of_an_off_unit_with_a_negative_incoming_gradient(name):
    # the sign of a zero: TensorFlow multiplies by the mask (-0.0), torch and JAX select (+0.0)
    z, upstream = -1.0, -2.0
    if name == "torch_autograd":
        import torch

        v = torch.tensor(z, requires_grad=True)
        (torch.relu(v) * upstream).backward()
        got, expected = v.grad.item(), 0.0
    elif name == "tf_tape":
        import tensorflow as tf

        v = tf.Variable(z, dtype="float64")
        with tf.GradientTape() as tape:
            out = tf.nn.relu(v) * upstream
        got, expected = float(tape.gradient(out, v)), -0.0
    else:
        import jax

        got, expected = float(jax.grad(lambda v: jax.nn.relu(v) * upstream)(z)), 0.0
    assert got == 0 and math.copysign(1, got) == math.copysign(1, expected)


SIGN_OF_ZERO_ONLY = [  # (row, dtype) whose every difference on mlp is a zero of the other sign
    *((n, d) for n in ("python_autograd", "tf_tape", "torch_compile", "keras_tensorflow") for d in DTYPES),
    ("jax_grad", "float64"),  # in float32 its fused dot rounds differently too
]


@pytest.mark.slow  # a whole mlp run per row and dtype
@pytest.mark.parametrize(
    "name, dtype",
    [pytest.param(n, d, marks=impl_params([n])[0].marks, id=f"{n}-{d}") for n, d in SIGN_OF_ZERO_ONLY],
)
def test_rows_that_differ_on_mlp_only_by_the_sign_of_a_zero(name, dtype):
    problem = bridge.preset("mlp", dtype)
    a, b = bridge.train("python", problem).network_rows(), train(name, problem).network_rows()
    apart = a.view(np.int64) != b.view(np.int64)
    assert apart.any(), "the sign of some zero differs"
    assert (a[apart] == 0).all() and (b[apart] == 0).all()


def test_numpy_sums_along_an_axis_from_plus_zero():
    # why the reference's batch means start from +0.0 (impl/python.py column_mean): NumPy and BLAS do
    assert math.copysign(1, np.mean(np.array([[-0.0]]), axis=0)[0]) == 1.0
    assert math.copysign(1, float((np.array([[-0.0]]).T @ np.array([[1.0]]))[0, 0])) == 1.0


@pytest.mark.parametrize("name", impl_params(["torch_autograd", "tf_tape", "jax_grad"]))
def test_maximum_z_0_is_not_relu_at_zero(name):
    # the trap: relu's derivative at exactly 0 is 0 everywhere; maximum(z, 0)'s is not, and not the same twice
    if name == "torch_autograd":
        import torch

        slopes = []
        for f in (torch.relu, lambda v: torch.maximum(v, torch.tensor(0.0))):
            v = torch.tensor(0.0, requires_grad=True)
            f(v).backward()
            slopes.append(v.grad.item())
        assert slopes == [0.0, 0.5]
    elif name == "tf_tape":
        import tensorflow as tf

        slopes = []
        for f in (tf.nn.relu, lambda v: tf.maximum(v, 0.0)):
            v = tf.Variable(0.0)
            with tf.GradientTape() as tape:
                out = f(v)
            slopes.append(float(tape.gradient(out, v)))
        assert slopes == [0.0, 1.0]
    else:
        import jax
        import jax.numpy as jnp

        assert [float(jax.grad(f)(0.0)) for f in (jax.nn.relu, lambda v: jnp.maximum(v, 0.0))] == [0.0, 0.5]


# ---- the bound ----


def test_bound_is_not_loose_by_orders_of_magnitude():
    # the rows that depart most use a sizeable share of their bound somewhere: within 10x of what is seen
    for name, preset, dtype in (("numpy", "mlp_tanh", "float64"), ("python_autograd", "mlp_tanh", "float64")):
        problem = bridge.preset(preset, dtype)
        verdict = compare(
            problem, bridge.train("python", problem), bridge.train(name, problem), claim_for(name, problem)
        )
        worst = verdict.worst
        assert verdict.status == "bounded" and abs(worst.value - worst.reference) > worst.bound / 10, verdict.summary()


def test_a_pre_activation_within_its_bound_of_zero_stops_the_comparison():
    problem = bridge.Network([1.0, 1.0], [1.0, 1.0], 1, "relu", 0.5, 1, 1, w1=[1.0], b1=[0.0], w2=[1.0], b2=0.0)
    departure = Departure("reorders, for the test", True)
    start = problem.initial
    assert network_bounds(problem, slice(0, 1), start, start, departure).max() < 1e-14
    with pytest.raises(MaskMayFlip):  # z = 1e-20 +- 2e-20: either side of 0
        network_bounds(problem, slice(0, 1), {**start, "W1": [1e-20]}, {**start, "W1": [-1e-20]}, departure)
    # in compare(): the reference's step 0 leaves z = 0.5 - 0.5 = 0 for step 1, the candidate's W1 one ULP away
    rows = bridge.train("python", problem).network_rows()
    w1, b1 = (
        bridge.verdict.network_labels(problem).index("W1[0]"),
        bridge.verdict.network_labels(problem).index("b1[0]"),
    )
    rows[0, w1], rows[0, b1] = 0.5, -0.5
    reference = bridge.Trajectory.of_network(problem.sizes, rows)
    moved = rows.copy()
    moved[0, w1], moved[1, 0] = math.nextafter(0.5, 1), math.nextafter(rows[1, 0], math.inf)
    candidate = bridge.Trajectory.of_network(problem.sizes, moved)
    verdict = compare(problem, reference, candidate, claim_for("numpy", problem))  # a row that may depart
    assert verdict.status == "bounded" and verdict.compared_steps == 1, verdict.summary()
    assert "mask may flip" in verdict.headline()
    assert not compare(problem, reference, candidate).conforms  # bitwise claimed: no stop, the difference fails
