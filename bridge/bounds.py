"""The derived bounds: the largest distance two correct runs may show at one step, from Higham's error analysis.

A row that may depart from bitwise (bridge.causes.Departure) must stay within
step_bounds (one weight, batches) or network_bounds (a hidden layer), derived
from Higham's error analysis (Accuracy and Stability of Numerical Algorithms,
2nd ed., ch. 2-4) and recomputed at every step from the data. Reordering and
fusing only ever remove or move roundings, so the operation counts cover both
(Departure.reorders).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from bridge.causes import Departure
from bridge.floats import UNIT_ROUNDOFF, gamma
from bridge.problems import Batched
from bridge.trajectory import LAYERS

QUANTITIES = ("losses", "grads", "weights")
BIAS_QUANTITIES = ("bias_grads", "biases")  # recorded only by problems with a bias


@dataclass(frozen=True)
class Batch:
    """One batch's magnitudes, which the bounds are computed from."""

    ax: np.ndarray  # |x|
    ay: np.ndarray  # |y|
    sx: float  # |sum x|
    sx2: float  # sum x^2

    @classmethod
    def of(cls, x, y) -> Batch:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        return cls(np.abs(x), np.abs(y), abs(float(np.sum(x))), float(np.sum(x * x)))

    @property
    def m(self) -> int:
        return self.ax.size


def batch_magnitudes(problem) -> list[Batch]:
    if isinstance(problem, Batched):
        return [Batch.of(problem.x[b], problem.y[b]) for b in problem.batches]
    return [Batch.of([problem.x], [problem.y])]


def quantities(problem) -> tuple[str, ...]:
    """What a trajectory records for this problem: the bias's two lists only when it has one."""
    return QUANTITIES + BIAS_QUANTITIES if problem.has_bias else QUANTITIES


@dataclass(frozen=True)
class Start:
    """Where the two runs start one step from: their weights and biases (0 without a bias)."""

    wa: float
    wb: float
    ba: float = 0.0
    bb: float = 0.0


@np.errstate(over="ignore")  # a bound that overflows is inf: true, if useless
def step_bounds(problem, s: Batch, start: Start, departure: Departure) -> dict[str, float]:
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
def may_overflow(problem, s: Batch, start: Start, departure: Departure | None = None) -> bool:
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


def non_finite_allowed(problem, s, start, departure, a: float, b: float, bound: float) -> bool:
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


# ---- the network loop (bridge.Network): one derivation for every operation the forward and backward pass make ----

# Every library's tanh error was measured against the correctly rounded one (the reference's, from decimal;
# tests/test_tanh.py): the most ULP found, in the range the presets use. float32: every float of that range;
# float64: a sample, so an empirical figure, not a proof. Which library a row calls is its own fact (Row.tanh).
TANH_ULPS = {  # library -> dtype -> the most ULP from the correctly rounded tanh, measured (tests/test_tanh.py)
    "libm": {"float64": 2, "float32": 0},  # glibc 2.36's tanh; float32: math.tanh in float64, then rounded
    "numpy": {"float64": 1, "float32": 1},  # NumPy 2.4's SIMD tanh
    "torch": {"float64": 1, "float32": 1},  # ATen's vectorised tanh (SLEEF)
    "inductor": {"float64": 1, "float32": 1},  # TorchInductor's generated C++
    "eigen": {"float64": 4, "float32": 5},  # TensorFlow's eager kernel; float32: 5 over every normal float
    "xla": {"float64": 4, "float32": 5},  # XLA's CPU tanh (jax, tf.function); float32: 5 over every float
}
TANH_RANGE = 4.0  # |z| up to which TANH_ULPS was measured; beyond it (near saturation) the bound is not claimed


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


def network_starts(problem, trajectory) -> list[dict]:
    """The parameters each update starts from, by name."""
    starts = [problem.initial]
    for step in range(len(trajectory) - 1):
        starts.append({n: trajectory.parameters[n][step] for n in LAYERS})
    return starts
