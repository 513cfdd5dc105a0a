"""The lesson's loop compiled whole by XLA: jax.jit around jax.lax.scan over the steps.

The same step as impl/jax_grad.py; what changes is that XLA sees the whole
loop at once and compiles it to one program, with no Python between steps.
"""

from functools import partial

import jax
import jax.numpy as jnp

from bridge import Trajectory
from bridge.devices import jax_device


def squared_error(weight, x, y_true):
    """1-3: predict, then the mean squared error (a plain square for one sample)."""
    pred = weight * x  # 1-2: predict
    return jnp.mean((pred - y_true) ** 2)  # 3: squared-error loss


slope = jax.value_and_grad(squared_error)  # 4: loss and d loss / d weight


def step(weight, x, y_true, lr):
    """One update; returns the new weight and what the trajectory records."""
    loss, grad = slope(weight, x, y_true)  # 1-4: predict, loss, slope
    weight = weight - lr * grad  # 4: step downhill
    return weight, (loss, grad, weight)


@partial(jax.jit, static_argnames="steps")
def descend(weight, x, y_true, lr, steps):
    """All the steps as one compiled scan."""
    return jax.lax.scan(lambda w, _: step(w, x, y_true, lr), weight, length=steps)[1]


@partial(jax.jit, static_argnames=("epochs", "batch_size"))
def descend_batched(weight, x, y_true, lr, epochs, batch_size):
    """Every epoch: a scan over the full batches, then the short last one, if any."""
    full = x.shape[0] // batch_size * batch_size
    x_full, y_full = x[:full].reshape(-1, batch_size), y_true[:full].reshape(-1, batch_size)

    def epoch(w, _):
        w, records = jax.lax.scan(lambda w, batch: step(w, *batch, lr), w, (x_full, y_full))
        if full < x.shape[0]:  # known when tracing: the data's size is static
            w, last = step(w, x[full:], y_true[full:], lr)
            records = jax.tree.map(lambda r, v: jnp.concatenate([r, v[None]]), records, last)
        return w, records

    records = jax.lax.scan(epoch, weight, length=epochs)[1]
    return jax.tree.map(jnp.ravel, records)  # (epochs, batches) -> one row per update


def _trajectory(records) -> Trajectory:
    losses, grads, weights = (jax.device_get(r).tolist() for r in records)
    return Trajectory(weights, losses, grads)


def one_weight(problem, device="cpu"):
    """Train one weight: the whole loop is one XLA program."""
    with jax.enable_x64(problem.dtype == "float64"), jax.default_device(jax_device(device)):
        x, y_true, weight, lr = (jnp.asarray(v, problem.dtype) for v in (problem.x, problem.y, problem.w0, problem.lr))
        return _trajectory(descend(weight, x, y_true, lr, problem.steps))


def batched(problem, device="cpu"):
    """Mini-batch gradient descent: epochs and batches in one XLA program."""
    with jax.enable_x64(problem.dtype == "float64"), jax.default_device(jax_device(device)):
        x, y_true = jnp.asarray(problem.x), jnp.asarray(problem.y)
        weight, lr = jnp.asarray(problem.w0, problem.dtype), jnp.asarray(problem.lr, problem.dtype)
        return _trajectory(descend_batched(weight, x, y_true, lr, problem.epochs, problem.batch_size))
