"""The lesson's loop in NumPy: scalars for one weight, whole-batch arrays for the mean."""

import numpy as np

from bridge import OneWeight, Trajectory
from bridge.devices import require_cpu

# Divergence (lr 0.9) is part of the lesson: inf and NaN are results to record, not warnings.
quietly = np.errstate(over="ignore", invalid="ignore")


def prepare(problem, device="cpu"):
    """0: the data as NumPy values of the problem's dtype: scalars, or the problem's read-only arrays."""
    require_cpu("numpy", device)
    if isinstance(problem, OneWeight):
        real = np.dtype(problem.dtype).type  # np.float64 or np.float32
        return real(problem.x), real(problem.y)
    return problem.x, problem.y  # already of the problem's dtype


@quietly
def one_weight(problem, device="cpu", data=None):
    """Train one weight with NumPy scalars of the problem's dtype."""
    x, y_true = prepare(problem, device) if data is None else data
    real = np.dtype(problem.dtype).type
    weight, lr = real(problem.w0), real(problem.lr)
    trajectory = Trajectory()
    for step in range(problem.steps):
        pred = weight * x  # 1-2: predict
        # 3: squared-error loss. On a NumPy scalar `** 2` calls libm's pow(),
        # which misrounds about one square in 1,300; np.square is exact-rounded.
        loss = np.square(pred - y_true)
        grad = 2 * (pred - y_true) * x  # 4: slope of loss w.r.t. weight
        weight = weight - lr * grad  # 4: step downhill
        trajectory.record(loss, grad, weight)
    return trajectory


@quietly
def batched(problem, device="cpu", data=None):
    """Mini-batch gradient descent; np.mean reduces each batch."""
    x, y_true = prepare(problem, device) if data is None else data
    real = np.dtype(problem.dtype).type
    weight, lr = real(problem.w0), real(problem.lr)
    bias = None if problem.b0 is None else real(problem.b0)  # Keras's Dense(1) has one
    bias_grad = None
    trajectory = Trajectory()
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            xb, yb = x[batch], y_true[batch]
            pred = weight * xb if bias is None else weight * xb + bias  # 1-2: predict
            loss = np.mean(np.square(pred - yb))  # 3: mean squared error
            grad = np.mean(2 * (pred - yb) * xb)  # 4: slope of loss w.r.t. weight
            weight = weight - lr * grad  # 4: step downhill
            if bias is not None:
                bias_grad = np.mean(2 * (pred - yb))  # the bias's slope: the same without x
                bias = bias - lr * bias_grad
            trajectory.record(loss, grad, weight, bias_grad, bias)
    return trajectory
