"""exp and log: every library's error measured against the correctly rounded ones (classifier_bounds.EXP_LOG_ULPS).

The classifier's softmax calls exp on [-EXP_RANGE, 0] (the logits less their largest) and its cross-entropy log
on [1, 10] (a sum of ten exps, the largest 1) or on [1e-7, 1] (a clipped probability). A fixed sample of each;
so the figures are empirical, not proofs, as the tanh's float64 ones are (tests/test_tanh.py).
"""

import decimal
import math

import numpy as np
import pytest

from bridge.classifier_bounds import EXP_LOG_ULPS, EXP_RANGE, REFERENCE_EXP_LOG
from bridge.rows import REGISTRY
from tests.helpers import impl_params

pytestmark = pytest.mark.slow  # each library over 12,000 points against decimal: --full
ROW_OF = {"libm": "python", "numpy": "numpy", "torch": "torch_manual", "eigen": "tf_tape", "xla": "jax_grad"}
ROW_OF["inductor"] = "torch_compile"
BITS = {"float32": (np.int32, 31), "float64": (np.int64, 63)}


def ordinal(values, dtype: str) -> np.ndarray:
    """Each value's place on the line of representable numbers (as bridge.floats.ulp_distance counts)."""
    kind, sign = BITS[dtype]
    n = np.asarray(values, dtype).view(kind).astype(np.int64)
    return np.where(n < 0, -(n & ((1 << sign) - 1)), n)


def sample(function: str, dtype: str) -> np.ndarray:
    rng = np.random.default_rng(2026)
    if function == "exp":
        return rng.uniform(-EXP_RANGE, 0, 12_000).astype(dtype)
    return np.concatenate([rng.uniform(1, 10, 6_000), np.exp(rng.uniform(math.log(1e-7), 0, 6_000))]).astype(dtype)


def correct(function: str, z: np.ndarray) -> np.ndarray:
    """Each z's exp or log, correctly rounded to z's dtype: decimal at 60 digits, then rounded once.

    float64 -> float32 rounds twice (60 digits to float64, then to float32); that errs only where the float64
    lands exactly on a float32 midpoint, which no exp or log of a float32 in these ranges does (checked below).
    """
    with decimal.localcontext() as context:
        context.prec = 60
        method = {"exp": "exp", "log": "ln"}[function]
        wide = np.array([float(getattr(decimal.Decimal(v), method)()) for v in z.astype(np.float64).tolist()])
    if z.dtype == np.float64:
        return wide
    narrow = wide.astype(np.float32)
    gap = np.abs(np.spacing(narrow)).astype(np.float64)
    assert not np.any(np.abs(np.abs(wide - narrow.astype(np.float64)) - gap / 2) == 0), "a midpoint: round once"
    return narrow


def library(name: str, function: str, z: np.ndarray) -> np.ndarray:
    """The library's exp or log of every z, in z's dtype, as the rows call it."""
    if name == "libm":  # the reference: math.exp and math.log in float64, rounded to the dtype
        f = getattr(math, function)
        return np.array([f(v) for v in z.astype(np.float64).tolist()]).astype(z.dtype)
    if name == "numpy":
        return getattr(np, function)(z)
    if name in ("torch", "inductor"):
        import torch

        call = getattr(torch, function)
        call = torch.compile(call, dynamic=True) if name == "inductor" else call
        return call(torch.from_numpy(z)).numpy()
    if name == "eigen":
        import tensorflow as tf

        return getattr(tf.math, function)(tf.constant(z)).numpy()
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(z.dtype == np.float64):
        return np.asarray(getattr(jnp, function)(jnp.asarray(z)))


CASES = [
    pytest.param(name, function, dtype, marks=impl_params([ROW_OF[name]])[0].marks, id=f"{name}-{function}-{dtype}")
    for name in EXP_LOG_ULPS
    for function in ("exp", "log")
    for dtype in ("float64", "float32")
]


@pytest.mark.parametrize("name, function, dtype", CASES)
def test_each_librarys_exp_and_log_are_within_the_measured_figure(name, function, dtype):
    z = sample(function, dtype)
    worst = int(np.abs(ordinal(library(name, function, z), dtype) - ordinal(correct(function, z), dtype)).max())
    figure = EXP_LOG_ULPS[name][function][dtype]
    assert worst <= figure, f"{name} {function} {dtype}: {worst} ULP, more than the bound assumes"
    assert worst >= figure - 1, f"{name} {function} {dtype}: {worst} ULP; the figure is not what is measured"


def test_every_row_that_classifies_names_a_measured_library():
    named = {row.exp_log for row in REGISTRY.values() if "classifier" in row.loops}
    assert named <= set(EXP_LOG_ULPS) and REFERENCE_EXP_LOG in named
