"""The lesson's loop in plain Python floats: the reference every framework is checked against.

float64 is Python's own float. float32 is emulated exactly: every +, -, *, /
result is rounded to float32 (`r` below). Computing in float64 and rounding
once gives the correctly rounded float32 result, because float64 carries more
than 2 * 24 + 2 bits (so the double rounding is innocuous).
"""

import math

from bridge.devices import require_cpu
from bridge.floats import rounder, tanh_rounded
from bridge.problems import OneWeight
from bridge.trajectory import Trajectory


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


def activation(name, r, dtype):
    """The hidden layer's function and its derivative, written with the unit's output h where that is the idiom."""
    if name == "relu":
        return (lambda z: z if z > 0 else 0.0), (lambda z, h: 1.0 if z > 0 else 0.0)
    # tanh correctly rounded (no library's is): every framework's tanh is measured against this one
    return (lambda z: tanh_rounded(z, dtype)), (lambda z, h: r(1 - r(h * h)))  # tanh' = 1 - tanh^2


def dot(row, column, r):
    """h @ W2 for one sample: the products summed left to right, as written by hand."""
    total = r(row[0] * column[0])
    for a, b in zip(row[1:], column[1:]):
        total = r(total + r(a * b))
    return total


def column_mean(values, r):
    """A mean over the batch as a matrix product takes it: the sum starts from +0.0 (so -0.0 alone becomes +0.0)."""
    total = 0.0
    for value in values:
        total = r(total + value)
    return r(total / len(values))


def network(problem, device="cpu", data=None):
    """A hidden layer, by hand: the forward pass, then backpropagation, the chain rule layer by layer."""
    x, y_true = prepare(problem, device) if data is None else data
    r = rounder(problem.dtype)
    act, act_slope = activation(problem.activation, r, problem.dtype)
    w1, b1, w2, b2 = problem.w1.tolist(), problem.b1.tolist(), problem.w2.tolist(), problem.b2
    lr, units = problem.lr, range(problem.hidden)
    trajectory = Trajectory()
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            xb, yb = x[batch], y_true[batch]
            zs = [[r(r(xi * w1[j]) + b1[j]) for j in units] for xi in xb]  # 1: each unit's pre-activation
            hs = [[act(z) for z in row] for row in zs]  # 1: the hidden layer's output
            preds = [r(dot(h, w2, r) + b2) for h in hs]  # 2: predict: h @ W2 + b2
            errors = [r(p - yi) for p, yi in zip(preds, yb)]
            loss = mean([r(e * e) for e in errors], r)  # 3: mean squared error
            d_preds = [r(2 * e) for e in errors]  # 4: dL/dpred per sample (the mean divides at the end)
            d_w2 = [column_mean([r(h[j] * d) for h, d in zip(hs, d_preds)], r) for j in units]  # dW2 = h dL/dpred
            d_b2 = mean(d_preds, r)  # db2 = dL/dpred
            d_hs = [[r(d * w2[j]) for j in units] for d in d_preds]  # the error sent back through W2
            d_zs = [[r(dh * act_slope(z, h)) for dh, z, h in zip(*rows)] for rows in zip(d_hs, zs, hs)]  # times act'
            d_w1 = [column_mean([r(xi * dz[j]) for xi, dz in zip(xb, d_zs)], r) for j in units]  # dW1 = x dL/dz
            d_b1 = [column_mean([dz[j] for dz in d_zs], r) for j in units]  # db1 = dL/dz
            w1 = [r(w - r(lr * g)) for w, g in zip(w1, d_w1)]  # 4: every parameter steps downhill
            b1 = [r(b - r(lr * g)) for b, g in zip(b1, d_b1)]
            w2 = [r(w - r(lr * g)) for w, g in zip(w2, d_w2)]
            b2 = r(b2 - r(lr * d_b2))
            trajectory.record_layers(loss, (d_w1, d_b1, d_w2, d_b2), (w1, b1, w2, b2))
    return trajectory


# ---- the next lesson's classifier: inputs -> H ReLU units -> 10 softmax outputs, cross-entropy, SGD or Adam ----

CLIP = 1e-7  # Keras clips probabilities to [1e-7, 1 - 1e-7] before the log (a softmax output, from_logits=False)


def affine(row, kernel, bias, r):
    """row @ kernel + bias for one sample: each output's products summed left to right, then its bias added."""
    totals = [r(row[0] * w) for w in kernel[0]]
    for value, weights in zip(row[1:], kernel[1:]):
        totals = [r(total + r(value * w)) for total, w in zip(totals, weights)]
    return [r(total + b) for total, b in zip(totals, bias)]


def softmax_cross_entropy(logits, label, from_logits, r):
    """-log p[label] and p = softmax(logits), the largest logit subtracted first so that exp cannot overflow."""
    top = max(logits)
    shifted = [r(z - top) for z in logits]
    exps = [r(math.exp(s)) for s in shifted]  # libm's exp, rounded to the dtype
    total = dot(exps, [1.0] * len(exps), r)  # summed left to right
    p = [r(e / total) for e in exps]
    if from_logits:  # log p[label] = shifted[label] - log(total): a log-softmax, no log of a rounded p
        return r(r(math.log(total)) - shifted[label]), p, False
    clipped = min(max(p[label], r(CLIP)), r(1 - CLIP))  # Keras's path from probabilities
    return -r(math.log(clipped)), p, clipped != p[label]  # clipped: the loss is flat there, its gradient 0


def adam(state, grads, problem, r):
    """One Adam step for a list of numbers: new values; state holds them, m, v and the step count t."""
    b1, b2, lr, eps, t = problem.beta_1, problem.beta_2, problem.lr, problem.epsilon, state["t"]
    m = [r(r(b1 * mi) + r(r(1 - b1) * g)) for mi, g in zip(state["m"], grads)]  # the gradients' moving mean
    v = [r(r(b2 * vi) + r(r(r(1 - b2) * g) * g)) for vi, g in zip(state["v"], grads)]  # ... of their squares
    fix_m, fix_v = r(1 - r(b1**t)), r(1 - r(b2**t))  # the bias corrections: m and v start at 0
    if problem.epsilon_hat:  # Keras, TensorFlow: epsilon added to sqrt(v), the correction folded into the rate
        alpha = r(r(lr * r(math.sqrt(fix_v))) / fix_m)
        new = [r(p - r(r(mi * alpha) / r(r(math.sqrt(vi)) + eps))) for p, mi, vi in zip(state["values"], m, v)]
    else:  # the paper's Algorithm 1, torch, optax: epsilon added to sqrt(v_hat)
        steps = [r(r(lr * r(mi / fix_m)) / r(r(math.sqrt(r(vi / fix_v))) + eps)) for mi, vi in zip(m, v)]
        new = [r(p - s) for p, s in zip(state["values"], steps)]
    state.update(values=new, m=m, v=v)
    return new


def classifier(problem, device="cpu", data=None):
    """The next lesson's network by hand: forward, softmax cross-entropy, backpropagation, then SGD or Adam."""
    x, labels = prepare(problem, device) if data is None else data
    r = rounder(problem.dtype)
    inputs, units = problem.inputs, range(problem.hidden)
    w1, b1, w2, b2 = (p.tolist() for p in problem.layers)  # W1: inputs rows of H; W2: H rows of 10
    states = [{"values": flat, "m": [0.0] * len(flat), "v": [0.0] * len(flat)} for flat in problem.initial.values()]
    trajectory = Trajectory.keeping(problem)  # per update, or per epoch
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            m = batch.stop - batch.start
            losses, d_w1, d_b1 = [], [[0.0] * problem.hidden for _ in range(inputs)], [0.0] * problem.hidden
            d_w2, d_b2 = [[0.0] * 10 for _ in units], [0.0] * 10  # the sums over the batch start from +0.0
            for xi, label in zip(x[batch], labels[batch]):
                zs = affine(xi, w1, b1, r)  # 1: each unit's pre-activation: x @ W1 + b1
                hs = [z if z > 0 else 0.0 for z in zs]  # 1: ReLU
                logits = affine(hs, w2, b2, r)  # 2: the ten scores: h @ W2 + b2
                loss, p, flat = softmax_cross_entropy(logits, label, problem.from_logits, r)  # 3: -log p[label]
                losses.append(loss)
                # 4: backpropagation. The logits' gradient is (p - onehot) / m (0 where the clip holds the loss flat)
                d_logits = [0.0 if flat else r(r(pk - (k == label)) / m) for k, pk in enumerate(p)]
                d_w2 = [[r(acc + r(h * d)) for acc, d in zip(row, d_logits)] for row, h in zip(d_w2, hs)]  # h^T d
                d_b2 = [r(acc + d) for acc, d in zip(d_b2, d_logits)]
                d_hs = [dot(d_logits, w2[j], r) for j in units]  # the error sent back through W2: d @ W2^T
                d_zs = [d if z > 0 else 0.0 for d, z in zip(d_hs, zs)]  # times ReLU's slope, 1 or 0
                d_w1 = [[r(acc + r(v * d)) for acc, d in zip(row, d_zs)] for row, v in zip(d_w1, xi)]  # x^T d_z
                d_b1 = [r(acc + d) for acc, d in zip(d_b1, d_zs)]
            loss = mean(losses, r)  # 3: the batch's mean cross-entropy
            grads = [sum(d_w1, []), d_b1, sum(d_w2, []), d_b2]  # flat, in LAYERS order (W1 row by row)
            if problem.optimizer == "adam":
                for state in states:
                    state["t"] = len(trajectory) + 1  # Adam counts its steps from 1
                new = [adam(state, g, problem, r) for state, g in zip(states, grads)]  # 4: Adam's step downhill
            else:
                new = [[r(p - r(problem.lr * g)) for p, g in zip(s["values"], g_)] for s, g_ in zip(states, grads)]
                for state, values in zip(states, new):
                    state["values"] = values  # 4: every parameter steps downhill: p - lr * grad
            w1 = [new[0][k * problem.hidden : (k + 1) * problem.hidden] for k in range(inputs)]
            b1, w2, b2 = new[1], [new[2][j * 10 : (j + 1) * 10] for j in units], new[3]
            trajectory.record_layers(loss, grads, new)
    return trajectory
