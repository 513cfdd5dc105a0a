"""tanh: the reference's is correctly rounded; every library's error is measured against it (bridge.bounds.TANH_ULPS).

float32: a fixed sample by default, and every float32 of the range in the stress profile (DESCENT_STRESS=1).
float64: a sample only, so its figures are empirical, not proven.
"""

import decimal
import math
import os

import numpy as np
import pytest

from bridge.bounds import TANH_RANGE, TANH_ULPS
from bridge.floats import tanh_rounded, to_float32
from bridge.rows import REGISTRY
from tests.helpers import impl_params

pytestmark = pytest.mark.slow  # each library's error measured over a sample of its range: --full
STRESS = os.environ.get("DESCENT_STRESS") == "1"
SAMPLE = {"float32": 60_000, "float64": 20_000}
BITS = {"float32": (np.int32, 31), "float64": (np.int64, 63)}
# a row whose framework computes each library's tanh (its marks skip a library whose framework is absent)
ROW_OF = {"libm": "python", "numpy": "numpy", "torch": "torch_manual", "inductor": "torch_compile", "eigen": "tf_tape"}
ROW_OF["xla"] = "jax_grad"


def ordinal(values: np.ndarray, dtype: str) -> np.ndarray:
    """Each value's place on the line of representable numbers (as bridge.floats.ulp_distance counts)."""
    kind, sign = BITS[dtype]
    n = np.asarray(values, dtype).view(kind).astype(np.int64)
    return np.where(n < 0, -(n & ((1 << sign) - 1)), n)


def library_tanh(library: str, z: np.ndarray) -> np.ndarray:
    """tanh of every z by the library, in z's dtype, as the rows call it."""
    if library == "libm":  # python_autograd: math.tanh in float64, rounded to the dtype
        return np.array([math.tanh(v) for v in z.astype(np.float64)]).astype(z.dtype)
    if library == "numpy":
        return np.tanh(z)
    if library in ("torch", "inductor"):
        import torch

        tanh = torch.tanh if library == "torch" else torch.compile(torch.tanh, dynamic=True)
        return tanh(torch.from_numpy(z)).numpy()
    if library == "eigen":
        import tensorflow as tf

        return tf.tanh(tf.constant(z)).numpy()
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(z.dtype == np.float64):
        return np.asarray(jnp.tanh(jnp.asarray(z)))


def correct_tanh(z: np.ndarray) -> np.ndarray:
    """The correctly rounded tanh of every z: float32 through float64 where that is sure, decimal where it is not."""
    if z.dtype == np.float64:
        return np.array([tanh_rounded(v, "float64") for v in z.tolist()])
    wide = np.tanh(z.astype(np.float64))  # within 1 ULP of float64 (NumPy's, measured below)
    narrow = wide.astype(np.float32).astype(np.float64)
    half_gap = np.abs(np.spacing(narrow.astype(np.float32)).astype(np.float64)) / 2
    unsure = np.abs(np.abs(wide - narrow) - half_gap) <= 4 * np.abs(np.spacing(wide))  # near a float32 midpoint
    for i in np.flatnonzero(unsure):
        narrow[i] = tanh_rounded(float(z[i]), "float32")
    return narrow.astype(np.float32)


def worst_ulps(library: str, z: np.ndarray) -> int:
    dtype = str(z.dtype)
    return int(np.abs(ordinal(library_tanh(library, z), dtype) - ordinal(correct_tanh(z), dtype)).max())


def sample(dtype: str) -> np.ndarray:
    return np.random.default_rng(2026).uniform(-TANH_RANGE, TANH_RANGE, SAMPLE[dtype]).astype(dtype)


# ---- the reference ----


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_reference_tanh_is_correctly_rounded(dtype):
    # checked independently: at 120 digits, no neighbour of the result is nearer to tanh(z)
    with decimal.localcontext() as context:
        context.prec = 120
        for z in [*sample(dtype)[:300].tolist(), 1e-30, -2.5e-8, 3.999, 0.5]:
            z = z if dtype == "float64" else to_float32(z)
            got = tanh_rounded(z, dtype)
            twice = (2 * decimal.Decimal(z)).exp()
            exact = (twice - 1) / (twice + 1)
            kind = np.float64 if dtype == "float64" else np.float32
            neighbours = np.nextafter(kind(got), kind([-2, 2])).tolist()
            assert all(abs(decimal.Decimal(got) - exact) <= abs(decimal.Decimal(n) - exact) for n in neighbours)


def test_libm_tanh_is_not_correctly_rounded_in_float64():
    # so the reference cannot call math.tanh: glibc's is within 2 ULP, not 1/2
    z = sample("float64")[:2000]
    assert any(math.tanh(v) != tanh_rounded(v, "float64") for v in z.tolist())


def test_numpy_float64_tanh_is_within_one_ulp():
    # what correct_tanh's float32 path relies on
    z = sample("float32").astype(np.float64)[:5000]
    assert worst_ulps("numpy", z) <= 1


# ---- each library, measured ----

CASES = [
    pytest.param(lib, dtype, marks=impl_params([ROW_OF[lib]])[0].marks, id=f"{lib}-{dtype}")
    for lib in TANH_ULPS
    for dtype in ("float32", "float64")
]


@pytest.mark.parametrize("library, dtype", CASES)
def test_library_tanh_error_is_the_measured_figure(library, dtype):
    worst = worst_ulps(library, sample(dtype))
    assert worst <= TANH_ULPS[library][dtype], f"{library} {dtype}: {worst} ULP, more than the bound assumes"
    # a sample may miss the worst float: the figure is reached, or one short of it (XLA's float32: 4 of its 5)
    assert worst >= TANH_ULPS[library][dtype] - 1, f"{library} {dtype}: {worst} ULP; the figure is not what is measured"


def test_every_row_with_its_own_tanh_names_a_measured_library():
    assert {row.tanh for row in REGISTRY.values() if row.tanh} == set(TANH_ULPS)


def _every_float32(low: float, high: float, chunk: int = 1 << 22):
    """Every float32 from low to high, in chunks."""
    start, stop = (int(np.float32(v).view(np.int32)) for v in (low, high))
    for first in range(start, stop + 1, chunk):
        yield np.arange(first, min(first + chunk, stop + 1), dtype=np.int32).view(np.float32)


@pytest.mark.skipif(not STRESS, reason="every float32 of the range: minutes; DESCENT_STRESS=1 runs it")
@pytest.mark.parametrize(
    "library", [pytest.param(lib, marks=impl_params([ROW_OF[lib]])[0].marks) for lib in TANH_ULPS if lib != "libm"]
)
def test_library_tanh_error_over_every_float32_of_the_range(library):
    # both signs: the smallest normal .. TANH_RANGE and its negatives (libm, one Python call per float, only
    # sampled). Subnormal inputs are left out: TensorFlow flushes them to 0 (8388607 ULP from tanh(z) = z), a
    # departure the bound counts as flushing, not as tanh's error
    worst = 0
    for sign in (1, -1):
        for z in _every_float32(2.0**-126, TANH_RANGE):
            worst = max(worst, worst_ulps(library, sign * z))
    assert worst == TANH_ULPS[library]["float32"]
