"""The lesson's loop in NumPy: scalars for one weight, whole-batch arrays for the mean."""

import numpy as np

from bridge.devices import require_cpu
from bridge.problems import OneWeight
from bridge.trajectory import Trajectory

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


@quietly
def network(problem, device="cpu", data=None):
    """A hidden layer, by hand, in matrices: the forward pass, then backpropagation layer by layer."""
    x, y_true = prepare(problem, device) if data is None else data
    w1, b1 = problem.w1.reshape(1, -1), problem.b1  # W1: 1 x H, b1: H
    w2, b2 = problem.w2.reshape(-1, 1), np.dtype(problem.dtype).type(problem.b2)  # W2: H x 1, b2: a scalar
    lr = np.dtype(problem.dtype).type(problem.lr)
    trajectory = Trajectory()
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            xb, yb = x[batch].reshape(-1, 1), y_true[batch].reshape(-1, 1)  # m x 1
            m = len(xb)
            z = xb @ w1 + b1  # 1: pre-activations, m x H
            h = np.maximum(z, 0) if problem.activation == "relu" else np.tanh(z)  # 1: the hidden layer
            pred = h @ w2 + b2  # 2: predict, m x 1
            loss = np.mean(np.square(pred - yb))  # 3: mean squared error
            d_pred = 2 * (pred - yb)  # 4: dL/dpred per sample (the mean divides below)
            d_w2 = h.T @ d_pred / m  # dW2 = h^T dL/dpred
            d_b2 = np.mean(d_pred)
            d_h = d_pred @ w2.T  # the error sent back through W2
            d_z = d_h * (z > 0) if problem.activation == "relu" else d_h * (1 - np.square(h))  # times act'
            d_w1 = xb.T @ d_z / m  # dW1 = x^T dL/dz
            d_b1 = np.mean(d_z, axis=0)
            w1, b1 = w1 - lr * d_w1, b1 - lr * d_b1  # 4: every parameter steps downhill
            w2, b2 = w2 - lr * d_w2, b2 - lr * d_b2
            trajectory.record_layers(loss, (d_w1, d_b1, d_w2, d_b2), (w1, b1, w2, b2))
    return trajectory


CLIP = 1e-7  # Keras clips probabilities to [1e-7, 1 - 1e-7] before the log (a softmax output, from_logits=False)


def softmax_cross_entropy(logits, labels, from_logits):
    """Each sample's -log p[label], p = softmax(logits) (the largest logit subtracted first), and where it is flat."""
    shifted = logits - logits.max(axis=1, keepdims=True)  # exp cannot overflow
    exps = np.exp(shifted)
    total = exps.sum(axis=1, keepdims=True)
    p = exps / total
    rows = np.arange(len(labels))
    if from_logits:  # a log-softmax: shifted[label] - log(total)
        return np.log(total[:, 0]) - shifted[rows, labels], p, np.zeros(len(labels), bool)
    clipped = np.clip(p[rows, labels], CLIP, 1 - CLIP)  # Keras's path from probabilities
    return -np.log(clipped), p, clipped != p[rows, labels]


def adam(parameter, grad, moments, t, problem):
    """One Adam step; moments holds m and v, updated in place."""
    real = np.dtype(problem.dtype).type
    b1, b2, lr, eps = (real(v) for v in (problem.beta_1, problem.beta_2, problem.lr, problem.epsilon))
    m, v = moments
    m[...] = b1 * m + (1 - b1) * grad  # the gradients' moving mean
    v[...] = b2 * v + (1 - b2) * grad * grad  # ... and of their squares
    fix_m, fix_v = 1 - b1**t, 1 - b2**t  # the bias corrections: m and v start at 0
    if problem.epsilon_hat:  # Keras, TensorFlow: epsilon added to sqrt(v), the correction folded into the rate
        return parameter - m * (lr * np.sqrt(fix_v) / fix_m) / (np.sqrt(v) + eps)
    return parameter - lr * (m / fix_m) / (np.sqrt(v / fix_v) + eps)  # the paper's Algorithm 1, torch, optax


@quietly
def classifier(problem, device="cpu", data=None):
    """The next lesson's network by hand, in matrices: forward, softmax cross-entropy, backpropagation, SGD or Adam."""
    x, labels = prepare(problem, device) if data is None else data
    parameters = [np.array(p) for p in problem.layers]  # W1: inputs x H, b1: H, W2: H x 10, b2: 10
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in parameters]  # Adam's m and v
    lr = np.dtype(problem.dtype).type(problem.lr)
    trajectory = Trajectory.keeping(problem)  # per update, or per epoch
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            xb, yb = x[batch], labels[batch]
            m = len(xb)
            w1, b1, w2, b2 = parameters
            z = xb @ w1 + b1  # 1: pre-activations, m x H
            h = np.maximum(z, 0)  # 1: ReLU
            logits = h @ w2 + b2  # 2: the ten scores, m x 10
            losses, p, flat = softmax_cross_entropy(logits, yb, problem.from_logits)
            loss = np.mean(losses)  # 3: the mean cross-entropy
            onehot = np.eye(10, dtype=p.dtype)[yb]
            d_logits = np.where(flat[:, None], 0, (p - onehot) / m)  # 4: dL/dlogits = (p - onehot) / m
            d_w2, d_b2 = h.T @ d_logits, d_logits.sum(axis=0)  # dW2 = h^T dL/dlogits
            d_h = d_logits @ w2.T  # the error sent back through W2
            d_z = d_h * (z > 0)  # times ReLU's slope, 1 or 0
            d_w1, d_b1 = xb.T @ d_z, d_z.sum(axis=0)  # dW1 = x^T dL/dz
            grads = (d_w1, d_b1, d_w2, d_b2)
            if problem.optimizer == "adam":  # 4: Adam's step downhill
                t = len(trajectory) + 1
                parameters = [adam(p, g, s, t, problem) for p, g, s in zip(parameters, grads, moments)]
            else:  # 4: every parameter steps downhill
                parameters = [p - lr * g for p, g in zip(parameters, grads)]
            trajectory.record_layers(loss, grads, parameters)
    return trajectory
