"""The lesson's loop on torch tensors, with the gradient found by autograd."""

import torch

from bridge.devices import torch_tensors
from bridge.recording import TorchRecorder


def prepare(problem, device="cpu"):
    """0: the data onto the device, once: tensors of the problem's dtype."""
    return torch_tensors(problem, device, problem.x, problem.y)


def one_weight(problem, device="cpu", data=None):
    """Train one weight; loss.backward() finds the slope."""
    x, y_true = prepare(problem, device) if data is None else data
    weight = torch_tensors(problem, device, problem.w0)[0]
    weight.requires_grad_(True)  # autograd records every operation on weight
    lr = problem.lr
    trajectory = TorchRecorder(problem, device)  # copies each value: weight changes in place
    for step in range(problem.steps):
        pred = weight * x  # 1-2: predict
        loss = (pred - y_true) ** 2  # 3: squared-error loss
        loss.backward()  # 4: slope of loss w.r.t. weight, into weight.grad
        with torch.no_grad():  # the step itself is not part of the model
            weight -= lr * weight.grad  # 4: step downhill
        trajectory.record(loss.detach(), weight.grad, weight.detach())
        weight.grad = None  # backward() adds to .grad: clear it for the next step
    return trajectory.read()


def batched(problem, device="cpu", data=None):
    """Mini-batch gradient descent; autograd differentiates each batch's mean loss."""
    x, y_true = prepare(problem, device) if data is None else data
    weight = torch_tensors(problem, device, problem.w0)[0]
    bias = None if problem.b0 is None else torch_tensors(problem, device, problem.b0)[0]  # Keras's Dense(1) has one
    parameters = [weight] if bias is None else [weight, bias]
    for parameter in parameters:
        parameter.requires_grad_(True)
    lr = problem.lr
    trajectory = TorchRecorder(problem, device)
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            xb, yb = x[batch], y_true[batch]
            pred = weight * xb if bias is None else weight * xb + bias  # 1-2: predict
            loss = ((pred - yb) ** 2).mean()  # 3: mean squared error
            loss.backward()  # 4: slope of loss w.r.t. each parameter, into its .grad
            with torch.no_grad():
                for parameter in parameters:
                    parameter -= lr * parameter.grad  # 4: step downhill
            bias_grad, new_bias = (None, None) if bias is None else (bias.grad, bias.detach())
            trajectory.record(loss.detach(), weight.grad, weight.detach(), bias_grad, new_bias)
            for parameter in parameters:
                parameter.grad = None
    return trajectory.read()


def network(problem, device="cpu", data=None):
    """A hidden layer; loss.backward() does the backpropagation."""
    x, y_true = prepare(problem, device) if data is None else data
    parameters = torch_tensors(problem, device, *problem.layers)  # W1: 1 x H, W2: H x 1 (x @ W, as Keras's kernels)
    for parameter in parameters:
        parameter.requires_grad_(True)
    activation = torch.relu if problem.activation == "relu" else torch.tanh
    lr = problem.lr
    trajectory = TorchRecorder(problem, device)
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            xb, yb = x[batch].reshape(-1, 1), y_true[batch].reshape(-1, 1)
            w1, b1, w2, b2 = parameters
            h = activation(xb @ w1 + b1)  # 1: the hidden layer
            pred = h @ w2 + b2  # 2: predict
            loss = ((pred - yb) ** 2).mean()  # 3: mean squared error
            loss.backward()  # 4: backpropagation, into each parameter's .grad
            with torch.no_grad():
                for parameter in parameters:
                    parameter -= lr * parameter.grad  # 4: every parameter steps downhill
            trajectory.record_layers(loss.detach(), [p.grad for p in parameters], [p.detach() for p in parameters])
            for parameter in parameters:
                parameter.grad = None
    return trajectory.read()


def cross_entropy(logits, labels, from_logits):
    """3: the mean cross-entropy from the logits, or Keras's way from softmax probabilities clipped to 1e-7."""
    if from_logits:
        return torch.nn.functional.cross_entropy(logits, labels)
    p = logits.softmax(dim=1).clamp(1e-7, 1 - 1e-7)
    return torch.nn.functional.nll_loss(p.log(), labels)


def classifier(problem, device="cpu", data=None):
    """The next lesson's network; loss.backward() does the backpropagation, torch.optim takes the step."""
    x, y = prepare(problem, device) if data is None else data
    labels = y.long()  # the labels as integers, to pick each image's p[label]
    parameters = torch_tensors(problem, device, *problem.layers)  # W1: inputs x H, b1: H, W2: H x 10, b2: 10
    for parameter in parameters:
        parameter.requires_grad_(True)
    if problem.optimizer == "adam":  # torch adds epsilon to sqrt(v_hat): the paper's Algorithm 1
        betas = (problem.beta_1, problem.beta_2)
        optimizer = torch.optim.Adam(parameters, lr=problem.lr, betas=betas, eps=problem.epsilon)
    else:
        optimizer = torch.optim.SGD(parameters, lr=problem.lr)
    trajectory = TorchRecorder(problem, device)
    for epoch in range(problem.epochs):
        for batch in problem.batches:
            w1, b1, w2, b2 = parameters
            h = torch.relu(x[batch] @ w1 + b1)  # 1: the hidden layer
            logits = h @ w2 + b2  # 2: the ten scores
            loss = cross_entropy(logits, labels[batch], problem.from_logits)  # 3
            optimizer.zero_grad()
            loss.backward()  # 4: backpropagation, into each parameter's .grad
            optimizer.step()  # 4: SGD's or Adam's step downhill, in place
            trajectory.record_layers(loss.detach(), [p.grad for p in parameters], [p.detach() for p in parameters])
    return trajectory.read()
