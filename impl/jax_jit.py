"""The lesson's loop compiled whole by XLA: jax.jit around jax.lax.scan over the steps.

The same step as impl/jax_grad.py; what changes is that XLA sees the whole
loop at once and compiles it to one program, with no Python between steps.
"""

from functools import partial

import jax
import jax.numpy as jnp

from bridge.devices import import_optax, jax_arrays, jax_device
from bridge.trajectory import Trajectory
from impl.jax_grad import (  # 1-4: the eager row's losses, reused
    classifier_loss,
    network_loss,
    optimizer_for,
    slope,
    slopes,
)


def step(parameters, x, y_true, lr):
    """One update of (weight, bias); returns them and what the trajectory records. No bias: bias is None."""
    weight, bias = parameters
    if bias is None:
        (loss, grad), bias_grad = slope(weight, x, y_true), None  # 1-4: predict, loss, slope
    else:
        loss, (grad, bias_grad) = slopes(weight, x, y_true, bias)
        bias = bias - lr * bias_grad
    weight = weight - lr * grad  # 4: step downhill
    return (weight, bias), (loss, grad, weight, bias_grad, bias)


@partial(jax.jit, static_argnames="steps")
def descend(weight, x, y_true, lr, steps):
    """All the steps as one compiled scan."""
    return jax.lax.scan(lambda p, _: step(p, x, y_true, lr), (weight, None), length=steps)[1]


@partial(jax.jit, static_argnames=("epochs", "batch_size"))
def descend_batched(parameters, x, y_true, lr, epochs, batch_size):
    """Every epoch: a scan over the full batches, then the short last one, if any."""
    full = x.shape[0] // batch_size * batch_size
    x_full, y_full = x[:full].reshape(-1, batch_size), y_true[:full].reshape(-1, batch_size)

    def epoch(p, _):
        p, records = jax.lax.scan(lambda p, batch: step(p, *batch, lr), p, (x_full, y_full))
        if full < x.shape[0]:  # known when tracing: the data's size is static
            p, last = step(p, x[full:], y_true[full:], lr)
            records = jax.tree.map(lambda r, v: jnp.concatenate([r, v[None]]), records, last)
        return p, records

    records = jax.lax.scan(epoch, parameters, length=epochs)[1]
    return jax.tree.map(jnp.ravel, records)  # (epochs, batches) -> one row per update


def _trajectory(records) -> Trajectory:
    """Records come back as arrays, one row per update; None where there is no bias."""
    losses, grads, weights, bias_grads, biases = ([] if r is None else jax.device_get(r).tolist() for r in records)
    return Trajectory(weights, losses, grads, biases, bias_grads)


def prepare(problem, device="cpu"):
    """0: the data onto the device, once: arrays of the problem's dtype."""
    return jax_arrays(problem, device, problem.x, problem.y)


def one_weight(problem, device="cpu", data=None):
    """Train one weight: the whole loop is one XLA program."""
    x, y_true = prepare(problem, device) if data is None else data
    with jax.enable_x64(problem.dtype == "float64"), jax.default_device(jax_device(device)):
        weight, lr = jnp.asarray(problem.w0, problem.dtype), jnp.asarray(problem.lr, problem.dtype)
        return _trajectory(descend(weight, x, y_true, lr, problem.steps))


def batched(problem, device="cpu", data=None):
    """Mini-batch gradient descent: epochs and batches in one XLA program."""
    x, y_true = prepare(problem, device) if data is None else data
    with jax.enable_x64(problem.dtype == "float64"), jax.default_device(jax_device(device)):
        weight, lr = jnp.asarray(problem.w0, problem.dtype), jnp.asarray(problem.lr, problem.dtype)
        bias = None if problem.b0 is None else jnp.asarray(problem.b0, problem.dtype)
        return _trajectory(descend_batched((weight, bias), x, y_true, lr, problem.epochs, problem.longest_batch))


@partial(jax.jit, static_argnames=("epochs", "batch_size", "activation"))
def descend_network(parameters, x, y_true, lr, epochs, batch_size, activation):
    """Every epoch a scan over the batches: the same split as descend_batched, one compiled program."""
    slopes = jax.value_and_grad(network_loss)  # 4: backpropagation

    def step(p, batch):
        loss, grads = slopes(p, *batch, activation)
        p = [w - lr * g for w, g in zip(p, grads)]  # 4: every parameter steps downhill
        return p, jnp.concatenate([jnp.ravel(v) for v in (loss, *grads, *p)])

    full = x.shape[0] // batch_size * batch_size
    x_full, y_full = x[:full].reshape(-1, batch_size, 1), y_true[:full].reshape(-1, batch_size, 1)

    def epoch(p, _):
        p, rows = jax.lax.scan(step, p, (x_full, y_full))
        if full < x.shape[0]:
            p, last = step(p, (x[full:].reshape(-1, 1), y_true[full:].reshape(-1, 1)))
            rows = jnp.concatenate([rows, last[None]])
        return p, rows

    rows = jax.lax.scan(epoch, parameters, length=epochs)[1]
    return rows.reshape(-1, rows.shape[-1])  # (epochs, batches, row) -> one row per update


def network(problem, device="cpu", data=None):
    """A hidden layer: epochs and batches in one XLA program."""
    x, y_true = prepare(problem, device) if data is None else data
    parameters = jax_arrays(problem, device, *problem.layers)  # W1: 1 x H, W2: H x 1
    activation = jax.nn.relu if problem.activation == "relu" else jnp.tanh
    with jax.enable_x64(problem.dtype == "float64"), jax.default_device(jax_device(device)):
        lr = jnp.asarray(problem.lr, problem.dtype)
        rows = descend_network(parameters, x, y_true, lr, problem.epochs, problem.longest_batch, activation)
        return Trajectory.of_network(problem.sizes, jax.device_get(rows))


@partial(jax.jit, static_argnames=("epochs", "batch_size", "from_logits", "optimizer", "every_update"))
def descend_classifier(parameters, x, labels, epochs, batch_size, from_logits, optimizer, every_update):
    """Every epoch a scan over the batches, optax's step inside: the whole training one compiled program.

    every_update: one row per update (loss, gradients, parameters); else each update's loss, and one row per epoch.
    """
    optax = import_optax()

    slopes = jax.value_and_grad(classifier_loss)  # 4: backpropagation

    def row(loss, grads, p):
        return jnp.concatenate([jnp.ravel(v) for v in (loss, *grads, *p)])

    def step(carry, batch):
        p, state, _ = carry
        loss, grads = slopes(p, *batch, from_logits)  # 1-4
        updates, state = optimizer.update(grads, state)  # 4: SGD's or Adam's step downhill ...
        p = optax.apply_updates(p, updates)  # ... added to every parameter
        return (p, state, grads), (row(loss, grads, p) if every_update else loss)

    full = x.shape[0] // batch_size * batch_size
    x_full, labels_full = x[:full].reshape(-1, batch_size, x.shape[1]), labels[:full].reshape(-1, batch_size)

    def epoch(carry, _):
        carry, kept = jax.lax.scan(step, carry, (x_full, labels_full))
        if full < x.shape[0]:  # the last, shorter batch
            carry, last = step(carry, (x[full:], labels[full:]))
            kept = jnp.concatenate([kept, last[None]])
        if every_update:
            return carry, kept
        p, _, grads = carry
        return carry, (kept, row(kept[-1], grads, p))  # every loss, and the epoch's last update in full

    no_grads = jax.tree.map(jnp.zeros_like, parameters)  # the carry's gradients, before the first step
    kept = jax.lax.scan(epoch, (parameters, optimizer.init(parameters), no_grads), length=epochs)[1]
    if every_update:
        return kept.reshape(-1, kept.shape[-1]), None  # (epochs, batches, row) -> one row per update
    losses, rows = kept
    return rows, losses.reshape(-1)


def classifier(problem, device="cpu", data=None):
    """The next lesson's network: epochs, batches and optax's steps in one XLA program."""
    x, y = prepare(problem, device) if data is None else data
    labels = y.astype(jnp.int32)  # the labels as integers, to pick each image's p[label]
    parameters = jax_arrays(problem, device, *problem.layers)  # W1: inputs x H, b1: H, W2: H x 10, b2: 10
    with jax.enable_x64(problem.dtype == "float64"), jax.default_device(jax_device(device)):
        optimizer = optimizer_for(problem)  # the eager row's optax optimizer
        every_update = problem.layers_every == 1
        rows, losses = descend_classifier(
            parameters, x, labels, problem.epochs, problem.batch_size, problem.from_logits, optimizer, every_update
        )
        rows, losses = jax.device_get((rows, losses))
        return Trajectory.of_network(problem.sizes, rows, losses, problem.layers_every)
