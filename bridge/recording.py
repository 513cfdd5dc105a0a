"""A run's records kept on the device that computed them, read back to the host once, after the loop.

Reading a GPU value on the host (float(tensor)) waits for the GPU to finish:
recording that way would synchronise at every step, once per quantity. These
recorders keep each update's values on the device instead. torch and
TensorFlow values are copied as they are recorded, because torch_autograd's
weight is a parameter updated in place and tf_tape's a tf.Variable: a
reference kept until the end would read the final value at every step.
"""

from __future__ import annotations

import numpy as np

from bridge.trajectory import Trajectory


class Recorder:
    """What every recorder does: one row per update of (loss, grad, weight[, bias_grad, bias]).

    A network's row is flat: the loss, then every layer's gradient, then every
    layer's new values (Trajectory.of_network reads it back).
    """

    def __init__(self, problem):
        self.width = problem.values_per_update
        self.sizes = getattr(problem, "sizes", None)  # a network's parameter sizes; None for the one-weight model
        self.step = 0

    def record(self, loss, grad, weight, bias_grad=None, bias=None) -> None:
        """Keep one update's values, where they are."""
        values = (loss, grad, weight) if bias is None else (loss, grad, weight, bias_grad, bias)
        self.keep(values)
        self.step += 1

    def record_layers(self, loss, grads, parameters) -> None:
        """Keep one update of a network, flattened into one row where it is."""
        self.keep_flat((loss, *grads, *parameters))
        self.step += 1

    def read(self) -> Trajectory:
        """Every update, brought to the host at once."""
        rows = self.rows() if self.step else np.empty((0, self.width))
        if self.sizes is not None:
            return Trajectory.of_network(self.sizes, rows)
        losses, grads, weights, *bias = np.asarray(rows, dtype=np.float64).T.tolist()
        bias_grads, biases = bias or ([], [])
        return Trajectory(weights, losses, grads, biases, bias_grads)

    def keep(self, values) -> None:
        raise NotImplementedError

    def keep_flat(self, values) -> None:
        """Keep values of any shapes as one flat row."""
        raise NotImplementedError

    def rows(self):
        """The records as one (updates, width) array on the host."""
        raise NotImplementedError


class TorchRecorder(Recorder):
    """Rows of one tensor preallocated on the run's device; torch.stack copies each update into its row."""

    def __init__(self, problem, device):
        import torch

        from bridge.devices import torch_device

        super().__init__(problem)
        shape, dtype = (problem.updates, self.width), getattr(torch, problem.dtype)
        self.values = torch.empty(shape, dtype=dtype, device=torch_device(device))
        self.stack, self.cat = torch.stack, torch.cat

    def keep(self, values) -> None:
        self.stack(values, out=self.values[self.step])  # one copy, on the device

    def keep_flat(self, values) -> None:
        self.cat([v.reshape(-1) for v in values], out=self.values[self.step])

    def rows(self):
        return self.values.cpu().numpy()  # the one transfer, and the one wait for the device


class TFRecorder(Recorder):
    """A list of tensors, one per update: tf.stack copies the values, a tf.Variable's included."""

    def __init__(self, problem):
        import tensorflow as tf

        super().__init__(problem)
        self.values, self.stack, self.concat, self.reshape = [], tf.stack, tf.concat, tf.reshape

    def keep(self, values) -> None:
        self.values.append(self.stack(values))  # on the device of the enclosing tf.device scope

    def keep_flat(self, values) -> None:
        self.values.append(self.concat([self.reshape(v, [-1]) for v in values], 0))

    def rows(self):
        return self.stack(self.values).numpy()


class JaxRecorder(Recorder):
    """A list of the values themselves: JAX arrays are immutable, so a reference is the value."""

    def __init__(self, problem):
        super().__init__(problem)
        self.values = []

    def keep(self, values) -> None:
        self.values.append(values)

    keep_flat = keep  # flattened on the host, after the one transfer

    def rows(self):
        import jax

        values = jax.device_get(self.values)  # every transfer started at once
        return np.array([np.concatenate([np.ravel(v) for v in row]) for row in values], dtype=np.float64)
