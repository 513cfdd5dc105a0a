"""What "identical" means, in one place: bitwise where IEEE arithmetic allows it,
a derived error bound where it cannot, and nothing tuned by hand.

Every implementation is compared with the `python` reference, step by step.

Bitwise is the claim for every loop, except the rows of DEPARTURES: there a
batch mean sums its terms in the framework's own order (and autograd scales
each term by 1/n before summing), which IEEE arithmetic does not make
associative. Those rows must stay within `step_bounds`, derived below from
Higham's error analysis (Accuracy and Stability of Numerical Algorithms,
2nd ed., sections 2-4); the bound is recomputed at every step from the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bridge.floats import UNIT_ROUNDOFF, gamma, same_bits, ulp_distance
from bridge.problems import Batched
from bridge.trajectory import Trajectory

QUANTITIES = ("losses", "grads", "weights")

_SUM = "sums the batch in its own order, not left to right"
_AUTOGRAD = "; backprop of the mean scales each term by 1/n before the sum"
# (implementation, loop) -> cause. Established in tests/test_causes.py: on data
# whose sums are exact, every row below becomes bitwise (power-of-two batch),
# and only the autograd rows stay apart when 1/n is inexact.
DEPARTURES = {
    ("numpy", "batched"): "np.mean " + _SUM + " (pairwise, 8 partial sums)",
    ("torch_manual", "batched"): "torch .mean() " + _SUM + " (vectorised cascade)",
    ("torch_autograd", "batched"): "torch .mean() " + _SUM + _AUTOGRAD,
    ("tf_tape", "batched"): "tf.reduce_mean " + _SUM + " (Eigen tree reduction)" + _AUTOGRAD,
    ("jax_grad", "batched"): "jnp.mean " + _SUM + " (XLA reduction)" + _AUTOGRAD,
}


def loop_of(problem) -> str:
    return "batched" if isinstance(problem, Batched) else "one_weight"


def expected_departure(implementation: str, problem) -> str | None:
    """The documented cause if this implementation may depart from bitwise here, else None."""
    return DEPARTURES.get((implementation, loop_of(problem)))


@dataclass(frozen=True)
class _BatchSums:
    """Per-batch sums the bound needs, each correctly rounded by math.fsum."""

    m: int
    sx2: float  # sum x^2
    sxy: float  # sum |x * y|
    sy2: float  # sum y^2
    big_x: float  # max |x|

    @classmethod
    def of(cls, x, y) -> _BatchSums:
        x, y = [float(v) for v in x], [float(v) for v in y]
        return cls(
            len(x),
            math.fsum(v * v for v in x),
            math.fsum(abs(a * b) for a, b in zip(x, y)),
            math.fsum(v * v for v in y),
            max(map(abs, x)),
        )


def _batches(problem) -> list[_BatchSums]:
    if isinstance(problem, Batched):
        return [_BatchSums.of(problem.x[b], problem.y[b]) for b in problem.batches]
    return [_BatchSums.of([problem.x], [problem.y])]


def step_bounds(problem, s: _BatchSums, wa: float, wb: float) -> dict[str, float]:
    """Largest |a - b| two correct implementations may show at one step.

    wa, wb: the two weights this step starts from. For one batch of m samples
    with g(w) = (2/m) sum x (w x - y), any implementation computes
      pred and error            2 roundings, relative to |w x| + |y|
      times 2 and by x          1 rounding (times 2 is exact)
      the 1/m factor            at most 2 (1/m itself, and its product)
      the sum, in any order     at most m - 1 along any path of its tree
    so |g_hat - g(w)| <= gamma(m+4) * A(w) / m, with A(w) = 2 sum |x|(|w x| + |y|).
    The loss (squares instead of products, one more rounding) is within
    gamma(m+6) * B(w) / m, B(w) = sum (|w x| + |y|)^2. The update
    w - lr * g_hat adds two roundings: gamma(2)|w| and, with g_hat's own error,
    gamma(m+7) * lr * A(w) / m.
    Starting apart by D = |wa - wb| adds what exact arithmetic does with D:
    the update is affine in w with slope 1 - 2 lr sum(x^2)/m, the gradient has
    slope 2 sum(x^2)/m, and the loss moves by at most D A(wb)/m + D^2 sum(x^2)/m.
    """
    dtype, m, lr = problem.dtype, s.m, problem.lr
    dist = abs(wa - wb)
    a_a, a_b = (2 * (abs(w) * s.sx2 + s.sxy) for w in (wa, wb))
    b_a, b_b = (w * w * s.sx2 + 2 * abs(w) * s.sxy + s.sy2 for w in (wa, wb))
    # each rounding into the subnormal range may add half the smallest spacing,
    # carried through at most two products with x and one with lr
    eta = 2.0 ** (-1074 if dtype == "float64" else -149)
    underflow = (m + 8) * eta * (1 + s.big_x) ** 2 * (1 + lr)
    bounds = {
        "grads": dist * 2 * s.sx2 / m + gamma(m + 4, dtype) * (a_a + a_b) / m,
        "losses": dist * a_b / m + dist * dist * s.sx2 / m + gamma(m + 6, dtype) * (b_a + b_b) / m,
        "weights": abs(1 - 2 * lr * s.sx2 / m) * dist
        + gamma(2, dtype) * (abs(wa) + abs(wb))
        + gamma(m + 7, dtype) * lr * (a_a + a_b) / m,
    }
    # the bound itself is evaluated in float64: ~20 roundings of 2^-53 each
    slack = 1 + 32 * UNIT_ROUNDOFF["float64"]
    return {q: (v + underflow) * slack for q, v in bounds.items()}


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
        name = {"losses": "loss", "grads": "gradient", "weights": "weight"}[self.quantity]
        return f"{name} at step {self.step} is {self.value!r}, reference {self.reference!r} ({_ulps(self.ulps)})"


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

    @property
    def conforms(self) -> bool:
        return self.status != "mismatch"

    def summary(self) -> str:
        """One line: bitwise / within N ULP (cause) / MISMATCH at step k."""
        if self.status == "bitwise":
            return "bitwise"
        if self.status == "bounded":
            w, l, g = (self.max_ulps[q] for q in ("weights", "losses", "grads"))
            return f"within {w:g}/{l:g}/{g:g} ULP (weight/loss/grad): {self.cause}"
        return f"MISMATCH at step {self.failure.step}: {self.reason}"

    def to_dict(self) -> dict:
        def dev(d: Deviation | None):
            if d is None:
                return None
            return {k: (v if not isinstance(v, float) or math.isfinite(v) else repr(v)) for k, v in vars(d).items()}

        return {
            "implementation": self.implementation,
            "dtype": self.dtype,
            "status": self.status,
            "conforms": self.conforms,
            "summary": self.summary(),
            "cause": self.cause,
            "max_ulps": {k: (v if math.isfinite(v) else repr(v)) for k, v in self.max_ulps.items()},
            "worst": dev(self.worst),
            "failure": dev(self.failure),
        }


def _weights_before(problem, t: Trajectory) -> list[float]:
    return [problem.w0, *t.weights[:-1]]


def compare(problem, reference: Trajectory, candidate: Trajectory) -> Verdict:
    """Check candidate against reference: bitwise unless DEPARTURES says why not."""
    cause = expected_departure(candidate.implementation, problem)
    verdict = Verdict(candidate.implementation, problem.dtype, "bitwise", cause)

    def fail(deviation: Deviation, reason: str) -> Verdict:
        verdict.status, verdict.failure, verdict.reason = "mismatch", deviation, reason
        return verdict

    if len(candidate) != len(reference) or any(len(getattr(candidate, q)) != len(candidate) for q in QUANTITIES):
        step = min(len(candidate), len(reference))
        return fail(Deviation(step, "weights", math.nan, math.nan, math.inf, 0.0),
                    f"recorded {len(candidate)} updates, the reference {len(reference)}")
    batches = _batches(problem) if cause else []
    before_a, before_b = _weights_before(problem, reference), _weights_before(problem, candidate)
    worst_ratio = -1.0
    for step in range(len(reference)):
        bounds = None
        for q in QUANTITIES:
            a, b = getattr(reference, q)[step], getattr(candidate, q)[step]
            if same_bits(a, b):
                continue
            ulps = ulp_distance(a, b, problem.dtype)
            verdict.max_ulps[q] = max(verdict.max_ulps[q], ulps)
            deviation = Deviation(step, q, a, b, ulps, 0.0)
            if cause is None:
                return fail(deviation, f"{deviation.describe()}; bitwise claimed")
            if not (math.isfinite(a) and math.isfinite(b)):
                return fail(deviation, f"{deviation.describe()}; inf and NaN must agree exactly")
            if bounds is None:
                s = batches[step % len(batches)]
                bounds = step_bounds(problem, s, before_a[step], before_b[step])
            deviation = Deviation(step, q, a, b, ulps, bounds[q])
            if abs(a - b) > bounds[q]:
                return fail(deviation, f"{deviation.describe()}; derived bound {bounds[q]:.3g} exceeded")
            verdict.status = "bounded"
            ratio = abs(a - b) / bounds[q]
            if ratio > worst_ratio:
                worst_ratio, verdict.worst = ratio, deviation
    return verdict
