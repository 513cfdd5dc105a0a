"""The lesson's step compiled by torch.compile (TorchInductor): the hand-derived gradient, fused."""

from bridge.devices import torch_compiled, torch_recompiles, torch_tensors
from bridge.problems import OneWeight
from bridge.recording import TorchRecorder


def step(weight, x, y_true, lr):
    """One update: returns the loss, the gradient and the new weight."""
    pred = weight * x  # 1-2: predict
    loss = ((pred - y_true) ** 2).mean()  # 3: squared-error loss (a mean of one for one sample)
    grad = (2 * (pred - y_true) * x).mean()  # 4: slope of loss w.r.t. weight, by hand
    return loss, grad, weight - lr * grad  # 4: step downhill


def step_with_bias(weight, bias, x, y_true, lr):
    """One update of Keras's Dense(1), w * x + b: the loss, then each parameter's gradient and new value."""
    pred = weight * x + bias  # 1-2: predict
    loss = ((pred - y_true) ** 2).mean()  # 3: squared-error loss
    grad = (2 * (pred - y_true) * x).mean()  # 4: slope of loss w.r.t. weight, by hand
    bias_grad = (2 * (pred - y_true)).mean()  # the bias's slope: the same without x
    return loss, grad, weight - lr * grad, bias_grad, bias - lr * bias_grad  # 4: step downhill


def prepare(problem, device="cpu"):
    """0: the data onto the device, once: tensors of the problem's dtype (one sample: a batch of one)."""
    if isinstance(problem, OneWeight):
        return torch_tensors(problem, device, [problem.x], [problem.y])
    return torch_tensors(problem, device, problem.x, problem.y)


@torch_recompiles  # one graph per batch shape and dtype: more than Dynamo's default of 8
def one_weight(problem, device="cpu", data=None):
    """Train one weight, one compiled step per update."""
    x, y_true = prepare(problem, device) if data is None else data
    weight, lr = torch_tensors(problem, device, problem.w0, problem.lr)
    compiled = torch_compiled(step, device)  # compiled on first use; each device has its own
    trajectory = TorchRecorder(problem, device)  # kept on the device, read back once at the end
    for _ in range(problem.steps):
        loss, grad, weight = compiled(weight, x, y_true, lr)
        trajectory.record(loss, grad, weight)
    return trajectory.read()


@torch_recompiles
def batched(problem, device="cpu", data=None):
    """Mini-batch gradient descent, one compiled step per batch (a second batch shape makes it shape-generic)."""
    x, y_true = prepare(problem, device) if data is None else data
    weight, lr = torch_tensors(problem, device, problem.w0, problem.lr)
    bias = None if problem.b0 is None else torch_tensors(problem, device, problem.b0)[0]
    # compiled apart: one function for both would run out of recompiles
    compiled = torch_compiled(step if bias is None else step_with_bias, device)
    trajectory = TorchRecorder(problem, device)
    for _ in range(problem.epochs):
        for batch in problem.batches:
            if bias is None:
                loss, grad, weight = compiled(weight, x[batch], y_true[batch], lr)
                trajectory.record(loss, grad, weight)
            else:
                loss, grad, weight, bias_grad, bias = compiled(weight, bias, x[batch], y_true[batch], lr)
                trajectory.record(loss, grad, weight, bias_grad, bias)
    return trajectory.read()


def network_step(w1, b1, w2, b2, x, y_true, lr, tanh: bool):
    """One update of the network, backpropagation by hand: the loss, every gradient, every new parameter."""
    z = x @ w1 + b1  # 1: pre-activations
    h = z.tanh() if tanh else z.relu()  # 1: the hidden layer
    pred = h @ w2 + b2  # 2: predict
    loss = ((pred - y_true) ** 2).mean()  # 3: mean squared error
    m = x.shape[0]
    d_pred = 2 * (pred - y_true)  # 4: dL/dpred per sample
    d_w2, d_b2 = h.T @ d_pred / m, d_pred.mean()
    d_h = d_pred @ w2.T  # the error sent back through W2
    d_z = d_h * (1 - h**2) if tanh else d_h * (z > 0)  # times act'
    d_w1, d_b1 = x.T @ d_z / m, d_z.mean(dim=0)
    grads = (d_w1, d_b1, d_w2, d_b2)
    return loss, grads, tuple(p - lr * g for p, g in zip((w1, b1, w2, b2), grads))  # 4: step downhill


@torch_recompiles
def network(problem, device="cpu", data=None):
    """A hidden layer, one compiled step per batch."""
    x, y_true = prepare(problem, device) if data is None else data
    w1, b1, w2, b2, lr = torch_tensors(problem, device, problem.w1, problem.b1, problem.w2, problem.b2, problem.lr)
    parameters = (w1.reshape(1, -1), b1, w2.reshape(-1, 1), b2)  # W1: 1 x H, W2: H x 1
    compiled = torch_compiled(network_step, device)
    trajectory = TorchRecorder(problem, device)
    for _ in range(problem.epochs):
        for batch in problem.batches:
            xb, yb = x[batch].reshape(-1, 1), y_true[batch].reshape(-1, 1)
            loss, grads, parameters = compiled(*parameters, xb, yb, lr, problem.activation == "tanh")
            trajectory.record_layers(loss, grads, parameters)
    return trajectory.read()
