"""Autograd without magic: a tiny reverse-mode automatic differentiation in plain Python.

In the spirit of micrograd: a Value is a number that remembers which Values
made it and how it depends on each (the local derivative). backward() visits
the graph from the loss back to the weight and applies the chain rule:
d loss / d parent += d self / d parent * d loss / d self.
"""

import math

from bridge.devices import require_cpu
from bridge.floats import rounder
from bridge.problems import OneWeight
from bridge.trajectory import Trajectory


class Value:
    """A scalar that remembers how it was made."""

    def __init__(self, data, r, parents=(), local_grads=()):
        self.data = data  # the number itself
        self.grad = -0.0  # d loss / d self; -0.0 is IEEE's true zero for sums: -0.0 + g is g, signed zeros included
        self.r = r  # rounds every result to the dtype (identity for float64)
        self.parents, self.local_grads = parents, local_grads

    def lift(self, other):
        return other if isinstance(other, Value) else Value(other, self.r)

    def __add__(self, other):
        other = self.lift(other)
        return Value(self.r(self.data + other.data), self.r, (self, other), (1.0, 1.0))

    def __sub__(self, other):
        other = self.lift(other)
        return Value(self.r(self.data - other.data), self.r, (self, other), (1.0, -1.0))

    def __mul__(self, other):
        other = self.lift(other)  # d(a*b)/da = b, d(a*b)/db = a
        return Value(self.r(self.data * other.data), self.r, (self, other), (other.data, self.data))

    def __pow__(self, n):
        if n != 2:
            raise ValueError("this Value knows squares only: the lesson needs no other power")
        # a * a, not a ** 2: the product is rounded once, exactly as the hand formula's
        return Value(self.r(self.data * self.data), self.r, (self,), (self.r(2 * self.data),))  # d(a^2)/da = 2a

    def __truediv__(self, other):
        if not isinstance(other, Value):  # a / n: d(a/n)/da = 1/n
            return Value(self.r(self.data / other), self.r, (self,), (self.r(1 / other),))
        q = self.r(self.data / other.data)  # d(a/b)/da = 1/b, d(a/b)/db = -(a/b)/b
        return Value(q, self.r, (self, other), (self.r(1 / other.data), self.r(-q / other.data)))

    def exp(self):
        e = self.r(math.exp(self.data))  # libm's exp, rounded to the dtype
        return Value(e, self.r, (self,), (e,))  # d exp(z)/dz = exp(z)

    def log(self):
        return Value(self.r(math.log(self.data)), self.r, (self,), (self.r(1 / self.data),))  # d log(z)/dz = 1/z

    def relu(self):
        return Value(max(self.data, 0.0), self.r, (self,), (1.0 if self.data > 0 else 0.0,))  # slope 1 where on

    def tanh(self):
        t = self.r(math.tanh(self.data))  # libm's tanh, as a student would call it
        return Value(t, self.r, (self,), (self.r(1 - self.r(t * t)),))  # d tanh(z)/dz = 1 - tanh(z)^2

    def backward(self):
        """Fill .grad of every Value this one was made from: the chain rule, last operation first."""
        order, visited, todo = [], set(), [(self, False)]
        while todo:  # depth first, with a list for a stack: a long batch would overflow Python's
            node, parents_done = todo.pop()
            if parents_done:
                order.append(node)  # after everything it was made from
            elif id(node) not in visited:
                visited.add(id(node))
                todo.append((node, True))
                todo.extend((parent, False) for parent in reversed(node.parents))
        self.grad = 1.0
        for node in reversed(order):
            for parent, local in zip(node.parents, node.local_grads):
                parent.grad = self.r(parent.grad + self.r(local * node.grad))


def prepare(problem, device="cpu"):
    """0: the data as the loop reads it: Python floats (lists of them for a batch), on the CPU."""
    require_cpu("python_autograd", device)
    return (problem.x, problem.y) if isinstance(problem, OneWeight) else (problem.x.tolist(), problem.y.tolist())


def one_weight(problem, device="cpu", data=None):
    """Train one weight; Value.backward() finds the slope."""
    x, y_true = prepare(problem, device) if data is None else data
    r = rounder(problem.dtype)
    weight, lr = Value(problem.w0, r), problem.lr
    trajectory = Trajectory()
    for step in range(problem.steps):
        pred = weight * x  # 1-2: predict
        loss = (pred - y_true) ** 2  # 3: squared-error loss
        loss.backward()  # 4: slope of loss w.r.t. weight, into weight.grad
        new_weight = Value(r(weight.data - r(lr * weight.grad)), r)  # 4: step downhill (a fresh leaf)
        trajectory.record(loss.data, weight.grad, new_weight.data)
        weight = new_weight
    return trajectory


def batched(problem, device="cpu", data=None):
    """Mini-batch gradient descent; the mean is a sum of Values divided by n."""
    x, y_true = prepare(problem, device) if data is None else data
    r = rounder(problem.dtype)
    weight, lr = Value(problem.w0, r), problem.lr
    bias = None if problem.b0 is None else Value(problem.b0, r)  # Keras's Dense(1) has one
    trajectory = Trajectory()
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            preds = [weight * xi if bias is None else weight * xi + bias for xi in x[batch]]  # 1-2: predict
            squares = [(pred - yi) ** 2 for pred, yi in zip(preds, y_true[batch])]  # 3: square each error
            total = squares[0]
            for square in squares[1:]:  # left to right, as impl/python.py sums
                total = total + square
            loss = total / len(squares)  # 3: mean squared error
            loss.backward()  # 4: slope, into weight.grad (and bias.grad)
            new_weight = Value(r(weight.data - r(lr * weight.grad)), r)  # 4: step downhill (fresh leaves)
            bias_values = ()
            if bias is not None:
                new_bias = Value(r(bias.data - r(lr * bias.grad)), r)
                bias_values = (bias.grad, new_bias.data)
                bias = new_bias
            trajectory.record(loss.data, weight.grad, new_weight.data, *bias_values)
            weight = new_weight
    return trajectory


def network(problem, device="cpu", data=None):
    """A hidden layer built from Values, micrograd's way; loss.backward() does the backpropagation."""
    x, y_true = prepare(problem, device) if data is None else data
    r = rounder(problem.dtype)
    w1, b1, w2 = (
        [Value(v, r) for v in values] for values in (problem.w1.tolist(), problem.b1.tolist(), problem.w2.tolist())
    )
    b2, lr = Value(problem.b2, r), problem.lr
    trajectory = Trajectory()
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            squares = []
            for xi, yi in zip(x[batch], y_true[batch]):
                hs = [getattr(w * xi + b, problem.activation)() for w, b in zip(w1, b1)]  # 1: the hidden layer
                pred = hs[0] * w2[0]
                for h, w in zip(hs[1:], w2[1:]):
                    pred = pred + h * w  # 2: predict: h @ W2, left to right ...
                pred = pred + b2  # ... + b2
                squares.append((pred - yi) ** 2)
            total = squares[0]
            for square in squares[1:]:
                total = total + square
            loss = total / len(squares)  # 3: mean squared error
            loss.backward()  # 4: backpropagation, into every parameter's .grad
            layers = (w1, b1, w2, [b2])
            grads = [[p.grad for p in layer] for layer in layers]
            w1, b1, w2, (b2,) = ([Value(r(p.data - r(lr * p.grad)), r) for p in layer] for layer in layers)  # 4: step
            trajectory.record_layers(loss.data, grads, [[p.data for p in layer] for layer in (w1, b1, w2, [b2])])
    return trajectory


def adam(values, grads, state, problem, r):
    """One Adam step on plain numbers (the optimizer is not part of the graph): the new values."""
    b1, b2, lr, eps, t = problem.beta_1, problem.beta_2, problem.lr, problem.epsilon, state["t"]
    state["m"] = [r(r(b1 * m) + r(r(1 - b1) * g)) for m, g in zip(state["m"], grads)]  # the gradients' moving mean
    state["v"] = [r(r(b2 * v) + r(r(r(1 - b2) * g) * g)) for v, g in zip(state["v"], grads)]  # ... of their squares
    fix_m, fix_v = r(1 - r(b1**t)), r(1 - r(b2**t))  # the bias corrections: m and v start at 0
    if problem.epsilon_hat:  # Keras, TensorFlow: epsilon added to sqrt(v), the correction folded into the rate
        alpha = r(r(lr * r(math.sqrt(fix_v))) / fix_m)
        return [r(p - r(r(m * alpha) / r(r(math.sqrt(v)) + eps))) for p, m, v in zip(values, state["m"], state["v"])]
    steps = [r(r(lr * r(m / fix_m)) / r(r(math.sqrt(r(v / fix_v))) + eps)) for m, v in zip(state["m"], state["v"])]
    return [r(p - s) for p, s in zip(values, steps)]  # the paper's Algorithm 1


def classifier(problem, device="cpu", data=None):
    """The next lesson's network built from Values; loss.backward() does the backpropagation (slow: every
    multiply of every pixel by every weight is a Value, about 70,000 of them a batch)."""
    x, labels = prepare(problem, device) if data is None else data
    r = rounder(problem.dtype)
    layers = [[Value(v, r) for v in values] for values in problem.initial.values()]  # W1, b1, W2, b2: flat
    states = [{"m": [0.0] * len(layer), "v": [0.0] * len(layer), "t": 0} for layer in layers]
    hidden = problem.hidden
    trajectory = Trajectory.keeping(problem)  # per update, or per epoch
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            w1, b1, w2, b2 = layers
            losses = []
            for xi, label in zip(x[batch], labels[batch]):
                zs = [sum_of(w1[j::hidden], xi) + b1[j] for j in range(hidden)]  # 1: x @ W1 + b1, a unit at a time
                hs = [z.relu() for z in zs]  # 1: ReLU
                logits = [sum_of(w2[k::10], hs) + b2[k] for k in range(10)]  # 2: the ten scores
                top = max(logit.data for logit in logits)  # a number, not a Value: it shifts, it is not learned
                shifted = [logit - top for logit in logits]
                total = sum_of([s.exp() for s in shifted])
                if problem.from_logits:  # 3: -log p[label] = log(sum exp) - shifted[label]
                    losses.append(total.log() - shifted[label])
                else:  # Keras's path from probabilities, clipped to [1e-7, 1 - 1e-7]: flat where clipped
                    p = shifted[label].exp() / total
                    clip = min(max(p.data, r(1e-7)), r(1 - 1e-7))
                    losses.append(Value(-r(math.log(clip)), r) if clip != p.data else Value(0.0, r) - p.log())
            loss = sum_of(losses) / len(losses)  # 3: the batch's mean cross-entropy
            loss.backward()  # 4: backpropagation, into every parameter's .grad
            grads = [[p.grad for p in layer] for layer in layers]
            values = [[p.data for p in layer] for layer in layers]
            if problem.optimizer == "adam":  # 4: Adam's step downhill
                for state in states:
                    state["t"] += 1
                values = [adam(v, g, state, problem, r) for v, g, state in zip(values, grads, states)]
            else:  # 4: every parameter steps downhill
                values = [[r(v - r(problem.lr * g)) for v, g in zip(vs, gs)] for vs, gs in zip(values, grads)]
            layers = [[Value(v, r) for v in vs] for vs in values]  # fresh leaves for the next step
            trajectory.record_layers(loss.data, grads, values)
    return trajectory


def sum_of(values, weights=None):
    """values[0] (* weights[0]) + values[1] (* weights[1]) + ..., left to right, as impl/python.py sums."""
    terms = values if weights is None else [v * w for v, w in zip(values, weights)]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total
