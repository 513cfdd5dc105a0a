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
    """What every recorder does: one row per update of (loss, grad, weight[, bias_grad, bias])."""

    def __init__(self, problem):
        self.width = 5 if problem.has_bias else 3
        self.step = 0

    def record(self, loss, grad, weight, bias_grad=None, bias=None) -> None:
        """Keep one update's values, where they are."""
        values = (loss, grad, weight) if bias is None else (loss, grad, weight, bias_grad, bias)
        self.keep(values)
        self.step += 1

    def read(self) -> Trajectory:
        """Every update, brought to the host at once."""
        rows = self.rows() if self.step else np.empty((0, self.width))
        losses, grads, weights, *bias = np.asarray(rows, dtype=np.float64).T.tolist()
        bias_grads, biases = bias or ([], [])
        return Trajectory(weights, losses, grads, biases, bias_grads)

    def keep(self, values) -> None:
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
        self.stack = torch.stack

    def keep(self, values) -> None:
        self.stack(values, out=self.values[self.step])  # one copy, on the device

    def rows(self):
        return self.values.cpu().numpy()  # the one transfer, and the one wait for the device


class TFRecorder(Recorder):
    """A list of tensors, one per update: tf.stack copies the values, a tf.Variable's included."""

    def __init__(self, problem):
        import tensorflow as tf

        super().__init__(problem)
        self.values, self.stack = [], tf.stack

    def keep(self, values) -> None:
        self.values.append(self.stack(values))  # on the device of the enclosing tf.device scope

    def rows(self):
        return self.stack(self.values).numpy()


class JaxRecorder(Recorder):
    """A list of the values themselves: JAX arrays are immutable, so a reference is the value."""

    def __init__(self, problem):
        super().__init__(problem)
        self.values = []

    def keep(self, values) -> None:
        self.values.append(values)

    def rows(self):
        import jax

        return np.array(jax.device_get(self.values), dtype=np.float64)  # every transfer started at once
