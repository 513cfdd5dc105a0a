"""The lesson's step compiled by torch.compile (TorchInductor): the hand-derived gradient, fused."""

import torch

from bridge import Trajectory
from bridge.devices import torch_tensors


@torch.compile(fullgraph=True)  # compiled on first use; a second batch shape makes it shape-generic
def step(weight, x, y_true, lr, bias=None):
    """One update: returns the loss, the gradient and the new weight (then the bias's, if it has one)."""
    pred = weight * x if bias is None else weight * x + bias  # 1-2: predict
    loss = ((pred - y_true) ** 2).mean()  # 3: squared-error loss (a mean of one for one sample)
    grad = (2 * (pred - y_true) * x).mean()  # 4: slope of loss w.r.t. weight, by hand
    if bias is None:
        return loss, grad, weight - lr * grad  # 4: step downhill
    bias_grad = (2 * (pred - y_true)).mean()  # the bias's slope: the same without x
    return loss, grad, weight - lr * grad, bias_grad, bias - lr * bias_grad


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
                loss, grad, weight, bias_grad, bias = step(weight, x[batch], y_true[batch], lr, bias)
                trajectory.record(loss, grad, weight, bias_grad, bias)
    return trajectory
