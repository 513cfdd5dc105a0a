"""The lesson's loop on torch tensors, with the gradient derived by hand (no autograd)."""

import torch

from bridge.devices import torch_tensors
from bridge.recording import TorchRecorder


def prepare(problem, device="cpu"):
    """0: the data onto the device, once: tensors of the problem's dtype."""
    return torch_tensors(problem, device, problem.x, problem.y)


def one_weight(problem, device="cpu", data=None):
    """Train one weight; every quantity is a 0-d tensor."""
    x, y_true = prepare(problem, device) if data is None else data
    weight = torch_tensors(problem, device, problem.w0)[0]
    lr = problem.lr  # a Python float: torch rounds it to the tensor's dtype, once
    trajectory = TorchRecorder(problem, device)  # kept on the device, read back once at the end
    for step in range(problem.steps):
        pred = weight * x  # 1-2: predict
        loss = (pred - y_true) ** 2  # 3: squared-error loss (torch squares as x * x)
        grad = 2 * (pred - y_true) * x  # 4: slope of loss w.r.t. weight, by hand
        weight = weight - lr * grad  # 4: step downhill
        trajectory.record(loss, grad, weight)
    return trajectory.read()


def batched(problem, device="cpu", data=None):
    """Mini-batch gradient descent; .mean() reduces each batch."""
    x, y_true = prepare(problem, device) if data is None else data
    weight = torch_tensors(problem, device, problem.w0)[0]
    bias = None if problem.b0 is None else torch_tensors(problem, device, problem.b0)[0]  # Keras's Dense(1) has one
    bias_grad, lr = None, problem.lr
    trajectory = TorchRecorder(problem, device)
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            xb, yb = x[batch], y_true[batch]
            pred = weight * xb if bias is None else weight * xb + bias  # 1-2: predict
            loss = ((pred - yb) ** 2).mean()  # 3: mean squared error
            grad = (2 * (pred - yb) * xb).mean()  # 4: slope of loss w.r.t. weight, by hand
            weight = weight - lr * grad  # 4: step downhill
            if bias is not None:
                bias_grad = (2 * (pred - yb)).mean()  # the bias's slope: the same without x
                bias = bias - lr * bias_grad
            trajectory.record(loss, grad, weight, bias_grad, bias)
    return trajectory.read()


def network(problem, device="cpu", data=None):
    """A hidden layer, by hand, on tensors: the forward pass, then backpropagation layer by layer."""
    x, y_true = prepare(problem, device) if data is None else data
    w1, b1, w2, b2 = torch_tensors(problem, device, problem.w1, problem.b1, problem.w2, problem.b2)
    w1, w2 = w1.reshape(1, -1), w2.reshape(-1, 1)  # W1: 1 x H, W2: H x 1
    lr = problem.lr
    trajectory = TorchRecorder(problem, device)
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            xb, yb = x[batch].reshape(-1, 1), y_true[batch].reshape(-1, 1)  # m x 1
            m = len(xb)
            z = xb @ w1 + b1  # 1: pre-activations, m x H
            h = z.relu() if problem.activation == "relu" else z.tanh()  # 1: the hidden layer
            pred = h @ w2 + b2  # 2: predict, m x 1
            loss = ((pred - yb) ** 2).mean()  # 3: mean squared error
            d_pred = 2 * (pred - yb)  # 4: dL/dpred per sample (the mean divides below)
            d_w2 = h.T @ d_pred / m  # dW2 = h^T dL/dpred
            d_b2 = d_pred.mean()
            d_h = d_pred @ w2.T  # the error sent back through W2
            d_z = d_h * (z > 0) if problem.activation == "relu" else d_h * (1 - h**2)  # times act'
            d_w1 = xb.T @ d_z / m  # dW1 = x^T dL/dz
            d_b1 = d_z.mean(dim=0)
            w1, b1 = w1 - lr * d_w1, b1 - lr * d_b1  # 4: every parameter steps downhill
            w2, b2 = w2 - lr * d_w2, b2 - lr * d_b2
            trajectory.record_layers(loss, (d_w1, d_b1, d_w2, d_b2), (w1, b1, w2, b2))
    return trajectory.read()


CLIP = 1e-7  # Keras clips probabilities to [1e-7, 1 - 1e-7] before the log (a softmax output, from_logits=False)


def softmax_cross_entropy(logits, labels, from_logits):
    """Each sample's -log p[label], p = softmax(logits) (the largest logit subtracted first), and where it is flat."""
    shifted = logits - logits.max(dim=1, keepdim=True).values  # exp cannot overflow
    exps = shifted.exp()
    total = exps.sum(dim=1, keepdim=True)
    p = exps / total
    rows = torch.arange(len(labels), device=labels.device)
    if from_logits:  # a log-softmax: shifted[label] - log(total)
        return total[:, 0].log() - shifted[rows, labels], p, torch.zeros_like(labels, dtype=torch.bool)
    clipped = p[rows, labels].clamp(CLIP, 1 - CLIP)  # Keras's path from probabilities
    return -clipped.log(), p, clipped != p[rows, labels]


def adam(parameter, grad, moments, t, problem):
    """One Adam step; moments holds m and v, updated in place."""
    b1, b2, lr, eps = problem.beta_1, problem.beta_2, problem.lr, problem.epsilon
    m, v = moments
    m.copy_(b1 * m + (1 - b1) * grad)  # the gradients' moving mean
    v.copy_(b2 * v + (1 - b2) * grad * grad)  # ... and of their squares
    fix_m, fix_v = 1 - b1**t, 1 - b2**t  # the bias corrections: m and v start at 0
    if problem.epsilon_hat:  # Keras, TensorFlow: epsilon added to sqrt(v), the correction folded into the rate
        return parameter - m * (lr * fix_v**0.5 / fix_m) / (v.sqrt() + eps)
    return parameter - lr * (m / fix_m) / ((v / fix_v).sqrt() + eps)  # the paper's Algorithm 1, torch, optax


def classifier(problem, device="cpu", data=None):
    """The next lesson's network by hand on tensors: forward, softmax cross-entropy, backpropagation, SGD or Adam."""
    x, y = prepare(problem, device) if data is None else data
    labels = y.long()  # the labels as integers, to pick each image's p[label]
    parameters = torch_tensors(problem, device, *problem.layers)  # W1: inputs x H, b1: H, W2: H x 10, b2: 10
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in parameters]  # Adam's m and v
    lr = problem.lr
    trajectory = TorchRecorder(problem, device)
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            xb, yb = x[batch], labels[batch]
            m = len(xb)
            w1, b1, w2, b2 = parameters
            z = xb @ w1 + b1  # 1: pre-activations, m x H
            h = z.relu()  # 1: ReLU
            logits = h @ w2 + b2  # 2: the ten scores, m x 10
            losses, p, flat = softmax_cross_entropy(logits, yb, problem.from_logits)
            loss = losses.mean()  # 3: the mean cross-entropy
            onehot = torch.nn.functional.one_hot(yb, 10).to(p.dtype)
            d_logits = torch.where(flat[:, None], 0, (p - onehot) / m)  # 4: dL/dlogits = (p - onehot) / m
            d_w2, d_b2 = h.T @ d_logits, d_logits.sum(dim=0)  # dW2 = h^T dL/dlogits
            d_h = d_logits @ w2.T  # the error sent back through W2
            d_z = d_h * (z > 0)  # times ReLU's slope, 1 or 0
            d_w1, d_b1 = xb.T @ d_z, d_z.sum(dim=0)  # dW1 = x^T dL/dz
            grads = (d_w1, d_b1, d_w2, d_b2)
            if problem.optimizer == "adam":  # 4: Adam's step downhill
                t = trajectory.step + 1
                parameters = [adam(p, g, s, t, problem) for p, g, s in zip(parameters, grads, moments)]
            else:  # 4: every parameter steps downhill
                parameters = [p - lr * g for p, g in zip(parameters, grads)]
            trajectory.record_layers(loss, grads, parameters)
    return trajectory.read()
