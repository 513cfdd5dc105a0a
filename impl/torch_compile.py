"""The lesson's step compiled by torch.compile (TorchInductor): the hand-derived gradient, fused."""

import torch

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


def classifier_step(w1, b1, w2, b2, x, labels, from_logits: bool):
    """One update of the classifier, backpropagation by hand: the loss and every gradient (the step comes after)."""
    z = x @ w1 + b1  # 1: pre-activations
    h = z.relu()  # 1: the hidden layer
    logits = h @ w2 + b2  # 2: the ten scores
    shifted = logits - logits.max(dim=1, keepdim=True).values  # exp cannot overflow
    total = shifted.exp().sum(dim=1, keepdim=True)
    p = shifted.exp() / total
    rows = torch.arange(x.shape[0], device=x.device)
    if from_logits:  # 3: mean cross-entropy, a log-softmax: log(total) - shifted[label]
        loss, flat = (total[:, 0].log() - shifted[rows, labels]).mean(), torch.zeros_like(labels, dtype=torch.bool)
    else:  # Keras's path from probabilities, clipped to [1e-7, 1 - 1e-7]: flat where the clip holds
        clipped = p[rows, labels].clamp(1e-7, 1 - 1e-7)
        loss, flat = -clipped.log().mean(), clipped != p[rows, labels]
    onehot = torch.nn.functional.one_hot(labels, 10).to(p.dtype)
    d_logits = torch.where(flat[:, None], 0, (p - onehot) / x.shape[0])  # 4: (p - onehot) / m
    d_z = (d_logits @ w2.T) * (z > 0)  # the error sent back through W2, times ReLU's slope
    return loss, (x.T @ d_z, d_z.sum(dim=0), h.T @ d_logits, d_logits.sum(dim=0))


def adam_step(parameter, grad, m, v, beta_1, beta_2, lr, epsilon, fix_m, fix_v, epsilon_hat: bool):
    """One Adam step: the new m, v and value (fix_m, fix_v: the bias corrections 1 - beta^t)."""
    m = beta_1 * m + (1 - beta_1) * grad  # the gradients' moving mean
    v = beta_2 * v + (1 - beta_2) * grad * grad  # ... and of their squares
    if epsilon_hat:  # Keras, TensorFlow: epsilon added to sqrt(v), the correction folded into the rate
        return m, v, parameter - m * (lr * fix_v.sqrt() / fix_m) / (v.sqrt() + epsilon)
    return m, v, parameter - lr * (m / fix_m) / ((v / fix_v).sqrt() + epsilon)  # the paper's Algorithm 1


@torch_recompiles
def classifier(problem, device="cpu", data=None):
    """The next lesson's network, its step compiled: the hand gradient, then SGD's or Adam's step, compiled."""
    x, y = prepare(problem, device) if data is None else data
    labels = y.long()  # the labels as integers, to pick each image's p[label]
    parameters = tuple(torch_tensors(problem, device, *problem.layers))  # W1: inputs x H, b1: H, W2: H x 10, b2: 10
    lr, beta_1, beta_2, epsilon = torch_tensors(
        problem, device, problem.lr, problem.beta_1, problem.beta_2, problem.epsilon
    )
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in parameters]  # Adam's m and v
    gradient, adam = torch_compiled(classifier_step, device), torch_compiled(adam_step, device)
    trajectory = TorchRecorder(problem, device)
    for _ in range(problem.epochs):
        for batch in problem.batches:
            loss, grads = gradient(*parameters, x[batch], labels[batch], problem.from_logits)  # 1-4
            if problem.optimizer == "adam":  # 4: Adam's step downhill
                t = trajectory.step + 1
                fix_m, fix_v = torch_tensors(problem, device, 1 - problem.beta_1**t, 1 - problem.beta_2**t)
                found = [
                    adam(p, g, m, v, beta_1, beta_2, lr, epsilon, fix_m, fix_v, problem.epsilon_hat)
                    for p, g, (m, v) in zip(parameters, grads, moments)
                ]
                moments, parameters = [(m, v) for m, v, _ in found], tuple(p for _, _, p in found)
            else:  # 4: every parameter steps downhill
                parameters = tuple(p - lr * g for p, g in zip(parameters, grads))
            trajectory.record_layers(loss, grads, parameters)
    return trajectory.read()
