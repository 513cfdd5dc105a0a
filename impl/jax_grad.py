"""The lesson's loop in JAX, eager, with the gradient from jax.value_and_grad.

JAX computes in float32 unless x64 is enabled. A float64 problem enables it
with a context manager for the run alone, so the setting never leaks out.
"""

import functools

import jax
import jax.numpy as jnp

from bridge.devices import import_optax, jax_arrays, jax_device
from bridge.recording import JaxRecorder


def squared_error(weight, x, y_true, bias=None):
    """1-3: predict, then the mean squared error (a plain square for one sample)."""
    pred = weight * x if bias is None else weight * x + bias  # 1-2: predict (Keras's Dense(1) adds a bias)
    return jnp.mean((pred - y_true) ** 2)  # 3: squared-error loss (`** 2` is x * x in JAX)


slope = jax.value_and_grad(squared_error)  # 4: loss and d loss / d weight, in one pass
slopes = jax.value_and_grad(squared_error, argnums=(0, 3))  # the same, and d loss / d bias


def prepare(problem, device="cpu"):
    """0: the data onto the device, once: arrays of the problem's dtype."""
    return jax_arrays(problem, device, problem.x, problem.y)


def one_weight(problem, device="cpu", data=None):
    """Train one weight; every quantity is a 0-d jax.Array."""
    x, y_true = prepare(problem, device) if data is None else data
    with jax.enable_x64(problem.dtype == "float64"), jax.default_device(jax_device(device)):
        weight = jnp.asarray(problem.w0, problem.dtype)
        lr = problem.lr  # a Python float: weakly typed, so it takes the weight's dtype
        trajectory = JaxRecorder(problem)  # kept on the device, read back once at the end
        for step in range(problem.steps):
            loss, grad = slope(weight, x, y_true)  # 1-4: predict, loss, slope
            weight = weight - lr * grad  # 4: step downhill (arrays are immutable)
            trajectory.record(loss, grad, weight)
        return trajectory.read()


def batched(problem, device="cpu", data=None):
    """Mini-batch gradient descent; jnp.mean reduces each batch."""
    x, y_true = prepare(problem, device) if data is None else data
    with jax.enable_x64(problem.dtype == "float64"), jax.default_device(jax_device(device)):
        bias = None if problem.b0 is None else jnp.asarray(problem.b0, problem.dtype)
        weight = jnp.asarray(problem.w0, problem.dtype)
        lr = problem.lr
        trajectory = JaxRecorder(problem)
        for epoch in range(problem.epochs):
            for batch in problem.batches:
                if problem.b0 is None:
                    loss, grad = slope(weight, x[batch], y_true[batch])  # 1-4
                    weight = weight - lr * grad  # 4: step downhill
                    trajectory.record(loss, grad, weight)
                else:
                    loss, (grad, bias_grad) = slopes(weight, x[batch], y_true[batch], bias)
                    weight, bias = weight - lr * grad, bias - lr * bias_grad
                    trajectory.record(loss, grad, weight, bias_grad, bias)
        return trajectory.read()


def network_loss(parameters, x, y_true, activation):
    """1-3: the hidden layer, the output, the mean squared error."""
    w1, b1, w2, b2 = parameters
    h = activation(x @ w1 + b1)  # 1: the hidden layer
    pred = h @ w2 + b2  # 2: predict
    return jnp.mean((pred - y_true) ** 2)  # 3: mean squared error


network_slopes = jax.value_and_grad(network_loss)  # 4: the loss and every parameter's gradient (backpropagation)


def network(problem, device="cpu", data=None):
    """A hidden layer; jax.value_and_grad does the backpropagation."""
    x, y_true = prepare(problem, device) if data is None else data
    parameters = jax_arrays(problem, device, *problem.layers)  # W1: 1 x H, W2: H x 1
    activation = jax.nn.relu if problem.activation == "relu" else jnp.tanh
    with jax.enable_x64(problem.dtype == "float64"), jax.default_device(jax_device(device)):
        lr = problem.lr
        trajectory = JaxRecorder(problem)
        for epoch in range(problem.epochs):
            for batch in problem.batches:
                xb, yb = x[batch].reshape(-1, 1), y_true[batch].reshape(-1, 1)
                loss, grads = network_slopes(parameters, xb, yb, activation)  # 1-4
                parameters = [p - lr * g for p, g in zip(parameters, grads)]  # 4: every parameter steps downhill
                trajectory.record_layers(loss, grads, parameters)
        return trajectory.read()


def classifier_loss(parameters, x, labels, from_logits):
    """1-3: the hidden layer, the ten scores, the mean cross-entropy (Keras's clip at 1e-7 from probabilities)."""
    optax = import_optax()

    w1, b1, w2, b2 = parameters
    h = jax.nn.relu(x @ w1 + b1)  # 1: the hidden layer
    logits = h @ w2 + b2  # 2: the ten scores
    if from_logits:  # 3: the mean cross-entropy
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    p = jnp.clip(jax.nn.softmax(logits), 1e-7, 1 - 1e-7)
    return -jnp.log(jnp.take_along_axis(p, labels[:, None], axis=1)).mean()


classifier_slopes = jax.value_and_grad(classifier_loss)  # 4: the loss and every parameter's gradient


def optimizer_for(problem):
    """4: the optax optimizer the problem asks for: optax.adam adds epsilon to sqrt(v_hat) (the paper's Algorithm 1)."""
    return _optimizer(problem.optimizer, problem.lr, problem.beta_1, problem.beta_2, problem.epsilon)


@functools.cache  # the same settings, the same optimizer: jax_jit's program takes it as a constant, compiles once
def _optimizer(name, lr, beta_1, beta_2, epsilon):
    optax = import_optax()  # the optimizers JAX users pick; only the classifier needs them
    if name == "adam":
        return optax.adam(lr, b1=beta_1, b2=beta_2, eps=epsilon)
    return optax.sgd(lr)


def classifier(problem, device="cpu", data=None):
    """The next lesson's network; jax.value_and_grad does the backpropagation, optax takes the step."""
    optax = import_optax()  # the optimizers JAX users pick; only this loop needs them

    x, y = prepare(problem, device) if data is None else data
    labels = y.astype(jnp.int32)  # the labels as integers, to pick each image's p[label]
    parameters = jax_arrays(problem, device, *problem.layers)  # W1: inputs x H, b1: H, W2: H x 10, b2: 10
    with jax.enable_x64(problem.dtype == "float64"), jax.default_device(jax_device(device)):
        optimizer = optimizer_for(problem)
        state = optimizer.init(parameters)
        trajectory = JaxRecorder(problem)
        for epoch in range(problem.epochs):
            for batch in problem.batches:
                loss, grads = classifier_slopes(parameters, x[batch], labels[batch], problem.from_logits)  # 1-4
                updates, state = optimizer.update(grads, state)  # 4: SGD's or Adam's step downhill ...
                parameters = optax.apply_updates(parameters, updates)  # ... added to every parameter
                trajectory.record_layers(loss, grads, parameters)
        return trajectory.read()
