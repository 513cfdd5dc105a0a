"""The lesson's loop in plain Python floats: the reference every framework is checked against.

float64 is Python's own float. float32 is emulated exactly: every +, -, *, /
result is rounded to float32 (`r` below). Computing in float64 and rounding
once gives the correctly rounded float32 result, because float64 carries more
than 2 * 24 + 2 bits (so the double rounding is innocuous).
"""

from bridge import OneWeight, Trajectory
from bridge.devices import require_cpu
from bridge.floats import rounder


def prepare(problem, device="cpu"):
    """0: the data as the loop reads it: Python floats (lists of them for a batch), on the CPU."""
    require_cpu("python", device)
    return (problem.x, problem.y) if isinstance(problem, OneWeight) else (problem.x.tolist(), problem.y.tolist())


def one_weight(problem, device="cpu", data=None):
    """Train one weight, exactly the lesson's four lines per step."""
    x, y_true = prepare(problem, device) if data is None else data
    r = rounder(problem.dtype)  # float64: identity; float32: round to nearest float32
    weight, lr = problem.w0, problem.lr
    trajectory = Trajectory()
    for step in range(problem.steps):
        pred = r(weight * x)  # 1-2: predict
        error = r(pred - y_true)
        # 3: squared-error loss. `error ** 2` would call libm's pow(), which
        # misrounds about one square in 1,200 by 1 ULP; error * error is exact-rounded.
        loss = r(error * error)
        grad = r(r(2 * error) * x)  # 4: slope of loss w.r.t. weight
        weight = r(weight - r(lr * grad))  # 4: step downhill
        trajectory.record(loss, grad, weight)
    return trajectory


def mean(values, r):
    """Sum left to right, then divide: the order a student writes by hand."""
    total = values[0]  # start from the first term, not 0.0, so -0.0 survives as in NumPy
    for value in values[1:]:
        total = r(total + value)
    return r(total / len(values))


def batched(problem, device="cpu", data=None):
    """Mini-batch gradient descent, the same steps with a mean over each batch (and a bias if it has one)."""
    x, y_true = prepare(problem, device) if data is None else data
    r = rounder(problem.dtype)
    weight, bias, lr = problem.w0, problem.b0, problem.lr  # bias: None, or Keras's Dense(1) has one
    bias_grad = None
    trajectory = Trajectory()
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            xb, yb = x[batch], y_true[batch]
            preds = [r(weight * xi) if bias is None else r(r(weight * xi) + bias) for xi in xb]  # 1-2: predict
            errors = [r(p - yi) for p, yi in zip(preds, yb)]
            loss = mean([r(e * e) for e in errors], r)  # 3: mean squared error
            grad = mean([r(r(2 * e) * xi) for e, xi in zip(errors, xb)], r)  # 4: slope
            weight = r(weight - r(lr * grad))  # 4: step downhill
            if bias is not None:
                bias_grad = mean([r(2 * e) for e in errors], r)  # the bias's slope: the same, without x
                bias = r(bias - r(lr * bias_grad))
            trajectory.record(loss, grad, weight, bias_grad, bias)
    return trajectory
