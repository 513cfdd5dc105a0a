"""What "identical" means, in one place: bitwise where IEEE arithmetic allows it,
a derived error bound where it cannot, and nothing tuned by hand.

Every implementation is compared with the `python` reference (on the CPU),
step by step. Bitwise is the claim for every loop on every device except the
rows of DEPARTURES, keyed by implementation, loop and device kind (cpu, gpu),
each with its cause, established by experiment in tests/test_causes.py:

- reordering: a batch mean sums its terms in the framework's own order, and
  autograd's mean scales each term by 1/n before summing; IEEE addition is
  not associative, so the rounding errors differ at every step.
- fusing: compiled XLA (tf_function, jax_jit) contracts a multiply and an add
  into one fused multiply-add, rounding once where the reference rounds twice;
  so do Inductor's Triton kernels (torch_compile on a GPU).
- flushing: TensorFlow's and XLA's CPU kernels flush subnormal numbers to
  zero (FTZ/DAZ), where IEEE arithmetic keeps them.

Reordering and fusing only ever remove or move roundings, so the operation
counts in `step_bounds` cover both (`reorders=True`).

A run on a GPU is held to its GPU rows; where an implementation has none, to
its CPU claim. Where that claim was never measured on a GPU (MEASURED), the
verdict says so: "not measured on gpu; the CPU claim is applied".

Those rows must stay within `step_bounds`, derived below from Higham's error
analysis (Accuracy and Stability of Numerical Algorithms, 2nd ed., ch. 2-4)
and recomputed at every step from the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from bridge.devices import parse
from bridge.floats import UNIT_ROUNDOFF, gamma, rounder, same_bits, ulp_distance
from bridge.parallel import DEFAULT_WORKERS, MAX_WORKERS
from bridge.problems import PROBLEMS, Batched, Network, loop_of
from bridge.trajectory import LAYERS, Trajectory

CPU, GPU = "cpu", "gpu"  # the device kinds a claim is keyed by (bridge.devices.parse)
QUANTITIES = ("losses", "grads", "weights")
BIAS_QUANTITIES = ("bias_grads", "biases")  # recorded only by problems with a bias


@dataclass(frozen=True)
class Departure:
    """Why an implementation may not be bitwise, and so which bound applies."""

    cause: str
    reorders: bool = False  # its sums round differently from the reference at every step
    flushes: bool = False  # subnormal operands and results become zero
    precision: str | None = None  # the dtype it computes in, where narrower than the problem's
    batch_only: bool = False  # it reorders only a batch's sums: with one sample per batch, bitwise is claimed
    tanh: str | None = None  # whose tanh it calls, a key of TANH_ULPS (a network with tanh only)
    scalings: int = 0  # roundings a data-parallel row adds to every gradient's path (its 1/N and N scalings)


_ORDER = " sums the batch in its own order; the reference sums left to right"
_AUTOGRAD = "; autograd's mean scales each term by 1/n before summing"
_FMA = "compiled XLA fuses w * x - y and w - lr * grad into fused multiply-adds (one rounding, not two)"
_FLUSH = "{} flushes subnormal numbers to zero (FTZ/DAZ on its CPU threads)"
_KERAS_ORDER = (
    "loss='mse' sums the batch, and the kernel's gradient is a matmul over it, in the backend's own order; "
    "the reference sums left to right" + _AUTOGRAD.replace("autograd's mean", "autodiff")
)
_TRITON_FMA = (
    "Inductor's Triton kernels fuse w * x - y and w - lr * grad into fused multiply-adds (one rounding, not two): "
    "Inductor passes enable_fp_fusion=True to Triton (emulate_precision_casts=True turns it off: bitwise)"
)
_SGD_FMA = (
    "torch.optim.SGD steps with param.add_(grad, alpha=-lr), which ATen's CPU kernel computes as one fused "
    "multiply-add (one rounding, not two)"
)
_TORCH_NN_ORDER = (
    "nn.MSELoss and nn.Linear's backward (a matmul) sum the batch in their own order, the gradient scaled by 2/n "
    "before the sum; the reference sums left to right"
)
_KERAS_XLA = (
    "Keras's JAX trainer compiles each step with XLA (jit_compile='auto'), which fuses multiply-adds into FMAs "
    "(compile(jit_compile=False) runs op by op: bitwise)"
)


_NETWORK_ORDER = " sums a batch (over the samples) in its own order; the reference sums left to right"
_NUMPY_DOT = (
    "h @ W2 goes to OpenBLAS, whose float32 dot adds the H products in its own order (float64 at H <= 8 and both "
    "dtypes on mlp: left to right, measured)"
)
_XLA_DOT = "XLA's CPU dot adds h @ W2's products with fused multiply-adds, left to right (one rounding a term, not two)"
_ZERO_SIGN = (
    "{}, so the gradient of a unit that is off comes out -0.0 where the reference's (the mask times the error, "
    "then a sum from +0.0) is +0.0, or the other way round: only the sign of a zero"
)
_TF_ZERO = _ZERO_SIGN.format("TensorFlow's sums over the batch keep a lone -0.0")
_JAX_ZERO = _ZERO_SIGN.format("jax.nn.relu's gradient selects +0.0 for an off unit, and x^T dz makes it -0.0 for x < 0")
_VALUE_ZERO = _ZERO_SIGN.format("a Value's gradient starts from -0.0 (IEEE's zero for sums)")
_COMPILED_ZERO = _ZERO_SIGN.format("the compiled mean over the batch starts from its first term")


def _flushes(who: str, reorder: str = "") -> Departure:
    return Departure(f"{reorder}; {_FLUSH.format(who)}" if reorder else _FLUSH.format(who), bool(reorder), True)


DEPARTURES = {
    ("numpy", "batched", CPU): Departure(
        "np.mean sums pairwise, 8 partial sums at a time; the reference left to right", True
    ),
    ("torch_manual", "batched", CPU): Departure("torch's mean" + _ORDER, True),
    ("python_autograd", "batched", CPU): Departure(
        "the mean's backward scales each term by 1/n before summing, and backward() adds them last sample first", True
    ),
    ("torch_autograd", "batched", CPU): Departure("torch's mean" + _ORDER + _AUTOGRAD, True),
    ("tf_tape", "one_weight", CPU): _flushes("TensorFlow"),
    ("tf_tape", "batched", CPU): _flushes("TensorFlow", "tf.reduce_mean" + _ORDER + _AUTOGRAD),
    ("jax_grad", "one_weight", CPU): _flushes("XLA"),
    ("jax_grad", "batched", CPU): _flushes("XLA", "jnp.mean" + _ORDER + _AUTOGRAD),
    ("tf_function", "one_weight", CPU): _flushes("TensorFlow", _FMA),
    ("tf_function", "batched", CPU): _flushes("TensorFlow", _FMA + "; tf.reduce_mean" + _ORDER + _AUTOGRAD),
    ("torch_compile", "batched", CPU): Departure("the compiled mean" + _ORDER, True),
    ("jax_jit", "one_weight", CPU): _flushes("XLA", _FMA),
    ("jax_jit", "batched", CPU): _flushes("XLA", _FMA + "; jnp.mean" + _ORDER + _AUTOGRAD),
    ("keras_tensorflow", "one_weight", CPU): _flushes("TensorFlow"),
    ("keras_tensorflow", "batched", CPU): _flushes("TensorFlow", _KERAS_ORDER),
    ("keras_jax", "one_weight", CPU): _flushes("XLA", _KERAS_XLA),
    ("keras_jax", "batched", CPU): _flushes("XLA", _KERAS_XLA + "; " + _KERAS_ORDER),
    ("keras_torch", "one_weight", CPU): Departure(
        "the kernel's gradient is a matmul, whose sum starts from +0.0, so a -0.0 gradient comes out +0.0"
    ),  # found by Hypothesis; the bounds then allow nothing beyond underflow-sized (eta) differences
    ("keras_torch", "batched", CPU): Departure(_KERAS_ORDER, True),
    # The benchmark's peers (benchmarks/peers.py): what a user would write instead; established in tests/test_peers.py
    ("torch_sgd", "one_weight", CPU): Departure(_SGD_FMA, True),
    ("torch_sgd", "batched", CPU): Departure(_TORCH_NN_ORDER + "; " + _SGD_FMA, True),
    ("optax_sgd", "one_weight", CPU): _flushes("XLA", _FMA),
    ("optax_sgd", "batched", CPU): _flushes("XLA", _FMA + "; jnp.mean" + _ORDER + _AUTOGRAD),
    # The network loop (bridge.Network), established in tests/test_network.py
    ("numpy", "network", CPU): Departure(_NUMPY_DOT + "; np.mean" + _NETWORK_ORDER, True),
    ("torch_manual", "network", CPU): Departure("torch's mean and matmul" + _NETWORK_ORDER, True, batch_only=True),
    ("python_autograd", "network", CPU): Departure(_VALUE_ZERO + "; backward()" + _NETWORK_ORDER, True),
    ("torch_autograd", "network", CPU): Departure("torch's mean and matmul" + _NETWORK_ORDER, True, batch_only=True),
    ("tf_tape", "network", CPU): _flushes("TensorFlow", _TF_ZERO + "; TensorFlow" + _NETWORK_ORDER),
    ("jax_grad", "network", CPU): _flushes("XLA", _XLA_DOT + "; " + _JAX_ZERO + "; JAX" + _NETWORK_ORDER),
    ("tf_function", "network", CPU): _flushes(
        "TensorFlow", _FMA + "; " + _XLA_DOT + "; " + _TF_ZERO + "; TensorFlow" + _NETWORK_ORDER
    ),
    ("torch_compile", "network", CPU): Departure(_COMPILED_ZERO + "; the compiled mean" + _NETWORK_ORDER, True),
    ("jax_jit", "network", CPU): _flushes("XLA", _FMA + "; " + _XLA_DOT + "; " + _JAX_ZERO + "; JAX" + _NETWORK_ORDER),
    ("keras_tensorflow", "network", CPU): _flushes("TensorFlow", _TF_ZERO + "; " + _KERAS_ORDER),
    ("keras_jax", "network", CPU): _flushes("XLA", _XLA_DOT + "; " + _JAX_ZERO + "; " + _KERAS_ORDER),
    ("keras_torch", "network", CPU): Departure(_KERAS_ORDER, True, batch_only=True),
    # Measured on a GPU, and departing where the CPU claim is bitwise (tests/test_causes.py: the values an H200 gave)
    ("torch_compile", "one_weight", GPU): Departure(_TRITON_FMA, True),
    ("torch_compile", "batched", GPU): Departure("the compiled mean" + _ORDER + "; " + _TRITON_FMA, True),
}

# The data-parallel rows (bridge.parallel), keyed by their worker count as well; established in tests/test_parallel.py
_SPLIT = (
    "the batch is split across {} workers, each summing its own share of the mean (sum / n), and the all-reduce "
    "adds the shares: a different order from the reference's left-to-right sum"
)
_DDP_SCALING = (
    "; each share is scaled by N and DDP's reducer multiplies each worker's gradient by fl(1/N) before the sum "
    "(two roundings more, where N is not a power of two)"
)
_KERAS_DP = (
    "; Keras's JAX trainer compiles the step with XLA (fused multiply-adds), and the all-reduce with it; padding "
    "weighs 0 and the loss divides by the weights' sum"
)


# row -> (who flushes subnormals, or None; what it adds to the split's cause; roundings its scalings add)
_DATA_PARALLEL = {
    "torch_ddp": (None, _DDP_SCALING, 2),
    "jax_sharded": ("XLA", "; XLA compiles each device's step (fused multiply-adds)", 0),
    "tf_mirrored": ("TensorFlow", "", 0),
    "keras_data_parallel": ("XLA", _KERAS_DP, 0),
}


def _split(workers: int, flusher: str | None, more: str, scalings: int) -> Departure:
    cause = _SPLIT.format(workers) + more + (f"; {_FLUSH.format(flusher)}" if flusher else "")
    return Departure(cause, True, bool(flusher), scalings=scalings)


DEPARTURES |= {
    (name, "batched", CPU, workers): _split(workers, *row)
    for name, row in _DATA_PARALLEL.items()
    for workers in range(1, MAX_WORKERS + 1)
}

# Where each implementation's claims have been measured on a GPU: every preset, both dtypes (and, for the
# eager rows, 150 random problems). A GPU run of any other implementation is held to its CPU claim, and says so.
H200 = "NVIDIA H200, torch 2.11.0+cu130, Triton 3.6.0, jax 0.11.2 (CUDA), keras 3.15.1 (issue 9)"
MEASURED = {
    GPU: dict.fromkeys(
        ("torch_manual", "torch_autograd", "jax_grad", "torch_compile", "jax_jit", "keras_jax", "keras_torch"), H200
    ),
}

# Keras computes parts of a float64 problem in float32 on these backends (tests/test_keras.py pins it).
_PROMOTION = (
    "Keras's type promotion turns float64 into float32 on its {} backend "
    "(keras.src.backend.common.dtypes.BIT64_TO_BIT32_DTYPE): {}; no public setting keeps float64"
)
NARROWED = {
    "keras_jax": _PROMOTION.format("JAX", "loss='mse' takes its mean in float32, so the loss and the 1/n are rounded"),
    "keras_torch": _PROMOTION.format("torch", "Dense's matmul, and with it the loss and the gradient, run in float32"),
    "keras_data_parallel": _PROMOTION.format("JAX", "the loss and its weighted mean are taken in float32"),
}


def expected_departure(
    implementation: str, problem, device: str = "cpu", workers: int = DEFAULT_WORKERS
) -> Departure | None:
    """Why this implementation may depart from bitwise on this problem and device, or None: bitwise.

    A GPU run is held to the GPU row where there is one, else to the CPU row. A data-parallel row's key
    adds its worker count.
    """
    kind, loop = parse(device)[0], loop_of(problem)
    keys = [(implementation, loop, kind), (implementation, loop, CPU)]
    keys = [(*key, workers) for key in keys] + keys  # a data-parallel row's rows carry the worker count
    departure = next((DEPARTURES[key] for key in keys if key in DEPARTURES), None)
    if departure and departure.batch_only and problem.longest_batch == 1:
        departure = None  # a batch of one sample has no sum over the batch to reorder
    if isinstance(problem, Network) and problem.activation == "tanh" and implementation in TANH_OF:
        library = TANH_OF[implementation]
        cause = "; ".join(c for c in (departure and departure.cause, _TANH.format(library)) if c)
        flushes = bool(departure and departure.flushes)
        departure = Departure(cause, True, flushes, departure and departure.precision, tanh=library)
    if problem.dtype == "float64" and implementation in NARROWED:
        causes = [c for c in (NARROWED[implementation], departure and departure.cause) if c]
        # every step rounds in float32 where the reference rounds in float64: it reorders, in effect
        flushes, tanh = bool(departure and departure.flushes), departure and departure.tanh
        return Departure("; ".join(causes), True, flushes, "float32", tanh=tanh)
    return departure


MEASURED_LOOPS = ("one_weight", "batched")  # the loops issue 9 measured on the H200; the network came later


def unmeasured(implementation: str, device: str = "cpu", loop: str = "one_weight") -> str | None:
    """What a verdict must say where this implementation's claim was never measured on the device's kind."""
    kind = parse(device)[0]
    if kind == CPU or (implementation in MEASURED.get(kind, {}) and loop in MEASURED_LOOPS):
        return None
    return f"not measured on {kind}; the CPU claim is applied"


@dataclass(frozen=True)
class _Batch:
    """One batch's magnitudes, which the bounds are computed from."""

    ax: np.ndarray  # |x|
    ay: np.ndarray  # |y|
    sx: float  # |sum x|
    sx2: float  # sum x^2

    @classmethod
    def of(cls, x, y) -> _Batch:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        return cls(np.abs(x), np.abs(y), abs(float(np.sum(x))), float(np.sum(x * x)))

    @property
    def m(self) -> int:
        return self.ax.size


def _batches(problem) -> list[_Batch]:
    if isinstance(problem, Batched):
        return [_Batch.of(problem.x[b], problem.y[b]) for b in problem.batches]
    return [_Batch.of([problem.x], [problem.y])]


def quantities(problem) -> tuple[str, ...]:
    """What a trajectory records for this problem: the bias's two lists only when it has one."""
    return QUANTITIES + BIAS_QUANTITIES if problem.has_bias else QUANTITIES


@dataclass(frozen=True)
class _Start:
    """Where the two runs start one step from: their weights and biases (0 without a bias)."""

    wa: float
    wb: float
    ba: float = 0.0
    bb: float = 0.0


@np.errstate(over="ignore")  # a bound that overflows is inf: true, if useless
def step_bounds(problem, s: _Batch, start: _Start, departure: Departure) -> dict[str, float]:
    """Largest |a - b| two implementations may show at one step, given their departure.

    For one batch of m samples, with the error e = w x (+ b) - y and
    g(w) = (2/m) sum x e, any implementation computes
      pred and error            k roundings, relative to c = |w x| + |b| + |y|
                                (k = 2, or 3 with a bias)
      times 2 and by x          1 rounding (times 2 is exact)
      the 1/m factor            at most 2 (1/m itself, and its product)
      the sum, in any order     at most m - 1 along any path of its tree
    so |g_hat - g(w)| <= gamma(m+k+2) * A / m, with A = 2 sum |x| c. The bias's
    gradient (2/m) sum e skips the x: gamma(m+k+1) * A_b / m, A_b = 2 sum c.
    The loss (squares instead of products, one more rounding) is within
    gamma(m+k+4) * B / m, B = sum c^2. The update w - lr * g_hat adds two
    roundings: gamma(2)|w| and, with g_hat's own error, gamma(m+k+5) |lr| A / m;
    the same for the bias with A_b. An implementation that computes in a
    narrower dtype than the problem's (Departure.precision) also rounds its
    inputs w, x, y and b there: 3 more roundings on every path, and gamma is
    that dtype's. A data-parallel row splits the batch's sum into its workers'
    partial sums and adds those: one more summation tree over the same m
    terms (an empty share adds an exact 0), which "any order" covers; its
    scalings (Departure.scalings: DDP's N times each share and fl(1/N) times
    each gradient) add their roundings to k. These terms count only where the two round differently:
    when one reorders its sums, or once their parameters differ.
    Starting apart by Dw = |wa - wb| and Db = |ba - bb| adds what exact
    arithmetic does with them, since each error moves by Dw |x| + Db:
      gradient       (2/m)(Dw sum x^2 + Db |sum x|)
      bias gradient  (2/m)(Dw |sum x|) + 2 Db
      loss           (1/m) sum (Dw |x| + Db)(ca + cb)
      weight         |1 - 2 lr sum(x^2)/m| Dw + 2 |lr| |sum x|/m Db
      bias           |1 - 2 lr| Db + 2 |lr| |sum x|/m Dw.
    Underflow: an operation may also be off by eta absolutely, where eta is the
    smallest subnormal under IEEE and the smallest normal when subnormals are
    flushed; a flushed operand (DAZ) costs eta times the other operand. With
    W, B, X, Y the largest |w|, |b|, |x|, |y| and q = 1 + W + B + X + Y + W X
    (which bounds every operand and |e|): the error is off by at most k eta q,
    each term 2 e x by eta q (2k X + 3) (2 e by eta q (2k + 3)), and the sum
    and 1/m add (m + 3) eta; the loss's square turns k eta q into
    eta q (2k q + 1); each update adds |lr| times its gradient's share and
    eta (|g| + 3).
    """
    dtype = _computed_in(problem, departure)
    extra = 3 if dtype != problem.dtype else 0  # inputs rounded into the narrower dtype
    k = (3 if problem.has_bias else 2) + extra + (departure.scalings if departure else 0)
    m, lr = s.m, problem.lr
    step = abs(lr)  # an error's size moves with |lr|: a negative lr (uphill) must not make a bound negative
    dw, db = abs(start.wa - start.wb), abs(start.ba - start.bb)
    ca, cb = (abs(w) * s.ax + abs(b) + s.ay for w, b in ((start.wa, start.ba), (start.wb, start.bb)))  # c per sample
    bounds = dict.fromkeys(quantities(problem), 0.0)
    if dw > 0 or db > 0:  # (tested, not multiplied: 0 * inf would be NaN)
        bounds["grads"] += 2 * (dw * s.sx2 + db * s.sx) / m
        bounds["losses"] += np.sum((dw * s.ax + db) * (ca + cb)) / m
        bounds["weights"] += abs(1 - 2 * lr * s.sx2 / m) * dw + 2 * step * s.sx / m * db
        if "biases" in bounds:
            bounds["bias_grads"] += 2 * dw * s.sx / m + 2 * db
            bounds["biases"] += abs(1 - 2 * lr) * db + 2 * step * s.sx / m * dw
    a_a, a_b = 2 * np.sum(s.ax * ca), 2 * np.sum(s.ax * cb)  # A
    ab_a, ab_b = 2 * np.sum(ca), 2 * np.sum(cb)  # A_b
    if (departure and departure.reorders) or dw > 0 or db > 0:
        b_a, b_b = np.sum(ca**2), np.sum(cb**2)  # B
        bounds["grads"] += gamma(m + k + 2, dtype) * (a_a + a_b) / m
        bounds["losses"] += gamma(m + k + 4, dtype) * (b_a + b_b) / m
        bounds["weights"] += gamma(2 + extra, dtype) * (abs(start.wa) + abs(start.wb))
        bounds["weights"] += gamma(m + k + 5, dtype) * step * (a_a + a_b) / m
        if "biases" in bounds:
            bounds["bias_grads"] += gamma(m + k + 1, dtype) * (ab_a + ab_b) / m
            bounds["biases"] += gamma(2 + extra, dtype) * (abs(start.ba) + abs(start.bb))
            bounds["biases"] += gamma(m + k + 5, dtype) * step * (ab_a + ab_b) / m
    normal, subnormal = (2.0**-1022, 2.0**-1074) if dtype == "float64" else (2.0**-126, 2.0**-149)
    eta = normal if departure and departure.flushes else subnormal
    big_w, big_b = max(abs(start.wa), abs(start.wb)), max(abs(start.ba), abs(start.bb))
    big_x, big_y = float(s.ax.max()), float(s.ay.max())
    q = 1 + big_w + big_b + big_x + big_y + big_w * big_x
    grad_underflow = eta * q * (2 * k * big_x + 3) + eta * (m + 3)  # eta first: q * q may overflow
    bounds["grads"] += grad_underflow
    bounds["losses"] += eta * q * (2 * k * q + 1) + eta * (m + 3)
    bounds["weights"] += step * grad_underflow + eta * (max(a_a, a_b) / m + 3)  # |g| <= A / m
    if "biases" in bounds:
        bias_grad_underflow = eta * q * (2 * k + 3) + eta * (m + 3)
        bounds["bias_grads"] += bias_grad_underflow
        bounds["biases"] += step * bias_grad_underflow + eta * (max(ab_a, ab_b) / m + 3)
    # Every bound is a sum of non-negative terms, evaluated in float64 with
    # NumPy's pairwise sums: relatively within (log2(m) + 30) * 2^-53 of exact.
    slack = 1 + 64 * UNIT_ROUNDOFF["float64"]
    return {name: bound * slack for name, bound in bounds.items()}


def _computed_in(problem, departure: Departure | None) -> str:
    """The dtype the implementation computes in: the problem's, unless the departure narrows it."""
    return (departure and departure.precision) or problem.dtype


def _largest(problem, departure: Departure | None) -> float:
    """The largest finite number in the dtype the implementation computes in."""
    return float(np.finfo(_computed_in(problem, departure)).max)


@np.errstate(over="ignore")
def may_overflow(problem, s: _Batch, start: _Start, departure: Departure | None = None) -> bool:
    """Whether some summation order may overflow at this step while another does not.

    The partial sums of the gradients and the loss are bounded by the sums of
    their terms' magnitudes, A, A_b and B (see step_bounds); while those stay
    below the largest finite number, no order overflows.
    """
    magnitudes = []
    for w, b in ((start.wa, start.ba), (start.wb, start.bb)):
        c = abs(w) * s.ax + abs(b) + s.ay
        magnitudes += [2 * np.sum(s.ax * c), 2 * np.sum(c), np.sum(c**2)]
    return max(magnitudes) * (1 + gamma(s.m + 11, _computed_in(problem, departure))) >= _largest(problem, departure)


def _non_finite_allowed(problem, s, start, departure, a: float, b: float, bound: float) -> bool:
    """Whether a and b may differ in being inf or NaN at this step, given the departure.

    inf against a number: when the number is within its bound of the largest
    finite one. Anything against anything: when a reordered sum may overflow
    midway (a term that overflows in one order, as 2 e before scaling by 1/n,
    stays finite in another; with terms of both signs inf meets -inf: NaN).
    NaN against inf: when subnormals are flushed and this step has a
    subnormal operand, which DAZ reads as 0, and inf * 0 is NaN where
    inf * subnormal is inf.
    """
    if departure.reorders and may_overflow(problem, s, start, departure):
        return True
    finite = [v for v in (a, b) if math.isfinite(v)]
    if len(finite) == 1 and any(math.isinf(v) for v in (a, b)):
        return abs(finite[0]) + bound >= _largest(problem, departure)
    if not finite and departure.flushes:
        tiny = float(np.finfo(_computed_in(problem, departure)).tiny)
        parameters = [abs(start.wa), abs(start.wb), abs(start.ba), abs(start.bb), abs(problem.lr)]
        operands = np.concatenate([s.ax, s.ay, parameters])
        return bool(np.any((operands > 0) & (operands < tiny)))
    return False


# ---- the network loop (bridge.Network): one derivation for every operation the forward and backward pass make ----

# Whose tanh each row calls. None is correctly rounded (the reference's, from decimal); every library's error was
# measured against it (tests/test_tanh.py): the most ULP found, in the range the presets use. float32: every float
# of that range; float64: a sample, so an empirical figure, not a proof.
TANH_OF = {
    "numpy": "numpy",
    "torch_manual": "torch",
    "python_autograd": "libm",
    "torch_autograd": "torch",
    "tf_tape": "eigen",
    "jax_grad": "xla",
    "tf_function": "xla",
    "torch_compile": "inductor",
    "jax_jit": "xla",
    "keras_tensorflow": "eigen",
    "keras_jax": "xla",
    "keras_torch": "torch",
}
TANH_ULPS = {  # library -> dtype -> the most ULP from the correctly rounded tanh, measured (tests/test_tanh.py)
    "libm": {"float64": 2, "float32": 0},  # glibc 2.36's tanh; float32: math.tanh in float64, then rounded
    "numpy": {"float64": 1, "float32": 1},  # NumPy 2.4's SIMD tanh
    "torch": {"float64": 1, "float32": 1},  # ATen's vectorised tanh (SLEEF)
    "inductor": {"float64": 1, "float32": 1},  # TorchInductor's generated C++
    "eigen": {"float64": 4, "float32": 5},  # TensorFlow's eager kernel; float32: 5 over every normal float
    "xla": {"float64": 4, "float32": 5},  # XLA's CPU tanh (jax, tf.function); float32: 5 over every float
}
TANH_RANGE = 4.0  # |z| up to which TANH_ULPS was measured; beyond it (near saturation) the bound is not claimed
_TANH = "its tanh ({}) is not correctly rounded, the reference's is; and it writes tanh's derivative in its own order"


class MaskMayFlip(Exception):
    """A ReLU's pre-activation lies within its bound of 0: the two runs may disagree on whether the unit is on."""


class _Ball(NamedTuple):
    """Both runs' computed values lie within r of c (elementwise): running error analysis for two runs at once."""

    c: np.ndarray
    r: np.ndarray


class _Rounding:
    """Higham's standard model, fl(a op b) = (a op b)(1 + d) with |d| <= u, applied to balls.

    u is the unit roundoff of the dtype the row computes in, plus float64's for
    the centre, which is itself computed in float64 (so the centre's own error is
    covered). Every operation may also be off by eta absolutely (underflow; a
    flushed operand), eta being the smallest normal number where subnormals are
    flushed and the smallest subnormal where they are not.
    """

    def __init__(self, problem, departure):
        dtype = _computed_in(problem, departure)
        self.u = UNIT_ROUNDOFF[dtype] + UNIT_ROUNDOFF["float64"]
        self.narrowed = dtype != problem.dtype  # inputs rounded into the narrower dtype first
        normal, subnormal = (2.0**-1022, 2.0**-1074) if dtype == "float64" else (2.0**-126, 2.0**-149)
        self.eta = normal if departure.flushes else subnormal
        self.tanh_ulps = TANH_ULPS[departure.tanh][dtype] if departure.tanh else 0
        self.dtype = dtype

    def given(self, a, b=None) -> _Ball:
        """An input: the reference's value a and the candidate's b (default: the same)."""
        a = np.asarray(a, dtype=np.float64)
        r = np.zeros_like(a) if b is None else np.abs(a - np.asarray(b, dtype=np.float64))
        if self.narrowed:
            r = r + self.u * (np.abs(a) + r) + self.eta
        return _Ball(a, r)

    def gamma(self, k: int) -> float:
        ku = k * self.u
        return ku / (1 - ku) if ku < 1 else math.inf

    def mul(self, a: _Ball, b: _Ball) -> _Ball:
        size = (np.abs(a.c) + a.r) * (np.abs(b.c) + b.r)
        moved = np.abs(a.c) * b.r + np.abs(b.c) * a.r + a.r * b.r
        flushed = self.eta * (1 + np.abs(a.c) + a.r + np.abs(b.c) + b.r)
        return _Ball(a.c * b.c, moved + self.u * size + flushed)

    def add(self, a: _Ball, b: _Ball, sign: int = 1) -> _Ball:
        size = np.abs(a.c) + a.r + np.abs(b.c) + b.r
        return _Ball(a.c + sign * b.c, a.r + b.r + self.u * size + 2 * self.eta)

    def total(self, a: _Ball, axis: int, extra: int = 0) -> _Ball:
        """A sum of n terms in any order: n - 1 roundings on every path of its tree (Higham, 4.2), and extra more."""
        n = a.c.shape[axis]
        spread = self.gamma(n - 1 + extra) * np.sum(np.abs(a.c) + a.r, axis=axis)
        return _Ball(np.sum(a.c, axis=axis), np.sum(a.r, axis=axis) + spread + n * self.eta)

    def mean(self, a: _Ball, axis: int) -> _Ball:
        """Sum then divide, or scale each term by fl(1/n) then sum (autograd's way): 2 more roundings a path."""
        n = a.c.shape[axis]
        s = self.total(a, axis, extra=2)
        return _Ball(s.c / n, s.r / n + self.eta)

    def twice(self, a: _Ball) -> _Ball:
        return _Ball(2 * a.c, 2 * a.r)  # exact: a power of two

    def relu(self, a: _Ball) -> tuple[_Ball, np.ndarray]:
        """max(z, 0), and its mask; raises MaskMayFlip where a unit's z may lie on either side of 0."""
        unsure = (np.abs(a.c) <= a.r) & (a.r > 0)
        if unsure.any():
            raise MaskMayFlip(int(np.flatnonzero(unsure.any(axis=0))[0]))
        on = a.c > 0
        return _Ball(np.where(on, a.c, 0.0), np.where(on, a.r, 0.0)), on

    def tanh(self, a: _Ball) -> _Ball:
        """A library's tanh: Lipschitz with the largest slope 1 - tanh^2 on the ball, plus its measured ULP."""
        slope = 1 - np.tanh(np.maximum(np.abs(a.c) - a.r, 0.0)) ** 2
        c = np.tanh(a.c)
        moved = slope * a.r
        ulp = 2 * UNIT_ROUNDOFF[self.dtype] * (np.abs(c) + moved) + self.eta  # one ULP, at most
        # both runs within max(k, 1/2) ULP of tanh of their input: the library's k, the reference's correct 1/2
        return _Ball(c, moved + max(self.tanh_ulps, 0.5) * ulp + 2 * UNIT_ROUNDOFF["float64"] * np.abs(c))

    def tanh_slope(self, d_h: _Ball, h: _Ball) -> _Ball:
        """d_h * tanh'(z), written 1 - h*h (torch, TensorFlow, the hand rows) or (d_h + d_h*h)(1 - h) (JAX)."""
        one = self.given(np.ones_like(h.c))
        written = [
            self.mul(d_h, self.add(one, self.mul(h, h), -1)),
            self.mul(self.add(d_h, self.mul(d_h, h)), self.add(one, h, -1)),
        ]
        apart = np.abs(written[0].c - written[1].c)
        return _Ball(written[0].c, np.maximum(written[0].r, written[1].r + apart))


def network_bounds(problem, batch: slice, reference: dict, candidate: dict, departure: Departure) -> np.ndarray:
    """Largest |a - b| the two runs may show at one step, in Trajectory.network_rows' order.

    reference and candidate hold each run's parameters at the start of the step
    (by name, flat). The forward and backward pass are evaluated once on balls
    (_Rounding): every value both runs may compute lies within r of c, so two
    recorded numbers lie within 2r of each other. Every operation is bounded by
    Higham's model whatever order or fusion a framework uses: a sum over the
    batch or over the hidden units in any order, 1/m applied before or after
    the sum, a multiply-add fused or not. Raises MaskMayFlip where a ReLU's
    pre-activation may lie on either side of 0: beyond that the two runs may
    train different units, and no bound of this kind holds.
    """
    fl = _Rounding(problem, departure)
    x, y = fl.given(problem.x[batch].reshape(-1, 1)), fl.given(problem.y[batch])
    w1, b1, w2, b2 = (fl.given(np.reshape(reference[n], (1, -1)), np.reshape(candidate[n], (1, -1))) for n in LAYERS)
    lr = fl.given(problem.lr)
    z = fl.add(fl.mul(x, w1), b1)  # 1: m x H
    if problem.activation == "relu":
        h, on = fl.relu(z)
    else:
        h = fl.tanh(z)
    pred = fl.add(fl.total(fl.mul(h, w2), axis=1), _Ball(b2.c[0], b2.r[0]))  # 2: the sum over H, in any order
    e = fl.add(pred, y, -1)
    loss = fl.mean(fl.mul(e, e), axis=0)  # 3
    d_pred = fl.twice(_Ball(e.c.reshape(-1, 1), e.r.reshape(-1, 1)))  # 4: dL/dpred per sample, m x 1
    d_w2, d_b2 = fl.mean(fl.mul(h, d_pred), axis=0), fl.mean(d_pred, axis=0)
    d_h = fl.mul(d_pred, w2)  # the error sent back through W2
    d_z = _Ball(d_h.c * on, d_h.r * on) if problem.activation == "relu" else fl.tanh_slope(d_h, h)
    d_w1, d_b1 = fl.mean(fl.mul(x, d_z), axis=0), fl.mean(d_z, axis=0)
    grads = (d_w1, d_b1, d_w2, d_b2)
    new = [fl.add(p, fl.mul(lr, g), -1) for p, g in zip((w1, b1, w2, b2), grads)]
    radii = [np.ravel(loss.r)] + [np.ravel(b.r) for b in (*grads, *new)]
    # Evaluated in float64 through a few dozen operations: relatively within 2^-40 of exact
    return 2 * np.concatenate(radii) * (1 + 2.0**-40)


def network_labels(problem) -> list[str]:
    """The name of each column of Trajectory.network_rows: loss, then 'grad W1[0]' ..., then 'W1[0]' ..."""
    names = [f"{n}[{i}]" for n in LAYERS for i in range(problem.sizes[n])]
    return ["loss", *(f"grad {n}" for n in names), *names]


def _group(label: str) -> str:
    """Which headline number a column counts towards."""
    return "losses" if label == "loss" else "gradients" if label.startswith("grad ") else "parameters"


@dataclass(frozen=True)
class Deviation:
    """One recorded number that is not bit-for-bit the reference's."""

    step: int
    quantity: str  # "losses", "grads" or "weights"
    reference: float
    value: float
    ulps: float
    bound: float  # allowed |value - reference|; 0.0 where bitwise is claimed

    def describe(self) -> str:
        name = NAMES.get(self.quantity, self.quantity)  # a network's column is named by itself: "grad W1[2]"
        return f"{name} at step {self.step} is {self.value!r}, reference {self.reference!r} ({_ulps(self.ulps)})"


NAMES = {"losses": "loss", "grads": "gradient", "weights": "weight", "bias_grads": "bias gradient", "biases": "bias"}
NAMES |= {"parameters": "parameters", "gradients": "gradients"}  # a network's, over all its layers
NETWORK_QUANTITIES = ("losses", "gradients", "parameters")
_INF_NAN_PART = "inf/NaN part as the bound allows"


def _ulps(n: float) -> str:
    return "NaN vs number" if n == math.inf else f"{n:g} ULP"


@dataclass
class Verdict:
    """How one implementation's trajectory compares with the reference."""

    implementation: str
    dtype: str
    status: str  # "bitwise", "bounded" or "mismatch"
    cause: str | None = None  # why it may depart from bitwise (None: bitwise claimed)
    max_ulps: dict[str, float] = field(default_factory=lambda: dict.fromkeys(QUANTITIES, 0))
    worst: Deviation | None = None  # the deviation closest to its bound
    failure: Deviation | None = None  # first step that breaks the claim
    reason: str = ""  # why it is a mismatch
    compared_steps: int | None = None  # set where an allowed inf/NaN difference ended the comparison
    stopped: str = _INF_NAN_PART  # why the comparison ended at compared_steps
    device: str = "cpu"  # where the candidate ran
    note: str | None = None  # "not measured on gpu; the CPU claim is applied", where that is so
    replay: str | None = None  # a data-parallel row: how it compares with its engine's combine rule, replayed

    @property
    def conforms(self) -> bool:
        return self.status != "mismatch"

    def headline(self) -> str:
        """The verdict without its cause and note: bitwise / within N ULP / MISMATCH at step k."""
        if self.status == "bitwise":
            return "bitwise"
        if self.status == "bounded":
            order = ("weights", "parameters", "losses", "grads", "gradients", "biases", "bias_grads")
            shown = [q for q in order if q in self.max_ulps]
            ulps = "/".join(f"{self.max_ulps[q]:g}" for q in shown)
            names = "/".join(NAMES[q].replace("gradient", "grad") for q in shown)
            cut = self.compared_steps
            overflow = "" if cut is None else f"; compared up to step {cut}, where {self.stopped}"
            return f"within {ulps} ULP ({names}){overflow}"
        return f"MISMATCH at step {self.failure.step}: {self.reason}"

    def footnotes(self) -> list[str]:
        """What the headline needs said beside it: the cause of a bounded verdict, and the note."""
        return [t for t in (self.cause if self.status == "bounded" else None, self.note, self.replay) if t]

    def summary(self) -> str:
        """One line: bitwise / within N ULP: cause / MISMATCH at step k; and the note, where there is one."""
        notes = self.footnotes()
        return self.headline() + (": " + "; ".join(notes) if notes else "")

    def to_dict(self) -> dict:
        def dev(d: Deviation | None):
            if d is None:
                return None
            return {k: (v if not isinstance(v, float) or math.isfinite(v) else repr(v)) for k, v in vars(d).items()}

        return {
            "implementation": self.implementation,
            "dtype": self.dtype,
            "device": self.device,
            "status": self.status,
            "conforms": self.conforms,
            "summary": self.summary(),
            "cause": self.cause,
            "note": self.note,
            "replay": self.replay,
            "max_ulps": {k: (v if math.isfinite(v) else repr(v)) for k, v in self.max_ulps.items()},
            "compared_steps": self.compared_steps,
            "stopped": None if self.compared_steps is None else self.stopped,
            "worst": dev(self.worst),
            "failure": dev(self.failure),
        }


def _starts(problem, reference: Trajectory, candidate: Trajectory) -> list[_Start]:
    """The parameters each step starts from, in both runs."""
    wa, wb = [problem.w0, *reference.weights[:-1]], [problem.w0, *candidate.weights[:-1]]
    if not problem.has_bias:
        return [_Start(a, b) for a, b in zip(wa, wb)]
    ba, bb = [problem.b0, *reference.biases[:-1]], [problem.b0, *candidate.biases[:-1]]
    return [_Start(*values) for values in zip(wa, wb, ba, bb)]


# A bound beyond float64's range is inf, as the arithmetic says: any finite distance is within it.
@np.errstate(over="ignore", invalid="ignore")
def compare(problem, reference: Trajectory, candidate: Trajectory) -> Verdict:
    """Check candidate against reference: bitwise unless DEPARTURES says why not on the candidate's device."""
    if not isinstance(problem, PROBLEMS):
        raise TypeError(f"problem must be a bridge.OneWeight, Batched or Network, got {type(problem).__name__}")
    for trajectory in (reference, candidate):
        if not isinstance(trajectory, Trajectory):
            raise TypeError(f"compare takes two bridge.Trajectory objects, got {type(trajectory).__name__}")
    name, device = candidate.implementation, candidate.device
    departure = expected_departure(name, problem, device, candidate.workers or DEFAULT_WORKERS)
    recorded = quantities(problem)
    verdict = Verdict(name, problem.dtype, "bitwise", departure and departure.cause, device=device)
    verdict.note = unmeasured(name, device, loop_of(problem))
    verdict.max_ulps = dict.fromkeys(recorded, 0)

    def fail(deviation: Deviation, reason: str) -> Verdict:
        verdict.status, verdict.failure, verdict.reason = "mismatch", deviation, reason
        return verdict

    if isinstance(problem, Network):
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
        failure = check_replay(problem, candidate, verdict)
        if failure is not None:
            return fail(*failure)
    batches = _batches(problem) if departure else []
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
                if _non_finite_allowed(problem, s, starts[step], departure, a, b, bounds[q]):
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


def network_starts(problem, trajectory: Trajectory) -> list[dict]:
    """The parameters each update starts from, by name."""
    starts = [problem.initial]
    for step in range(len(trajectory) - 1):
        starts.append({n: trajectory.parameters[n][step] for n in LAYERS})
    return starts


@np.errstate(over="ignore", invalid="ignore")
def _compare_network(problem, reference, candidate, verdict: Verdict, departure, fail) -> Verdict:
    """compare() for a network: every column of every update, bitwise or within network_bounds."""
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
    ref_starts = cand_starts = None
    for step in np.flatnonzero(~same.all(axis=1)).tolist():
        columns = np.flatnonzero(~same[step]).tolist()
        if departure is None:
            q = labels[columns[0]]
            a, b = a_rows[step, columns[0]], b_rows[step, columns[0]]
            deviation = Deviation(step, q, float(a), float(b), ulp_distance(a, b, problem.dtype), 0.0)
            return fail(deviation, f"{deviation.describe()}; bitwise claimed")
        if ref_starts is None:
            ref_starts, cand_starts = network_starts(problem, reference), network_starts(problem, candidate)
        batch = problem.batches[step % len(problem.batches)]
        try:
            bounds = network_bounds(problem, batch, ref_starts[step], cand_starts[step], departure)
        except MaskMayFlip as unit:
            verdict.status, verdict.compared_steps = "bounded", step
            verdict.stopped = (
                f"unit {unit} of the hidden layer has a pre-activation within its bound of 0 (its mask may flip)"
            )
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
            group = _group(q)
            verdict.status, verdict.max_ulps[group] = "bounded", max(verdict.max_ulps[group], ulps)
            ratio = abs(a - b) / bounds[column] if bounds[column] else 0.0
            if ratio > worst_ratio:
                worst_ratio, verdict.worst = ratio, deviation
    return verdict


# ---- data-parallel rows: each engine's combine rule, replayed from the workers' own gradients ----


@dataclass(frozen=True)
class Combine:
    """How an engine's all-reduce makes one gradient of the workers' own: the rule the replay follows."""

    rule: str  # what it computes, in words
    reciprocal: bool  # each worker's gradient is multiplied by fl(1/N) before the sum
    ordered_up_to: int  # the most workers for which the sum's order is established; beyond it, the bound alone


# Established by experiment in tests/test_parallel.py. With 2 workers the order is no question: a + b == b + a.
COMBINE = {
    "torch_ddp": Combine(
        "each worker's gradient times fl(1/N) (DDP's reducer, as it copies it into its bucket), then gloo's sum",
        True,
        2,
    ),
    "jax_sharded": Combine("jax.lax.psum: the devices' gradients added, nothing scaled", False, 2),
    "tf_mirrored": Combine("all_reduce(SUM) in the replica context: the replicas' gradients added", False, 2),
}
UNREPLAYED = {
    "keras_data_parallel": "its workers' gradients are never seen apart: XLA compiles the all-reduce into the step",
}
_ORDER_UNKNOWN = "the order in which {} adds {} contributions is observed but not documented"


def replay(name: str, local: list[float], dtype: str) -> float:
    """The engine's combine rule (COMBINE) in plain Python floats, rounded to dtype at every operation."""
    fl, rule = rounder(dtype), COMBINE[name]
    terms = [fl(g * fl(1 / len(local))) for g in local] if rule.reciprocal else list(local)
    total = terms[0]
    for term in terms[1:]:  # worker 0 first: where the order is established (2 workers) it is no question
        total = fl(total + term)
    return total


def check_replay(problem, candidate: Trajectory, verdict: Verdict):
    """A data-parallel run: parallel indeed, and bitwise against its combine rule where the order is known.

    Sets verdict.replay; returns (Deviation, reason) where the run breaks either claim, else None.
    """
    name, workers, world = candidate.implementation, candidate.workers, candidate.world
    ran = (world.get("world_size"), world.get("devices"))
    nothing = Deviation(0, "grads", math.nan, math.nan, math.inf, 0.0)
    if ran != (workers, workers):
        return nothing, f"asked for {workers} workers, its workers report world size {ran[0]} on {ran[1]} devices"
    if name in UNREPLAYED:
        verdict.replay = f"not replayed: {UNREPLAYED[name]}; the bound alone"
        return None
    rule = COMBINE[name]
    tables = [("grads", "local_grads")] + ([("bias_grads", "local_bias_grads")] if problem.has_bias else [])
    for _, local in tables:
        rows = getattr(candidate, local)
        if len(rows) != len(candidate) or any(len(row) != workers for row in rows):
            return nothing, f"recorded {len(rows)} updates of its workers' gradients, not {len(candidate)} of {workers}"
    if parse(candidate.device)[0] != CPU:  # NCCL, and XLA's and TensorFlow's GPU all-reduces, fix no order
        verdict.replay = (
            f"not replayed: on a GPU the order of {world.get('engine', name)}'s sum is not fixed; the bound alone"
        )
        return None
    if workers > rule.ordered_up_to:
        engine = world.get("engine", name)
        verdict.replay = f"not replayed: {_ORDER_UNKNOWN.format(engine, workers)}; the bound alone"
        return None
    fl = rounder(problem.dtype)
    for step in range(len(candidate)):
        for combined, local in tables:
            a, b = replay(name, getattr(candidate, local)[step], problem.dtype), getattr(candidate, combined)[step]
            if not same_bits(a, b):
                deviation = Deviation(step, combined, a, b, ulp_distance(a, b, problem.dtype), 0.0)
                return deviation, f"{deviation.describe()} where its replay ({rule.rule}) is the reference"
        for value, grad in (("weights", "grads"), ("biases", "bias_grads"))[: len(tables)]:
            before = getattr(candidate, value)[step - 1] if step else (problem.w0 if value == "weights" else problem.b0)
            a, b = fl(before - fl(problem.lr * getattr(candidate, grad)[step])), getattr(candidate, value)[step]
            if not same_bits(a, b):
                deviation = Deviation(step, value, a, b, ulp_distance(a, b, problem.dtype), 0.0)
                return deviation, f"{deviation.describe()}, where w - lr * grad from its own gradient is the reference"
    verdict.replay = f"bitwise against its replay: {rule.rule}, from its {workers} workers' recorded gradients"
    return None
