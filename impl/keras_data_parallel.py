"""The batched loop, data-parallel, the Keras way: keras.distribution.DataParallel on the JAX backend, then fit().

bridge.runners.launcher runs this module in a launcher process of its own, with
KERAS_BACKEND=jax and, on a CPU, JAX_NUM_CPU_DEVICES=N. DataParallel
replicates the model on N devices and splits every batch along them; the
gradient's all-reduce is compiled into the train step by XLA, so the workers'
own gradients are never seen apart: each device's is computed again, on the rows
the compiled step's layout gave it (keras_recording.own_gradients), and its sum is held to the bound.
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

from bridge.devices import parse
from bridge.errors import DeviceUnavailable
from bridge.keras_recording import BatchLoss, LayoutWatch, Recorder, RecordingSGD, own_gradients
from bridge.parallel import padded_size, shards
from bridge.trajectory import Trajectory

REDUCTION = "mean_with_sample_weight"  # the sample weights' sum, not the batch's length, divides


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
    kind = parse(device).kind
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
        optimizer=RecordingSGD(learning_rate=problem.lr),  # 4: step downhill: w = w - lr * grad
        loss=keras.losses.MeanSquaredError(reduction=REDUCTION),  # 3: over the real samples
        weighted_metrics=[BatchLoss(problem.dtype, REDUCTION), watch := LayoutWatch()],  # given the sample weights
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
    if watch.layouts:  # the step compiled: each device's own gradient, on the rows its layout gave that device
        local, trajectory.world["seen"] = own_gradients(
            model, watch.layouts[0], (x, y, weight), batch_size, problem, trajectory
        )
        trajectory.local_losses, trajectory.local_grads, *bias = local
        trajectory.local_bias_grads = bias[0] if bias else []
    return trajectory
