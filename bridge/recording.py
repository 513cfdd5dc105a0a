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
    layer's new values (Trajectory.of_network reads it back). A classifier
    whose records are per epoch (layers_every > 1) keeps such a row for each
    epoch's last update only, and every update's loss apart.
    """

    def __init__(self, problem):
        self.width = problem.values_per_update
        self.sizes = getattr(problem, "sizes", None)  # a network's parameter sizes; None for the one-weight model
        self.layers_every = getattr(problem, "layers_every", 1)
        self.step = 0  # the updates recorded
        self.kept = 0  # the rows kept: one per update, or one per layers_every updates

    def record(self, loss, grad, weight, bias_grad=None, bias=None) -> None:
        """Keep one update's values, where they are."""
        values = (loss, grad, weight) if bias is None else (loss, grad, weight, bias_grad, bias)
        self.keep(values)
        self.step += 1
        self.kept += 1

    def record_layers(self, loss, grads, parameters) -> None:
        """Keep one update of a network, flattened into one row where it is (or only its loss, between epochs)."""
        if (self.step + 1) % self.layers_every == 0:
            self.keep_flat((loss, *grads, *parameters))
            self.kept += 1
        if self.layers_every > 1:
            self.keep_loss(loss)
        self.step += 1

    def read(self) -> Trajectory:
        """Every update, brought to the host at once."""
        rows = self.rows() if self.kept else np.empty((0, self.width))
        if self.sizes is not None:
            losses = (self.losses() if self.step else []) if self.layers_every > 1 else None
            return Trajectory.of_network(self.sizes, rows, losses, self.layers_every)
        losses, grads, weights, *bias = np.asarray(rows, dtype=np.float64).T.tolist()
        bias_grads, biases = bias or ([], [])
        return Trajectory(weights, losses, grads, biases, bias_grads)

    def keep(self, values) -> None:
        raise NotImplementedError

    def keep_flat(self, values) -> None:
        """Keep values of any shapes as one flat row."""
        raise NotImplementedError

    def keep_loss(self, loss) -> None:
        """Keep one update's loss apart from the rows (records per epoch)."""
        raise NotImplementedError

    def rows(self):
        """The records as one (kept, width) array on the host."""
        raise NotImplementedError

    def losses(self):
        """Every update's loss on the host, where they were kept apart."""
        raise NotImplementedError


class TorchRecorder(Recorder):
    """Rows of one tensor preallocated on the run's device; torch.stack copies each update into its row."""

    def __init__(self, problem, device):
        import torch

        from bridge.devices import torch_device

        super().__init__(problem)
        shape, dtype = (problem.updates // self.layers_every, self.width), getattr(torch, problem.dtype)
        self.values = torch.empty(shape, dtype=dtype, device=torch_device(device))
        apart = problem.updates if self.layers_every > 1 else 0
        self.loss_values = torch.empty(apart, dtype=dtype, device=torch_device(device))
        self.stack, self.cat = torch.stack, torch.cat

    def keep(self, values) -> None:
        self.stack(values, out=self.values[self.kept])  # one copy, on the device

    def keep_flat(self, values) -> None:
        self.cat([v.reshape(-1) for v in values], out=self.values[self.kept])

    def keep_loss(self, loss) -> None:
        self.loss_values[self.step] = loss  # a copy, on the device

    def rows(self):
        return self.values.cpu().numpy()  # the one transfer, and the one wait for the device

    def losses(self):
        return self.loss_values.cpu().numpy()


class TFRecorder(Recorder):
    """A list of tensors, one per update: tf.stack copies the values, a tf.Variable's included."""

    def __init__(self, problem):
        import tensorflow as tf

        super().__init__(problem)
        self.values, self.stack, self.concat, self.reshape = [], tf.stack, tf.concat, tf.reshape
        self.loss_values = []

    def keep(self, values) -> None:
        self.values.append(self.stack(values))  # on the device of the enclosing tf.device scope

    def keep_flat(self, values) -> None:
        self.values.append(self.concat([self.reshape(v, [-1]) for v in values], 0))

    def keep_loss(self, loss) -> None:
        self.loss_values.append(loss)  # a tensor: immutable, so the reference is the value

    def rows(self):
        return self.stack(self.values).numpy()

    def losses(self):
        return self.stack(self.loss_values).numpy()


class JaxRecorder(Recorder):
    """A list of the values themselves: JAX arrays are immutable, so a reference is the value."""

    def __init__(self, problem):
        super().__init__(problem)
        self.values, self.loss_values = [], []

    def keep(self, values) -> None:
        self.values.append(values)

    keep_flat = keep  # flattened on the host, after the one transfer

    def keep_loss(self, loss) -> None:
        self.loss_values.append(loss)

    def losses(self):
        import jax

        return np.asarray(jax.device_get(self.loss_values), dtype=np.float64)

    def rows(self):
        import jax

        values = jax.device_get(self.values)  # every transfer started at once
        return np.array([np.concatenate([np.ravel(v) for v in row]) for row in values], dtype=np.float64)
