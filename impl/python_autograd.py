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

    def __truediv__(self, n):
        return Value(self.r(self.data / n), self.r, (self,), (self.r(1 / n),))  # d(a/n)/da = 1/n

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
