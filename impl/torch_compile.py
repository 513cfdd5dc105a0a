"""The lesson's step compiled by torch.compile (TorchInductor): the hand-derived gradient, fused."""

import torch

from bridge import Trajectory
from bridge.devices import torch_tensors


@torch.compile(fullgraph=True)  # compiled on first use; a second batch shape makes it shape-generic
def step(weight, x, y_true, lr):
    """One update: returns the loss, the gradient and the new weight."""
    pred = weight * x  # 1-2: predict
    loss = ((pred - y_true) ** 2).mean()  # 3: squared-error loss (a mean of one for one sample)
    grad = (2 * (pred - y_true) * x).mean()  # 4: slope of loss w.r.t. weight, by hand
    return loss, grad, weight - lr * grad  # 4: step downhill


@torch.compile(fullgraph=True)  # compiled apart: one function for both would run out of recompiles
def step_with_bias(weight, bias, x, y_true, lr):
    """One update of Keras's Dense(1), w * x + b: the loss, then each parameter's gradient and new value."""
    pred = weight * x + bias  # 1-2: predict
    loss = ((pred - y_true) ** 2).mean()  # 3: squared-error loss
    grad = (2 * (pred - y_true) * x).mean()  # 4: slope of loss w.r.t. weight, by hand
    bias_grad = (2 * (pred - y_true)).mean()  # the bias's slope: the same without x
    return loss, grad, weight - lr * grad, bias_grad, bias - lr * bias_grad  # 4: step downhill


def one_weight(problem, device="cpu"):
    """Train one weight, one compiled step per update."""
    x, y_true, weight, lr = torch_tensors(problem, device, [problem.x], [problem.y], problem.w0, problem.lr)
    trajectory = Trajectory()
    for _ in range(problem.steps):
        loss, grad, weight = step(weight, x, y_true, lr)
        trajectory.record(loss, grad, weight)
    return trajectory


def batched(problem, device="cpu"):
    """Mini-batch gradient descent, one compiled step per batch."""
    x, y_true, weight, lr = torch_tensors(problem, device, problem.x, problem.y, problem.w0, problem.lr)
    bias = None if problem.b0 is None else torch_tensors(problem, device, problem.b0)[0]
    trajectory = Trajectory()
    for _ in range(problem.epochs):
        for batch in problem.batches:
            if bias is None:
                loss, grad, weight = step(weight, x[batch], y_true[batch], lr)
                trajectory.record(loss, grad, weight)
            else:
                loss, grad, weight, bias_grad, bias = step_with_bias(weight, bias, x[batch], y_true[batch], lr)
                trajectory.record(loss, grad, weight, bias_grad, bias)
    return trajectory
