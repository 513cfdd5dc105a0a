"""The batched loop, data-parallel, the Keras way: keras.distribution.DataParallel on the JAX backend, then fit().

bridge.parallel runs this module in a launcher process of its own, with
KERAS_BACKEND=jax and, on a CPU, JAX_NUM_CPU_DEVICES=N. DataParallel
replicates the model on N devices and splits every batch along them; the
gradient's all-reduce is compiled into the train step by XLA, so the workers'
own gradients are never seen apart: this row is held to the bound alone.
DataParallel wants batches that divide by N, every one of the same size, so each
batch is padded: N shards of equal size, each its real samples (in data order)
then padding whose sample weight is 0. The loss divides by the weights' sum:
  1-2: predict    Dense(1): pred = w * x (+ b), on each device's shard
  3:   loss       MeanSquaredError(reduction="mean_with_sample_weight"): a padded sample's error counts 0,
                  and the mean is over the real samples only (Keras's default would count the padding)
  4:   slope      the backend's autodiff, all-reduced over the devices inside the compiled step
  4:   step       SGD: w = w - lr * grad
"""

import jax
import keras
import numpy as np
from keras import ops

from bridge import Trajectory
from bridge.devices import parse
from bridge.errors import DeviceUnavailable
from bridge.parallel import padded_size, shards

REDUCTION = "mean_with_sample_weight"  # the sample weights' sum, not the batch's length, divides


class RecordingSGD(keras.optimizers.SGD):
    """SGD's own update (variable - lr * gradient), which also keeps the gradient it used."""

    def build(self, variables):
        super().build(variables)
        self.last_gradients = [self.add_variable_from_reference(v, name="last_gradient") for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        self.assign(self.last_gradients[self._get_variable_index(variable)], gradient)
        super().update_step(gradient, variable, learning_rate)  # 4: step downhill


class BatchLoss(keras.metrics.Metric):
    """This batch's loss before its update, as the loss computes it: over the real samples, padding weighed 0."""

    def __init__(self, dtype):
        super().__init__(name="batch_loss", dtype=dtype)
        self.mse = keras.losses.MeanSquaredError(reduction=REDUCTION, dtype=dtype)
        self.value = self.add_variable(shape=(), initializer="zeros", name="value")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.value.assign(self.mse(y_true, y_pred, sample_weight))

    def result(self):
        return ops.convert_to_tensor(self.value)


class Recorder(keras.callbacks.Callback):
    """After every batch, one entry of the trajectory: the loss, the gradient used, the new weight (and bias)."""

    def __init__(self, trajectory):
        super().__init__()
        self.trajectory = trajectory

    def on_train_batch_end(self, batch, logs=None):
        self.model.jax_state_sync()  # the JAX trainer works on copies: bring them back first
        loss = ops.convert_to_numpy(logs["batch_loss"]).item()
        grads = [ops.convert_to_numpy(g).item() for g in self.model.optimizer.last_gradients]
        weights = [ops.convert_to_numpy(v).item() for v in self.model.weights]  # the kernel, then the bias
        bias = (grads[1], weights[1]) if len(weights) == 2 else ()
        self.trajectory.record(loss, grads[0], weights[0], *bias)


def padded(problem, workers):
    """Every batch as N shards of one size, each its real samples then padding: x, y and the sample weights."""
    size = padded_size(slice(0, problem.longest_batch), workers)
    x, y, weight = ([] for _ in range(3))
    for batch in problem.batches:
        for shard in shards(batch, workers):
            pad = size - (shard.stop - shard.start)
            x += [*problem.x[shard], *[0.0] * pad]
            y += [*problem.y[shard], *[0.0] * pad]
            weight += [1.0] * (shard.stop - shard.start) + [0.0] * pad
    column = {"dtype": problem.dtype}
    return [np.asarray(v, **column).reshape(-1, 1) for v in (x, y)] + [np.asarray(weight, **column)], workers * size


def batched(problem, device="cpu", workers=2):
    """Fit Dense(1) with the batches split over N devices by DataParallel."""
    kind = parse(device)[0]
    jax.config.update("jax_enable_x64", problem.dtype == "float64")
    devices = keras.distribution.list_devices(kind)
    if len(devices) < workers:
        raise DeviceUnavailable(
            f"keras_data_parallel with {workers} workers needs {workers} {kind} devices; JAX sees {len(devices)}"
        )
    distribution = keras.distribution.DataParallel(devices=devices[:workers])
    keras.distribution.set_distribution(distribution)
    keras.config.set_floatx(problem.dtype)
    real = np.dtype(problem.dtype).type
    model = keras.Sequential(
        [
            keras.Input((1,), dtype=problem.dtype),
            keras.layers.Dense(  # 1-2: predict: pred = w * x (+ b)
                1,
                use_bias=problem.has_bias,
                kernel_initializer=keras.initializers.Constant(real(problem.w0)),
                bias_initializer=keras.initializers.Constant(real(problem.b0 if problem.has_bias else 0.0)),
                dtype=problem.dtype,
            ),
        ]
    )
    model.compile(
        optimizer=RecordingSGD(learning_rate=problem.lr),  # 4: w = w - lr * grad
        loss=keras.losses.MeanSquaredError(reduction=REDUCTION),  # 3: over the real samples
        weighted_metrics=[BatchLoss(problem.dtype)],  # given the sample weights (metrics= would not be)
    )
    (x, y, weight), batch_size = padded(problem, workers)
    trajectory = Trajectory()
    model.fit(
        x,
        y,
        sample_weight=weight,
        batch_size=batch_size,
        epochs=problem.epochs,
        shuffle=False,
        verbose=0,
        callbacks=[Recorder(trajectory)],
    )
    # where the trained weights live after fit, read from the arrays themselves, not from the configuration
    placed = {device for variable in model.weights for device in variable.value.sharding.device_set}
    trajectory.world = {
        "engine": "keras DataParallel",
        "world_size": int(distribution.device_mesh.devices.size),
        "devices": len(placed),
    }
    return trajectory
