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
    trajectory = Trajectory()
    for _ in range(problem.epochs):
        for batch in problem.batches:
            loss, grad, weight = step(weight, x[batch], y_true[batch], lr)
            trajectory.record(loss, grad, weight)
    return trajectory
