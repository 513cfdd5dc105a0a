"""Each departure from bitwise, and each choice made to avoid one, pinned by experiment.

If a framework changes behaviour, these tests fail and say which comment or
row of bridge.compare.DEPARTURES has gone stale.
"""

import math
import platform
import random
from fractions import Fraction

import numpy as np
import pytest

import bridge
from bridge.compare import DEPARTURES, compare, expected_departure
from bridge.floats import rounder, to_float32
from tests.conftest import FLOAT64_EXACT, impl_params

RNG = random.Random(20261124)
SAMPLE = [RNG.uniform(-10, 10) for _ in range(20_000)]
GLIBC = platform.libc_ver()[0] == "glibc"


def exact_square(value: float, dtype: str) -> float:
    """The correctly rounded square, from exact rational arithmetic."""
    return rounder(dtype)(float(Fraction(value) ** 2))  # float32: value^2 is exact in float64 first


def loss_of(name: str, value: float, dtype: str) -> float:
    """The first loss an implementation reports when its error (pred - y) is value."""
    return bridge.train(name, bridge.OneWeight(x=1.0, y=0.0, w0=value, lr=0.0, steps=1, dtype=dtype)).losses[0]


@pytest.mark.skipif(not GLIBC, reason="the misrounding seen is glibc's pow(); other libms may round correctly")
def test_libm_pow_misrounds_some_squares():
    # why impl/python.py writes error * error and impl/numpy.py np.square
    misrounded = [v for v in SAMPLE if v**2 != exact_square(v, "float64")]
    assert misrounded, "glibc pow(x, 2) rounded every square correctly: the comments in impl/ are stale"
    assert any(np.float64(v) ** 2 != exact_square(v, "float64") for v in misrounded)  # NumPy scalars call it too
    assert all(v * v == exact_square(v, "float64") for v in misrounded)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", impl_params())
def test_every_loss_is_the_correctly_rounded_square(name, dtype):
    if name not in FLOAT64_EXACT and dtype == "float64":
        dtype = "float32"  # its float64 loss is a float32 square (tests/test_keras.py): check that one
    values = [v for v in SAMPLE if v**2 != exact_square(v, "float64")][:5] + SAMPLE[:5]
    for value in map(rounder(dtype), values):
        assert loss_of(name, value, dtype) == exact_square(value, dtype), (name, value)


def test_tensorflow_pow_misrounds_squares_where_square_does_not():
    tf = pytest.importorskip("tensorflow")
    for dtype in ("float64", "float32"):
        t = tf.constant(SAMPLE, dtype=dtype)
        assert int(tf.reduce_sum(tf.cast(tf.pow(t, 2.0) != t * t, tf.int32))) > 0, "impl/tf_tape.py comment stale"
        assert bool(tf.reduce_all(tf.square(t) == t * t))


def test_torch_and_jax_square_with_one_multiplication():
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    for dtype in ("float64", "float32"):
        t = torch.tensor(SAMPLE, dtype=getattr(torch, dtype))
        assert torch.equal(t**2, t * t)
    j = jnp.asarray(SAMPLE, dtype="float32")
    assert bool(jnp.all(j**2 == j * j))


SUBNORMAL_GRADIENT = {  # gradient 2 * (w x) * x lands below the smallest normal number
    "float64": bridge.OneWeight(x=2.0**-8, y=0.0, w0=2.0**-1016, lr=0.0, steps=1, dtype="float64"),
    "float32": bridge.OneWeight(x=2.0**-8, y=0.0, w0=2.0**-112, lr=0.0, steps=1, dtype="float32"),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", impl_params())
def test_subnormals_are_kept_or_flushed_as_documented(name, dtype):
    problem = SUBNORMAL_GRADIENT[dtype]
    reference = bridge.train("python", problem)
    assert 0 < abs(reference.grads[0]) < np.finfo(dtype).tiny, "the reference keeps the subnormal"
    departure = expected_departure(name, problem)
    # flushed to zero, or computed in float32, where a float64 subnormal is 0 too
    zeroed = departure is not None and (departure.flushes or departure.precision == "float32")
    assert (bridge.train(name, problem).grads[0] == 0.0) == zeroed
    verdict = compare(problem, reference, bridge.train(name, problem))
    assert verdict.status == ("bounded" if zeroed else "bitwise")


def pairwise_sum(values, r):
    """NumPy's pairwise summation (numpy/_core/src/umath/loops_utils.h.src), emulated."""
    n = len(values)
    if n < 8:
        total = -0.0
        for v in values:
            total = r(total + v)
        return total
    if n <= 128:
        partial = list(values[:8])
        i = 8
        while i < n - n % 8:
            partial = [r(p + v) for p, v in zip(partial, values[i : i + 8])]
            i += 8
        p = partial
        total = r(r(r(p[0] + p[1]) + r(p[2] + p[3])) + r(r(p[4] + p[5]) + r(p[6] + p[7])))
        for v in values[i:]:
            total = r(total + v)
        return total
    half = n // 2
    half -= half % 8
    return r(pairwise_sum(values[:half], r) + pairwise_sum(values[half:], r))


def pairwise_batched(problem):
    """impl/python.py's batched loop with NumPy's summation order in its mean."""
    r = rounder(problem.dtype)
    x, y = problem.x.tolist(), problem.y.tolist()
    weight, trajectory = problem.w0, bridge.Trajectory()
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            xb, yb = x[batch], y[batch]
            errors = [r(r(weight * xi) - yi) for xi, yi in zip(xb, yb)]
            loss = r(pairwise_sum([r(e * e) for e in errors], r) / len(xb))
            grad = r(pairwise_sum([r(r(2 * e) * xi) for e, xi in zip(errors, xb)], r) / len(xb))
            weight = r(weight - r(problem.lr * grad))
            trajectory.record(loss, grad, weight)
    return trajectory


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("preset", ["full_batch", "mini_batch"])
def test_numpy_departs_only_by_pairwise_summation(preset, dtype):
    problem = bridge.preset(preset, dtype)
    numpy_run, reordered = bridge.train("numpy", problem), pairwise_batched(problem)
    reordered.implementation = "python"  # compared as if it were the reference: bitwise required
    assert compare(problem, reordered, numpy_run).status == "bitwise"
    assert compare(problem, bridge.train("python", problem), numpy_run).status == "bounded"


# x = 1, 2, 3 and y = 2, 3, 5 at w = 0: the terms 2 (w x - y) x are exact, but 1/3 is not
THIRDS = {d: bridge.Batched([1.0, 2.0, 3.0], [2.0, 3.0, 5.0], 0.0, 2.0**-6, 1, 3, d) for d in ("float64", "float32")}
AUTOGRAD = ("python_autograd", "torch_autograd", "tf_tape", "tf_function", "jax_grad", "jax_jit")
AUTOGRAD += ("keras_tensorflow", "keras_jax", "keras_torch")  # Keras differentiates with the backend's autodiff


def prescaled_gradient(problem, last_first=False) -> float:
    """The mean's backward pass: each term scaled by fl(1/n) before the sum."""
    r = rounder(problem.dtype)
    third = r(1 / 3)
    terms = [r(r(third * r(2 * (0.0 - y))) * x) for x, y in zip(problem.x.tolist(), problem.y.tolist())]
    if last_first:  # python_autograd's backward() reaches the last sample first
        terms.reverse()
    return r(r(terms[0] + terms[1]) + terms[2])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", impl_params())
def test_autograd_scales_by_one_over_n_before_summing(name, dtype):
    if name not in FLOAT64_EXACT and dtype == "float64":
        pytest.skip("computed in float32: see tests/test_keras.py")
    problem = THIRDS[dtype]
    reference, grad = bridge.train("python", problem).grads[0], bridge.train(name, problem).grads[0]
    expected = prescaled_gradient(problem, last_first=name == "python_autograd") if name in AUTOGRAD else reference
    assert grad == expected
    assert prescaled_gradient(problem) != reference  # the example does tell the two apart
    cause = (DEPARTURES.get((name, "batched")) or bridge.compare.Departure("")).cause
    assert ("1/n" in cause) == (name in AUTOGRAD)


def test_float32_emulation_rounds_like_numpy():
    for a, b in zip(SAMPLE, reversed(SAMPLE)):
        fa, fb = np.float32(a), np.float32(b)
        for exact, emulated in (
            (fa * fb, to_float32(float(fa) * float(fb))),
            (fa + fb, to_float32(float(fa) + float(fb))),
            (fa / fb, to_float32(float(fa) / float(fb))),
        ):
            assert float(exact) == emulated
    assert to_float32(3.5e38) == math.inf and to_float32(-3.5e38) == -math.inf


def float32_nearest(q: Fraction) -> float:
    """q rounded once to the nearest float32 (ties to even), from exact arithmetic."""
    guess = np.float32(float(q))  # may be one float32 off: rounding to float64 first can double-round
    candidates = [np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf))]
    best = min(candidates, key=lambda c: (abs(Fraction(float(c)) - q), int(c.view(np.int32)) & 1))
    return float(best)


def fma(a: float, b: float, c: float, dtype: str) -> float:
    """a * b + c with a single rounding, as a fused multiply-add instruction computes it."""
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    return float(exact) if dtype == "float64" else float32_nearest(exact)


def fused_one_weight(problem):
    """impl/python.py's loop with w * x - y and w - lr * grad each fused into one FMA."""
    r = rounder(problem.dtype)
    weight, trajectory = problem.w0, bridge.Trajectory()
    for _ in range(problem.steps):
        error = fma(weight, problem.x, -problem.y, problem.dtype)
        loss, grad = r(error * error), r(r(2 * error) * problem.x)
        weight = fma(-problem.lr, grad, weight, problem.dtype)
        trajectory.record(loss, grad, weight)
    return trajectory


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("preset", ["lesson", "overshoot", "crawl"])
@pytest.mark.parametrize("name", impl_params(["tf_function", "jax_jit"]))
def test_compiled_xla_departs_only_by_fused_multiply_adds(name, preset, dtype):
    problem = bridge.preset(preset, dtype)
    fused, compiled = fused_one_weight(problem), bridge.train(name, problem)
    fused.implementation = "python"
    assert compare(problem, fused, compiled).status == "bitwise"
    assert compare(problem, bridge.train("python", problem), compiled).status == "bounded"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_jax_jit_without_the_compiler_is_bitwise(dtype):
    jax = pytest.importorskip("jax")
    problem = bridge.preset("lesson", dtype)
    with jax.disable_jit():  # the same code, run op by op: no fusion
        eager = bridge.train("jax_jit", problem)
    assert compare(problem, bridge.train("python", problem), eager).status == "bitwise"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tf_function_without_xla_is_bitwise(dtype, monkeypatch):
    pytest.importorskip("tensorflow")
    import impl.tf_function

    problem = bridge.preset("lesson", dtype)
    monkeypatch.setattr(impl.tf_function, "step", impl.tf_function.step.python_function)  # not compiled
    eager = bridge.train("tf_function", problem)
    assert compare(problem, bridge.train("python", problem), eager).status == "bitwise"


def test_torch_compile_does_not_fuse(capsys):
    pytest.importorskip("torch")
    # TorchInductor compiles its C++ without floating-point contraction, so no FMA appears
    for preset in ("lesson", "overshoot", "crawl"):
        for dtype in ("float64", "float32"):
            problem = bridge.preset(preset, dtype)
            assert (
                compare(problem, bridge.train("python", problem), bridge.train("torch_compile", problem)).status
                == "bitwise"
            )
