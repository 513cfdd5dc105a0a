"""The classifier's bounds: one derivation for its forward pass, softmax cross-entropy, backpropagation, SGD and Adam.

The same running error analysis as the network's (bridge.bounds._Rounding, Higham's
model applied to balls that hold both runs' values), with what a classifier adds:
matrix products over 64 (or 784), H and 10 terms in any order, exp and log whose
errors were measured per library (tests/test_exp_log.py), softmax's subtraction of
the largest logit, a division, and Adam's moments carried from step to step.
Where a framework may write a formula in more than one way (p as exp(s) / sum or as
exp(s - log sum); Adam's moments as b m + (1 - b) g or m + (g - m)(1 - b)), the
ball covers each way: their union.
"""

from __future__ import annotations

import numpy as np

from bridge.bounds import MaskMayFlip, _Ball, _Rounding
from bridge.causes import Departure
from bridge.floats import UNIT_ROUNDOFF
from bridge.trajectory import LAYERS

__all__ = ["EXP_LOG_ULPS", "ClipMayFlip", "MaskMayFlip", "adam_moments", "classifier_bounds"]

# Every library's exp and log measured against the correctly rounded ones (decimal; tests/test_exp_log.py): the most
# ULP found over a sample of exp on [-EXP_RANGE, 0] and log on [1e-7, 10], the ranges a softmax cross-entropy uses.
# Samples, so empirical figures, not proofs; which library a row calls is its own fact (Row.exp_log).
EXP_LOG_ULPS = {  # library -> function -> dtype -> the most ULP found
    "libm": {"exp": {"float64": 1, "float32": 0}, "log": {"float64": 1, "float32": 0}},  # glibc; float32: rounded
    "numpy": {"exp": {"float64": 1, "float32": 2}, "log": {"float64": 1, "float32": 3}},  # NumPy's SIMD loops
    "torch": {"exp": {"float64": 1, "float32": 1}, "log": {"float64": 1, "float32": 1}},  # ATen (SLEEF)
    "inductor": {"exp": {"float64": 1, "float32": 1}, "log": {"float64": 1, "float32": 1}},  # TorchInductor's C++
    "eigen": {"exp": {"float64": 1, "float32": 1}, "log": {"float64": 1, "float32": 3}},  # TensorFlow's kernels
    "xla": {"exp": {"float64": 1, "float32": 1}, "log": {"float64": 1, "float32": 1}},  # XLA's CPU code (JAX)
}
REFERENCE_EXP_LOG = "libm"  # impl/python.py calls math.exp and math.log, rounded to the dtype
EXP_RANGE = 40.0  # below exp(-40) no ULP is claimed: both runs' exp lies in [0, 2 exp(s)], a relative error of 1
CLIP = 1e-7  # Keras's clip of a probability before its log (from_logits=False)


class ClipMayFlip(Exception):
    """A label's probability lies within its bound of the clip at 1e-7: one run's loss may be flat, the other's not."""


class _Classifying(_Rounding):
    """The standard model, with what the classifier needs beyond the network's: products, exp, log, /, sqrt."""

    def __init__(self, problem, departure: Departure | None):
        super().__init__(problem, departure or Departure("", False))
        self.powers_from = departure and departure.powers_from
        library = (departure and departure.exp_log) or REFERENCE_EXP_LOG
        self.ulps = {
            name: max(EXP_LOG_ULPS[library][name][self.dtype], EXP_LOG_ULPS[REFERENCE_EXP_LOG][name][self.dtype])
            for name in ("exp", "log")
        }

    def matmul(self, a: _Ball, b: _Ball, bias: _Ball | None = None) -> _Ball:
        """a @ b (+ bias), the n products summed in any order, the bias first, last or between (n + 1 terms)."""
        n = a.c.shape[-1] + (bias is not None)
        size_a, size_b = np.abs(a.c) + a.r, np.abs(b.c) + b.r
        whole = size_a @ size_b  # bounds every product's size, and their sum's
        moved = np.abs(a.c) @ b.r + a.r @ np.abs(b.c) + a.r @ b.r
        c = a.c @ b.c
        flushed = self.eta * (a.c.shape[-1] + size_a.sum(axis=-1, keepdims=True) + size_b.sum(axis=0, keepdims=True))
        r = moved + self.u * whole + flushed
        if bias is not None:
            c, r, whole = c + bias.c, r + bias.r, whole + np.abs(bias.c) + bias.r
        return _Ball(c, r + self.gamma(n - 1) * (whole + r) + n * self.eta)

    def scale(self, a: _Ball, m: int) -> _Ball:
        """a / m, or a times fl(1/m): two roundings at most."""
        return _Ball(a.c / m, (a.r + self.gamma(2) * (np.abs(a.c) + a.r)) / m + self.eta)

    def div(self, a: _Ball, b: _Ball, floor: float = 0.0) -> _Ball:
        """a / b, b kept away from 0 (else the bound is inf); floor: a lower bound on |b| known otherwise."""
        low = np.maximum(np.abs(b.c) - b.r, floor)
        with np.errstate(divide="ignore", invalid="ignore"):
            c = a.c / b.c
            moved = np.where(low > 0, (a.r + np.abs(c) * b.r) / low, np.inf)
            size = np.where(low > 0, (np.abs(a.c) + a.r) / low, np.inf)
        return _Ball(c, moved + self.u * size + self.eta)

    def sqrt(self, a: _Ball) -> _Ball:
        """sqrt(a), a >= 0: |sqrt(x) - sqrt(y)| <= sqrt(|x - y|), and the root's own rounding."""
        c = np.sqrt(np.maximum(a.c, 0))
        moved = np.minimum(np.sqrt(a.r), a.r / np.maximum(c, 1e-300))
        return _Ball(c, moved + self.u * (c + moved) + self.eta)

    def exp(self, a: _Ball) -> _Ball:
        """A library's exp: the slope exp(c + r) across the ball, plus the measured ULP (both runs' libraries)."""
        c = np.exp(a.c)
        moved = c * np.expm1(a.r)
        ulp = self.ulps["exp"] * 2 * UNIT_ROUNDOFF[self.dtype] * (c + moved) + self.eta
        r = moved + ulp + 2 * UNIT_ROUNDOFF["float64"] * c
        far = a.c - a.r < -EXP_RANGE  # no ULP measured there: any value in [0, 2 exp(c + r)]
        return _Ball(c, np.where(far, np.maximum(r, 2 * np.exp(a.c + a.r)), r))

    def log(self, a: _Ball) -> _Ball:
        """A library's log of a > 0: the slope 1 / (c - r) across the ball, plus the measured ULP."""
        low = a.c - a.r
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.log(a.c)
            moved = np.where(low > 0, np.log(a.c) - np.log(np.where(low > 0, low, 1)), np.inf)
        ulp = self.ulps["log"] * 2 * UNIT_ROUNDOFF[self.dtype] * (np.abs(c) + moved) + self.eta
        return _Ball(c, moved + ulp + 2 * UNIT_ROUNDOFF["float64"] * np.abs(c))

    def relu_either_way(self, a: _Ball) -> tuple[_Ball, np.ndarray, np.ndarray]:
        """max(z, 0), its mask, and where the mask is unsure (z within its bound of 0): relu is 1-Lipschitz, so h's
        ball holds both runs' h either way; the backward pass covers both masks there (_through_mask)."""
        unsure = (np.abs(a.c) <= a.r) & (a.r > 0)
        on = a.c > 0
        return _Ball(np.maximum(a.c, 0.0), a.r), on, unsure

    def union(self, *written: _Ball) -> _Ball:
        """One ball holding each: where a framework may compute the same value in any of these ways."""
        c = written[0].c
        return _Ball(c, np.max([w.r + np.abs(w.c - c) for w in written], axis=0))

    def rounded(self, a: _Ball, roundings: int) -> _Ball:
        """a, allowing some roundings more on its whole size: a product or quotient chain associated otherwise."""
        return _Ball(a.c, a.r + self.gamma(roundings) * (np.abs(a.c) + a.r))


def _forward_backward(fl: _Classifying, problem, batch: slice, start: list[_Ball]):
    """The loss and every gradient of one batch, as balls (the order of LAYERS for the gradients)."""
    w1, b1, w2, b2 = start
    x = fl.given(problem.x[batch])
    labels = problem.labels[batch]
    m, rows = len(labels), np.arange(len(labels))
    z = fl.matmul(x, w1, b1)  # 1: m x H
    h, on, unsure = fl.relu_either_way(z)
    logits = fl.matmul(h, w2, b2)  # 2: m x 10
    top = _Ball(logits.c.max(axis=1, keepdims=True), logits.r.max(axis=1, keepdims=True))  # each run's own largest
    s = fl.add(logits, top, -1)
    exps = fl.exp(s)
    total = fl.total(exps, axis=1)
    total = _Ball(total.c[:, None], total.r[:, None])
    log_total = fl.log(total)
    p = fl.union(fl.div(exps, total), fl.exp(fl.add(s, log_total, -1)))  # exp(s) / sum, or exp(log_softmax)
    picked = _Ball(s.c[rows, labels], s.r[rows, labels])
    p_label = _Ball(p.c[rows, labels], p.r[rows, labels])
    if problem.from_logits:
        per_sample = fl.add(_Ball(log_total.c[:, 0], log_total.r[:, 0]), picked, -1)  # log sum - s[label]
        flat = np.zeros(m, dtype=bool)
    else:
        low, high = p_label.c - p_label.r, p_label.c + p_label.r
        top_clip = 1 - CLIP
        if np.any((low <= CLIP) & (high >= CLIP)) or np.any((low <= top_clip) & (high >= top_clip)):
            raise ClipMayFlip(int(np.flatnonzero((low <= CLIP) & (high >= CLIP) | (low <= top_clip))[0]))
        flat = (high < CLIP) | (low > top_clip)
        clipped = _Ball(np.clip(p_label.c, CLIP, top_clip), np.where(flat, 0.0, p_label.r))
        negative = fl.log(clipped)
        per_sample = _Ball(-negative.c, negative.r)
    loss = fl.mean(per_sample, axis=0)  # 3
    onehot = np.zeros_like(p.c)
    onehot[rows, labels] = 1.0
    # 4: (p - onehot) / m, or p / m - onehot / m (autodiff's log-softmax): three roundings at most a term
    d_logits = _Ball((p.c - onehot) / m, (p.r + fl.gamma(3) * (np.abs(p.c) + p.r + onehot)) / m + 3 * fl.eta)
    d_logits = _Ball(np.where(flat[:, None], 0.0, d_logits.c), np.where(flat[:, None], 0.0, d_logits.r))
    d_w2 = fl.matmul(_transposed(h), d_logits)
    d_b2 = fl.total(d_logits, axis=0)
    d_h = fl.matmul(d_logits, _transposed(w2))
    d_z = _Ball(d_h.c * on, d_h.r * (on | unsure) + np.abs(d_h.c) * unsure)  # either slope, 1 or 0, where unsure
    d_w1 = fl.matmul(_transposed(x), d_z)
    d_b1 = fl.total(d_z, axis=0)
    return loss, (d_w1, d_b1, d_w2, d_b2), int(unsure.sum())


def _transposed(a: _Ball) -> _Ball:
    return _Ball(a.c.T, a.r.T)


def _shaped(problem, reference: dict, candidate: dict, fl: _Classifying) -> list[_Ball]:
    shapes = [np.shape(p) for p in problem.layers]
    return [fl.given(np.reshape(reference[n], s), np.reshape(candidate[n], s)) for n, s in zip(LAYERS, shapes)]


def adam_moments(problem, reference, candidate, departure: Departure | None) -> list[list[tuple[_Ball, _Ball]]]:
    """Adam's m and v at the start of each step, as balls per layer, carried from the gradients both runs recorded."""
    fl = _Classifying(problem, departure)
    shapes = [np.shape(p) for p in problem.layers]
    moments = [(fl.given(np.zeros(s)), fl.given(np.zeros(s))) for s in shapes]
    found = []
    for step in range(len(reference)):
        found.append(moments)
        grads = [
            fl.given(np.reshape(reference.gradients[n][step], s), np.reshape(candidate.gradients[n][step], s))
            for n, s in zip(LAYERS, shapes)
        ]
        moments = [_moments(fl, problem, m, v, g) for (m, v), g in zip(moments, grads)]
    return found


def _moments(fl: _Classifying, problem, m: _Ball, v: _Ball, g: _Ball) -> tuple[_Ball, _Ball]:
    """Adam's m and v after a gradient g: the moving means of g and of g * g."""
    one = fl.given(1.0)
    beta_1, beta_2 = fl.given(problem.beta_1), fl.given(problem.beta_2)
    return _moment(fl, m, g, beta_1, fl.add(one, beta_1, -1)), _moment(
        fl, v, fl.mul(g, g), beta_2, fl.add(one, beta_2, -1)
    )


def _moment(fl: _Classifying, old: _Ball, new: _Ball, beta: _Ball, keep: _Ball) -> _Ball:
    """beta old + (1 - beta) new (the paper, optax, torch's addcmul), or old + (new - old)(1 - beta) (Keras, lerp)."""
    written = fl.add(fl.mul(beta, old), fl.mul(keep, new)), fl.add(old, fl.mul(fl.add(new, old, -1), keep))
    return fl.rounded(fl.union(*written), 2)  # (1 - beta) g g associated either way


def _adam_step(fl: _Classifying, problem, value: _Ball, m: _Ball, v: _Ball, t: int) -> _Ball:
    """The new value after Adam's step t, in the problem's form (epsilon on sqrt(v_hat), or on sqrt(v): epsilon-hat)."""
    one, lr, eps = fl.given(1.0), fl.given(problem.lr), fl.given(problem.epsilon)
    powers = [fl.rounded(_Ball(np.float64(b) ** t, np.float64(0.0)), t + 2) for b in (problem.beta_1, problem.beta_2)]
    if fl.powers_from:  # beta read in a narrower dtype first: beta^t from either
        narrow = [np.float64(np.dtype(fl.powers_from).type(b)) ** t for b in (problem.beta_1, problem.beta_2)]
        powers = [fl.union(p, fl.rounded(_Ball(n, np.float64(0.0)), t + 2)) for p, n in zip(powers, narrow)]
    fix_m, fix_v = (fl.add(one, p, -1) for p in powers)  # 1 - beta^t: by pow, or a running product
    floor = problem.epsilon * (1 - 2 * fl.u)  # a root plus epsilon is at least epsilon, rounded down
    if problem.epsilon_hat:
        alpha = fl.div(fl.mul(lr, fl.sqrt(fix_v)), fix_m)
        step = fl.div(fl.mul(m, alpha), fl.add(fl.sqrt(v), eps), floor)
    else:
        step = fl.div(fl.mul(lr, fl.div(m, fix_m)), fl.add(fl.sqrt(fl.div(v, fix_v)), eps), floor)
    return fl.add(value, fl.rounded(step, 4), -1)  # the quotient chain associated as each framework does


def classifier_bounds(problem, batch: slice, reference: dict, candidate: dict, departure, moments=None, t=1):
    """Largest |a - b| the two runs may show at one step, in Trajectory.network_rows' order; and how many ReLU
    pre-activations lay within their bound of 0 (the bound holds for either mask there: relu is 1-Lipschitz, and
    the backward pass's ball covers a slope of 1 and of 0).

    reference and candidate: each run's parameters at the start of the step (by name, flat); moments: Adam's
    balls at its start (adam_moments), t its step count. Raises ClipMayFlip where a probability may lie on
    either side of Keras's clip (from_logits=False).
    """
    fl = _Classifying(problem, departure)
    start = _shaped(problem, reference, candidate, fl)
    loss, grads, unsure = _forward_backward(fl, problem, batch, start)
    if problem.optimizer == "adam":
        new = [
            _adam_step(fl, problem, p, *_moments(fl, problem, m, v, g), t)
            for p, (m, v), g in zip(start, moments, grads)
        ]
    else:
        lr = fl.given(problem.lr)
        new = [fl.add(p, fl.mul(lr, g), -1) for p, g in zip(start, grads)]
    radii = [np.ravel(loss.r)] + [np.ravel(b.r) for b in (*grads, *new)]
    # Evaluated in float64 through a few hundred operations: relatively within 2^-40 of exact
    return 2 * np.concatenate(radii) * (1 + 2.0**-40), unsure
